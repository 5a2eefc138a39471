// node --no-experimental-fetch wasm/smoke.mjs <path to lipflow.mjs>: drives the WebAssembly module as the
// browser lab's worker does and exits non-zero on the first failed check.
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

// Emscripten 3.1.6's ES module output reads __dirname and require() when it runs under Node; an ES
// module has neither, so they are provided for the module file, and the .wasm is handed over as bytes
// (its file: URL is not a path for Node's fs). Browsers and workers fetch lipflow.wasm next to lipflow.mjs.
const modulePath = resolve(process.argv[2]);
globalThis.__dirname = dirname(modulePath);
globalThis.require = createRequire(modulePath);
const createLipflow = (await import(pathToFileURL(modulePath).href)).default;
const progress = [];
const M = await createLipflow({
  wasmBinary: readFileSync(join(dirname(modulePath), 'lipflow.wasm')),
  onProgress: (fraction, stage) => progress.push([fraction, stage]) });

const str = (p) => (p === 0 ? null : M.UTF8ToString(p));
const withString = (s, f) => {
  const n = M.lengthBytesUTF8(s) + 1, p = M._malloc(n);
  M.stringToUTF8(s, p, n);
  try { return f(p); } finally { M._free(p); }
};
const outPointer = (f) => {
  const pp = M._malloc(4);
  try { const code = f(pp); return [code, M.getValue(pp, 'i32')]; } finally { M._free(pp); }
};

assert.ok(str(M._lipflow_version()).length > 0);
const presets = M._lipflow_preset_count();
assert.ok(presets >= 9, `presets: ${presets}`);
assert.equal(str(M._lipflow_preset_id(0)), 'E1');

// E1 quick with progress
let [code, result] = withString('E1', (id) => outPointer((pp) => M._lipflow_wasm_preset_run(id, 1, 1, pp)));
assert.equal(code, 0, str(M._lipflow_last_error()));
assert.equal(M._lipflow_result_holds(result), 1);
assert.ok(progress.length > 1 && progress.at(-1)[0] === 1, JSON.stringify(progress));
assert.ok(str(M._lipflow_result_json(result)).includes('"holds": true'));
M._lipflow_result_destroy(result);

// a config run, stepped, and a series read into a Float64Array
const config = JSON.stringify({
  model: { input: { features: 2 }, layers: [{ type: 'linear', width: 16 }, { type: 'activation', kind: 'tanh' }],
           head: { width: 2 } },
  optimizer: { name: 'adam', lr: 0.01 },
  training: { steps: 60, batch_size: 16, seed: 3, eval_every: 20 },
  dataset: { name: 'moons', train_samples: 128, test_samples: 64 },
});
let run;
[code, run] = withString(config, (c) => outPointer((pp) => M._lipflow_run_create(c, pp)));
assert.equal(code, 0, str(M._lipflow_last_error()));
while (!M._lipflow_run_finished(run)) assert.equal(M._lipflow_run_step(run, 25), 0);
assert.equal(M._lipflow_wasm_run_steps_done(run), 60);
assert.equal(M._lipflow_run_stop_reason(run), 1);
[code, result] = outPointer((pp) => M._lipflow_run_collect(run, pp));
assert.equal(code, 0);
const n = M._lipflow_result_series_length(result, 0);
assert.equal(str(M._lipflow_result_series_name(result, 0)), 'train_loss');
assert.equal(n, 60);
const bytes = n * 8, xs = M._malloc(bytes), ys = M._malloc(bytes), cnt = M._malloc(4);
assert.equal(M._lipflow_result_series_read(result, 0, 0, xs, ys, n, cnt), 0);
const y = new Float64Array(M.HEAPF64 ? M.HEAPF64.buffer : M.wasmMemory.buffer, ys, n).slice();
assert.ok(Number.isFinite(y[0]) && y[59] < y[0], `loss ${y[0]} -> ${y[59]}`);
M._free(xs); M._free(ys); M._free(cnt);
M._lipflow_result_destroy(result);
M._lipflow_run_destroy(run);

// errors: a code and the field named
[code, run] = withString('{"model": 3}', (c) => outPointer((pp) => M._lipflow_run_create(c, pp)));
assert.equal(code, 4);
assert.equal(run, 0);
assert.match(str(M._lipflow_last_error()), /model/);
console.log(`wasm module ok (${M._lipflow_simd_lanes()} float lanes): ${presets} presets, E1 holds, a config trained`);
