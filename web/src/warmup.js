// Warms a freshly loaded lipflow module up, so that the first run the page times is not run by the
// engine's baseline code. Browsers compile WebAssembly twice: a fast baseline compiler first (V8's
// Liftoff), then the optimising one for functions that have run for a while (dynamic tiering); the
// baseline's SIMD128 code is about 3x slower than the optimised code on the training step, and a quick
// preset's whole run (E2: 40 steps) can end before its kernels are optimised. Training a few small
// batches of both reference models here (an MLP with LayerNorm and a transformer, Adam) runs the hot
// kernels (GEMM, row-wise kernels, norms, attention, the optimizer) long enough to be optimised, and
// their monitor runs every estimator the presets watch with (the E2 quick run, for one, spends a
// fifth of its time in its Lipschitz and gradient-norm ticks; its first tick took 6-8 ms in baseline
// code, 2.5 ms optimised). Costs about half a second once per module (Node); changes nothing else
// (the runs are destroyed).
import { lipflowConfig } from './bench-models.js';

// Steps of each model (batch 8) and the estimators its monitor runs every 10 steps: those of the
// presets that train that kind of model (a model on token ids has no input Jacobian).
const WARMUP = [
  ['E2', 300, ['gradient_norms', 'update_ratios', 'flags', 'norm_input_std', 'jacobian_products', 'lipschitz', 'lower_bound']],
  ['E5', 60, ['gradient_norms', 'update_ratios', 'flags', 'attention_entropy']],
];

/** Trains and destroys the warm-up runs; returns the milliseconds it took. */
export function warmUp(lipflow) {
  const t0 = performance.now();
  for (const [model, steps, estimators] of WARMUP) {
    const config = lipflowConfig(model, steps);
    const monitor = { every: 10, estimators };
    const run = lipflow.createRun({ ...config, training: { ...config.training, batch_size: 8, monitor } });
    try { run.step(steps); } finally { run.destroy(); }
  }
  return performance.now() - t0;
}
