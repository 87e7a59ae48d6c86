import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** A connection URL for pg and Prisma: the server's Unix socket inside the data directory. */
  url: string;
  stop(): Promise<void>;
}

/** PostgreSQL's socket file name, which pg derives from the host directory and the port. */
const SOCKET_PORT = 5432;
const LOCK_FILE = 'customer-service.pid';
/** Unix socket paths are limited to 107 bytes on Linux (103 on macOS). */
const MAX_SOCKET_PATH = 103;

/**
 * Only the service's pool (one connection) and the migration CLI connect in production;
 * tests and a curious `psql` may add a few more. PGlite runs one statement at a time and
 * the socket server keeps a transaction's statements together.
 */
const MAX_CONNECTIONS = 8;

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * PGlite opens a directory another process is using without complaint, and two writers
 * would corrupt it; a pid file, taken atomically, keeps a second service out.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const file = await open(path, 'wx');
      await file.writeFile(String(process.pid));
      await file.close();
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      // Our own pid is a lock left by an earlier run: in a container every run is pid 1.
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isRunning(owner)) {
        throw new Error(`The data directory ${dataDir} is in use by another running service (pid ${owner})`);
      }
      // Left behind by a service that did not stop cleanly.
      await rm(path, { force: true });
    }
  }
  throw new Error(`Could not lock the data directory ${dataDir}`);
}

/**
 * Starts PostgreSQL compiled to WebAssembly (PGlite) on the files in `dataDir`, creating
 * them on first use, and serves the PostgreSQL wire protocol on a Unix socket in that
 * directory, so that pg, Prisma's CLI and psql reach it like any server and only users who
 * may read the directory can connect.
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const unlock = await lockDataDir(dataDir);
  const socketPath = join(dataDir, `.s.PGSQL.${SOCKET_PORT}`);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    await unlock();
    throw new Error(`DATA_DIR ${dataDir} is too long a path for the database's Unix socket: use a shorter one`);
  }
  try {
    // A socket file left by a crash would make listen() fail; the lock says nobody serves it.
    await rm(socketPath, { force: true });
    const db = await PGlite.create({ dataDir });
    const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: MAX_CONNECTIONS });
    await server.start();
    return {
      url: `postgresql://postgres@localhost:${SOCKET_PORT}/postgres?host=${encodeURIComponent(dataDir)}`,
      async stop() {
        await server.stop();
        await db.close();
        await unlock();
      },
    };
  } catch (error) {
    await unlock();
    throw error;
  }
}
