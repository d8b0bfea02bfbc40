// The topology as a class sees it from the back row: packets carry their addresses and show the
// rewrite at the proxy stage; no text ever covers other text, nor a box a text, for every preset, a 10-node
// cluster, the embed and the compare view, wide and narrow, light and dark; reduced motion gives
// the same facts without movement. Screenshots of every preset land in target/e2e/presets/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, screenshot } from '../lib/browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const HOP = 0.35;

/** Every text's box in each topology on the page, in CSS pixels. */
async function textBoxes(page) {
  return page.evaluate(() => [...document.querySelectorAll('.topology')].map((svg) =>
    [...svg.querySelectorAll('text')].map((t) => {
      const r = t.getBoundingClientRect();
      return { text: t.textContent, x: r.x, y: r.y, w: r.width, h: r.height };
    }).filter((b) => b.w > 0 && b.h > 0)));
}

/** Pairs of texts whose boxes share more than a sliver (0.5 px) of area. */
function overlaps(boxes) {
  const out = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      const dx = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
      const dy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
      if (dx > 0.5 && dy > 0.5) out.push(`${JSON.stringify(a.text)} overlaps ${JSON.stringify(b.text)}`);
    }
  }
  return out;
}

/** Texts of the still picture that a filled box or ellipse painted after them cuts into (the
 * LB's box over the word "internet"), each named with the shape's item. */
async function coveredTexts(page) {
  return page.evaluate(() => [...document.querySelectorAll('svg.still')].flatMap((svg) => {
    const painted = [...svg.querySelectorAll('text, rect, ellipse')];
    const out = [];
    painted.forEach((t, i) => {
      if (t.localName !== 'text') return;
      const a = t.getBoundingClientRect();
      if (a.width === 0) return;
      for (const s of painted.slice(i + 1)) {
        if (s.localName === 'text' || getComputedStyle(s).fill === 'none') continue;
        const b = s.getBoundingClientRect();
        const dx = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const dy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        const item = s.closest('g[data-testid]')?.dataset.testid ?? s.closest('g')?.getAttribute('class');
        if (dx > 0.5 && dy > 0.5) out.push(`${JSON.stringify(t.textContent)} is under ${item}'s ${s.localName}`);
      }
    });
    return out;
  }));
}

/** Checks the frame on screen now, and after each of `steps` steps to the next event. */
async function assertNoOverlap(page, where, steps = 4) {
  assert.deepEqual(await coveredTexts(page), [], `${where}: no box is drawn over a text`);
  for (let k = 0; k <= steps; k++) {
    const panes = await textBoxes(page);
    assert.ok(panes.length > 0 && panes.every((p) => p.length > 5), `${where}: the topology has its text`);
    for (const boxes of panes) assert.deepEqual(overlaps(boxes), [], `${where}, step ${k}`);
    // ArrowRight steps to the next event, in the embed too (it has no step button).
    if (k < steps) { await page.locator('body').press('ArrowRight'); }
  }
}

async function noSidewaysScroll(page, where) {
  const { scroll, inner } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
  assert.ok(scroll <= inner, `${where}: the page is ${scroll} px wide in a ${inner} px viewport`);
}

async function presets(browser) {
  const { context, page } = await openPage(browser);
  const names = await page.locator('select#preset option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
  await context.close();
  return names;
}

async function tagTexts(page) {
  return page.getByTestId('packet-tag').evaluateAll((ts) => ts.map((t) => t.textContent));
}

test('a packet\'s tag reads the client\'s address before the proxy stage and the node\'s after it (Cluster)', async () => {
  // The first request leaves the laptop at 0.5 s; each leg takes 0.35 s on screen.
  const { context, page, problems } = await openPage(browser, { path: `#preset=aks-blog&t=${0.5 + HOP / 2}s` });
  try {
    await page.getByTestId('packet-tag').first().waitFor();
    const before = await tagTexts(page);
    assert.ok(before.some((t) => /src 198\.51\.100\.79:\d+ *dst 203\.0\.113\.10:80/.test(t)), before.join(' | '));
    await page.getByTestId('scrubber').fill(String(0.5 + 2.5 * HOP));
    const after = await tagTexts(page);
    const rewrite = after.find((t) => t.includes('SNAT'));
    assert.ok(rewrite, after.join(' | '));
    assert.match(rewrite, /SNAT 198\.51\.100\.79:\d+ (10\.244\.0\.1|10\.240\.0\.5):\d+ *DNAT 203\.0\.113\.10:80 10\.244\.0\.2:8080/);
    // The old address is struck through, the new one marked.
    const old = await page.locator('[data-testid=packet-tag] tspan.old').first().evaluate((e) => getComputedStyle(e).textDecorationLine);
    assert.equal(old, 'line-through');
    await screenshot(page, 'topology-1-rewrite');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('under Local the client\'s address reaches the pod: DNAT only', async () => {
  const { context, page, problems } = await openPage(browser, { path: `#preset=aks-blog&etp=Local&t=${0.5 + 2.5 * HOP}s` });
  try {
    await page.getByTestId('packet-tag').first().waitFor();
    const tags = await tagTexts(page);
    const atPod = tags.find((t) => t.includes('DNAT'));
    assert.ok(atPod, tags.join(' | '));
    assert.match(atPod, /src 198\.51\.100\.79:\d+ *DNAT 203\.0\.113\.10:80 10\.244\.0\.2:8080/);
    assert.ok(!atPod.includes('SNAT'), atPod);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('reduced motion: packets stand at each place in turn, the rewrite still spelled out, nothing animated', async () => {
  const at = async (reducedMotion, t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, reducedMotion });
    const page = await context.newPage();
    await page.goto(new URL(`#preset=aks-blog&t=${t}s`, process.env.SVCSIM_BASE_URL ?? 'http://127.0.0.1:8080/').href);
    await page.locator('g.packet').first().waitFor();
    const where = await page.locator('g.packet').first().getAttribute('transform');
    return { context, page, where };
  };
  const moving = [await at('no-preference', 0.55), await at('no-preference', 0.6)];
  assert.notEqual(moving[0].where, moving[1].where, 'with motion, the packet glides');
  const still = [await at('reduce', 0.55), await at('reduce', 0.6)];
  assert.equal(still[0].where, still[1].where, 'with reduced motion, it stays at the laptop until it jumps');
  const page = still[0].page;
  await page.getByTestId('scrubber').fill(String(0.5 + 2.5 * HOP));
  const tags = await tagTexts(page);
  assert.ok(tags.some((t) => t.includes('SNAT')), tags.join(' | '));
  const animation = await page.locator('[data-testid=packet-tag] tspan.new').first().evaluate((e) => getComputedStyle(e).animationName);
  assert.equal(animation, 'none');
  for (const m of [...moving, ...still]) await m.context.close();
});

const VIEWS = [
  { name: 'wide', viewport: { width: 1280, height: 800 }, query: '' },
  { name: 'embed', viewport: { width: 700, height: 450 }, query: '?embed=1' },
  { name: 'phone', viewport: { width: 390, height: 844 }, query: '' },
];

test('no text overlaps other text in any preset, wide, embedded or on a phone; screenshots in both themes', async () => {
  for (const preset of await presets(browser)) {
    for (const v of VIEWS) {
      const { context, page, problems } = await openPage(browser, { path: `${v.query}#preset=${preset}&t=200s`, viewport: v.viewport });
      try {
        await page.locator('.topology text').first().waitFor();
        await assertNoOverlap(page, `${preset} ${v.name}`, 3);
        await noSidewaysScroll(page, `${preset} ${v.name}`);
        for (const scheme of ['light', 'dark']) {
          await page.emulateMedia({ colorScheme: scheme });
          await screenshot(page, `presets/${preset}-${v.name}-${scheme}`);
        }
        assert.deepEqual(problems, [], `${preset} ${v.name}`);
      } finally {
        await context.close();
      }
    }
  }
});

test('the compare view: neither pane has overlapping text', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog&compare=1&t=150s' });
  try {
    await page.getByTestId('compare').waitFor();
    await assertNoOverlap(page, 'compare', 4);
    await screenshot(page, 'topology-compare');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

/** Ten nodes with AKS's long names and thirty replicas. */
function bigCluster(nodes, replicas) {
  const list = Array.from({ length: nodes }, (_, i) => `      - {name: aks-nodepool1-12345678-vmss${String(i).padStart(6, '0')}}`).join('\n');
  return `apiVersion: svcsim.dev/v1alpha1
kind: Simulation
metadata: {name: big}
spec:
  cluster:
    provider: azure
    nodes:
${list}
  clients:
    - {name: laptop, ip: 198.51.100.79, target: service/web, rate: 4/s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-frontend-deployment}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, ports: [{containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`;
}

test('a 10-node, 30-pod cluster: no overlapping text, wide or on a phone', async () => {
  for (const v of [VIEWS[0], VIEWS[2]]) {
    const { context, page, problems } = await openPage(browser, { viewport: v.viewport });
    try {
      await page.getByRole('button', { name: 'Edit the YAML' }).click();
      await page.getByTestId('yaml').fill(bigCluster(10, 30));
      await page.getByTestId('apply-yaml').click();
      await page.waitForFunction(() => document.querySelectorAll('.topology [data-testid^=node-]').length === 10);
      assert.equal(await page.locator('.topology .pod').count(), 30);
      await page.getByTestId('scrubber').fill('20');
      await assertNoOverlap(page, `10×30 ${v.name}`, 4);
      await noSidewaysScroll(page, `10×30 ${v.name}`);
      await screenshot(page, `topology-10x30-${v.name}`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  }
});

test('from 360 to 800 px wide the page stacks: no sideways scrolling, the topology readable', async () => {
  for (const width of [360, 600, 800]) {
    const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog-switch&t=200s', viewport: { width, height: 800 } });
    try {
      await page.locator('.topology text').first().waitFor();
      await noSidewaysScroll(page, `${width} px`);
      await assertNoOverlap(page, `${width} px`, 1);
      // The smallest text in the topology is drawn at 8 CSS pixels or more.
      const smallest = await page.locator('.topology').evaluate((svg) => Math.min(...[...svg.querySelectorAll('text')].map((t) => t.getBoundingClientRect().height).filter((h) => h > 0)));
      assert.ok(smallest >= 8, `${width} px: text ${smallest.toFixed(1)} px high`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  }
});
