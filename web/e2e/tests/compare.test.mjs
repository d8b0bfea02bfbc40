// The compare view as a teacher uses it: Cluster and Local side by side on the same traffic,
// one scrubber for both, and the differences called out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, screenshot } from '../lib/browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const rows = (page) =>
  page.getByTestId('compare-table').evaluate((table) =>
    Object.fromEntries([...table.querySelectorAll('tbody tr')].map((tr) => {
      const [label, cluster, local] = [...tr.children].map((c) => c.textContent);
      return [label.replace(/^≠ /, ''), { cluster, local, differs: tr.classList.contains('differs') }];
    })),
  );
const paneTimes = (page) => Promise.all(['pane-cluster', 'pane-local'].map((id) => page.getByTestId(id).getAttribute('data-t')));

test('compare: both panes follow one scrubber, and the table calls out the differences', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog&t=150s' });
  try {
    await page.getByTestId('compare-toggle').click();
    assert.equal(await page.getByTestId('compare-toggle').getAttribute('aria-pressed'), 'true');
    assert.deepEqual(await paneTimes(page), ['150.00', '150.00']);
    let r = await rows(page);
    assert.deepEqual(r['Health Probe Status, last complete minute'], { cluster: '100%', local: '50%', differs: true });
    assert.deepEqual(r['nodes in rotation'], { cluster: '2/2', local: '1/2', differs: true });
    assert.deepEqual(r['SNAT on the way in'], { cluster: 'yes', local: 'no', differs: true });
    assert.equal(r['the app prints'].local, '::ffff:198.51.100.79');
    assert.match(r['the app prints'].cluster, /^::ffff:(10\.244\.0\.1|10\.240\.0\.\d+)$/);
    assert.match(r['answers that crossed to another node'].local, /^0 of \d+$/);
    await screenshot(page, 'compare-150s');

    await page.getByTestId('scrubber').fill('30');
    await page.waitForFunction(() => document.querySelector('[data-testid=pane-local]').getAttribute('data-t') === '30.00');
    assert.deepEqual(await paneTimes(page), ['30.00', '30.00'], 'one scrubber moves both');
    r = await rows(page);
    assert.deepEqual(r['Health Probe Status, last complete minute'], { cluster: '—', local: '—', differs: false }, 'no complete minute at 30 s');
    await page.getByTestId('step').click();
    const [a, b] = await paneTimes(page);
    assert.equal(a, b, 'stepping keeps them together');
    assert.notEqual(a, '30.00');

    // The state is a link like any other.
    await page.getByTestId('share').click();
    assert.match(await page.getByTestId('share-url').inputValue(), /&compare=1$/);
    await page.getByTestId('compare-off').click();
    assert.equal(await page.getByTestId('compare').count(), 0);
    assert.equal(await page.getByTestId('app-output').count(), 1, 'one run again, with its panels');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('compare SNAT | DSR: on a Cilium cluster both modes run under Cluster, and only DSR keeps the client IP from the pod-less node', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-cilium&t=4.2s' });
  try {
    // The button exists only where Cilium runs.
    await page.getByTestId('compare-dsr').click();
    assert.equal(await page.getByTestId('compare-dsr').getAttribute('aria-pressed'), 'true');
    assert.deepEqual(
      await page.locator('[data-testid=compare] h2').allTextContents(),
      ['Cilium loadBalancer.mode: snat', 'Cilium loadBalancer.mode: dsr'],
    );
    // The latest answer came through node-1, which has no pod.
    const r = await rows(page);
    assert.deepEqual(r['the app prints'], { cluster: '::ffff:10.240.0.5', local: '::ffff:198.51.100.79', differs: true });
    assert.deepEqual(r['SNAT on the way in'], { cluster: 'yes', local: 'no', differs: true });
    assert.match(r["its reply's path"].cluster, /→ node-0 → node-1 → laptop$/, 'SNAT: the reply comes back through node-1');
    assert.match(r["its reply's path"].local, /→ node-0 → laptop$/, 'DSR: straight from the backend node');
    assert.equal(r['nodes in rotation'].differs, false, 'both under Cluster: every node in rotation');
    await screenshot(page, 'compare-snat-dsr');
    await page.getByTestId('share').click();
    assert.match(await page.getByTestId('share-url').inputValue(), /&compare=dsr$/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('a kube-proxy cluster has no SNAT | DSR button', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog&t=4s' });
  try {
    await page.getByTestId('compare-toggle').waitFor();
    assert.equal(await page.getByTestId('compare-dsr').count(), 0);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
