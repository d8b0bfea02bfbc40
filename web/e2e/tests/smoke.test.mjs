// The page loads from a sub-path of a plain static server, renders the app, and is clean:
// no console errors, no failed requests, no request outside its own origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
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
