// node tests/perf.mjs [repeats]: training steps per second of the E2 and E5 quick reference models in
// Chromium, with the SIMD128 and the scalar WebAssembly module. Each measurement is the page's own
// figure: steps done / time inside lipflow_run_step in the worker during the live reference run (slices
// of about 40 ms); the best of `repeats` runs (3) is printed. Serves dist/ (npm run build first).
import { chromium } from 'playwright-core';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../scripts/serve.mjs';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repeats = Number(process.argv[2] || 3);
const { server, url } = await serve({ dir: join(web, 'dist'), port: 0, quiet: true });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
try {
  const page = await browser.newPage();
  const table = {};
  for (const build of ['simd', 'scalar']) {
    for (const id of ['E2', 'E5']) {
      let best = 0;
      for (let r = 0; r < repeats; r++) {
        await page.goto(`${url}?preset=${id}&seed=1&quick=1&live=1&build=${build}`);
        await page.waitForFunction(() => document.body.dataset.state === 'idle', null, { timeout: 30000 });
        await page.click('#run');
        await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 120000 });
        best = Math.max(best, Number(await page.textContent('#sps')) || 0);
      }
      table[`${id} ${build}`] = best;
      console.log(`${id} ${build}: ${best.toFixed(0)} steps/s (best of ${repeats})`);
    }
  }
  for (const id of ['E2', 'E5']) {
    console.log(`${id}: SIMD / scalar = ${(table[`${id} simd`] / table[`${id} scalar`]).toFixed(2)}`);
  }
} finally {
  await browser.close();
  server.close();
}
