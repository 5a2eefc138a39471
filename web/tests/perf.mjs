// node tests/perf.mjs [repeats] [lipflow_step_rate]: training steps per second of the E2 and E5 quick
// reference models in Chromium, with the SIMD128 and the scalar WebAssembly module, and natively when
// the path of the native lipflow_step_rate is given. Serves dist/ (npm run build first).
// Two figures per model, each the page's own (steps done / time inside lipflow_run_step in the worker,
// the end's test evaluation included), the best of `repeats` fresh page loads (3):
//   quick run: the preset's live reference run (E2: 40 steps, E5: 120), as a user sees it. E2's lasts
//     about 50 ms, while the page starts its plots on the main thread; with two cores the figure moves
//     by a factor of two or more between runs (231 to 920 steps/s in one page);
//   longer run: the same model and data (the quick run's own config, from the library) trained for
//     STEPS steps as a custom run in the model builder: the rate the quick model trains at once it runs.
// The native figures are lipflow_step_rate's whole-run protocol on the same two runs (the preset with
// --quick, and the same config file), so each ratio compares like with like.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLipflow } from './node-module.mjs';
import { serve } from '../scripts/serve.mjs';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repeats = Number(process.argv[2] || 3);
const stepRate = process.argv[3] && resolve(process.argv[3]);
const MODELS = ['E2', 'E5'];
const STEPS = { E2: 800, E5: 300 };  // the longer runs: a few seconds each in scalar wasm

// The quick reference runs' configs, trained for STEPS steps.
const lipflow = await loadLipflow(join(web, 'dist/wasm/simd/lipflow.mjs'));
const configs = {};
for (const id of MODELS) {
  const run = lipflow.createPresetRun(id, true, 1);
  try {
    const config = run.config();
    config.training.steps = STEPS[id];
    configs[id] = JSON.stringify(config);
  } finally { run.destroy(); }
}

const { server, url } = await serve({ dir: join(web, 'dist'), port: 0, quiet: true });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
const table = {};  // `${id} ${protocol}` -> { simd, scalar, native }
const put = (key, column, value) => { (table[key] ??= {})[column] = value; };
try {
  const page = await browser.newPage();
  /** The page's steps/s of one run: best of `repeats` fresh loads of `query`, then `start` clicked. */
  const best = async (query, start, ready) => {
    let top = 0;
    for (let r = 0; r < repeats; r++) {
      await page.goto(`${url}?${query}`);
      await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 30000 });
      if (ready) await page.waitForFunction(ready, null, { timeout: 10000 });
      await page.click(start);
      await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 120000 });
      if (await page.evaluate(() => document.body.dataset.state) === 'error') {
        throw new Error(`${query}: ${await page.textContent('#status')}`);
      }
      top = Math.max(top, Number(await page.textContent('#sps')) || 0);
    }
    return top;
  };
  for (const build of ['simd', 'scalar']) {
    for (const id of MODELS) {
      const quick = await best(`preset=${id}&seed=1&quick=1&live=1&build=${build}`, '#run');
      put(`${id} quick run`, build, quick);
      const q = new URLSearchParams({ build, 'b.json': configs[id] });
      const longer = await best(q.toString(), '#builder-run',
        () => document.getElementById('builder-form').dataset.validated === 'ok');
      put(`${id} ${STEPS[id]} steps`, build, longer);
      console.log(`${id} ${build}: quick run ${quick.toFixed(0)}, ${STEPS[id]} steps ${longer.toFixed(0)} steps/s (best of ${repeats})`);
    }
  }
} finally {
  await browser.close();
  server.close();
}

if (stepRate) {
  const dir = mkdtempSync(join(tmpdir(), 'lipflow-perf-'));
  try {
    const rate = (args) => Number(/whole run: (\d+) steps\/s/.exec(execFileSync(stepRate, [...args, '--repeats', String(repeats)],
      { encoding: 'utf8' }))[1]);
    for (const id of MODELS) {
      put(`${id} quick run`, 'native', rate([id, '--quick']));
      const file = join(dir, `${id}.json`);
      writeFileSync(file, configs[id]);
      put(`${id} ${STEPS[id]} steps`, 'native', rate([file]));
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

console.log('\n| run | wasm SIMD | wasm scalar | native | SIMD / scalar (>= 2.5) | native / SIMD (<= 3) |');
console.log('|---|---|---|---|---|---|');
const f = (v) => (v ? v.toFixed(0) : '–');
const ratio = (a, b) => (a && b ? (a / b).toFixed(2) : '–');
for (const [key, r] of Object.entries(table)) {
  console.log(`| ${key} | ${f(r.simd)} | ${f(r.scalar)} | ${f(r.native)} | ${ratio(r.simd, r.scalar)} | ${ratio(r.native, r.simd)} |`);
}
