import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

/**
 * A PostgreSQL cluster of its own (Debian's pg_createcluster), on its own port, that a test
 * may stop and start without disturbing the server every other test uses.
 */
export interface Cluster {
  url(database: string): string;
  /** Stopping and starting do not block the event loop: a server in this process keeps answering. */
  stop(): Promise<void>;
  start(): Promise<void>;
  drop(): void;
}

/** Why a private cluster cannot be made on this machine, or undefined when it can. */
export function clusterUnavailable(): string | undefined {
  if (!existsSync('/usr/bin/pg_createcluster') || !existsSync('/etc/postgresql')) {
    return 'needs PostgreSQL with Debian postgresql-common (pg_createcluster)';
  }
  if (process.getuid?.() !== 0) return 'needs root to create a PostgreSQL cluster';
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function createCluster(): Promise<Cluster> {
  const version = readdirSync('/etc/postgresql').sort().at(-1)!;
  const name = `cs_test_${randomBytes(4).toString('hex')}`;
  const port = await freePort();
  const run = async (...args: string[]) => {
    await promisify(execFile)('pg_ctlcluster', [version, name, ...args]);
  };
  execFileSync('pg_createcluster', [version, name, '-p', String(port), '--', '--auth=trust'], { stdio: 'pipe' });
  await run('start');
  return {
    url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    stop: () => run('stop', '-m', 'fast'),
    start: () => run('start'),
    drop: () => execFileSync('pg_dropcluster', ['--stop', version, name], { stdio: 'pipe' }),
  };
}
