// node --no-experimental-fetch tests/builder.mjs <lipflow.mjs>: the model builder and the comparison
// mode. Exits non-zero on any failed check.
// Under Node, with the WebAssembly module (as the page's worker loads it):
//   - every entry of the builder's option table (src/options.js) makes a config that the library
//     accepts and trains for a few steps;
//   - each list equals the one the library names in its error for an unknown value (drift either way);
//   - a bad value in each builder field gets the library's error, and that error is mapped back to
//     the same field (so it is shown next to it);
//   - the URL fields round-trip the spec.
// In Debian's Chromium (dist/ built first, served locally, network requests outside it refused):
//   - a custom model built by setting the fields through the DOM is checked by the library, runs,
//     and its loss reaches the plots and the comparison; the URL restores the builder after a reload;
//   - width 0 shows the library's error naming the field, next to the width field;
//   - "Adam vs Lion" and "Pre-LN vs Post-LN" overlay two runs with different data in each plot;
//   - removing a run removes its lines; no console error; no main-thread task over 100 ms; no request
//     leaves the page's own server; a screenshot in build/web-artifacts/builder.png.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLipflow } from './node-module.mjs';
import { serve } from '../scripts/serve.mjs';
import { LONG_TASK_MS, longTasksSince, longest, now, phase, watchLongTasks } from './long-tasks.mjs';
import { OPTIONS, choices } from '../src/options.js';
import { DEFAULT_SPEC, KIND_DEFAULTS, makeConfig, fieldForPath, parseError, toQuery, fromQuery } from '../src/builder.js';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [mjs] = process.argv.slice(2);
if (!mjs) { console.error('usage: node --no-experimental-fetch tests/builder.mjs <lipflow.mjs>'); process.exit(2); }
const RUN_TIMEOUT_MS = 120000;
let failures = 0;
const check = (ok, what) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failures++; };
const started = Date.now();

// ---- Node: the option table against the library

const lipflow = await loadLipflow(mjs);
const SHORT = { steps: 20, batch: 8 };  // (one_cycle needs a warmup of more than one step)
const spec = (over) => {
  const kind = over.kind || 'mlp';
  return { ...structuredClone(DEFAULT_SPEC), ...KIND_DEFAULTS[kind], ...SHORT, ...over };
};
/** The library's error for a config ('' when it is accepted and trains). */
function tryConfig(config, steps = 0) {
  try {
    const run = lipflow.createRun(config);
    try {
      if (steps) run.step(steps);
      return Number.isFinite(run.lastLoss()) || !steps ? '' : `loss ${run.lastLoss()}`;
    } finally { run.destroy(); }
  } catch (e) { return e.message; }
}

// Every entry of every list, in a model of each kind it applies to.
const FIELD_OF = { mlpNorm: 'norm', transformerNorm: 'norm', mlpResidual: 'residual', transformerResidual: 'residual',
                   mlpDataset: 'dataset', transformerDataset: 'dataset' };
for (const [list, values] of Object.entries(OPTIONS)) {
  const field = FIELD_OF[list] || list;
  const kinds = list.startsWith('mlp') ? ['mlp'] : list.startsWith('transformer') ? ['transformer'] : ['mlp', 'transformer'];
  const bad = [];
  for (const kind of kinds) {
    for (const v of values) {
      if (field === 'kind' && v !== kind) continue;
      const s = spec({ kind, [field]: v });
      if (field === 'residual' && kind === 'mlp') s.placement = 'pre';
      const err = tryConfig(makeConfig(s), 3);
      if (err) bad.push(`${kind} ${field}=${v}: ${err}`);
    }
  }
  check(bad.length === 0, `every ${list} option (${values.join(', ')}) makes a valid config that trains${bad.length ? `: ${bad.join(' | ')}` : ''}`);
}
// Both placements with every residual form and with no norm (MLP), as the builder writes them.
{
  const bad = [];
  for (const placement of OPTIONS.placement) {
    for (const residual of OPTIONS.mlpResidual) {
      for (const norm of ['none', 'batch_norm']) {
        const err = tryConfig(makeConfig(spec({ placement, residual, norm })), 3);
        if (err) bad.push(`${placement} ${residual} ${norm}: ${err}`);
      }
    }
  }
  check(bad.length === 0, `the MLP's placements x residual forms x norms make valid configs${bad.length ? `: ${bad.join(' | ')}` : ''}`);
}

// The lists the library names, from its error for an unknown value at that place in a config.
const named = (edit) => {
  const c = makeConfig(spec({ kind: 'transformer' }));
  edit(c);
  const e = parseError(tryConfig(c));
  const m = e && /^one of: (.*)$/.exec(e.allowed);
  return m ? m[1].split(', ') : [`(no list: ${JSON.stringify(e)})`];
};
const block = (c) => c.model.layers[1];
const same = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
const libraryLists = [
  ['optimizer', OPTIONS.optimizer, named((c) => { c.optimizer = { name: '?' }; })],
  ['schedule', OPTIONS.schedule, named((c) => { c.schedule = { kind: '?' }; })],
  ['clip', OPTIONS.clip, named((c) => { c.clip = { kind: '?' }; })],
  ['activation', OPTIONS.activation, named((c) => { block(c).activation = '?'; })],
  ['init', OPTIONS.init, named((c) => { c.model.head.init = '?'; })],
  ['attention', OPTIONS.attention, named((c) => { block(c).attention.variant = '?'; })],
  ['transformerNorm', OPTIONS.transformerNorm, named((c) => { block(c).norm = '?'; })],
  ['placement (pre_ln, post_ln)', OPTIONS.placement.map((p) => `${p}_ln`), named((c) => { block(c).placement = '?'; })],
  ['transformerResidual', OPTIONS.transformerResidual, named((c) => { block(c).shortcut = '?'; })],
  ['mlpResidual (without none)', OPTIONS.mlpResidual.filter((r) => r !== 'none'),
    named((c) => { c.model.layers[1] = { type: 'residual', kind: '?', branch: [] }; })],
  ['datasets', [...OPTIONS.mlpDataset, ...OPTIONS.transformerDataset], named((c) => { c.dataset = { name: '?' }; })],
];
for (const [what, ours, theirs] of libraryLists) {
  check(same(ours, theirs), `the ${what} list matches the library's (${theirs.join(', ')})`);
}
const layerTypes = named((c) => { c.model.layers[1] = { type: '?' }; });
check(OPTIONS.mlpNorm.filter((n) => n !== 'none').every((n) => layerTypes.includes(n)),
  `every MLP norm is a layer type of the library (${layerTypes.filter((t) => /norm/.test(t)).join(', ')} are its norms)`);

// A bad value in each field: the library refuses it, and its error is mapped back to that field.
const BAD = [
  [{}, 'width', 0], [{}, 'depth', 40], [{ kind: 'transformer' }, 'heads', 3], [{ kind: 'transformer' }, 'hidden', 0],
  [{ kind: 'transformer' }, 'width', 0], [{ residual: 'weighted' }, 'alpha', 'x'], [{}, 'lr', -1], [{}, 'weightDecay', -1],
  [{}, 'warmup', -1], [{ clip: 'norm' }, 'clipValue', 0], [{}, 'batch', 0], [{}, 'steps', 0], [{}, 'seed', -1],
  [{ dataset: 'gaussian_mixture' }, 'classes', 1], [{ dataset: 'gaussian_mixture' }, 'dims', 0],
  [{ kind: 'transformer' }, 'length', 0], [{ kind: 'transformer' }, 'vocabulary', 1],
  [{}, 'opt.beta1', 2], [{ schedule: 'step' }, 'sched.gamma', -1],
];
for (const [over, field, value] of BAD) {
  const s = spec(over);
  const [g, name] = field.split('.');
  if (name) s[g] = { [name]: value }; else s[field] = value;
  const config = makeConfig(s);
  const message = tryConfig(config);
  const e = parseError(message);
  const mapped = e ? fieldForPath(e.path, config, s) : '(unparsed)';
  check(mapped === field, `${field} = ${JSON.stringify(value)}${over.kind ? ` (${over.kind})` : ''}: the library says "${message}", shown at ${mapped}`);
}

// URL round trip of a spec with every kind of field.
{
  const s = spec({ kind: 'transformer', attention: 'cosine', placement: 'post', residual: 'layerscale', alpha: '0.1', optimizer: 'lion',
                   lr: '0.0003', opt: { beta2: 0.95 }, schedule: 'multi_step', sched: { milestones: [5, 9] }, seed: 7 });
  const back = fromQuery(`?preset=E1&${toQuery(s)}`);
  check(JSON.stringify(makeConfig(back)) === JSON.stringify(makeConfig(s)), `the URL fields round-trip the spec (${toQuery(s)})`);
  const edited = { ...s, text: '{"model": 1}' };
  check(fromQuery(`?${toQuery(edited)}`).text === edited.text, 'the URL keeps a hand-edited config text');
}

// ---- Chromium: the page

const { server, url } = await serve({ dir: join(web, 'dist'), port: 0, quiet: true });
const scratch = mkdtempSync(join(tmpdir(), 'lipflow-builder-'));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1800 } });
  const outside = [];
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(url) || u.startsWith('data:') || u.startsWith('blob:')) return route.continue();
    outside.push(u);
    return route.abort();
  });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`exception: ${e.message}`));
  await watchLongTasks(page);
  const waitState = (states, timeout = RUN_TIMEOUT_MS) => page.waitForFunction(
    (s) => s.includes(document.body.dataset.state), states, { timeout });
  const waitValidated = (want) => page.waitForFunction((w) => document.getElementById('builder-form').dataset.validated === w,
    want, { timeout: 10000 }).then(() => true, () => false);
  const setField = async (key, value) => {
    const sel = `#builder-${key}`;
    if (await page.$eval(sel, (el) => el.tagName === 'SELECT')) await page.selectOption(sel, String(value));
    else await page.fill(sel, String(value));
  };
  const lines = (id) => page.$eval(`#compare-plot-${id}`, (el) => JSON.parse(el.dataset.lines));
  const waitLines = (id, n) => page.waitForFunction(([i, k]) => JSON.parse(document.getElementById(`compare-plot-${i}`).dataset.lines).length === k,
    [id, n], { timeout: 10000 }).then(() => true, () => false);

  await page.goto(`${url}?preset=E1&seed=1&quick=1&live=1&build=simd`);
  await waitState(['idle'], 30000);
  check(await waitValidated('ok'), 'the default builder config is valid for the library');
  await context.setOffline(true);  // from here on the page has no network at all

  // A custom model, set field by field through the DOM.
  const custom = [['kind', 'mlp'], ['dataset', 'moons'], ['depth', 2], ['width', 24], ['norm', 'rms_norm'], ['placement', 'pre'],
                  ['residual', 'rezero'], ['alpha', 0.5], ['activation', 'gelu_tanh'], ['init', 'xavier_uniform'],
                  ['optimizer', 'adamw'], ['lr', 0.003], ['schedule', 'cosine'], ['warmup', 10], ['clip', 'norm'],
                  ['clipValue', 2], ['batch', 16], ['steps', 120], ['seed', 3]];
  for (const [k, v] of custom) await setField(k, v);
  check(await waitValidated('ok'), `the custom model is valid (${await page.textContent('#builder-status')})`);
  await page.waitForSelector('#builder-opt-amsgrad', { timeout: 10000 }).catch(() => {});
  const optFields = await page.$$eval('[data-field^="opt."]', (els) => els.map((e) => e.dataset.field));
  check(optFields.includes('opt.beta1') && optFields.includes('opt.amsgrad'), `AdamW's own hyper-parameters come from the library (${optFields.join(', ')})`);
  await page.fill('#builder-opt-beta2', '0.99');
  check(await waitValidated('ok'), 'a hyper-parameter field is accepted');
  const text = JSON.parse(await page.inputValue('#builder-json'));
  const block = text.model.layers[1];
  check(text.model.layers[0].width === 24 && block.type === 'residual' && block.kind === 'rezero' && block.alpha_init === 0.5 &&
        block.branch[0].type === 'rms_norm' && block.branch[2].kind === 'gelu_tanh' && text.optimizer.name === 'adamw' &&
        text.optimizer.lr === 0.003 && text.optimizer.beta2 === 0.99 && text.schedule.kind === 'cosine' &&
        text.schedule.warmup.steps === 10 && text.clip.max_norm === 2 && text.training.steps === 120 && text.dataset.name === 'moons',
    'the config JSON shows the fields set');

  // URL round trip of the builder: reload and compare every field and the config text.
  const fieldValues = () => page.$$eval('[data-field]', (els) => els.map((e) => [e.dataset.field, e.type === 'checkbox' ? e.checked : e.value]));
  const before = { fields: await fieldValues(), text: await page.inputValue('#builder-json'), search: await page.evaluate(() => location.search) };
  await context.setOffline(false);
  await page.reload();
  await waitState(['idle'], 30000);
  await waitValidated('ok');
  await context.setOffline(true);
  await page.waitForSelector('#builder-opt-beta2', { timeout: 10000 }).catch(() => {});
  const after = { fields: await fieldValues(), text: await page.inputValue('#builder-json') };
  check(JSON.stringify(after) === JSON.stringify({ fields: before.fields, text: before.text }),
    `the URL restores the builder after a reload (${before.search})`);

  // Run it.
  const t0 = await now(page);
  await phase(page, 'custom run'); await page.click('#builder-run');
  await waitState(['done', 'error']);
  check(await page.evaluate(() => document.body.dataset.state) === 'done', `the custom model ran (${await page.textContent('#status')})`);
  const lossPoints = await page.$eval('#plot-loss', (el) => Number(el.dataset.points));
  check(lossPoints >= 120, `its loss reached the plot (${lossPoints} points)`);
  check(await waitLines('train', 1), `the finished run joined the comparison (${JSON.stringify(await lines('train'))})`);

  // Its exports, from the page's buttons and from its comparison entry, are named after the run (the
  // picker still says E1); a comparison entry's name follows its edited label, or is "custom-" and
  // the model kind when the label has nothing usable.
  const save = async (selector) => {
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), page.click(selector)]);
    const file = join(scratch, download.suggestedFilename());
    await download.saveAs(file);
    return { name: download.suggestedFilename(), text: readFileSync(file, 'utf8') };
  };
  const RUN = 'MLP-2x24-Pre-RMSNorm-rezero-residual-on-moons-AdamW-lr-0.003-seed-3';
  const csv = await save('#export-csv');
  const trainRows = csv.text.split('\n').filter((row) => row.startsWith('train_loss,')).length;
  check(csv.name === `${RUN}.csv` && csv.text.startsWith('series,x_label,y_label,x,y\n') && trainRows === 120,
    `the CSV export is named after the run shown (${csv.name}; ${trainRows} train_loss rows)`);
  const json = await save('#export-json');
  const exported = JSON.parse(json.text);
  check(json.name === `${RUN}.json` && exported.config?.experiment?.model?.layers?.[0]?.width === 24 &&
        exported.series.some((s) => s.name === 'train_loss' && s.x.length === 120),
    `the JSON export is named after the run shown and holds its config and series (${json.name})`);
  const entry = '#compare-runs tr[data-run="0"]';
  const entryCsv = await save(`${entry} .export-csv`);
  check(entryCsv.name === `${RUN}.csv` && entryCsv.text === csv.text, `a comparison entry exports the same CSV under its label (${entryCsv.name})`);
  const label0 = await page.inputValue(`${entry} .run-label`);
  const relabel = async (text) => { await page.fill(`${entry} .run-label`, text); await page.dispatchEvent(`${entry} .run-label`, 'change'); };
  await relabel('my run #1');
  const renamed = await save(`${entry} .export-json`);
  check(renamed.name === 'my-run-1.json' && JSON.parse(renamed.text).config?.experiment?.model?.layers?.[0]?.width === 24,
    `an edited label names the entry's JSON export (${renamed.name})`);
  await relabel('');
  check((await save(`${entry} .export-csv`)).name === 'custom-mlp.csv', 'without a label the export is named custom-mlp');
  await relabel(label0);

  // An invalid value: the library's error next to the field it names; the run button waits.
  await phase(page, 'width 0'); await setField('width', 0);
  check(await waitValidated('error'), 'width 0 is refused');
  const widthError = await page.textContent('[data-error-for="width"]');
  check(/model\.layers\[\d+\]\.width = 0/.test(widthError), `the library's error is shown at the width field ("${widthError}")`);
  check(await page.isDisabled('#builder-run'), 'an invalid config cannot be run');
  await setField('width', 24);
  check(await waitValidated('ok') && (await page.textContent('[data-error-for="width"]')) === '', 'a valid width clears the error');

  // The config text edited by hand: checked as written, its error shown under it; discarding the
  // edits brings back the fields' config.
  await phase(page, 'text edit'); await page.click('#builder-config summary');
  await page.fill('#builder-json', '{"model": {"input": {"features": 2}, "layers": []}}');
  check(await waitValidated('error'), 'an edited config text is checked as written');
  const textError = await page.textContent('[data-error-for="text"]');
  check(/model\.layers = \[\]/.test(textError) && await page.isDisabled('#builder-width'),
    `its error is shown under the text, and the fields wait ("${textError}")`);
  await page.click('#builder-regenerate');
  check(await waitValidated('ok') && JSON.parse(await page.inputValue('#builder-json')).model.layers.length > 0,
    'discarding the edits brings back the fields\' config');

  // Quick comparisons: two runs each, overlaid.
  for (const [name, want] of [['optimizers', [/Adam lr 0.001/, /Lion lr 0.0001/]], ['placement', [/Pre-LN/, /Post-LN/]]]) {
    await phase(page, `quick ${name}`); await page.click(`#compare-${name}`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('compare-panel').dataset.quick) &&
      document.body.dataset.state !== 'running', null, { timeout: 2 * RUN_TIMEOUT_MS });
    const note = await page.textContent('#compare-status');
    check(await page.$eval('#compare-panel', (el) => el.dataset.quick) === 'done', `${name}: both runs finished (${note})`);
    // (Dot-product attention has no finite Lipschitz bound: the transformers' bound plot says so.)
    const plots = name === 'placement' ? ['train', 'gradnorm', 'test'] : ['train', 'gradnorm', 'lipschitz', 'test'];
    for (const plot of plots) {
      await waitLines(plot, 2);
      const ls = await lines(plot);
      const ok = ls.length === 2 && want.every((re, k) => re.test(ls[k].label)) && ls.every((l) => l.n > 0) && ls[0].last !== ls[1].last;
      check(ok, `${name}: the ${plot} plot overlays two runs with different data (${JSON.stringify(ls)})`);
    }
    if (name === 'placement') {
      const note = await page.$eval('#compare-plot-lipschitz', (el) => [JSON.parse(el.dataset.lines).length, el.dataset.empty]);
      check(note[0] === 0 && /unbounded/.test(note[1]), `placement: the bound plot says that dot-product attention has no finite bound ("${note[1]}")`);
    }
    await page.evaluate(() => { document.getElementById('compare-panel').dataset.quick = ''; });
  }
  // The comparison's plots are drawn once they are in view.
  await page.$eval('#compare-plot-gradnorm', (el) => el.scrollIntoView());
  const drawn = await page.waitForFunction(() => [...document.querySelectorAll('.compare-plot')].every((el) =>
    Number(el.dataset.points) > 0 || JSON.parse(el.dataset.lines).length === 0), null, { timeout: 10000 }).then(() => true, () => false);
  check(drawn, `the comparison's plots draw their lines when in view (points: ${await page.$$eval('.compare-plot', (els) => els.map((e) => e.dataset.points).join(', '))})`);
  const rows = await page.$$eval('#compare-runs tr[data-run]', (trs) => trs.length);
  check(rows === 5, `the comparison lists every finished run (${rows})`);
  const colours = await page.$$eval('#compare-runs .swatch', (els) => els.map((e) => e.style.background));
  check(new Set(colours).size === colours.length, 'each run has its own colour');
  await phase(page, 'remove'); await page.click('#compare-runs tr[data-run]:last-child .remove');
  check(await waitLines('train', 1), 'removing a run removes its line');

  const { worst, note } = longest(await longTasksSince(page, t0));
  check(worst <= LONG_TASK_MS, `longest main-thread task during the runs ${worst.toFixed(0)} ms <= ${LONG_TASK_MS} ms${note}`);
  check(outside.length === 0, `no request left the page's server${outside.length ? `: ${outside.join(' ')}` : ''}`);
  check(errors.length === 0, `no console errors${errors.length ? `: ${errors.join(' | ')}` : ''}`);
  const artifacts = join(web, '..', 'build', 'web-artifacts');
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'builder.png'), fullPage: true });
} finally {
  await browser.close();
  server.close();
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`builder tests: ${failures ? `${failures} failed` : 'all passed'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(failures ? 1 : 0);
