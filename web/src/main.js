// The page: controls, the worker's messages, and the plots. The main thread never trains: it only
// sends commands to the worker (src/worker.js) and draws what comes back, at most once per animation
// frame, each plot in a task of its own; the plots are made when the page loads (see plots.js).
// document.body.dataset.state is 'loading', 'idle', 'running', 'paused', 'done' or 'error', and
// dataset.steps the steps done by the live run last reported (the browser tests wait on them).
import './style.css';
import { LinePlot, HeatmapPlot, colour, saveFile } from './plots.js';
import { arms, pick, claimSeries, exportName, gradientGrid, parseResult, splitName, toCsv, toJson } from './result.js';
import * as urlState from './state.js';
import { Builder, fromQuery, toQuery } from './builder.js';
import { Comparison } from './compare.js';
import { attachAnalysis } from './analysis.js';

const $ = (id) => document.getElementById(id);
const ui = {
  preset: $('preset'), seed: $('seed'), quick: $('quick'), live: $('live'), build: $('build'), claim: $('claim'),
  run: $('run'), pause: $('pause'), resume: $('resume'), stop: $('stop'), open: $('open'),
  exportCsv: $('export-csv'), exportJson: $('export-json'), status: $('status'), progress: $('progress'),
  sps: $('sps'), memory: $('memory'), moduleInfo: $('module-info'), verdict: $('verdict'),
  verdictText: $('verdict-text'), verdictComparison: $('verdict-comparison'), arm: $('arm'), source: $('source'),
  gradScale: $('grad-scale'),
};

const plots = {
  loss: new LinePlot($('plot-loss'), { title: 'Loss (train: lines, test: points)', yLabel: 'loss', log: true }),
  grad: new HeatmapPlot($('plot-grad'), { title: 'Per-layer gradient norm ||dL/dx|| (log10)' }),
  lipschitz: new LinePlot($('plot-lipschitz'), { title: 'Lipschitz bounds: upper (global, local) and measured lower', yLabel: 'bound', log: true }),
  entropy: new LinePlot($('plot-entropy'), { title: 'Attention entropy per head', yLabel: 'entropy (nats)' }),
  claim: new LinePlot($('plot-claim'), { title: "The experiment's measurements", yLabel: '' }),
};
const EMPTY = {
  loss: 'no training loss in this experiment', grad: 'no per-layer gradient norms in this experiment',
  lipschitz: 'no Lipschitz bound series in this experiment', entropy: 'no attention in this experiment',
  claim: 'no other series',
};
for (const [k, p] of Object.entries(plots)) p.el.dataset.empty = EMPTY[k];

let state = urlState.read();
let presets = [];
let worker = null;
let shown = { series: [], result: null, label: '', name: '' };  // what the plots show; name: of its exports
let ready = false;     // the worker's module is loaded
let pending = null;    // the config run going on: {label, config, resolve, reject} (see runConfig)
let active = false;    // a run is going on (running or paused)
let live = new Map();  // the live run's series by name, its points appended from each 'live' message

function setState(s) { document.body.dataset.state = s; }
function setStatus(text) { ui.status.textContent = text; }
const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

// ---- the worker

/** Starts a fresh worker for state.build; resolves when its module is loaded. */
function startWorker() {
  worker?.terminate();
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (e) => onWorkerMessage(e.data);
  worker.onerror = (e) => fail(`worker: ${e.message || 'failed to start'}`);
  ready = false;
  setState('loading');
  setStatus('loading the module…');
  worker.postMessage({ type: 'init', build: state.build });
}

function onWorkerMessage(msg) {
  switch (msg.type) {
    case 'ready': analysis.onReady(); return onReady(msg);
    case 'spectrum': case 'boundary': return analysis.onMessage(msg);
    case 'live': {
      document.body.dataset.steps = String(msg.steps);
      ui.progress.value = msg.total ? msg.steps / msg.total : 0;
      setStatus(`${msg.phase}: step ${msg.steps} of ${msg.total}, loss ${fmt(msg.loss)}`);
      ui.sps.textContent = msg.stepsPerSecond ? msg.stepsPerSecond.toFixed(0) : '–';
      ui.memory.textContent = `${mib(msg.runBytes)} planned buffer, ${mib(msg.heapBytes)} module heap`;
      for (const s of msg.series) {
        const { from, ...points } = s, had = live.get(s.name);
        if (from === 0 || !had) live.set(s.name, points);
        else for (let k = 0; k < s.x.length; k++) { had.x.push(s.x[k]); had.y.push(s.y[k]); }
      }
      return showLive({ series: [...live.values()], result: null, label: `live: ${pending ? pending.label : `${msg.phase} of ${state.preset}`}`,
                        name: pending ? exportName(pending.label, pending.config) : `${state.preset}-reference-model` });
    }
    case 'progress':
      ui.progress.value = msg.fraction;
      ui.memory.textContent = `${mib(msg.heapBytes)} module heap`;
      return setStatus(`experiment ${state.preset}: ${(100 * msg.fraction).toFixed(0)}% ${msg.stage || ''}`);
    case 'result': return onResult(msg);
    case 'paused': setState('paused'); setStatus('paused'); return controls('paused');
    case 'resumed': setState('running'); setStatus('running'); return controls('running');
    case 'stopped': settle(new Error('stopped')); setState('idle'); setStatus('stopped'); return controls('idle');
    case 'validated': return builder.onValidated(msg);
    case 'error': return fail(msg.message);
    default: return fail(`unknown message from the worker: ${msg.type}`);
  }
}

function onReady(msg) {
  presets = msg.presets;
  ui.preset.replaceChildren(...presets.map((p) => new Option(`${p.id}: ${p.claim.slice(0, 70)}…`, p.id)));
  if (!presets.some((p) => p.id === state.preset)) state.preset = presets[0].id;
  ui.preset.value = state.preset;
  ui.moduleInfo.textContent = `lipflow ${msg.version}, ${msg.build === 'simd' ? 'SIMD128' : 'scalar'} build ` +
    `(${msg.lanes} float lane${msg.lanes > 1 ? 's' : ''})`;
  showClaim();
  setState('idle');
  setStatus('ready');
  controls('idle');
  ready = true;
  builder.validate();
}

function onResult(msg) {
  const r = msg.result;
  ui.progress.value = 1;
  if (msg.live) ui.sps.textContent = msg.live.stepsPerSecond.toFixed(0);
  ui.memory.textContent = `${msg.live ? `${mib(msg.live.runBytes)} planned buffer, ` : ''}${mib(msg.heapBytes)} module heap`;
  setStatus(`${msg.kind === 'preset' ? `experiment ${msg.id}` : 'config run'} finished in ${msg.seconds.toFixed(1)} s`);
  showVerdict(r.verdict);
  const size = state.quick ? 'quick' : 'full';
  const label = msg.kind === 'config' ? pending?.label ?? '' : `${msg.id} (${size}, seed ${state.seed})`;
  const name = msg.kind === 'config' ? exportName(label, r.config) : `${msg.id}-${size}-seed-${state.seed}`;
  show({ series: r.series, result: r, label, name });
  // Finished runs go to the comparison: a config run, or a preset's reference model.
  if (msg.kind === 'config') settle(null, comparison.add(label, r.series, r));
  else if (msg.liveSeries) comparison.add(`${msg.id} reference model (${state.quick ? 'quick' : 'full'}, seed ${state.seed})`, msg.liveSeries);
  controls('idle');
  whenDrawn(() => setState('done'));
}

function fail(message) {
  settle(new Error(message));
  setState('error');
  setStatus(`error: ${message}`);
  controls('idle');
}

// ---- controls

function controls(mode) {
  const running = mode === 'running' || mode === 'paused';
  active = running;
  ui.run.disabled = running;
  ui.pause.disabled = mode !== 'running';
  ui.resume.disabled = mode !== 'paused';
  ui.stop.disabled = !running;
  for (const el of [ui.preset, ui.seed, ui.quick, ui.live, ui.build, ui.open]) el.disabled = running;
  builder.setBusy(running);
  comparison.setBusy(running);
}

function readControls() {
  state = { ...state, preset: ui.preset.value, seed: Math.max(0, Number.parseInt(ui.seed.value, 10) || 0),
            quick: ui.quick.checked, live: ui.live.checked, build: ui.build.value };
  urlState.write(state);
}

function writeControls() {
  ui.seed.value = String(state.seed);
  ui.quick.checked = state.quick;
  ui.live.checked = state.live;
  ui.build.value = state.build;
  if (presets.length) ui.preset.value = state.preset;
}

function showClaim() {
  const p = presets.find((q) => q.id === state.preset);
  ui.claim.textContent = p ? `${p.id}: ${p.claim}` : '';
  ui.claim.title = p ? p.setup : '';
}

/** Clears the last run's verdict and figures and marks the page running. */
function starting(what) {
  analysis.reset();
  ui.verdict.hidden = true;
  ui.progress.value = 0;
  ui.sps.textContent = ui.memory.textContent = '–';
  delete document.body.dataset.steps;
  live = new Map();
  setState('running');
  setStatus(`running ${what}…`);
  controls('running');
}

function run() {
  readControls();
  starting(state.preset);
  worker.postMessage({ type: 'preset', id: state.preset, quick: state.quick, seed: state.seed, live: state.live });
}
const analysis = attachAnalysis({ send: (m) => worker?.postMessage(m),
                                  runConfig: (config, label) => runConfig(config, label).catch((e) => setStatus(e.message)) });

/** Trains a config (JSON text) in the worker with live plots. Resolves with the id of the finished
 *  run in the comparison; rejects when the run fails or is stopped, or when another run is going on. */
function runConfig(config, label) {
  if (!ready) return Promise.reject(new Error('the module is still loading'));
  if (pending || active) return Promise.reject(new Error('another run is going on'));
  starting(label);
  let parsed = config;
  try { if (typeof config === 'string') parsed = JSON.parse(config); } catch { parsed = null; }  // (the worker reports it)
  return new Promise((resolve, reject) => {
    pending = { label, config: parsed, resolve, reject };
    worker.postMessage({ type: 'config', config });
  });
}

/** Ends the pending config run's promise (error, or the comparison's run id). */
function settle(error, id) {
  const p = pending;
  pending = null;
  if (p) { if (error) p.reject(error); else p.resolve(id); }
}

/** Stop: seen between step slices; a preset's own run cannot be interrupted, so the worker is
 *  replaced (its module reloaded) when it does not answer within a moment. */
function stop() {
  worker.postMessage({ type: 'stop' });
  const w = worker;
  setTimeout(() => {
    if (worker === w && (document.body.dataset.state === 'running' || document.body.dataset.state === 'paused')) {
      settle(new Error('stopped'));
      startWorker();
      setStatus('stopped');
    }
  }, 300);
}

ui.run.onclick = run;
ui.pause.onclick = () => worker.postMessage({ type: 'pause' });
ui.resume.onclick = () => worker.postMessage({ type: 'resume' });
ui.stop.onclick = stop;
ui.preset.onchange = () => { readControls(); showClaim(); };
for (const el of [ui.seed, ui.quick, ui.live]) el.onchange = readControls;
ui.build.onchange = () => { readControls(); startWorker(); };
ui.arm.onchange = () => { state.arm = ui.arm.value; urlState.write(state); render(); };

ui.open.onchange = async () => {
  const file = ui.open.files[0];
  if (!file) return;
  try {
    const r = parseResult(await file.text());
    showVerdict(r.verdict);
    show({ series: r.series, result: r, label: `file ${file.name}`, name: exportName(file.name.replace(/\.json$/i, ''), r.config) });
    setStatus(`opened ${file.name}`);
  } catch (e) {
    fail(`${file.name}: ${e.message}`);
  }
};

// The exports are named after the run shown (not after the preset picked).
ui.exportCsv.onclick = () => saveFile(`${shown.name}.csv`, new Blob([toCsv(shown.series)], { type: 'text/csv' }));
ui.exportJson.onclick = () => saveFile(`${shown.name}.json`, new Blob([toJson(shown.result, shown.series)], { type: 'application/json' }));

// ---- drawing

function fmt(v) { return Number.isFinite(v) ? (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toPrecision(4) : v.toExponential(3)) : String(v); }

function showVerdict(v) {
  if (!v) { ui.verdict.hidden = true; return; }
  ui.verdict.hidden = false;
  ui.verdict.className = `panel verdict ${v.holds ? 'holds' : 'fails'}`;
  ui.verdict.dataset.holds = String(Boolean(v.holds));
  ui.verdict.dataset.value = String(v.value);
  ui.verdictText.textContent = `${v.holds ? 'the claim holds' : 'the claim does not hold'} ` +
    `(value ${fmt(v.value)}, threshold ${fmt(v.threshold)})`;
  ui.verdictComparison.textContent = v.comparison || '';
}

// A live run posts its series several times a second: the plots take the newest once per animation
// frame (and a finished run's show() drops a live one still waiting).
let liveWaiting = null;
function showLive(what) {
  if (!liveWaiting) requestAnimationFrame(() => { if (liveWaiting) show(liveWaiting); });
  liveWaiting = what;
}

function show(what) {
  liveWaiting = null;
  shown = what;
  ui.source.textContent = what.label;
  ui.exportCsv.disabled = ui.exportJson.disabled = what.series.length === 0;
  const names = arms(what.series);
  const current = [...ui.arm.options].map((o) => o.value);
  if (JSON.stringify(current) !== JSON.stringify(names)) {
    ui.arm.replaceChildren(...names.map((a) => new Option(a || '(single run)', a)));
  }
  if (!names.includes(state.arm)) state.arm = names[0] ?? '';
  ui.arm.value = state.arm;
  render();
}

// Plot updates are queued and drawn one plot per task, so that no single task on the main thread
// draws all of them (creating a uPlot chart costs tens of milliseconds); a newer update of a plot
// replaces a queued one.
const queued = new Map();
let drawing = null;
function schedule(name, draw) {
  queued.set(name, draw);
  drawing ??= setTimeout(drawOne, 0);
}
function drawOne() {
  const [name, draw] = queued.entries().next().value;
  queued.delete(name);
  draw();
  drawing = queued.size ? setTimeout(drawOne, 0) : null;
  if (!drawing) for (const f of afterDraw.splice(0)) f();
}
/** Calls f once every queued plot update has been drawn (at once when none is queued). */
const afterDraw = [];
function whenDrawn(f) { if (drawing) afterDraw.push(f); else f(); }

function render() {
  const series = shown.series;
  const armList = arms(series);
  const armColour = (name) => colour(Math.max(armList.indexOf(splitName(name).arm), 0));
  const label = (s) => s.name;

  // Loss: every arm's training loss (a comparison across the experiment's configurations), and the
  // test loss of every arm as points.
  const loss = series.filter((s) => /(^|\/)(train_loss|test_loss)$/.test(s.name) && s.x.length > 0)
    .map((s) => ({ label: label(s), x: s.x, y: s.y, colour: armColour(s.name), points: /test_loss$/.test(s.name) }));
  schedule('loss', () => plots.loss.update(loss));

  const grad = pick(series, 'grad', state.arm);
  const grid = gradientGrid(grad.series);
  schedule('grad', () => {
    plots.grad.update(grid, { title: `Per-layer gradient norm, log10 ||dL/dx||${grad.arm ? ` (${grad.arm})` : ''}` });
    ui.gradScale.textContent = grid.layers.length
      ? `layers: ${grid.layers.map((l, k) => `${k} = ${l}`).join(', ')}; colour from ${fmt(plots.grad.range()[0])} (dark) to ${fmt(plots.grad.range()[1])} (yellow)`
      : '';
  });

  const lip = pick(series, 'lipschitz', state.arm);
  schedule('lipschitz', () => plots.lipschitz.update(lip.series.map((s) => ({ label: splitName(s.name).what, x: s.x, y: s.y })),
    { title: `Lipschitz bounds: upper and measured lower${lip.arm ? ` (${lip.arm})` : ''}` }));

  const ent = pick(series, 'entropy', state.arm);
  schedule('entropy', () => plots.entropy.update(ent.series.map((s) => ({ label: splitName(s.name).what, x: s.x, y: s.y })),
    { title: `Attention entropy per head${ent.arm ? ` (${ent.arm})` : ''}` }));

  const claim = claimSeries(series, state.arm);
  schedule('claim', () => plots.claim.update(claim.series.map((s) => ({ label: splitName(s.name).what, x: s.x, y: s.y, points: s.x.length < 12 })),
    { title: `The experiment's measurements${claim.arm ? ` (${claim.arm})` : ''}`, xLabel: claim.series[0]?.x_label || 'x' }));
}

// ---- the model builder and the comparison of runs

const builder = new Builder($('builder-form'), fromQuery(location.search), {
  validate: (id, config) => { if (ready) worker.postMessage({ type: 'validate', id, config }); },
  changed: () => urlState.write(state),
  run: (config, label) => runConfig(config, label).catch(() => {}),  // a failure is shown by fail()
});
urlState.addPart(() => toQuery(builder.spec));
const comparison = new Comparison($('compare-panel'), {
  schedule, spec: () => builder.spec, runConfig,
});

// ---- start

writeControls();
urlState.write(state);
startWorker();
