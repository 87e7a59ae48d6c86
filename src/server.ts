import { setPriority } from 'node:os';
import closeWithGrace from 'close-with-grace';
import { buildApp, buildWorker } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { applyPendingMigrations } from './migrate.js';

/** After a signal, the longest the service takes to finish its requests before it gives up. */
const SHUTDOWN_DEADLINE_MS = 10_000;

let config: Config;
try {
  config = loadConfig(process.env, { terminal: process.stdout.isTTY });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

// `server.js worker` (npm run worker) works on async action jobs only, without serving HTTP.
const workerOnly = process.argv[2] === 'worker';
const app = workerOnly ? await buildWorker({ config }) : await buildApp({ config });
try {
  const applied = await applyPendingMigrations(app.db, app.databaseUrl);
  if (applied.length > 0) app.log.info({ migrations: applied }, 'applied database migrations');
} catch (error) {
  app.log.fatal({ err: error }, 'database migrations failed');
  await app.close();
  process.exit(1);
}
if (config.generatedApiKey && !workerOnly) {
  const { appId, secret } = config.generatedApiKey;
  app.log.warn(`API_KEYS is not set: this run accepts only the generated pair X-App-Id: ${appId}, X-App-Token: ${secret}`);
}
if (config.cockpitSecretGenerated && !workerOnly) {
  app.log.warn('COCKPIT_SECRET is not set: cockpit links handed out by this run stop working when it stops');
}

// On SIGINT, SIGTERM (or an uncaught error): stop accepting connections, let requests in flight
// finish, close the pool and exit (0, or 1 after an error). A second signal, or requests still
// running after the deadline, end the process at once with 1.
closeWithGrace(
  {
    delay: SHUTDOWN_DEADLINE_MS,
    logger: { error: (message: unknown) => app.log.error(message) },
    onTimeout: () => app.log.error(`requests still running ${SHUTDOWN_DEADLINE_MS / 1000} s after the signal: exiting anyway`),
  },
  async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an uncaught error');
    else app.log.info({ signal }, 'shutting down: finishing requests in flight');
    await app.close();
    app.log.info('stopped');
  },
);

try {
  if (workerOnly) {
    // Background work yields the CPU to the servers' requests on a shared machine: jobs and
    // deliveries fall behind while the CPU is short, and catch up when it is not.
    setPriority(config.jobs.nice);
    await app.ready();
    app.log.info({ nice: config.jobs.nice }, 'working on async action jobs and webhook deliveries');
  } else {
    await app.listen({ host: config.host, port: config.port });
  }
} catch (error) {
  app.log.error({ err: error }, 'could not start');
  await app.close();
  process.exit(1);
}
