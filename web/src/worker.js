// The lab's Web Worker: loads lipflow.mjs (SIMD128 or scalar build) and runs what the page asks for,
// so that the page's main thread never trains. Messages in (from main.js):
//   {type: 'init', build: 'simd' | 'scalar'}
//   {type: 'preset', id, quick, seed, live}   live: first train the preset's reference model step by step
//   {type: 'config', config}                  train a config (JSON object) step by step
//   {type: 'validate', id, config}            check a config by creating a run from it (then dropped)
//   {type: 'pause'} {type: 'resume'} {type: 'stop'}
//   {type: 'analysis', layer}                 the layer whose Jacobian spectrum live runs report (the
//                                             last live run's analysis is posted again at once)
// Messages out:
//   {type: 'ready', presets, version, lanes, build}
//   {type: 'live', phase, steps, total, stepsPerSecond, runBytes, heapBytes, loss, series}
//     series: only the points not posted before, [{name, x_label, y_label, from, x, y}] with from the
//     index of the first (0: the series starts here); the page appends them
//   {type: 'progress', phase, fraction, stage, heapBytes}
//   {type: 'result', kind: 'preset' | 'config', id, result, live, stepsPerSecond, seconds}
//   {type: 'validated', id, ok, message, config, parameters, memoryBytes}  config: as completed by the library
//   {type: 'stopped'} {type: 'paused'} {type: 'resumed'} {type: 'error', message}
//   {type: 'spectrum', step, layer, layers: [{name, size}], sigma: [descending], error?}
//   {type: 'boundary', step, grid, x: [lo, hi], y: [lo, hi], outputs, cls, conf, points: {inputs, labels}}
//     (a live run's analysis, with its live posts at most every ANALYSIS_MS and at its end; the
//      decision boundary only for a model on 2 real features, see boundary())
// Guarantees: between two step slices the worker returns to its event loop, so pause/resume/stop are
// seen within one slice (about SLICE_MS); a preset's own run (the verdict) is one blocking call that
// only the page can end, by terminating this worker.
import { wrapModule } from './lipflow.js';
import { warmUp } from './warmup.js';

const SLICE_MS = 40;      // target wall time of one slice of training steps
const POST_EVERY_MS = 100; // live series are posted at most this often (and at the end)
const ANALYSIS_MS = 400;   // the spectrum and the decision boundary: at most this often (and at the end),
const ANALYSIS_SHARE = 10; // and at most 1 / ANALYSIS_SHARE of the run's time (a large layer's SVD is slow)
const BOUNDARY_GRID = 48;  // predictions on a 48 x 48 grid (2304 forwards of one sample, in batches)

let lipflow = null;
let control = { stop: false, paused: false, wake: null };
let analysisLayer = 0;
// The last live run, kept after it ends so that choosing another layer still shows its spectrum;
// destroyed when the next live run starts.
let held = null;  // {run, analysis}

self.onmessage = async (event) => {
  const msg = event.data;
  try {
    switch (msg.type) {
      case 'init': return await init(msg.build);
      case 'preset': return await runPreset(msg);
      case 'config': return await runConfig(msg);
      case 'validate': return validate(msg);
      case 'pause': control.paused = true; return post({ type: 'paused' });
      case 'resume': control.paused = false; control.wake?.(); return post({ type: 'resumed' });
      case 'stop': control.stop = true; control.paused = false; control.wake?.(); return undefined;
      case 'analysis': analysisLayer = Math.max(0, Number(msg.layer) || 0); return held?.analysis();
      default: throw new Error(`unknown message ${msg.type}`);
    }
  } catch (e) {
    post({ type: 'error', message: String(e.message || e) });
  }
};

function post(msg) { self.postMessage(msg); }

async function init(build) {
  // (The folder is computed at run time: Vite rewrites a literal new URL(..., import.meta.url).)
  const here = import.meta.url;
  const base = new URL(`../wasm/${build === 'scalar' ? 'scalar' : 'simd'}/`, here);
  const url = new URL('lipflow.mjs', base).href;
  const createLipflow = (await import(/* @vite-ignore */ url)).default;
  lipflow = wrapModule(await createLipflow({ locateFile: (file) => new URL(file, base).href }));
  warmUp(lipflow);  // before 'ready', so that the runs the page times run optimised code
  post({ type: 'ready', presets: lipflow.presets(), version: lipflow.version(), lanes: lipflow.simdLanes(), build });
}

/** Resolves after the event loop has run once (so that control messages are handled), and waits
 *  while paused. */
async function yieldToMessages() {
  await new Promise((resolve) => setTimeout(resolve, 0));
  while (control.paused && !control.stop) await new Promise((resolve) => { control.wake = resolve; });
  control.wake = null;
}

/** Trains a run to its end in slices, posting its series live. Returns {stopped, stepsPerSecond}
 *  where stepsPerSecond counts only the time inside lipflow_run_step. */
async function trainLive(run, phase) {
  let slice = 1, stepSeconds = 0, lastPost = -Infinity, nextAnalysis = 0;
  const posted = new Map();  // series name -> its points posted so far
  const analysis = liveAnalysis(run);
  if (held) held.run.destroy();
  held = { run, analysis };
  const sendLive = () => {
    if (performance.now() >= nextAnalysis) {
      const t0 = performance.now();
      analysis();
      const now = performance.now();
      nextAnalysis = now + Math.max(ANALYSIS_MS, ANALYSIS_SHARE * (now - t0));
    }
    post({ type: 'live', phase, steps: run.stepsDone(), total: run.totalSteps(),
           stepsPerSecond: stepSeconds > 0 ? run.stepsDone() / stepSeconds : 0,
           runBytes: run.memoryBytes(), heapBytes: lipflow.heapBytes(), loss: run.lastLoss(),
           series: newPoints(run.series(), posted) });
    lastPost = performance.now();
  };
  while (!run.finished()) {
    await yieldToMessages();
    if (control.stop) return { stopped: true, stepsPerSecond: run.stepsDone() / stepSeconds };
    const t0 = performance.now();
    run.step(slice);
    const ms = performance.now() - t0;
    stepSeconds += ms / 1000;
    // Adapt the slice so that one lasts about SLICE_MS (at most doubling at a time).
    slice = Math.max(1, Math.min(slice * 2, Math.round(slice * SLICE_MS / Math.max(ms, 0.01))));
    if (performance.now() - lastPost >= POST_EVERY_MS) sendLive();
  }
  sendLive();
  analysis();
  return { stopped: false, stepsPerSecond: run.stepsDone() / stepSeconds };
}

/** The points of each series that have not been posted yet (a live post's cost stays the same as the
 *  run grows); `posted` counts them per series name and is updated. */
function newPoints(series, posted) {
  const out = [];
  for (const s of series) {
    const from = posted.get(s.name) ?? 0;
    if (from > 0 && from === s.x.length) continue;
    posted.set(s.name, s.x.length);
    out.push({ ...s, from, x: s.x.slice(from), y: s.y.slice(from) });
  }
  return out;
}

/** A function that posts a live run's analysis: the chosen layer's Jacobian spectrum at test sample 0
 *  and, for a model on 2 real features, its decision boundary on a grid over the test samples. */
function liveAnalysis(run) {
  const layers = run.layers();
  const config = run.config();
  const twoD = config.model?.input?.features === 2 && run.inputSize() === 2;
  const samples = twoD ? run.testSamples() : null;
  return () => {
    const step = run.stepsDone();
    let layer = Math.min(analysisLayer, Math.max(layers.length - 1, 0));
    if (!(layers[layer]?.size > 0)) {  // e.g. an embedding of token ids: show the first layer that has one
      const first = layers.findIndex((l) => l.size > 0);
      if (first >= 0) layer = first;
    }
    let sigma = [], error;
    try {
      if (layers[layer]?.size > 0) sigma = Array.from(run.layerSpectrum(layer, 0));
      else error = `layer ${layer} has no planned Jacobian (too large, or token ids)`;
    } catch (e) { error = String(e.message || e); }
    post({ type: 'spectrum', step, layer, layers, sigma, error });
    if (twoD && samples.labels.length > 0) post(boundary(run, samples, step));
  };
}

/** The model's prediction on a BOUNDARY_GRID^2 grid spanning the samples (10% margin). For several
 *  outputs: cls the argmax and conf its softmax probability; for one output: conf its value. */
function boundary(run, samples, step) {
  const n = BOUNDARY_GRID, xs = samples.inputs;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < xs.length; i += 2) {
    x0 = Math.min(x0, xs[i]); x1 = Math.max(x1, xs[i]);
    y0 = Math.min(y0, xs[i + 1]); y1 = Math.max(y1, xs[i + 1]);
  }
  const mx = 0.1 * (x1 - x0 || 1), my = 0.1 * (y1 - y0 || 1);
  x0 -= mx; x1 += mx; y0 -= my; y1 += my;
  const grid = new Float32Array(n * n * 2);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      grid[2 * (r * n + c)] = x0 + (c + 0.5) * (x1 - x0) / n;
      grid[2 * (r * n + c) + 1] = y1 - (r + 0.5) * (y1 - y0) / n;  // row 0 at the top
    }
  }
  const outputs = run.outputSize();
  const out = run.predict(grid, n * n);
  const cls = new Uint8Array(n * n), conf = new Float32Array(n * n);
  for (let k = 0; k < n * n; k++) {
    if (outputs === 1) { conf[k] = out[k]; continue; }
    let best = 0, max = -Infinity, sum = 0;
    for (let j = 0; j < outputs; j++) if (out[k * outputs + j] > max) { max = out[k * outputs + j]; best = j; }
    for (let j = 0; j < outputs; j++) sum += Math.exp(out[k * outputs + j] - max);
    cls[k] = best;
    conf[k] = 1 / sum;
  }
  return { type: 'boundary', step, grid: n, x: [x0, x1], y: [y0, y1], outputs, cls, conf,
           points: { inputs: Array.from(samples.inputs), labels: Array.from(samples.labels) } };
}

async function runPreset({ id, quick, seed, live }) {
  control = { stop: false, paused: false, wake: null };
  const t0 = performance.now();
  let liveSummary = null, liveSeries = null;
  if (live) {
    const run = lipflow.createPresetRun(id, quick, seed);
    if (run) {
      try {
        const r = await trainLive(run, 'reference model');
        if (r.stopped) return post({ type: 'stopped' });
        liveSummary = { steps: run.stepsDone(), stepsPerSecond: r.stepsPerSecond, runBytes: run.memoryBytes(),
                        parameters: run.parameterCount(), stop: run.stopMessage() };
        liveSeries = run.series();
      } catch (e) {
        if (held?.run !== run) run.destroy();
        throw e;
      }
    }
  }
  await yieldToMessages();
  if (control.stop) return post({ type: 'stopped' });
  const result = lipflow.runPreset(id, quick, seed, (fraction, stage) =>
    post({ type: 'progress', phase: 'experiment', fraction, stage, heapBytes: lipflow.heapBytes() }));
  post({ type: 'result', kind: 'preset', id, result, live: liveSummary, liveSeries,
         seconds: (performance.now() - t0) / 1000, heapBytes: lipflow.heapBytes() });
}

/** Creates and drops a run of the config: the library's own check (config and memory plan). */
function validate({ id, config }) {
  let run;
  try {
    run = lipflow.createRun(config);
  } catch (e) {
    return post({ type: 'validated', id, ok: false, message: String(e.message || e) });
  }
  try {
    post({ type: 'validated', id, ok: true, config: run.config(), parameters: run.parameterCount(),
           memoryBytes: run.memoryBytes() });
  } finally { run.destroy(); }
}

async function runConfig({ config }) {
  control = { stop: false, paused: false, wake: null };
  const t0 = performance.now();
  const run = lipflow.createRun(config);
  try {
    const r = await trainLive(run, 'config');
    if (r.stopped) return post({ type: 'stopped' });
    const result = run.result();
    post({ type: 'result', kind: 'config', id: 'config', result,
           live: { steps: run.stepsDone(), stepsPerSecond: r.stepsPerSecond, runBytes: run.memoryBytes(),
                   parameters: run.parameterCount(), stop: run.stopMessage() },
           seconds: (performance.now() - t0) / 1000, heapBytes: lipflow.heapBytes() });
  } catch (e) {
    if (held?.run !== run) run.destroy();
    throw e;
  }
}
