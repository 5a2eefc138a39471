// The choices the model builder offers, by the names the config schema uses (config.hpp). The C API
// has no call that lists them, so they are listed here once; tests/builder.mjs creates a run with
// every entry and compares each list with the one the library names in its error for an unknown
// value, so that a drift either way fails a test.

export const OPTIONS = {
  kind: ['mlp', 'transformer'],
  // The norm of an MLP block ('none': no norm layer) and of a transformer block.
  mlpNorm: ['none', 'layer_norm', 'rms_norm', 'center_norm', 'batch_norm'],
  transformerNorm: ['layer_norm', 'rms_norm', 'center_norm'],
  placement: ['pre', 'post'],
  attention: ['dot_product', 'cosine', 'l2_distance'],
  // An MLP block's shortcut ('none': a plain stack) and a transformer block's.
  mlpResidual: ['none', 'plain', 'weighted', 'rezero', 'layerscale'],
  transformerResidual: ['plain', 'weighted', 'rezero', 'layerscale'],
  activation: ['identity', 'relu', 'leaky_relu', 'elu', 'gelu_erf', 'gelu_tanh', 'silu', 'mish', 'softplus', 'sigmoid', 'tanh'],
  init: ['torch_default', 'xavier_uniform', 'xavier_normal', 'kaiming_uniform', 'kaiming_normal', 'orthogonal', 'spectral'],
  optimizer: ['sgd', 'adam', 'adamw', 'nadam', 'radam', 'adamax', 'adagrad', 'rmsprop', 'lamb', 'lars', 'lion', 'adafactor'],
  schedule: ['constant', 'step', 'multi_step', 'exponential', 'linear', 'cosine', 'warmup_cosine', 'inverse_sqrt', 'one_cycle'],
  clip: ['none', 'norm', 'value', 'agc'],
  // Datasets by the model kind that fits them (point clouds: an MLP; token tasks: a transformer).
  mlpDataset: ['two_spirals', 'moons', 'gaussian_mixture', 'sine'],
  transformerDataset: ['copy', 'reverse', 'sort', 'mod_add'],
};

/** The choices of a builder field for a model kind (the lists above that depend on it). */
export function choices(field, kind) {
  const byKind = { norm: 'Norm', residual: 'Residual', dataset: 'Dataset' }[field];
  return byKind ? OPTIONS[`${kind}${byKind}`] : OPTIONS[field];
}

/** Values for the parameters a schedule kind requires (the library has no default for them), from
 *  the run's steps, so that picking the kind alone gives a valid config; a typed value overrides them. */
export function requiredScheduleParams(kind, steps) {
  const n = Number.isSafeInteger(steps) && steps > 0 ? steps : 100;
  const part = (f) => Math.max(1, Math.round(n * f));
  switch (kind) {
    case 'step': return { step_size: part(1 / 3) };
    case 'multi_step': return { milestones: [...new Set([part(0.5), part(0.75)])] };
    case 'exponential': return { gamma: 0.99 };
    case 'cosine': return { t_max: n };
    case 'warmup_cosine': return { warmup_steps: part(0.1), decay_steps: n };
    case 'inverse_sqrt': return { warmup_steps: part(0.1) };
    case 'one_cycle': return { total_steps: n };
    default: return {};
  }
}

/** The clip field that holds a clip kind's threshold. */
export const CLIP_PARAM = { norm: 'max_norm', value: 'clip_value', agc: 'clipping' };

/** Short display names. */
export const NAMES = {
  sgd: 'SGD', adam: 'Adam', adamw: 'AdamW', nadam: 'NAdam', radam: 'RAdam', adamax: 'Adamax', adagrad: 'Adagrad',
  rmsprop: 'RMSprop', lamb: 'LAMB', lars: 'LARS', lion: 'Lion', adafactor: 'Adafactor',
  layer_norm: 'LayerNorm', rms_norm: 'RMSNorm', center_norm: 'CenterNorm', batch_norm: 'BatchNorm', none: 'none',
  mlp: 'MLP', transformer: 'Transformer', pre: 'Pre', post: 'Post',
};
export const displayName = (v) => NAMES[v] ?? v;
