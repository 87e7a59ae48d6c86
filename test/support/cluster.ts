import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A PostgreSQL cluster of its own (Debian's pg_createcluster), on its own port, that a test
 * may stop and start without disturbing the server every other test uses.
 */
export interface Cluster {
  url(database: string): string;
  stop(): void;
  start(): void;
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
  const run = (command: string, ...args: string[]) => execFileSync(command, args, { stdio: 'pipe' });
  run('pg_createcluster', version, name, '-p', String(port), '--', '--auth=trust');
  run('pg_ctlcluster', version, name, 'start');
  return {
    url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    stop: () => run('pg_ctlcluster', version, name, 'stop', '-m', 'fast'),
    start: () => run('pg_ctlcluster', version, name, 'start'),
    drop: () => run('pg_dropcluster', '--stop', version, name),
  };
}
