import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { APP_ID, APP_SECRET } from './app.js';
import { untilLogged } from './processes.js';
import { PATIENCE_MS, PATIENT_DATABASE_BOUNDS } from './wait.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  /** http://127.0.0.1:port once the server listens. */
  base: string;
  process: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves, once its output is closed, with the exit code (or the signal that ended it) and when (performance.now()). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resolves once the process has logged `text`. */
  logged(text: string): Promise<void>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  /** `source`: src/server.ts through tsx; `built`: dist/server.js, as the image and `npm start` run it (build first). */
  entry?: 'source' | 'built';
  timeoutMs?: number;
}

/**
 * The service as its own process, the way it runs in production, on a free port, with only
 * the environment given (and the test app's credentials). Resolves once it listens.
 */
export async function startServerProcess(
  env: Record<string, string>,
  { entry = 'source', timeoutMs = PATIENCE_MS }: StartOptions = {},
): Promise<ServerProcess> {
  const args = entry === 'built' ? ['dist/server.js'] : ['--import', 'tsx', 'src/server.ts'];
  const child = spawn(process.execPath, args, {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      API_KEYS: `${APP_ID}:${APP_SECRET}`,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      ...PATIENT_DATABASE_BOUNDS,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // 'close' rather than 'exit': the last words of a crash are read before it is reported.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not listen within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const check = () => {
      const listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (listening) {
        clearTimeout(timer);
        resolve(listening[1]!);
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${signal ?? code}) before listening:\n${output}`));
    });
  });
  return {
    base,
    process: child,
    output: () => output,
    logged: (text) => untilLogged(child, () => output, text),
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return (await exited).code;
    },
  };
}

/** Two server processes on one database, and a pool on it for the test's own queries. */
export interface TwoServerProcesses {
  servers: ServerProcess[];
  db: pg.Pool;
}

/**
 * Two server processes on the test file's database (`databaseUrl`), started before the tests of
 * the describe block this is called in and stopped after them, with a pool on that database.
 */
export function useTwoServerProcesses(databaseUrl: () => string): TwoServerProcesses {
  const processes = { servers: [] } as unknown as TwoServerProcesses;
  beforeAll(async () => {
    processes.servers = await Promise.all([
      startServerProcess({ DATABASE_URL: databaseUrl() }),
      startServerProcess({ DATABASE_URL: databaseUrl() }),
    ]);
    processes.db = new pg.Pool({ connectionString: databaseUrl() });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(processes.servers.map((server) => server.stop()));
    await processes.db?.end();
  });
  return processes;
}
