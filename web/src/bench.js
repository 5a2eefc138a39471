// bench.html: times the E2 and E5 training steps (src/bench-models.js) in this browser with lipflow's
// WebAssembly modules (SIMD128 and scalar, through the C API) and with TF.js 4.22 on its wasm and cpu
// backends, one thread each, on the page's main thread.
//
// Protocol, the same for every implementation: build the model, warm up (WARMUP_MS of steps, at least
// 3), pick a batch of n steps lasting about BATCH_MS, then time `batches` batches; a batch ends with the
// loss read back to JavaScript (lipflow_run_last_loss; TF.js dataSync), so TF.js's queued work is
// inside the batch. The figure is the median batch time / n, in ms per step.
//
// Self-check, before any timing: each TF.js model trains CHECK_STEPS steps on its wasm backend and its
// loss must fall (mean of the last 10 steps below CHECK_FALL x the mean of the first 10); the cpu
// backend's first two losses must equal the wasm backend's (same weights and batches) to 1e-4; each
// lipflow run's loss must fall the same way over its own steps; the two sides' parameter counts must be
// equal (the models are the same size). A failed check is an error, not a figure.
//
// window.lipflowBench.run({workloads, impls, batches, quick}) resolves with
// {machine: {browser, ...}, results: [{workload: 'train_step/E2', impl, ms, steps, batches, ...}], checks}.
// document.body.dataset.state is 'loading', 'idle', 'running', 'done' or 'error' (the driver waits on it).
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { wrapModule } from './lipflow.js';
import { lipflowConfig, tfjsModel } from './bench-models.js';

export const IMPLS = ['lipflow wasm SIMD', 'lipflow wasm scalar', 'TF.js wasm', 'TF.js cpu'];
export const WORKLOADS = ['E2', 'E5'];
const WARMUP_MS = 300, BATCH_MS = 200;
const CHECK_STEPS = 300, CHECK_FALL = 0.9;

// TF.js's wasm binaries come from this site (bundled into dist/ by Vite), never from a CDN. Without
// cross-origin isolation it picks the SIMD, single-threaded binary.
setWasmPaths({ 'tfjs-backend-wasm.wasm': wasmPlain, 'tfjs-backend-wasm-simd.wasm': wasmSimd,
               'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded });

const $ = (id) => document.getElementById(id);
const log = (text) => { $('log').textContent += `${text}\n`; };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const nextFrame = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Throws unless the loss fell: mean of the last 10 below CHECK_FALL x mean of the first 10. */
function checkFalls(what, losses) {
  const first = mean(losses.slice(0, 10)), last = mean(losses.slice(-10));
  if (!(last < CHECK_FALL * first)) {
    throw new Error(`${what}: the loss did not fall over ${losses.length} steps (${first.toFixed(4)} -> ${last.toFixed(4)})`);
  }
  return { first, last, steps: losses.length };
}

const lipflowModules = {};
/** The wrapped lipflow module of a build ('simd' | 'scalar'), loaded once from ../wasm/<build>/. */
async function lipflowModule(build) {
  if (!lipflowModules[build]) {
    // (Computed at run time, as in worker.js: Vite would rewrite a literal new URL(..., import.meta.url).)
    const here = import.meta.url;
    const base = new URL(`../wasm/${build}/`, here);
    const createLipflow = (await import(/* @vite-ignore */ new URL('lipflow.mjs', base).href)).default;
    lipflowModules[build] = wrapModule(await createLipflow({ locateFile: (file) => new URL(file, base).href }));
  }
  return lipflowModules[build];
}

/**
 * Times `step(n)` (runs n steps and returns once their result is read back) by the protocol above.
 * Returns {ms, steps, batches, spread} where spread is (max - min) / median of the batch times per step.
 */
async function time(step, batches) {
  let done = 0;
  const t0 = performance.now();
  while (done < 3 || performance.now() - t0 < WARMUP_MS) { step(1); done++; }
  const perStep = (performance.now() - t0) / done;
  const n = Math.max(1, Math.round(BATCH_MS / perStep));
  const times = [];
  for (let b = 0; b < batches; b++) {
    await nextFrame();  // lets the page breathe between batches (outside the timed span)
    const s = performance.now();
    step(n);
    times.push((performance.now() - s) / n);
  }
  const m = median(times);
  return { ms: m, steps: n, batches, warmup: done, spread: (Math.max(...times) - Math.min(...times)) / m };
}

/** lipflow: a run of the workload's config on a build; its loss must fall over the steps it trains. */
async function benchLipflow(workload, build, batches, checks) {
  const lipflow = await lipflowModule(build);
  // Enough steps for the warm-up, the timed batches and the check, so that the run never ends (its
  // last step would evaluate the test split) while it is timed.
  const run = lipflow.createRun(lipflowConfig(workload, 1000000));
  try {
    const losses = [];
    for (let i = 0; i < CHECK_STEPS; i++) { run.step(1); losses.push(run.lastLoss()); }
    checks.push({ workload, impl: `lipflow wasm ${build}`, parameters: run.parameterCount(),
                  ...checkFalls(`lipflow ${build} ${workload}`, losses) });
    const r = await time((n) => { run.step(n); if (!Number.isFinite(run.lastLoss())) throw new Error(`lipflow ${workload}: loss ${run.lastLoss()}`); }, batches);
    if (run.finished()) throw new Error(`lipflow ${workload}: the run ended while timed (${run.stopMessage()})`);
    return { ...r, parameters: run.parameterCount(), lanes: lipflow.simdLanes(), version: lipflow.version() };
  } finally { run.destroy(); }
}

/** The first `count` losses of a fresh TF.js model of the workload on the current backend. */
function tfjsLosses(workload, count) {
  const model = tfjsModel(tf, workload);
  try {
    const losses = [];
    for (let i = 0; i < count; i++) {
      const loss = model.step();
      losses.push(loss.dataSync()[0]);
      loss.dispose();
    }
    return { losses, parameters: model.parameters };
  } finally { model.dispose(); }
}

/** TF.js on a backend ('wasm' | 'cpu'): checked (see the header), then timed. */
async function benchTfjs(workload, backend, batches, checks, reference) {
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js: the ${backend} backend did not initialise`);
  await tf.ready();
  if (backend === 'wasm') {
    const { losses, parameters } = tfjsLosses(workload, CHECK_STEPS);
    reference[workload] = losses;
    checks.push({ workload, impl: 'TF.js wasm', parameters, ...checkFalls(`TF.js wasm ${workload}`, losses) });
  } else if (reference[workload]) {
    const { losses, parameters } = tfjsLosses(workload, 2);
    losses.forEach((l, i) => {
      const w = reference[workload][i];
      if (!(Math.abs(l - w) <= 1e-4 * Math.abs(w))) {
        throw new Error(`TF.js ${backend} ${workload}: loss ${l} at step ${i} differs from the wasm backend's ${w}`);
      }
    });
    checks.push({ workload, impl: `TF.js ${backend}`, parameters, agreesWithWasm: losses });
  }
  const model = tfjsModel(tf, workload);
  try {
    const r = await time((n) => {
      let loss = null;
      for (let i = 0; i < n; i++) { loss?.dispose(); loss = model.step(); }
      const v = loss.dataSync()[0];
      loss.dispose();
      if (!Number.isFinite(v)) throw new Error(`TF.js ${backend} ${workload}: loss ${v}`);
    }, batches);
    return { ...r, parameters: model.parameters, tensors: tf.memory().numTensors };
  } finally { model.dispose(); }
}

/** Runs the benchmark; see the header for the options and the result. */
async function run({ workloads = WORKLOADS, impls = IMPLS, batches = 7 } = {}) {
  const results = [], checks = [], reference = {};
  for (const workload of workloads) {
    for (const impl of impls) {
      log(`${workload} ${impl} ...`);
      let r;
      if (impl === 'lipflow wasm SIMD') r = await benchLipflow(workload, 'simd', batches, checks);
      else if (impl === 'lipflow wasm scalar') r = await benchLipflow(workload, 'scalar', batches, checks);
      else if (impl === 'TF.js wasm') r = await benchTfjs(workload, 'wasm', batches, checks, reference);
      else if (impl === 'TF.js cpu') r = await benchTfjs(workload, 'cpu', batches, checks, reference);
      else throw new Error(`unknown implementation ${impl} (one of ${IMPLS.join(', ')})`);
      results.push({ workload: `train_step/${workload}`, impl, ...r });
      log(`  ${r.ms.toFixed(3)} ms/step (median of ${r.batches} batches of ${r.steps} steps, spread ${(100 * r.spread).toFixed(0)}%)`);
      await nextFrame();
    }
    // Same size on every side (the parameter counts of lipflow's runs and of TF.js's models).
    const counts = new Set(checks.filter((c) => c.workload === workload).map((c) => c.parameters));
    if (counts.size > 1) throw new Error(`${workload}: the implementations' parameter counts differ: ${[...counts].join(', ')}`);
  }
  const machine = { browser: navigator.userAgent.match(/(HeadlessChrome|Chrome|Chromium|Firefox)\/[\d.]+/)?.[0] || navigator.userAgent,
                    userAgent: navigator.userAgent, tfjs: tf.version.tfjs, cores: navigator.hardwareConcurrency };
  return { machine, results, checks };
}

window.lipflowBench = {
  IMPLS, WORKLOADS,
  async run(options) {
    document.body.dataset.state = 'running';
    try {
      const out = await run(options);
      $('out').textContent = JSON.stringify(out, null, 2);
      document.body.dataset.state = 'done';
      return out;
    } catch (e) {
      log(`error: ${e.message}`);
      document.body.dataset.state = 'error';
      throw e;
    }
  },
};
$('run').addEventListener('click', () => window.lipflowBench.run().catch(() => {}));
document.body.dataset.state = 'idle';
