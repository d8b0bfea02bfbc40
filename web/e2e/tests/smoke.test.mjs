// The page loads from a sub-path of a plain static server (xtask's, and Python's http.server),
// renders the app, and is clean: no console errors, no failed requests, no request outside its
// own origin; once loaded it works offline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, basename } from 'node:path';
import { launch, openPage, screenshot, BASE_URL } from '../lib/browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the page loads cleanly and renders the svcsim title', async () => {
  const { context, page, problems, requests } = await openPage(browser);
  try {
    const root = page.getByTestId('app-root');
    await root.waitFor({ state: 'visible', timeout: 15_000 });
    assert.equal((await page.locator('h1').first().textContent()).trim(), 'svcsim');
    assert.match(await page.title(), /svcsim/);

    const file = await screenshot(page, 'smoke-first-page');
    assert.ok(existsSync(file) && statSync(file).size > 1000, `screenshot written to ${file}`);

    assert.deepEqual(problems, [], 'no console errors or failed requests');
    const origin = new URL(BASE_URL).origin;
    const foreign = requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:'));
    assert.deepEqual(foreign, [], 'the page requests nothing beyond its own files');
    const basePath = new URL(BASE_URL).pathname;
    const outside = requests.filter((u) => u.startsWith(origin) && !new URL(u).pathname.startsWith(basePath));
    assert.deepEqual(outside, [], `assets load relative to the sub-path ${basePath}`);
  } finally {
    await context.close();
  }
});

test('once loaded, the page works offline: every feature runs in the browser', async () => {
  const { context, page, problems, requests } = await openPage(browser);
  try {
    await page.getByTestId('app-root').waitFor({ state: 'visible', timeout: 15_000 });
    await context.setOffline(true);
    const before = requests.length;
    await page.locator('select#preset').selectOption('gke');
    await page.getByTestId('lesson-pick').selectOption('source-ip');
    await page.getByTestId('choice-0').click();
    assert.match(await page.getByTestId('verdict').textContent(), /Right/);
    await page.getByTestId('compare-toggle').click();
    await page.getByTestId('compare-table').waitFor();
    await page.getByTestId('share').click();
    assert.match(await page.getByTestId('share-url').inputValue(), /#lesson=source-ip&step=1$/);
    assert.deepEqual(requests.slice(before).filter((u) => !u.startsWith('data:')), [], 'nothing was fetched');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('python3 -m http.server, from the folder above dist/, serves a working app', async () => {
  const dist = process.env.SVCSIM_DIST;
  assert.ok(dist, 'cargo xtask sets SVCSIM_DIST to the release build');
  // The README's "any static server": Python's, at a sub-path it knows nothing about.
  const server = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dirname(dist)]);
  try {
    const port = await new Promise((resolve, reject) => {
      server.stdout.on('data', (d) => { const m = /port (\d+)/.exec(String(d)); if (m) resolve(m[1]); });
      server.on('exit', (code) => reject(new Error(`http.server exited with ${code}`)));
    });
    const url = `http://127.0.0.1:${port}/${basename(dist)}/`;
    const { context, page, problems, requests } = await openPage(browser, { path: url });
    try {
      await page.getByTestId('app-root').waitFor({ state: 'visible', timeout: 15_000 });
      await page.getByTestId('app-output').filter({ hasText: '::ffff:' }).waitFor({ timeout: 20_000 });
      assert.deepEqual(problems, []);
      assert.deepEqual(requests.filter((u) => !u.startsWith(url) && !u.startsWith('data:')), [], 'only its own files');
    } finally {
      await context.close();
    }
  } finally {
    server.kill();
  }
});
