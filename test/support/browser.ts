import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PATIENCE_MS } from './wait.js';

/** Debian's Chromium package (`apt-get install chromium`); .ci/run installs it. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Whether browser tests can run. Without Chromium they are skipped with this reason, except
 * in CI (CI=true), where a missing browser is a failure: CI installs it.
 */
export const chromiumMissing = !existsSync(CHROMIUM) && process.env.CI !== 'true';
if (chromiumMissing) console.warn(`Skipping browser tests: ${CHROMIUM} is not installed (apt-get install chromium).`);

export interface BrowserSession {
  page: Page;
  /** Requests the page made to anywhere but the service under test (they are refused). */
  outsideRequests: string[];
  /** Console errors and page errors, Content-Security-Policy violations among them. */
  errors: string[];
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile, allowed to reach only `origin`: every other request
 * is refused and recorded, so a page that needs the internet fails its test.
 */
export async function openBrowser(origin: string): Promise<BrowserSession> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'cs-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const outsideRequests: string[] = [];
  const errors: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith('data:')) return route.continue();
    outsideRequests.push(url);
    return route.abort('blockedbyclient');
  });
  const page = context.pages()[0] ?? (await context.newPage());
  // Playwright's own 30 s would fail a page that is only slow on a loaded machine.
  page.setDefaultTimeout(PATIENCE_MS);
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return {
    page,
    outsideRequests,
    errors,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
