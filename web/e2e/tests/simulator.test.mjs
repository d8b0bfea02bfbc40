// The simulator as a user meets it: the seed story plays, the policy toggle tells it, a link opens
// a frame, time moves deterministically, bad YAML is explained without losing the run, and
// everything works from the keyboard.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import fs from 'node:fs';
import { launch, openPage, screenshot, BASE_URL } from '../lib/browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const output = (page) => page.getByTestId('app-output');

async function waitForText(locator, predicate, timeout = 20_000) {
  const start = Date.now();
  let last;
  while (Date.now() - start < timeout) {
    last = (await locator.textContent()) ?? '';
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out; last text: ${JSON.stringify(last)}`);
}

test('1. the default page plays the seed and the app prints a node-side address', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    const text = await waitForText(output(page), (t) => t.startsWith('::ffff:'));
    assert.match(text, /^::ffff:(10\.244\.\d+\.1|10\.240\.0\.\d+)$/, 'a cbr0 address or a node IP, never the client');
    assert.equal(await page.locator('select#preset').inputValue(), 'aks-blog');
    await screenshot(page, 'sim-1-default');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('2. choosing Local shows the client IP, then probes fall to 50% with 1/2 nodes in rotation', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    await waitForText(output(page), (t) => t.startsWith('::ffff:'));
    await page.locator('select#speed').selectOption('16');
    await page.getByRole('radiogroup', { name: 'externalTrafficPolicy' }).getByLabel('Local').click(); // not .check(): under load its instant state check races the re-render; the effect is checked below
    await waitForText(output(page), (t) => t === '::ffff:198.51.100.79');
    // 16×: the node fails two probes within seconds; a whole minute at 50% follows.
    await waitForText(page.getByTestId('probe-percent'), (t) => t === '50%', 40_000);
    assert.equal(await page.getByTestId('in-rotation').textContent(), '1/2');
    assert.match(await page.getByTestId('node-1').textContent(), /out of rotation: probe HTTP 503 ×2/);
    await screenshot(page, 'sim-2-local-50');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('3. a link opens on its frame; step, back and scrub are deterministic', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog&etp=Local&t=120s' });
  try {
    // The frame is a pure function of (run, t): compare the drawn SVG exactly. (Pixels of two
    // identical SVGs can differ by anti-aliasing between repaints, so screenshots are kept as
    // artifacts rather than compared byte for byte.)
    const frame = () => page.locator('.topology').evaluate((e) => e.outerHTML);
    await waitForText(page.getByTestId('clock'), (t) => t.startsWith('t = 120.00 s'));
    assert.equal(await output(page).textContent(), '::ffff:198.51.100.79');
    assert.equal(await page.getByTestId('probe-percent').textContent(), '50%');
    assert.match(await page.getByTestId('play').getAttribute('aria-label'), /^Play/, 'opens paused');
    const at120 = await frame();
    await screenshot(page, 'sim-3-link');

    await page.getByTestId('step').click();
    const t1 = await page.getByTestId('clock').textContent();
    assert.notEqual(t1, 't = 120.00 s · minute 2');
    const first = await frame();
    await page.getByTestId('step').click();
    await page.getByTestId('step-back').click();
    assert.equal(await page.getByTestId('clock').textContent(), t1, 'back returns to the same event');
    assert.equal(await frame(), first, 'the same time gives the same picture');

    await page.getByTestId('scrubber').fill('120');
    await waitForText(page.getByTestId('clock'), (t) => t.startsWith('t = 120.00 s'));
    assert.equal(await frame(), at120, 'scrubbing back to 120 s shows the frame the link opened on');
    assert.equal(await output(page).textContent(), '::ffff:198.51.100.79');
    await screenshot(page, 'sim-3-scrubbed-back');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('4. a bad YAML paste shows the error with its line and keeps the old run', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    await waitForText(output(page), (t) => t.startsWith('::ffff:'));
    await page.getByRole('button', { name: 'Edit the YAML' }).click();
    await page.getByTestId('yaml').fill('apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: NodePort\n  ports: [{port: 80, nodePort: 99999}]\n');
    await page.getByTestId('apply-yaml').click();
    const errors = await page.getByTestId('yaml-errors').textContent();
    assert.match(errors, /6:32: error: doc 1 \(Service web\) spec\.ports\[0\]\.nodePort: 99999 is outside 30000-32767/);
    assert.equal(await page.locator('select#preset').inputValue(), 'aks-blog', 'the previous scenario is still selected');
    await waitForText(output(page), (t) => t.startsWith('::ffff:'));
    assert.match(await page.locator('.topology').textContent(), /node-deployment/, 'the old run is still drawn');
    await screenshot(page, 'sim-4-bad-yaml');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('5. keyboard only: play/pause, step and the policy radio', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    await waitForText(output(page), (t) => t.startsWith('::ffff:'));
    await page.locator('body').press(' ');
    assert.match(await page.getByTestId('play').getAttribute('aria-label'), /^Play/, 'Space pauses');
    const before = await page.getByTestId('clock').textContent();
    await page.keyboard.press('ArrowRight');
    const after = await page.getByTestId('clock').textContent();
    assert.notEqual(after, before, '→ steps to the next event');
    await page.keyboard.press('ArrowLeft');
    assert.notEqual(await page.getByTestId('clock').textContent(), after, '← steps back');

    // Tab to the policy radio group, then choose Local with the arrow keys.
    let onRadio = false;
    for (let i = 0; i < 80 && !onRadio; i++) {
      await page.keyboard.press('Tab');
      onRadio = await page.evaluate(() => document.activeElement?.getAttribute('name') === 'etp');
    }
    assert.ok(onRadio, 'the policy radio is reachable with Tab');
    await page.keyboard.press('ArrowDown');
    assert.ok(await page.getByRole('radiogroup', { name: 'externalTrafficPolicy' }).getByLabel('Local').isChecked());
    // Play again from the keyboard: focus leaves the radio first.
    await page.evaluate(() => document.activeElement.blur());
    await page.keyboard.press(' ');
    await page.locator('select#speed').selectOption('4');
    await waitForText(output(page), (t) => t === '::ffff:198.51.100.79');
    await screenshot(page, 'sim-5-keyboard');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('6. Share: the link reopens the same frame, state and all', async () => {
  const { context, page, problems } = await openPage(browser);
  const panels = (p) =>
    p.evaluate(() =>
      ['.topology', '[data-testid=app-output]', '[data-testid=probe-percent]', '[data-testid=in-rotation]', '[data-testid=clock]', '[data-testid=inspector]', '[data-testid=replicas]']
        .map((sel) => {
          // Markup with attributes sorted: a patched element and a fresh one may list them in
          // a different order for the same picture.
          const canon = (n) => n.nodeType === 3 ? n.textContent
            : `<${n.localName} ${[...n.attributes].map((a) => `${a.name}="${a.value}"`).sort().join(' ')}>${[...n.childNodes].map(canon).join('')}</${n.localName}>`;
          const e = document.querySelector(sel);
          return e ? (sel.startsWith('svg') ? canon(e) : e.textContent) : null;
        }),
    );
  try {
    await waitForText(output(page), (t) => t.startsWith('::ffff:'));
    await page.locator('select#speed').selectOption('16');
    await waitForText(page.getByTestId('clock'), (t) => parseFloat(t.slice(4)) > 20);
    await page.getByRole('radiogroup', { name: 'externalTrafficPolicy' }).getByLabel('Local').click(); // not .check(): under load its instant state check races the re-render; the effect is checked below
    await page.getByRole('button', { name: 'More replicas' }).click();
    await waitForText(page.getByTestId('clock'), (t) => parseFloat(t.slice(4)) > 45);
    // Pause (the log moves while playing), inspect a request from the event log, then share.
    await page.getByTestId('play').click();
    await page.getByTestId('event-log').locator('button.log-row').filter({ hasText: 'req#' }).nth(2).click();
    await page.getByTestId('share').click();
    const link = await page.getByTestId('share-url').inputValue();
    assert.match(link, /#preset=aks-blog&ch=\d+(\.\d+)?s:etp:Local,\d+(\.\d+)?s:replicas:2&t=[\d.]+s&speed=16&sel=\d+$/);
    assert.equal(page.url(), link, 'the address bar carries the link too');
    const shared = await panels(page);
    assert.match(shared[5], /Flow #\d+ — laptop/, 'a request is in the inspector');
    await screenshot(page, 'sim-6-shared');

    const fresh = await openPage(browser, { path: link.slice(link.indexOf('#')) });
    try {
      await waitForText(fresh.page.getByTestId('clock'), (t) => t === shared[4]);
      // The clock can reach the frame a moment before the last panel is drawn under load:
      // give the page a few seconds to settle, then compare what it shows.
      let reopened = await panels(fresh.page);
      for (const start = Date.now(); JSON.stringify(reopened) !== JSON.stringify(shared) && Date.now() - start < 5_000;) {
        await new Promise((r) => setTimeout(r, 100));
        reopened = await panels(fresh.page);
      }
      assert.deepEqual(reopened, shared, 'the reopened page draws the same frame');
      assert.match(await fresh.page.getByTestId('play').getAttribute('aria-label'), /^Play/, 'opens paused');
      await screenshot(fresh.page, 'sim-6-reopened');
      assert.deepEqual(fresh.problems, []);
    } finally {
      await fresh.context.close();
    }
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('7. a tampered link says what it could not use and still plays the default', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog&ch=10s:etp:<img src=x onerror=alert(1)>&nodes=900&t=forever' });
  try {
    const notice = await page.getByTestId('notice').textContent();
    assert.match(notice, /ch: .* the changes were ignored/);
    assert.match(notice, /nodes must be a node count from 1 to 8/);
    assert.match(notice, /t must be a time/);
    assert.equal(await page.locator('img').count(), 0, 'text from the link is never markup');
    await waitForText(output(page), (t) => t.startsWith('::ffff:'));
    await screenshot(page, 'sim-7-tampered-link');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('8. exports: the inspected request as SVG and Mermaid, the probe chart as SVG and PNG', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog&t=130s' });
  try {
    await page.getByTestId('event-log').locator('button.log-row').filter({ hasText: 'DNAT' }).first().click();
    const svgHref = await page.getByTestId('export-svg').getAttribute('href');
    assert.match(svgHref, /^data:image\/svg\+xml;charset=utf-8,/);
    assert.match(await page.getByTestId('export-svg').getAttribute('download'), /^svcsim-flow-\d+\.svg$/);
    const parsed = await page.evaluate((href) => {
      const text = decodeURIComponent(href.slice(href.indexOf(',') + 1));
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      return {
        error: doc.getElementsByTagName('parsererror').length,
        root: doc.documentElement.localName,
        lifelines: [...doc.querySelectorAll('text[text-anchor=middle][font-weight="600"]')].map((t) => t.textContent),
        notes: [...doc.querySelectorAll('text[fill]')].map((t) => t.textContent),
      };
    }, svgHref);
    assert.equal(parsed.error, 0, 'the SVG parses as XML');
    assert.equal(parsed.root, 'svg');
    assert.deepEqual(parsed.lifelines.slice(0, 3), ['laptop', 'lb', parsed.lifelines[2]]);
    assert.match(parsed.lifelines[2], /^node-[01]$/);
    assert.ok(parsed.notes.some((n) => /^DNAT 203\.0\.113\.10:80 -> 10\.244\.0\.2:8080, SNAT /.test(n)), parsed.notes.join(' | '));
    const mermaid = await page.getByTestId('mermaid-text').textContent();
    assert.match(mermaid, /^sequenceDiagram\n/);
    assert.match(mermaid, /Note over L\d: sees 10\.\S+, prints "::ffff:10\./);
    const mmdHref = await page.getByTestId('export-mermaid').getAttribute('href');
    assert.equal(await page.evaluate((h) => decodeURIComponent(h.slice(h.indexOf(',') + 1)), mmdHref), mermaid);

    // The probe chart, as SVG and as a PNG drawn in the page.
    const chartHref = await page.getByTestId('export-chart-svg').getAttribute('href');
    const chart = await page.evaluate((href) => {
      const doc = new DOMParser().parseFromString(decodeURIComponent(href.slice(href.indexOf(',') + 1)), 'image/svg+xml');
      return { error: doc.getElementsByTagName('parsererror').length, dots: [...doc.querySelectorAll('circle title')].map((t) => t.textContent) };
    }, chartHref);
    assert.equal(chart.error, 0, 'the chart SVG parses as XML');
    assert.deepEqual(chart.dots, ['minute 0: 100%', 'minute 1: 100%'], 'two complete minutes of Cluster at 130 s');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-chart-png').click()]);
    assert.match(download.suggestedFilename(), /^svcsim-probes-minute-\d+\.png$/);
    const { readFile } = await import('node:fs/promises');
    const png = await readFile(await download.path());
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG file');
    assert.ok(png.length > 5000, `a drawn chart, not an empty canvas (${png.length} bytes)`);
    await screenshot(page, 'sim-8-export');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('9. a link carries your own YAML, compressed, and reopens it', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    const yaml = await applyYaml(page, (y) => y.replace('replicas: 1', 'replicas: 2'));
    await page.getByTestId('play').click();
    await page.getByTestId('scrubber').fill('15');
    await page.getByTestId('share').click();
    const link = await page.getByTestId('share-url').inputValue();
    assert.match(link, /#yaml=[A-Za-z0-9_-]+&t=15s&editor=open$/);
    assert.ok(link.length < yaml.length, `compressed: ${link.length} characters for ${yaml.length} of YAML`);
    const seen = await page.locator('table.seen').textContent();
    assert.match(seen, /node-deployment.*node-deployment/s, 'two pods have answered');

    const fresh = await openPage(browser, { path: link.slice(link.indexOf('#')) });
    try {
      await waitForText(fresh.page.getByTestId('clock'), (t) => t.startsWith('t = 15.00 s'));
      assert.equal(await fresh.page.getByTestId('yaml').inputValue(), yaml, 'the YAML is back in the editor');
      assert.equal(await fresh.page.locator('select#preset').inputValue(), '', 'the picker says: your YAML');
      assert.equal(await fresh.page.locator('table.seen').textContent(), seen);
      assert.equal(await output(fresh.page).textContent(), await output(page).textContent());
      assert.deepEqual(fresh.problems, []);
    } finally {
      await fresh.context.close();
    }
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

/** Once the default run plays, opens the editor. */
async function openEditor(page) {
  await waitForText(output(page), (t) => t.startsWith('::ffff:'));
  await page.getByRole('button', { name: 'Edit the YAML' }).click();
}

/** Once the default run plays, opens the editor and applies `edit(the YAML shown)`; returns it. */
async function applyYaml(page, edit) {
  await openEditor(page);
  const yaml = edit(await page.getByTestId('yaml').inputValue());
  await page.getByTestId('yaml').fill(yaml);
  await page.getByTestId('apply-yaml').click();
  return yaml;
}

/** Opens `path` on a fresh page that records dialogs into `dialogs`, runs `check(page)`, then
 * checks that no element was made from the hostile text and nothing broke. */
async function openHostile(path, dialogs, check) {
  const fresh = await openPage(browser, { path });
  try {
    fresh.page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
    await check(fresh.page);
    assert.equal(await fresh.page.locator('img').count(), 0, 'no element was made from the text');
    assert.deepEqual(fresh.problems, []);
  } finally {
    await fresh.context.close();
  }
}

/** No element was made from hostile text on `page`, no script opened a dialog, nothing broke. */
async function assertInert(page, dialogs, problems, shot) {
  assert.equal(await page.locator('img').count(), 0, 'no element was made from the text');
  assert.deepEqual(dialogs, [], 'no script ran');
  await screenshot(page, shot);
  assert.deepEqual(problems, []);
}

test('10. names from YAML are text everywhere: a client called <img onerror> runs no script', async () => {
  const evil = '<img src=x onerror=alert(1)>';
  const { context, page, problems } = await openPage(browser);
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  try {
    const yaml = await applyYaml(page, (y) => y.replace('{name: laptop,', `{name: "${evil}",`));
    assert.ok(yaml.includes(evil), 'the preset names its client laptop');
    await page.getByTestId('play').click();
    await page.getByTestId('scrubber').fill('20');
    await page.getByTestId('event-log').locator('button.log-row').filter({ hasText: 'DNAT' }).first().click();
    assert.ok((await page.locator('.topology').textContent()).includes(evil), 'the topology shows the name literally');
    assert.ok((await page.getByTestId('inspector').textContent()).includes(evil), 'so does the inspector');
    assert.ok((await page.getByTestId('mermaid-text').textContent()).includes('participant L0 as <img src=x onerror=alert(1)>'));
    const svgHref = await page.getByTestId('export-svg').getAttribute('href');
    const svgImgs = await page.evaluate((href) => {
      const doc = new DOMParser().parseFromString(decodeURIComponent(href.slice(href.indexOf(',') + 1)), 'image/svg+xml');
      return doc.getElementsByTagName('img').length + doc.getElementsByTagName('parsererror').length;
    }, svgHref);
    assert.equal(svgImgs, 0, 'the exported SVG holds the name as text');
    await page.getByTestId('compare-toggle').click();
    await page.getByTestId('share').click();
    const link = await page.getByTestId('share-url').inputValue();
    await openHostile(link.slice(link.indexOf('#')).replace('&compare=1', '') + '&embed=1', dialogs, async (fresh) => {
      await fresh.locator('.topology').waitFor();
      assert.ok((await fresh.locator('.topology').textContent()).includes(evil), 'and the embed of a shared link');
    });
    await assertInert(page, dialogs, problems, 'sim-10-injection');
  } finally {
    await context.close();
  }
});

test('11. a pod, node and Service named <img onerror> are refused by name, as text, and the run stays', async () => {
  const evil = '<img src=x onerror=alert(1)>';
  const { context, page, problems } = await openPage(browser);
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  try {
    await waitForText(output(page), (t) => t.startsWith('::ffff:'));
    const before = await output(page).textContent();
    const yaml = await applyYaml(page, (y) => y
      .replace('name: node-deployment', `name: "${evil}"`)
      .replace('name: node-service', `name: "${evil}"`)
      .replace('nodes: 2', `nodes: [{name: "${evil}"}, {name: node-1}]`)
      + `---\napiVersion: v1\nkind: Pod\nmetadata: {name: "${evil}", labels: {app: other}}\nspec: {nodeName: "${evil}", containers: [{name: c}]}\n`);
    const errors = page.getByTestId('yaml-errors');
    await errors.waitFor();
    const text = await errors.textContent();
    // Each kind of object is refused, quoting the name exactly as typed.
    for (const kind of ['Deployment', 'Service', 'Pod', 'node']) {
      assert.ok(text.includes(`${JSON.stringify(evil)} is not a valid ${kind} name`), `the ${kind} name is refused: ${text}`);
    }
    assert.equal(await output(page).textContent(), before, 'the previous run stays');
    // The same YAML from a link: the notices quote it too.
    const link = `#yaml=${Buffer.from(zlib.deflateRawSync(yaml, { level: 9 })).toString('base64url')}`;
    await openHostile(link, dialogs, async (fresh) => {
      await fresh.getByTestId('notice').waitFor();
      assert.ok((await fresh.getByTestId('notice').textContent()).includes(JSON.stringify(evil)));
    });
    await assertInert(page, dialogs, problems, 'sim-11-injection-names');
  } finally {
    await context.close();
  }
});

test('12. a crowd of packets is drawn as one shape per kind, and a click on one still inspects it', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    await applyYaml(page, (y) => y.replace('rate: 1/s', 'rate: 80/s').replace('replicas: 1', 'replicas: 4')); // plays from the start
    await page.waitForFunction(() => Number(document.querySelector('g.packets')?.dataset.packets) > 60, null, { timeout: 20_000 });
    await page.getByTestId('play').click(); // pause, so the packets hold still
    assert.ok((await page.locator('.topology g.packet.crowd').count()) >= 2, 'a few crowd paths');
    assert.equal(await page.locator('.topology g.packets > g.packet:not(.crowd)').count(), 0, 'no per-packet elements');
    // The centre of the first circle of the original-request crowd, in page coordinates.
    const at = await page.evaluate(() => {
      const path = document.querySelector('g.packet.crowd.pk-orig path');
      const [x, y] = path.getAttribute('d').slice(1).split(/[ a]/).map(Number);
      const p = new DOMPoint(x + 7, y).matrixTransform(path.ownerSVGElement.getScreenCTM());
      return { x: p.x, y: p.y };
    });
    await page.mouse.click(at.x, at.y);
    const inspector = await page.getByTestId('inspector').textContent();
    assert.match(inspector, /^Flow #\d+ — /, 'the inspector shows the clicked request');
    assert.equal(await page.locator('.topology g.packets > g.packet:not(.crowd)').count(), 1, 'the selected packet is drawn on its own');
    await screenshot(page, 'sim-12-crowd');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('13. a pasted kubectl dump runs on the nodes it names, without a warning', async () => {
  const dump = fs.readFileSync(new URL('../../../crates/svcsim-cli/tests/dumps/kubectl-get-nodes-aks.yaml', import.meta.url), 'utf8');
  const { context, page, problems } = await openPage(browser);
  try {
    await applyYaml(page, () => dump);
    await waitForText(page.locator('.topology'), (t) => t.includes('aks-nodepool1-12345678-vmss000000'));
    await waitForText(output(page), (t) => t.startsWith('::ffff:'));
    assert.equal(await page.getByTestId('yaml-errors').count(), 0, 'a kubectl dump of the AKS story says nothing to warn about');
    await screenshot(page, 'sim-13-kubectl-dump');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('14. the dataplane control: kube-proxy\'s nftables mode gives the same answer from other rules, and the link keeps it', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog&t=6s&sel=3' });
  try {
    assert.match(await page.getByTestId('node-0').textContent(), /kube-proxy\s*iptables/);
    assert.match(await page.getByTestId('inspector').textContent(), /KUBE-SVC-/);
    await page.getByLabel('Dataplane').selectOption('nftables');
    await waitForText(page.getByTestId('node-0'), (t) => /kube-proxy\s*nftables/.test(t));
    assert.match(await page.getByTestId('node-1').textContent(), /kube-proxy\s*nftables/, 'every node names the mode');
    // The same request, now walked through the nftables rules: the verdict map's element, numgen.
    const inspector = await waitForText(page.getByTestId('inspector'), (t) => t.includes('service-ips element'));
    assert.match(inspector, /service-ips element 203\.0\.113\.10 \. tcp \. 80 : goto external-/);
    assert.match(inspector, /numgen random mod 1 vmap/);
    assert.doesNotMatch(inspector, /KUBE-SVC-/);
    assert.match(await output(page).textContent(), /^::ffff:(10\.244\.\d+\.1|10\.240\.0\.\d+)$/, 'the same answer as iptables mode');
    await screenshot(page, 'sim-14-nftables');
    await page.getByRole('button', { name: /Share/ }).click();
    assert.match(page.url(), /#preset=aks-blog&mode=nftables&t=6s&sel=3$/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('15. several files dropped on the editor run as one scenario, a kubectl JSON dump beside YAML', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    await openEditor(page);
    const deploy = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: dropped}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: dropped}}\n  template:\n    metadata: {labels: {app: dropped}}\n    spec: {containers: [{name: web, ports: [{containerPort: 8080}]}]}\n';
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'dropped' }, spec: { type: 'LoadBalancer', selector: { app: 'dropped' }, ports: [{ port: 80, targetPort: 8080 }] } }] });
    const dataTransfer = await page.evaluateHandle(([a, b]) => {
      const dt = new DataTransfer();
      dt.items.add(new File([a], 'deploy.yaml', { type: 'text/yaml' }));
      dt.items.add(new File([b], 'svc.json', { type: 'application/json' }));
      dt.items.add(new File([new Uint8Array([0xff, 0xfe, 0x00, 0x81])], 'logo.png', { type: 'image/png' }));
      return dt;
    }, [deploy, list]);
    await page.locator('section.editor').dispatchEvent('drop', { dataTransfer });
    // The files are read asynchronously: wait for the editor to hold them.
    for (let i = 0; i < 100 && !(await page.getByTestId('yaml').inputValue()).includes('# file: svc.json'); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(await page.getByTestId('yaml').inputValue(), /# file: deploy\.yaml\n[\s\S]*# file: svc\.json\n\{"apiVersion":"v1","kind":"List"/);
    await waitForText(page.locator('.topology'), (t) => t.includes('dropped-'));
    assert.match(await page.locator('body').textContent(), /logo\.png was not read: not UTF-8 text at byte 0/);
    await screenshot(page, 'sim-15-dropped-files');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('16. a node\'s iptables-save pasted in the editor traces a typed packet: Docker\'s FORWARD policy drops it', async () => {
  const dump = fs.readFileSync(new URL('../../../crates/svcsim-cli/tests/dumps/iptables/aks-blog-node-0-docker.txt', import.meta.url), 'utf8');
  const { context, page, problems } = await openPage(browser);
  try {
    await applyYaml(page, () => dump);
    const form = page.getByTestId('trace');
    await form.getByLabel('source').fill('10.244.0.5');
    await form.getByLabel('destination').fill('10.0.223.151:80');
    await page.getByTestId('trace-run').click();
    let result = await waitForText(page.getByTestId('trace-result'), (t) => t.includes('Not decided'));
    assert.match(result, /give --node-ip/, 'without the node\'s addresses the trace says what it could not decide');
    await form.getByLabel('node IPs').fill('10.240.0.4,10.244.0.1');
    await form.getByLabel('in interface').fill('cbr0');
    await form.getByLabel('out interface').fill('cbr0');
    await page.getByTestId('trace-run').click();
    result = await waitForText(page.getByTestId('trace-result'), (t) => t.startsWith('DROP'));
    assert.match(result, /^DROP \("FORWARD's policy is DROP: no rule accepted the packet"\)/);
    assert.match(result, /-t filter -P FORWARD DROP/);
    assert.match(result, /KUBE-SVC-IXNP3UPK7A3TOQ6U → default\/node-service/);
    assert.equal(await page.locator('select#preset').inputValue(), 'aks-blog', 'the simulator keeps its run');
    await page.getByTestId('trace-result').scrollIntoViewIfNeeded();
    await screenshot(page, 'sim-16-trace-dump');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('17. a node\'s nft list ruleset traces the same way: kube-proxy\'s nftables chains name their Service', async () => {
  const dump = fs.readFileSync(new URL('../../../crates/svcsim-cli/tests/dumps/nft/aks-blog-node-0-firewall.nft', import.meta.url), 'utf8');
  const { context, page, problems } = await openPage(browser);
  try {
    await applyYaml(page, () => dump);
    const form = page.getByTestId('trace');
    assert.match(await form.innerText(), /This is a node's nft list ruleset output/);
    await form.getByLabel('source').fill('198.51.100.79');
    await form.getByLabel('destination').fill('203.0.113.10:80');
    await form.getByLabel('node IPs').fill('10.240.0.4,10.244.0.1');
    await form.getByLabel('in interface').fill('eth0');
    await page.getByTestId('trace-run').click();
    let result = await waitForText(page.getByTestId('trace-result'), (t) => t.startsWith('DROP'));
    assert.match(result, /^DROP \("forward's policy is drop: no rule accepted the packet"\)/);
    assert.match(result, /inet filter forward: policy drop/);
    assert.match(result, /external-POY56EFC-default\/node-service\/tcp\/ → default\/node-service/);
    // From the pod bridge the firewall accepts, and kube-proxy's DNAT stands.
    await form.getByLabel('source').fill('10.244.0.5');
    await form.getByLabel('destination').fill('10.0.223.151:80');
    await form.getByLabel('in interface').fill('cbr0');
    await page.getByTestId('trace-run').click();
    result = await waitForText(page.getByTestId('trace-result'), (t) => t.startsWith('DNAT'));
    assert.match(result, /10\.244\.0\.2:8080/);
    await page.getByTestId('trace-result').scrollIntoViewIfNeeded();
    await screenshot(page, 'sim-17-trace-nft');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('18. the address bar follows the page: a change is in it at once, and a reload reopens it', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    await waitForText(output(page), (t) => t.startsWith('::ffff:'));
    await page.getByRole('radiogroup', { name: 'externalTrafficPolicy' }).getByLabel('Local').click();
    await page.waitForFunction(() => location.hash.includes(':etp:Local'));
    assert.doesNotMatch(page.url(), /&t=/, 'while playing the address holds no frame');
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.waitForFunction(() => /&t=[\d.]+s/.test(location.hash));
    const paused = page.url();
    const seen = await output(page).textContent();
    await page.reload();
    await waitForText(output(page), (t) => t === seen);
    assert.equal(page.url(), paused, 'the reload keeps the address');
    assert.ok(await page.getByRole('radiogroup', { name: 'externalTrafficPolicy' }).getByLabel('Local').isChecked());
    assert.equal(await page.getByRole('button', { name: 'Play' }).count(), 1, 'it reopens paused on the frame');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('19. the probe chart is large enough to read: axes, a named line per node, the change marked, a keyboard readout', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog-switch&t=300s' });
  try {
    const chart = page.getByTestId('probe-chart');
    await chart.waitFor();
    const box = await chart.boundingBox();
    assert.ok(box.width >= 320 && box.height >= 160, `the chart is ${box.width}×${box.height}`);
    const text = await chart.textContent();
    for (const label of ['100%', '50%', '0%', 'minute of the run', 'probes answered', 'node-0', 'node-1']) {
      assert.ok(text.includes(label), `the chart shows ${label}: ${text}`);
    }
    assert.ok(await chart.locator('.transition').count() >= 1, 'the switch to Local is marked');
    // The node names at the lines' ends never overlap.
    const labels = await chart.locator('.node-label').evaluateAll((els) => els.map((e) => e.getBoundingClientRect()).map((r) => [r.top, r.bottom]));
    for (let i = 0; i < labels.length; i++) {
      for (let j = i + 1; j < labels.length; j++) {
        assert.ok(labels[i][1] <= labels[j][0] + 0.5 || labels[j][1] <= labels[i][0] + 0.5, `labels ${i} and ${j} overlap`);
      }
    }
    await chart.locator('.agg-dot').last().focus();
    const readout = await waitForText(page.getByTestId('chart-readout'), (t) => t.startsWith('minute '));
    assert.match(readout, /^minute 4: 50% \(node-0 100%, node-1 0%\)$/);
    assert.equal(await page.getByTestId('chart-readout').getAttribute('aria-live'), 'polite');
    await chart.scrollIntoViewIfNeeded();
    await screenshot(page, 'sim-19-chart');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('20. the dataplane control: Cilium replaces kube-proxy, each proxy stage says so, DSR keeps the client IP from the pod-less node and the link keeps it', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog&t=4.2s' });
  try {
    await page.getByLabel('Dataplane').selectOption('cilium');
    await waitForText(page.getByTestId('node-1'), (t) => /cilium eBPF\s*snat/.test(t));
    assert.match(await page.getByTestId('node-0').textContent(), /cilium_host/, 'the pods\' side is cilium_host');
    assert.equal(await page.getByTestId('cilium-mode').inputValue(), 'snat', "Cilium's default mode");
    // The request through node-1 is SNATed to node-1's cilium_host address (Cilium's default
    // tunnel routing), and the inspector names Cilium's steps.
    await waitForText(output(page), (t) => t === '::ffff:10.244.1.1');
    await page.getByTestId('event-log').locator('button.log-row').filter({ hasText: 'tail_nodeport_nat_egress_ipv4' }).first().click();
    const inspector = await page.getByTestId('inspector').textContent();
    assert.match(inspector, /nodeport_lb4: cilium_lb4_services_v2 203\.0\.113\.10:80\/TCP \(0\) \[LoadBalancer\]/);
    assert.match(inspector, /XLATE_SRC 10\.244\.1\.1/);
    // DSR: the same request now reaches the pod with the laptop's address.
    await page.getByTestId('cilium-mode').selectOption('dsr');
    await waitForText(page.getByTestId('node-1'), (t) => /cilium eBPF\s*dsr/.test(t));
    await page.getByTestId('scrubber').fill('4.2');
    await waitForText(output(page), (t) => t === '::ffff:198.51.100.79');
    await page.getByTestId('event-log').locator('button.log-row').filter({ hasText: 'tail_nodeport_ipv4_dsr' }).first().click();
    assert.match(await page.getByTestId('inspector').textContent(), /IPv4 option 0x9a carries 203\.0\.113\.10:80/);
    await screenshot(page, 'sim-20-cilium-dsr');
    await page.getByTestId('share').click();
    assert.match(page.url(), /&mode=cilium&lbmode=dsr&lbalg=random&/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});


test('21. the IP family control: the AKS story over IPv6 on a dual-stack cluster, both addresses in every box, the IPv6 frontend\'s probes', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog&t=4.2s' });
  try {
    const family = page.getByTestId('family');
    assert.equal(await family.inputValue(), 'single', 'aks-blog is single-stack');
    await family.selectOption('ipv6');
    // Every node and pod box now shows an address of each family.
    await waitForText(page.getByTestId('node-0'), (t) => t.includes('2001:1234:5678:9abc::4'));
    const node0 = await page.getByTestId('node-0').textContent();
    assert.ok(node0.includes('10.240.0.4') && node0.includes('fd12:3456:789a::1/80'), node0);
    assert.match(await page.getByTestId('pod-0').textContent(), /10\.244\.0\.\d+fd12:3456:789a::\d+/);
    // Under Cluster the IPv6 frontend's link-local probe fails on the pod's own node (the kernel
    // will not forward it to cbr0) and passes on node-1: 50 %, and node-1 carries the traffic.
    await page.getByTestId('scrubber').fill('130');
    await waitForText(page.getByTestId('probe-percent'), (t) => t === '50%');
    assert.match(await page.getByTestId('probe-family').textContent(), /IPv6 frontend/);
    assert.match(await page.getByTestId('node-0').textContent(), /out of rotation/);
    await waitForText(output(page), (t) => t === '2001:1234:5678:9abc::5');
    // Local, as AKS asks: the app prints the laptop's IPv6 address, no ::ffff:.
    await page.getByRole('radio', { name: 'Local' }).check();
    await page.getByTestId('scrubber').fill('200');
    await waitForText(output(page), (t) => t === '2001:db8::79');
    await waitForText(page.getByTestId('probe-percent'), (t) => t === '50%');
    await screenshot(page, 'sim-21-ipv6-local');
    // The link keeps the family.
    await page.getByTestId('share').click();
    assert.match(page.url(), /&stack=dual&family=ipv6&/);
    // Back to IPv4 over the same dual-stack cluster: ::ffff: again.
    await family.selectOption('ipv4');
    await page.getByTestId('scrubber').fill('200');
    await waitForText(output(page), (t) => t === '::ffff:198.51.100.79');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
