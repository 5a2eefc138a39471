// The lab's Web Worker: loads lipflow.mjs (SIMD128 or scalar build) and runs what the page asks for,
// so that the page's main thread never trains. Messages in (from main.js):
//   {type: 'init', build: 'simd' | 'scalar'}
//   {type: 'preset', id, quick, seed, live}   live: first train the preset's reference model step by step
//   {type: 'config', config}                  train a config (JSON object) step by step
//   {type: 'validate', id, config}            check a config by creating a run from it (then dropped)
//   {type: 'pause'} {type: 'resume'} {type: 'stop'}
// Messages out:
//   {type: 'ready', presets, version, lanes, build}
//   {type: 'live', phase, steps, total, stepsPerSecond, runBytes, heapBytes, loss, series}
//   {type: 'progress', phase, fraction, stage, heapBytes}
//   {type: 'result', kind: 'preset' | 'config', id, result, live, stepsPerSecond, seconds}
//   {type: 'validated', id, ok, message, config, parameters, memoryBytes}  config: as completed by the library
//   {type: 'stopped'} {type: 'paused'} {type: 'resumed'} {type: 'error', message}
// Guarantees: between two step slices the worker returns to its event loop, so pause/resume/stop are
// seen within one slice (about SLICE_MS); a preset's own run (the verdict) is one blocking call that
// only the page can end, by terminating this worker.
import { wrapModule } from './lipflow.js';

const SLICE_MS = 40;      // target wall time of one slice of training steps
const POST_EVERY_MS = 100; // live series are posted at most this often (and at the end)

let lipflow = null;
let control = { stop: false, paused: false, wake: null };

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
  let slice = 1, stepSeconds = 0, lastPost = -Infinity;
  const sendLive = () => {
    post({ type: 'live', phase, steps: run.stepsDone(), total: run.totalSteps(),
           stepsPerSecond: stepSeconds > 0 ? run.stepsDone() / stepSeconds : 0,
           runBytes: run.memoryBytes(), heapBytes: lipflow.heapBytes(), loss: run.lastLoss(),
           series: run.series() });
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
  return { stopped: false, stepsPerSecond: run.stepsDone() / stepSeconds };
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
      } finally { run.destroy(); }
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
  } finally { run.destroy(); }
}
