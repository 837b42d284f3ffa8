import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildUi } from '../../scripts/build-ui.js';
import { tempDir } from './catalog.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Debian's Chromium: the UI tests drive the browser the machine has, never a downloaded one. */
export const CHROMIUM = process.env.KONSUL_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots of each view, kept as test artifacts (gitignored). */
export const ARTIFACTS = fileURLToPath(new URL('../../.artifacts/ui/', import.meta.url));

/** Builds the UI bundle into a directory of the test's own, as `npm run build` does into dist/ui. */
export async function builtUi(t: Teardown): Promise<string> {
  const dir = tempDir(t);
  await buildUi(dir);
  return dir;
}

export async function launchChromium(t: Teardown): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does) or set KONSUL_CHROMIUM`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container has no user namespace for Chromium's sandbox.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  t.teardown(() => browser.close());
  return browser;
}

export interface WatchedPage {
  page: Page;
  /** Console errors and uncaught exceptions, in order. */
  errors: string[];
}

export async function openPage(browser: Browser, width = 1280, height = 900): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  return { page, errors };
}

/** The window as it shows (or one element of it), kept small enough to serve as docs/img material. */
export async function screenshot(page: Page, name: string, selector?: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = `${ARTIFACTS}${name}.png`;
  if (selector === undefined) await page.screenshot({ path });
  else await page.locator(selector).screenshot({ path });
}
