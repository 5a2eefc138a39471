// The benchmark's two training steps, E2 (the MLP of PAPER.md section 5) and E5 (a small Pre-LN
// transformer), written twice: as lipflow configs (what lab::mlp_config and lab::transformer_config
// make with their default specs, see lib/include/lipflow/lab/models.hpp) and as TF.js programs built
// from raw ops (tf.variable, matMul, moments, softmax; gradients by optimizer.minimize). Both sides
// have the same layers, shapes, parameter counts, loss, batch and optimizer (Adam, lr 1e-3), so a
// step of one is a step of the other:
//   E2: input 32, 8 x [Linear(64), ReLU, LayerNorm(64)], Linear(10), softmax cross-entropy, batch 64;
//   E5: tokens (vocabulary 10, sequence 12) embedded (TF.js: a one-hot matmul, since its wasm backend
//       has no gradient kernel for gather) plus learned positions, 4 Pre-LN blocks (width 32, 2 heads
//       without biases, FFN 64 with ReLU), Linear(10), token-wise cross-entropy, batch 32.
// The TF.js data are drawn from the same kind of task (a Gaussian mixture; sorting tokens) with a
// seeded generator; the batches are made before timing, as lipflow's are planned before its steps.

export const E2 = { input: 32, width: 64, depth: 8, classes: 10, batch: 64, eps: 1e-5 };
export const E5 = { vocabulary: 10, tokens: 12, width: 32, heads: 2, hidden: 64, layers: 4, batch: 32, eps: 1e-5 };
const LR = 1e-3;

/** The monitor at its cheapest: one estimator (the vanishing/exploding flags) due only at step 0, so
 *  that the timed steps are training steps alone, as TF.js's are. */
const quietMonitor = { every: 1000000, estimators: ['flags'] };

/** The lipflow config of a workload ('E2' or 'E5'), trainable for `steps` steps. */
export function lipflowConfig(workload, steps, seed = 1) {
  const training = (batch) => ({ steps, batch_size: batch, seed, eval_every: 0, monitor: quietMonitor });
  if (workload === 'E2') {
    const layers = [];
    for (let l = 0; l < E2.depth; l++) {
      layers.push({ type: 'linear', width: E2.width, init: 'torch_default' },
                  { type: 'activation', kind: 'relu' }, { type: 'layer_norm', eps: E2.eps });
    }
    return {
      model: { input: { features: E2.input }, layers, head: { width: E2.classes, init: 'torch_default' } },
      optimizer: { name: 'adam', lr: LR },
      training: training(E2.batch),
      dataset: { name: 'gaussian_mixture', classes: E2.classes, dims: E2.input, train_samples: 2000,
                 test_samples: 500, mean_scale: 1, spread: 1 },
    };
  }
  if (workload === 'E5') {
    const block = { type: 'transformer_block', placement: 'pre_ln',
                    attention: { heads: E5.heads, variant: 'dot_product' }, hidden: E5.hidden, activation: 'relu' };
    return {
      model: { input: { tokens: E5.tokens, vocabulary: E5.vocabulary },
               layers: [{ type: 'embedding', width: E5.width }, ...Array(E5.layers).fill(block)],
               head: { width: E5.vocabulary } },
      optimizer: { name: 'adam', lr: LR },
      training: training(E5.batch),
      dataset: { name: 'sort', length: E5.tokens, vocabulary: E5.vocabulary, train_samples: 2048, test_samples: 256 },
    };
  }
  throw new Error(`unknown workload ${workload} (E2 or E5)`);
}

/** A seeded generator of uniform numbers in [0, 1) (mulberry32) and of standard normals. */
function rng(seed) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

/**
 * A TF.js training step of a workload on the current backend: {step(), loss(), parameters, dispose()}.
 * step() runs one Adam step on the next batch and returns the loss as a tensor (the caller disposes it
 * or reads it); the weights start from `seed` by PyTorch's default initialisation (uniform within
 * 1/sqrt(fan_in)), the same on every backend, so two backends can be compared step for step.
 */
export function tfjsModel(tf, workload, seed = 1) {
  const r = rng(seed);
  const vars = [];
  const variable = (shape, fill) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = fill();
    const v = tf.variable(tf.tensor(data, shape));
    vars.push(v);
    return v;
  };
  const uniform = (bound) => () => (2 * r.uniform() - 1) * bound;
  const dense = (fanIn, fanOut, bias = true) => ({
    w: variable([fanIn, fanOut], uniform(1 / Math.sqrt(fanIn))),
    b: bias ? variable([fanOut], uniform(1 / Math.sqrt(fanIn))) : null,
  });
  const apply = (d, x) => (d.b ? tf.add(tf.matMul(x, d.w), d.b) : tf.matMul(x, d.w));
  const norm = (width) => ({ gamma: variable([width], () => 1), beta: variable([width], () => 0) });
  const layerNorm = (n, x, eps) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), n.gamma), n.beta);
  };

  let forward, batches;
  if (workload === 'E2') {
    const blocks = [];
    for (let l = 0; l < E2.depth; l++) blocks.push({ lin: dense(l === 0 ? E2.input : E2.width, E2.width), ln: norm(E2.width) });
    const head = dense(E2.width, E2.classes);
    forward = (x) => {
      let h = x;
      for (const b of blocks) h = layerNorm(b.ln, tf.relu(apply(b.lin, h)), E2.eps);
      return apply(head, h);
    };
    // A Gaussian mixture: class means N(0, 1) in 32 dimensions, samples mean + N(0, 1).
    const means = Array.from({ length: E2.classes }, () => Float32Array.from({ length: E2.input }, r.normal));
    batches = Array.from({ length: 8 }, () => {
      const x = new Float32Array(E2.batch * E2.input), y = new Float32Array(E2.batch * E2.classes);
      for (let i = 0; i < E2.batch; i++) {
        const c = Math.floor(r.uniform() * E2.classes);
        for (let j = 0; j < E2.input; j++) x[i * E2.input + j] = means[c][j] + r.normal();
        y[i * E2.classes + c] = 1;
      }
      return { x: tf.tensor2d(x, [E2.batch, E2.input]), y: tf.tensor2d(y, [E2.batch, E2.classes]) };
    });
  } else if (workload === 'E5') {
    const { vocabulary: V, tokens: T, width: D, heads: H, hidden: F, batch: B } = E5;
    const dh = D / H;
    const embed = variable([V, D], r.normal);
    const positions = variable([T, D], r.normal);
    const blocks = [];
    for (let l = 0; l < E5.layers; l++) {
      blocks.push({ ln1: norm(D), q: dense(D, D, false), k: dense(D, D, false), v: dense(D, D, false),
                    o: dense(D, D, false), ln2: norm(D), f1: dense(D, F), f2: dense(F, D) });
    }
    const head = dense(D, V);
    // [B*T, D] -> [B*H, T, dh] and back.
    const split = (x) => tf.reshape(tf.transpose(tf.reshape(x, [B, T, H, dh]), [0, 2, 1, 3]), [B * H, T, dh]);
    const merge = (x) => tf.reshape(tf.transpose(tf.reshape(x, [B, H, T, dh]), [0, 2, 1, 3]), [B * T, D]);
    const attention = (b, x) => {
      const q = split(apply(b.q, x)), k = split(apply(b.k, x)), v = split(apply(b.v, x));
      const p = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)));
      return apply(b.o, merge(tf.matMul(p, v)));
    };
    forward = (oneHot) => {
      // oneHot: [B*T, V]; the embedding is a matmul, the positions are broadcast over the batch.
      let h = tf.reshape(tf.add(tf.reshape(tf.matMul(oneHot, embed), [B, T, D]), positions), [B * T, D]);
      for (const b of blocks) {
        h = tf.add(h, attention(b, layerNorm(b.ln1, h, E5.eps)));
        h = tf.add(h, apply(b.f2, tf.relu(apply(b.f1, layerNorm(b.ln2, h, E5.eps)))));
      }
      return apply(head, h);
    };
    // Sorting: random tokens in, the same tokens sorted out, one loss term per token.
    batches = Array.from({ length: 8 }, () => {
      const x = new Float32Array(B * T * V), y = new Float32Array(B * T * V);
      for (let i = 0; i < B; i++) {
        const seq = Array.from({ length: T }, () => Math.floor(r.uniform() * V));
        const sorted = [...seq].sort((a, b) => a - b);
        for (let t = 0; t < T; t++) {
          x[(i * T + t) * V + seq[t]] = 1;
          y[(i * T + t) * V + sorted[t]] = 1;
        }
      }
      return { x: tf.tensor2d(x, [B * T, V]), y: tf.tensor2d(y, [B * T, V]) };
    });
  } else {
    throw new Error(`unknown workload ${workload} (E2 or E5)`);
  }

  const optimizer = tf.train.adam(LR, 0.9, 0.999, 1e-8);
  let next = 0;
  return {
    parameters: vars.reduce((n, v) => n + v.size, 0),
    step() {
      const { x, y } = batches[next];
      next = (next + 1) % batches.length;
      return optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, forward(x)), true, vars);
    },
    dispose() {
      optimizer.dispose();
      for (const v of vars) v.dispose();
      for (const b of batches) { b.x.dispose(); b.y.dispose(); }
    },
  };
}
