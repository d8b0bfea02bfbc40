// Shared e2e harness: launches Debian's Chromium through playwright-core and opens svcsim's
// release build (served by `cargo xtask test`), recording console errors and failed requests.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** The URL the dist/ index answers at (a sub-path: relative asset URLs are part of the test). */
export const BASE_URL = process.env.SVCSIM_BASE_URL ?? 'http://127.0.0.1:8080/';
/** Where screenshots go. */
export const OUT_DIR = process.env.SVCSIM_E2E_OUT ?? join(process.cwd(), '..', '..', 'target', 'e2e');

/** Flags for Chromium on a machine with no network beyond loopback. */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [...ARGS, ...extraArgs],
  });
}

/**
 * Opens a fresh page and starts recording what a user would call "broken": console errors,
 * uncaught exceptions, and requests that failed or answered 4xx/5xx.
 */
export async function openPage(browser, { path = '', viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  const requests = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('request', (req) => requests.push(req.url()));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
  });
  await page.goto(new URL(path, BASE_URL).href, { waitUntil: 'load' });
  return { context, page, problems, requests };
}

/** Writes a full-page screenshot to target/e2e/<name>.png and returns its path. */
export async function screenshot(page, name) {
  mkdirSync(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
