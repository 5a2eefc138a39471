// node tests/bench.mjs [--out FILE] [--batches N] [--workloads E2,E5] [--impls "TF.js wasm,..."]:
// the E2 and E5 training steps in Chromium (bench.html): lipflow's wasm (SIMD and scalar) and TF.js 4.22
// (wasm and cpu backends). Serves dist/ (npm run build first), drives Debian's Chromium headless,
// prints a table (ms per step, and each peer's time over lipflow SIMD's) and with --out writes
// {"machine": {"browser": ...}, "results": [{"workload": "train_step/E2", "impl": ..., "ms": ...}, ...]}.
// Exits non-zero when the page's self-checks fail (a model that does not learn, backends that
// disagree, different model sizes) or on any page error.
import { chromium } from 'playwright-core';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../scripts/serve.mjs';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const list = (text) => (text ? text.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
const options = { batches: Number(arg('--batches') || 7), workloads: list(arg('--workloads')), impls: list(arg('--impls')) };
const out = arg('--out');

const { server, url } = await serve({ dir: join(web, 'dist'), port: 0, quiet: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
let failed = false;
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') { console.error(`page: ${m.text()}`); } });
  page.on('pageerror', (e) => { console.error(`page error: ${e.message}`); failed = true; });
  page.on('requestfailed', (r) => { console.error(`request failed: ${r.url()}`); failed = true; });
  // Offline: anything not served from dist/ is refused (and fails the run through requestfailed).
  await page.route('**/*', (route) => (route.request().url().startsWith(url) ? route.continue() : route.abort()));
  await page.goto(`${url}bench.html`);
  await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 60000 });
  const report = await page.evaluate((o) => window.lipflowBench.run({
    ...(o.workloads && { workloads: o.workloads }), ...(o.impls && { impls: o.impls }), batches: o.batches,
  }), options);
  report.machine.browser = `Chromium ${browser.version()}`;

  const simd = (w) => report.results.find((r) => r.workload === w && r.impl === 'lipflow wasm SIMD');
  console.log(`${report.machine.browser}, TF.js ${report.machine.tfjs}, one thread each`);
  console.log('workload        implementation        ms/step   x lipflow SIMD   steps x batches');
  for (const r of report.results) {
    const base = simd(r.workload);
    const ratio = base ? (r.ms / base.ms).toFixed(2) : '-';
    console.log(`${r.workload.padEnd(16)}${r.impl.padEnd(22)}${r.ms.toFixed(3).padStart(8)}${ratio.padStart(17)}` +
                `   ${r.steps} x ${r.batches}`);
  }
  for (const c of report.checks) {
    const what = c.agreesWithWasm ? `first losses equal the wasm backend's (${c.agreesWithWasm.map((l) => l.toFixed(5)).join(', ')})`
      : `loss ${c.first.toFixed(3)} -> ${c.last.toFixed(3)} over ${c.steps} steps`;
    console.log(`check ${c.workload} ${c.impl}: ${c.parameters} parameters, ${what}`);
  }
  if (out) {
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${out}`);
  }
} catch (e) {
  console.error(`bench: ${e.message}`);
  failed = true;
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
