import { PrismaPg } from '@prisma/adapter-pg';
import { defineConfig } from 'prisma/config';

// The WASM schema engine (engine: "js") is the only one that migrates without
// downloading binaries; see the toolchain notes in the README.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  experimental: { adapter: true },
  engine: 'js',
  async adapter() {
    const connectionString = process.env.DATABASE_URL;
    if (!connectionString) throw new Error('DATABASE_URL must be set to run migrations');
    // allowExitOnIdle: the CLI exits as soon as it is done instead of holding idle connections for 10 s.
    return new PrismaPg({ connectionString, allowExitOnIdle: true });
  },
});
