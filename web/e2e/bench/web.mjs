// Web budgets, measured (not asserted): bundle size raw and gzip, first frame after navigation
// (median of 10 loads), frame times with 50, 200 and 1,000 packets in flight, and memory over a
// time-lapsed soak (SVCSIM_SOAK_MINUTES, default 10). Prints a Markdown section for
// docs/BENCHMARKS.md. Run by `cargo xtask bench` (or `bench-web`).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { launch, BASE_URL } from '../lib/browser.mjs';

const dist = process.env.SVCSIM_DIST;
const kb = (n) => (n / 1024).toFixed(1);
const pctl = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
const median = (xs) => pctl(xs, 50);

const out = [];
out.push('### Bundle (release `dist/`)', '', '| file | raw KB | gzip KB |', '|---|---:|---:|');
let raw = 0, gz = 0;
for (const f of readdirSync(dist).sort()) {
  const p = join(dist, f);
  if (!statSync(p).isFile()) continue;
  const bytes = readFileSync(p);
  const z = gzipSync(bytes, { level: 9 }).length;
  raw += bytes.length; gz += z;
  out.push(`| ${f.replace(/-[0-9a-f]{16}/, '-…')} | ${kb(bytes.length)} | ${kb(z)} |`);
}
out.push(`| **total** | **${kb(raw)}** | **${kb(gz)}** |`, '', `Budget: ≤ 250 KB gzip in total — ${gz / 1024 <= 250 ? 'met' : 'not met'}.`, '');

// Precise heap numbers and a callable gc() for the soak.
const browser = await launch(['--enable-precise-memory-info', '--js-flags=--expose-gc']);

// First frame: navigation start to the app's first render, median of 10 fresh loads.
const firsts = [];
for (let i = 0; i < 10; i++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(() => {
    new MutationObserver((_, obs) => {
      if (document.querySelector('[data-testid=app-root]')) { window.__first = performance.now(); obs.disconnect(); }
    }).observe(document, { childList: true, subtree: true });
  });
  await page.goto(BASE_URL, { waitUntil: 'load' });
  await page.waitForFunction(() => window.__first !== undefined);
  firsts.push(await page.evaluate(() => window.__first));
  await context.close();
}
out.push('### First frame', '', `Navigation start to the first rendered frame of the simulator, localhost, median of 10 loads: **${median(firsts).toFixed(0)} ms** (min ${Math.min(...firsts).toFixed(0)}, max ${Math.max(...firsts).toFixed(0)}). Budget ≤ 300 ms — ${median(firsts) <= 300 ? 'met' : 'not met'}.`, '');

// Frame times: a LoadBalancer Service with a client sending fast enough to keep N packets on screen.
const yaml = (rate) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, ports: [{containerPort: 8080}]}]}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: svcsim.dev/v1alpha1
kind: Simulation
metadata: {name: bench}
spec:
  duration: 1h
  cluster: {nodes: 4}
  clients: [{name: load, target: service/web, rate: ${rate}/s}]
`;
out.push('### Frame times', '',
  'Playing at 1× in headless Chromium (software rendering, 1280×800), after 2 s of warm-up. **Work per frame** is the renderer main thread\'s busy time (script, style, layout, paint) between two animation-frame callbacks, from a 3 s Chromium trace: the budget is ≤ 16.7 ms at p95, so that every frame is ready for the next 60 Hz refresh. **Interval** is the rAF-to-rAF time over 6 s; headless Chromium\'s vsync jitters, so even a blank page shows the floor given in the last row.', '',
  '| packets in flight (measured) | work p50 ms | work p95 ms | interval p50 ms | interval p95 ms | interval p99 ms | long tasks (> 50 ms) |', '|---:|---:|---:|---:|---:|---:|---:|');
const intervals = () => new Promise((done) => {
  const deltas = []; let long = 0;
  const obs = new PerformanceObserver((l) => { long += l.getEntries().length; });
  try { obs.observe({ type: 'longtask', buffered: false }); } catch (_) {}
  let last = performance.now(); const end = last + 6000; let sum = 0, n = 0;
  const tick = (now) => {
    deltas.push(now - last); last = now;
    sum += Number(document.querySelector('g.packets')?.dataset.packets ?? 0); n++;
    if (now < end) requestAnimationFrame(tick); else { obs.disconnect(); done({ deltas, long, packets: Math.round(sum / n) }); }
  };
  requestAnimationFrame(tick);
});
/** Main-thread busy time between consecutive animation-frame callbacks, from a trace. */
async function workPerFrame(page) {
  const trace = await (async () => {
    await browser.startTracing(page, { categories: ['devtools.timeline', 'toplevel'] });
    await page.waitForTimeout(3000);
    return JSON.parse((await browser.stopTracing()).toString()).traceEvents;
  })();
  const main = trace.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  const mine = (e) => e.pid === main.pid && e.tid === main.tid;
  const tasks = trace.filter((e) => mine(e) && e.ph === 'X' && e.name === 'ThreadControllerImpl::RunTask');
  const frames = trace.filter((e) => mine(e) && e.name === 'FireAnimationFrame').map((e) => e.ts).sort((a, b) => a - b);
  const busy = [];
  for (let i = 0; i + 1 < frames.length; i++) {
    let sum = 0;
    for (const t of tasks) sum += Math.max(0, Math.min(frames[i + 1], t.ts + t.dur) - Math.max(frames[i], t.ts));
    busy.push(sum / 1000);
  }
  return busy;
}
for (const [target, rate] of [[50, 28], [200, 115], [1000, 570]]) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(BASE_URL, { waitUntil: 'load' });
  await page.getByTestId('app-root').waitFor();
  await page.getByRole('button', { name: 'Edit the YAML' }).click();
  await page.getByTestId('yaml').fill(yaml(rate));
  await page.getByTestId('apply-yaml').click();
  await page.waitForTimeout(2000);
  const work = await workPerFrame(page);
  const r = await page.evaluate(intervals);
  out.push(`| ${r.packets} (target ${target}) | ${pctl(work, 50).toFixed(1)} | ${pctl(work, 95).toFixed(1)} | ${pctl(r.deltas, 50).toFixed(1)} | ${pctl(r.deltas, 95).toFixed(1)} | ${pctl(r.deltas, 99).toFixed(1)} | ${r.long} |`);
  await context.close();
}
{
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.setContent('<p>blank</p>');
  const r = await page.evaluate(intervals);
  out.push(`| a blank page (the measure's floor) | – | – | ${pctl(r.deltas, 50).toFixed(1)} | ${pctl(r.deltas, 95).toFixed(1)} | ${pctl(r.deltas, 99).toFixed(1)} | ${r.long} |`);
  await context.close();
}
out.push('', 'Budget: work per frame p95 ≤ 16.7 ms at 1,000 packets in flight.', '');

// Soak: an open-ended run played at 16× for SVCSIM_SOAK_MINUTES of wall time, so hours of
// scenario time; memory after forced GCs, after warm-up and then every minute. The JS heap is
// the page's; the wasm linear memory holds the simulation and never shrinks (a high-water mark).
const minutes = Number(process.env.SVCSIM_SOAK_MINUTES ?? 10);
if (minutes > 0) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.addInitScript(() => {
    addEventListener('TrunkApplicationStarted', (e) => { window.__wasm = e.detail.wasm; });
  });
  const link = `#yaml=${deflateRawSync(yaml(28), { level: 9 }).toString('base64url')}&speed=16`;
  await page.goto(new URL(link, BASE_URL).href, { waitUntil: 'load' });
  await page.getByTestId('app-root').waitFor();
  const sample = () => page.evaluate(() => {
    window.gc(); window.gc();
    return {
      js: performance.memory.usedJSHeapSize,
      wasm: window.__wasm.memory.buffer.byteLength,
      clock: document.querySelector('[data-testid=clock]')?.textContent ?? '',
    };
  });
  // Warm-up until the page's history window (the last 31 minutes of scenario time) is full:
  // before that, memory grows by design.
  await page.waitForTimeout(150_000);
  const warm = await sample();
  const series = [];
  for (let m = 0; m < minutes; m++) {
    await page.waitForTimeout(60_000);
    series.push(await sample());
  }
  const last = series[series.length - 1] ?? warm;
  const mb = (n) => (n / 1048576).toFixed(1);
  const growth = (a, b) => 100 * (b - a) / a;
  out.push('### Memory over a time-lapsed soak', '',
    `A LoadBalancer Service on 4 nodes with a client at 28 requests/s, played at 16× for ${minutes} minutes of wall time after a 2.5-minute warm-up (the page keeps the last 31 minutes of scenario time, which fill in 2 minutes at 16×): scenario clock ${warm.clock} → ${last.clock}. Memory after forced garbage collection.`, '',
    '| | after warm-up | after the soak | growth |', '|---|---:|---:|---:|',
    `| JS heap (MB) | ${mb(warm.js)} | ${mb(last.js)} | ${growth(warm.js, last.js).toFixed(1)} % |`,
    `| wasm linear memory (MB) | ${mb(warm.wasm)} | ${mb(last.wasm)} | ${growth(warm.wasm, last.wasm).toFixed(1)} % |`, '',
    `Per minute, JS heap MB: ${series.map((s) => mb(s.js)).join(', ')}; wasm MB: ${series.map((s) => mb(s.wasm)).join(', ')}.`, '',
    `Budget: heap growth ≤ 10 % — JS heap ${growth(warm.js, last.js) <= 10 ? 'met' : 'not met'}, wasm memory ${growth(warm.wasm, last.wasm) <= 10 ? 'met' : 'not met'}. (wasm memory never shrinks: its size is the run's high-water mark, an upper bound on the simulation's live heap.)`);
  await context.close();
}
await browser.close();
console.log(out.join('\n'));
