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
out.push('### Frame times', '', 'rAF-to-rAF intervals over 6 s of playing at 1× in headless Chromium (software rendering, 1280×800), after 2 s of warm-up.', '', '| packets in flight (measured) | p50 ms | p95 ms | p99 ms | long tasks (> 50 ms) |', '|---:|---:|---:|---:|---:|');
for (const [target, rate] of [[50, 28], [200, 115], [1000, 570]]) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(BASE_URL, { waitUntil: 'load' });
  await page.getByTestId('app-root').waitFor();
  await page.getByRole('button', { name: 'Edit the YAML' }).click();
  await page.getByTestId('yaml').fill(yaml(rate));
  await page.getByTestId('apply-yaml').click();
  await page.waitForTimeout(2000);
  const r = await page.evaluate(async () => {
    const deltas = []; let long = 0;
    const obs = new PerformanceObserver((l) => { long += l.getEntries().length; });
    try { obs.observe({ type: 'longtask', buffered: false }); } catch (_) {}
    let last = performance.now(); const end = last + 6000; let maxPackets = 0, sum = 0, n = 0;
    while (performance.now() < end) {
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now(); deltas.push(now - last); last = now;
      const k = Number(document.querySelector('g.packets')?.dataset.packets ?? 0); maxPackets = Math.max(maxPackets, k); sum += k; n++;
    }
    obs.disconnect();
    return { deltas, long, packets: Math.round(sum / n), maxPackets };
  });
  out.push(`| ${r.packets} (target ${target}) | ${pctl(r.deltas, 50).toFixed(1)} | ${pctl(r.deltas, 95).toFixed(1)} | ${pctl(r.deltas, 99).toFixed(1)} | ${r.long} |`);
  await context.close();
}
out.push('', 'Budget: p95 ≤ 16.7 ms at 1,000 packets in flight.', '');

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
