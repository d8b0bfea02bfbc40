// Embed mode as a blog author uses it: the compact layout fits an iframe from 700×450 down to a
// phone's 360 px without scrolling sideways, links back to the full simulator with the same
// state, and the example page's figures all render and play.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, screenshot } from '../lib/browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function waitFor(get, predicate, what, timeout = 20_000) {
  const start = Date.now();
  let last;
  while (Date.now() - start < timeout) {
    last = await get();
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

const overflowX = (page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

for (const [width, height] of [[700, 450], [360, 640]]) {
  test(`embed mode fits ${width}×${height}: the essentials show, nothing scrolls sideways`, async () => {
    const { context, page, problems } = await openPage(browser, { path: '?embed=1#preset=aks-blog&etp=Local&speed=4', viewport: { width, height } });
    try {
      const out = page.getByTestId('app-output');
      await waitFor(() => out.textContent(), (t) => t === '::ffff:198.51.100.79', 'the client address');
      assert.equal(await overflowX(page), 0, 'no horizontal scroll');
      for (const id of ['play', 'clock', 'probe-percent', 'open-full']) {
        assert.ok(await page.getByTestId(id).isVisible(), `${id} is visible`);
      }
      assert.ok(await page.locator('.topology').isVisible());
      assert.ok(await page.getByRole('radiogroup', { name: 'externalTrafficPolicy' }).getByLabel('Local').isChecked());
      assert.equal(await page.getByTestId('event-log').count(), 0, 'the full page\'s panels stay out');
      if (width === 700) {
        // The essentials are above the fold of a 700×450 iframe.
        const bottom = await page.getByTestId('probe-percent').evaluate((e) => e.getBoundingClientRect().bottom);
        assert.ok(bottom <= height, `probe status within the frame (bottom at ${bottom}px)`);
      }
      // The link to the full simulator carries the state, without embed.
      const href = await page.getByTestId('open-full').getAttribute('href');
      assert.match(href, /\/sub\/svcsim\/#preset=aks-blog&etp=Local&t=[\d.]+s&speed=4$|#preset=aks-blog&etp=Local&t=[\d.]+s&speed=4$/);
      assert.doesNotMatch(href, /embed/);
      await screenshot(page, `embed-${width}x${height}`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
}

for (const [width, height] of [[700, 450], [360, 640]]) {
  test(`the embed's compact probe chart at ${width}×${height}: full-size text, named lines, read from the keyboard`, async () => {
    const { context, page, problems } = await openPage(browser, { path: '?embed=1#preset=aks-blog-switch&t=200s', viewport: { width, height } });
    try {
      const chart = page.getByTestId('probe-chart');
      await waitFor(() => chart.locator('.agg-dot').count(), (n) => n === 3, 'three complete minutes');
      const box = await chart.boundingBox();
      assert.ok(box.width >= 280 && box.height >= 80, `the chart is ${box.width}×${box.height}`);
      assert.ok(box.x >= 0 && box.x + box.width <= width, 'the chart is inside the frame');
      await screenshot(page, `embed-chart-${width}x${height}`);
      if (width === 700) assert.ok(box.y + box.height <= height, `beside the controls, above the fold (bottom at ${box.y + box.height}px)`);
      assert.equal(await overflowX(page), 0, 'no horizontal scroll');
      // Its text is drawn as large as the full page's chart: one user unit per CSS pixel.
      const tick = await chart.locator('text').first().evaluate((t) => t.getBoundingClientRect().height);
      assert.ok(tick >= 10, `tick labels are ${tick}px tall`);
      assert.deepEqual(await chart.locator('.node-label').allTextContents(), ['node-0', 'node-1']);
      assert.equal(await chart.locator('.transition').count(), 1, 'the switch to Local is marked');
      await chart.locator('.agg-dot').last().focus();
      assert.equal(await page.getByTestId('chart-readout').textContent(), 'minute 2: 50% (node-0 100%, node-1 0%)');
      await screenshot(page, `embed-chart-${width}x${height}`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
}

test('the toggle works inside an embed, and the full-simulator link opens the same state', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog&embed=1&t=30s', viewport: { width: 700, height: 450 } });
  try {
    assert.equal(await page.getByTestId('clock').textContent(), 't = 30.00 s');
    await page.getByRole('radiogroup', { name: 'externalTrafficPolicy' }).getByLabel('Local').click(); // not .check(): under load its instant state check races the re-render; the effect is checked below
    await page.getByTestId('play').click();
    await waitFor(() => page.getByTestId('app-output').textContent(), (t) => t === '::ffff:198.51.100.79', 'Local to apply');
    await page.getByTestId('play').click();
    const href = await page.getByTestId('open-full').getAttribute('href');
    assert.match(href, /#preset=aks-blog&ch=30s:etp:Local&t=[\d.]+s$/);
    const clock = await page.getByTestId('clock').textContent();
    const full = await openPage(browser, { path: href.slice(href.indexOf('#')) });
    try {
      // The page renders once its wasm has started, which may be after the load event.
      await full.page.getByTestId('event-log').waitFor({ state: 'visible' });
      assert.equal((await full.page.getByTestId('clock').textContent()).split(' · ')[0], clock, 'on the same frame');
      assert.equal(await full.page.getByTestId('app-output').textContent(), '::ffff:198.51.100.79');
      assert.deepEqual(full.problems, []);
    } finally {
      await full.context.close();
    }
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the example blog page: every figure renders and plays', async () => {
  const { context, page, problems, requests } = await openPage(browser, { path: 'embed-example.html', viewport: { width: 900, height: 900 } });
  try {
    const figures = ['fig-cluster', 'fig-local', 'fig-pair-cluster', 'fig-pair-local'];
    const clocks = {};
    for (const id of figures) {
      await page.getByTestId(id).scrollIntoViewIfNeeded();
      const frame = page.frameLocator(`[data-testid=${id}]`);
      const out = await waitFor(() => frame.getByTestId('app-output').textContent(), (t) => t.startsWith('::ffff:'), `${id}'s app output`);
      if (id.endsWith('local')) assert.equal(out, '::ffff:198.51.100.79', `${id} shows the client`);
      else assert.match(out, /^::ffff:10\./, `${id} shows a node-side address`);
      clocks[id] = await frame.getByTestId('clock').textContent();
    }
    // The paused pair plays when asked; the others are already playing.
    const pair = page.frameLocator('[data-testid=fig-pair-local]');
    await pair.getByTestId('play').click();
    await waitFor(() => pair.getByTestId('clock').textContent(), (t) => t !== clocks['fig-pair-local'], 'the pair to play');
    const first = page.frameLocator('[data-testid=fig-cluster]');
    await waitFor(() => first.getByTestId('clock').textContent(), (t) => t !== clocks['fig-cluster'], 'figure 1 to play');
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'embed-example');
    const base = new URL('.', page.url()).href;
    assert.deepEqual(requests.filter((u) => !u.startsWith(base) && !u.startsWith('data:')), [], 'nothing beyond its own files');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
