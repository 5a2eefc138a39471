// node tests/browser.mjs <lipflow CLI> [preset ids...]: the browser lab in Debian's Chromium, driven by
// playwright-core. It serves dist/ (npm run build first) on a free local port and checks:
//   - every quick preset (or those named) runs on the page (seed 1, with its live reference run), and the
//     verdict shown equals the native CLI's for the same preset and seed (holds; the value is printed);
//   - every plot gets data exactly when the native result.json has series of its kind;
//   - the main thread has no long task over 100 ms during a run (a PerformanceObserver on 'longtask');
//   - the URL round-trips the state (a link restores the controls; changed controls reach the URL);
//   - the page opens a result.json written by the CLI and shows its verdict and plots;
//   - the live analysis: E2's live run shows a layer's Jacobian spectrum; the two-spirals demo (2-D)
//     shows its decision boundary, the spectrum of a chosen layer, and the measured Lipschitz lower
//     bound next to the upper bound; each plot's PNG export gives a PNG file;
//   - no console error and no uncaught exception;
// and saves a screenshot per preset in build/web-artifacts/. Exits non-zero on any failed check.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../scripts/serve.mjs';
import { LONG_TASK_MS, longTasksSince, longest, now, phase, watchLongTasks } from './long-tasks.mjs';
import { category } from '../src/result.js';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const artifacts = resolve(web, '..', 'build', 'web-artifacts');
const [cli, ...only] = process.argv.slice(2);
if (!cli) { console.error('usage: node tests/browser.mjs <lipflow CLI> [preset ids...]'); process.exit(2); }
const SEED = 1, RUN_TIMEOUT_MS = 120000;

let failures = 0;
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures++; };

mkdirSync(artifacts, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), 'lipflow-browser-'));
const { server, url } = await serve({ dir: join(web, 'dist'), port: 0, quiet: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const started = Date.now();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`exception: ${e.message}`));
  // Long tasks on the main thread, from page load on; each run reads those that started after its click.
  await watchLongTasks(page);
  const waitState = (states, timeout) => page.waitForFunction(
    (s) => s.includes(document.body.dataset.state), states, { timeout });

  await page.goto(`${url}?preset=E1&seed=${SEED}&quick=1&live=1&build=simd`);
  await waitState(['idle'], 30000);
  const ids = only.length ? only : await page.$$eval('#preset option', (os) => os.map((o) => o.value));
  check(ids.length >= 9 || only.length > 0, `the picker lists the presets (${ids.join(' ')})`);

  let lastNative = null;
  for (const id of ids) {
    // Native reference: the CLI's result.json for the same preset and seed.
    const out = join(scratch, id);
    try {
      execFileSync(cli, ['run', id, '--quick', '--seed', String(SEED), '--out', out], { stdio: 'pipe' });
    } catch (e) { if (e.status !== 1) throw e; }  // 1: the claim does not hold (still a result)
    const native = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    lastNative = join(out, 'result.json');

    // One page for every preset, as a visitor would use it (picked in the picker, not reloaded).
    await page.selectOption('#preset', id);
    await phase(page, `${id} run`);
    const t0 = await now(page);
    const wall = Date.now();
    await page.click('#run');
    await waitState(['done', 'error'], RUN_TIMEOUT_MS);
    const seconds = (Date.now() - wall) / 1000;
    const state = await page.evaluate(() => document.body.dataset.state);
    check(state === 'done', `${id}: the run finished (${await page.textContent('#status')})`);
    if (state !== 'done') continue;

    const shown = await page.$eval('#verdict', (el) => ({ holds: el.dataset.holds, value: Number(el.dataset.value) }));
    const v = native.verdict;
    const rel = Math.abs(shown.value - v.value) / Math.max(Math.abs(v.value), 1e-300);
    check(shown.holds === String(v.holds),
      `${id}: verdict shown ${shown.holds} = native ${v.holds} (value ${shown.value.toPrecision(4)} vs native ${Number(v.value).toPrecision(4)}, relative difference ${rel.toExponential(1)}), ${seconds.toFixed(1)} s`);

    // (The live-analysis plots, data-live, show a live run's state rather than result.json's series.)
    const points = Object.fromEntries(await page.$$eval('.plot:not([data-live])', (els) => els.map((e) => [e.dataset.plot, Number(e.dataset.points)])));
    const kinds = new Set(native.series.filter((s) => s.x.length > 0).map((s) => category(s.name)));
    for (const [plot, n] of Object.entries(points)) {
      const expected = kinds.has(plot);
      check(expected ? n > 0 : n === 0, `${id}: plot ${plot} ${expected ? `has data (${n} points)` : 'is empty, as the native result has no such series'}`);
    }
    const sps = await page.textContent('#sps');
    const { worst, note } = longest(await longTasksSince(page, t0));
    check(worst <= LONG_TASK_MS, `${id}: longest main-thread task during the run ${worst.toFixed(0)} ms <= ${LONG_TASK_MS} ms${note} (steps/s shown: ${sps})`);
    if (id === 'E2') {
      const spectrum = await page.$eval('#plot-spectrum', (el) => Number(el.dataset.points));
      const layers = await page.$$eval('#spectrum-layer option', (os) => os.map((o) => o.text));
      check(spectrum > 0 && layers.length > 1, `E2: the live run shows a Jacobian spectrum (${spectrum} values; layers ${layers.join(' ')})`);
    }
    if (id === 'E5') {  // the embedding of token ids has none: the first transformer block's (12 tokens x 32)
      const spectrum = await page.$eval('#plot-spectrum', (el) => Number(el.dataset.points));
      const note = await page.textContent('#spectrum-note');
      check(spectrum === 384, `E5: the live run shows a transformer block's spectrum (${spectrum} values; ${note})`);
    }
    await page.screenshot({ path: join(artifacts, `${id}.png`), fullPage: true });
  }

  // The 2-D demo: a config on two features, with the lower-bound estimator.
  {
    await page.goto(`${url}?preset=E1&seed=${SEED}&quick=1&live=1&build=simd`);
    await waitState(['idle'], 30000);
    await page.click('#run-spirals');
    await waitState(['done', 'error'], RUN_TIMEOUT_MS);
    check(await page.evaluate(() => document.body.dataset.state) === 'done', `2-D demo: the run finished (${await page.textContent('#status')})`);
    const n = (sel) => page.$eval(sel, (el) => Number(el.dataset.points));
    const boundary = await n('#plot-boundary'), first = await n('#plot-spectrum'), lip = await n('#plot-lipschitz');
    check(boundary > 48 * 48, `2-D demo: the decision boundary is drawn (${boundary} cells and samples)`);
    // Layer 0 (2 -> 32) has 2 singular values; choosing layer 2 (32 -> 32) after the run shows its 32.
    await page.selectOption('#spectrum-layer', '2');
    const followed = await page.waitForFunction(() => Number(document.getElementById('plot-spectrum').dataset.points) === 32,
      null, { timeout: 10000 }).then(() => true, () => false);
    const chosen = await page.$eval('#spectrum-layer', (el) => el.selectedOptions[0]?.text);
    check(first === 2 && followed && chosen === 'layer02_linear',
      `2-D demo: the spectrum of layer00_linear (${first} values), then of the chosen ${chosen} (${await n('#plot-spectrum')} values)`);
    const legend = await page.$eval('#plot-lipschitz', (el) => el.textContent);
    check(lip > 0 && legend.includes('lipschitz_lower') && legend.includes('lipschitz_global'),
      `2-D demo: the Lipschitz plot shows the measured lower bound next to the upper bound (${lip} points)`);
    await page.screenshot({ path: join(artifacts, 'spirals-demo.png'), fullPage: true });

    // PNG export of each plot: a download whose bytes start with the PNG signature.
    const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
    for (const plot of ['loss', 'grad', 'lipschitz', 'spectrum', 'boundary']) {
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 10000 }),
        page.click(`#plot-${plot} ~ button.png`),
      ]);
      const file = join(scratch, `${plot}.png`);
      await download.saveAs(file);
      const bytes = readFileSync(file);
      check(download.suggestedFilename() === `${plot}.png` && bytes.length > 100 && signature.every((b, k) => bytes[k] === b),
        `PNG export of ${plot}: ${download.suggestedFilename()}, ${bytes.length} bytes, PNG signature`);
    }
  }

  // Pause, resume and stop during a live run (E9's reference model: 200 steps in slices of about 40 ms).
  await page.goto(`${url}?preset=E9&seed=${SEED}&quick=1&live=1&build=simd`);
  await waitState(['idle'], 30000);
  await page.click('#run');
  await page.waitForFunction(() => Number(document.body.dataset.steps) > 0, null, { timeout: 30000 });
  await page.click('#pause');
  await waitState(['paused'], 5000);
  const stepsAt = () => page.evaluate(() => Number(document.body.dataset.steps));
  await page.waitForTimeout(200);  // a slice in flight when pausing may still report
  const s1 = await stepsAt();
  await page.waitForTimeout(500);
  const s2 = await stepsAt();
  check(s1 === s2, `pause holds the run (step ${s1}, then ${s2} half a second later)`);
  await page.click('#resume');
  await page.waitForFunction((s) => Number(document.body.dataset.steps) > s, s2, { timeout: 10000 });
  check(true, 'resume continues the run');
  await page.click('#stop');
  await waitState(['idle'], 5000);
  check((await page.textContent('#status')) === 'stopped', 'stop ends the run');

  // The URL round-trips the state: a link sets the controls, and changed controls are written back.
  await page.goto(`${url}?preset=E7&seed=5&quick=0&live=0&build=scalar`);
  await waitState(['idle'], 30000);
  const controls = () => page.evaluate(() => ({
    preset: document.getElementById('preset').value, seed: document.getElementById('seed').value,
    quick: document.getElementById('quick').checked, live: document.getElementById('live').checked,
    build: document.getElementById('build').value }));
  const c1 = await controls();
  check(JSON.stringify(c1) === JSON.stringify({ preset: 'E7', seed: '5', quick: false, live: false, build: 'scalar' }),
    `a link restores the controls (${JSON.stringify(c1)})`);
  check((await page.textContent('#module-info')).includes('scalar'), 'build=scalar loads the scalar module');
  await page.selectOption('#preset', 'E3');
  await page.fill('#seed', '42');
  await page.dispatchEvent('#seed', 'change');
  await page.uncheck('#live');
  await page.check('#quick');
  const search = await page.evaluate(() => location.search);
  check(search.includes('preset=E3') && search.includes('seed=42') && search.includes('quick=1') && search.includes('live=0'),
    `changed controls reach the URL (${search})`);
  await page.reload();
  await waitState(['idle'], 30000);
  const c2 = await controls();
  check(c2.preset === 'E3' && c2.seed === '42' && c2.quick && !c2.live, `the URL restores them after a reload (${JSON.stringify(c2)})`);

  // Open a result.json written by the CLI.
  if (lastNative) {
    const native = JSON.parse(readFileSync(lastNative, 'utf8'));
    await page.setInputFiles('#open', lastNative);
    await page.waitForFunction(() => !document.getElementById('verdict').hidden, null, { timeout: 10000 });
    const holds = await page.$eval('#verdict', (el) => el.dataset.holds);
    const anyPoints = await page.waitForFunction(() => [...document.querySelectorAll('.plot')].some((e) => Number(e.dataset.points) > 0),
      null, { timeout: 10000 }).then(() => true, () => false);
    check(holds === String(native.verdict.holds) && anyPoints, `an opened result.json shows its verdict (${holds}) and plots`);
    await page.screenshot({ path: join(artifacts, 'opened-result.png'), fullPage: true });
  }

  check(errors.length === 0, `no console errors${errors.length ? `: ${errors.join(' | ')}` : ''}`);
} finally {
  await browser.close();
  server.close();
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`browser tests: ${failures ? `${failures} failed` : 'all passed'} in ${((Date.now() - started) / 1000).toFixed(0)} s; screenshots in ${artifacts}`);
process.exit(failures ? 1 : 0);
