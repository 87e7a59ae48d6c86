import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../src/embedded-postgres.js';

const LOCK_FILE = 'customer-service.pid';
const directories: string[] = [];

/** A data directory holding the lock file a service left when it did not stop cleanly. */
async function dataDirLockedBy(pid: number): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cs-lock-'));
  directories.push(dataDir);
  await writeFile(join(dataDir, LOCK_FILE), String(pid));
  return dataDir;
}

afterEach(async () => {
  await Promise.all(directories.splice(0).map((dataDir) => rm(dataDir, { recursive: true, force: true })));
});

describe('the embedded database lock', () => {
  it('takes over a lock whose pid is its own, as a restarted container (pid 1 again) finds it', async () => {
    const dataDir = await dataDirLockedBy(process.pid);
    const database = await startEmbeddedPostgres(dataDir);
    await database.stop();
  }, 60_000);

  it('takes over a lock whose process has gone', async () => {
    const { pid } = spawnSync(process.execPath, ['-e', '']);
    const dataDir = await dataDirLockedBy(pid!);
    const database = await startEmbeddedPostgres(dataDir);
    expect(await readFile(join(dataDir, LOCK_FILE), 'utf8')).toBe(String(process.pid));
    await database.stop();
  }, 60_000);

  it('refuses a data directory whose lock names another running process', async () => {
    const dataDir = await dataDirLockedBy(process.ppid);
    await expect(startEmbeddedPostgres(dataDir)).rejects.toThrow(`in use by another running service (pid ${process.ppid})`);
  });
});
