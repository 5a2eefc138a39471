// The model builder: a form for a custom model and its training (a "spec"), the config JSON made from
// it (shown, and editable as text), and its validation by the library itself: every change is sent to
// the worker, which creates a run from the config (lipflow_run_create) and answers with the library's
// error, shown next to the field the error names, or with the config as the library completed it
// (every default filled), from which the hyper-parameter fields of the chosen optimizer, schedule
// and dataset are drawn. The spec lives in the URL (b.* fields; see toQuery/fromQuery).
//
// The pure part (DEFAULT_SPEC, makeConfig, specLabel, fieldForPath, toQuery, fromQuery) needs no DOM,
// so that the Node tests use it as the page does.
import { requiredScheduleParams, CLIP_PARAM, choices, displayName } from './options.js';

export const DEFAULT_SPEC = {
  kind: 'mlp', depth: 3, width: 32, heads: 2, hidden: 64, norm: 'layer_norm', placement: 'post', attention: 'dot_product',
  residual: 'none', alpha: '', activation: 'relu', init: 'torch_default',
  dataset: 'two_spirals', classes: 3, dims: 2, length: 8, vocabulary: 8,
  optimizer: 'adam', lr: '', weightDecay: '', opt: {}, schedule: 'constant', sched: {}, warmup: 0,
  clip: 'none', clipValue: 1, batch: 32, steps: 300, seed: 1,
  text: null,  // the config text when edited by hand (then it is run as written)
};

/** The defaults a model kind starts from when picked (the transformer: a small E5-like model). */
const KIND_DEFAULTS = {
  mlp: { depth: 3, width: 32, norm: 'layer_norm', placement: 'post', residual: 'none', dataset: 'two_spirals', steps: 300 },
  transformer: { depth: 2, width: 16, norm: 'layer_norm', placement: 'pre', residual: 'plain', dataset: 'sort', steps: 200 },
};

// The form: [spec key, label, input kind, tooltip]; 'select' fields take their choices from options.js.
const MODEL_FIELDS = [
  ['kind', 'Model', 'select'],
  ['depth', 'Depth', 'int', 'blocks (MLP) or transformer blocks'],
  ['width', 'Width', 'int'],
  ['heads', 'Heads', 'int', 'attention heads (a divisor of the width)'],
  ['hidden', 'FFN hidden', 'int', "the transformer block's feed-forward width"],
  ['norm', 'Normalization', 'select'],
  ['placement', 'Norm placement', 'select', 'Pre: the norm before the block; Post: after it'],
  ['attention', 'Attention', 'select'],
  ['residual', 'Residual', 'select', 'the shortcut around each block'],
  ['alpha', 'Residual alpha', 'number', 'alpha_init of a weighted, rezero or layerscale shortcut (empty: the default)'],
  ['activation', 'Activation', 'select'],
  ['init', 'Initializer', 'select'],
];
const DATA_FIELDS = [
  ['dataset', 'Dataset', 'select'],
  ['classes', 'Classes', 'int'],
  ['dims', 'Dimensions', 'int'],
  ['length', 'Sequence length', 'int'],
  ['vocabulary', 'Vocabulary', 'int'],
];
const TRAIN_FIELDS = [
  ['optimizer', 'Optimizer', 'select'],
  ['lr', 'Learning rate', 'number', "empty: the optimizer's default"],
  ['weightDecay', 'Weight decay', 'number', "empty: the optimizer's default"],
  ['schedule', 'Schedule', 'select'],
  ['warmup', 'Warmup steps', 'int', 'a linear warmup before the schedule (0: none)'],
  ['clip', 'Clipping', 'select'],
  ['clipValue', 'Clip threshold', 'number', 'max_norm (norm), clip_value (value) or clipping (agc)'],
  ['batch', 'Batch', 'int'],
  ['steps', 'Steps', 'int'],
  ['seed', 'Seed', 'int'],
];
const ALL_FIELDS = [...MODEL_FIELDS, ...DATA_FIELDS, ...TRAIN_FIELDS];
const NUMERIC = new Set(ALL_FIELDS.filter((f) => f[2] !== 'select').map((f) => f[0]));

/** Whether a field applies to a spec (the others are hidden and not written to the config). */
function applies(key, s) {
  const t = s.kind === 'transformer';
  switch (key) {
    case 'heads': case 'hidden': case 'attention': return t;
    case 'placement': return t || s.norm !== 'none';
    case 'alpha': return ['weighted', 'rezero', 'layerscale'].includes(s.residual);
    case 'classes': return s.dataset === 'gaussian_mixture';
    case 'dims': return s.dataset === 'gaussian_mixture';
    case 'length': case 'vocabulary': return t;
    case 'clipValue': return s.clip !== 'none';
    default: return true;
  }
}

/** A number typed in a field: finite numbers as numbers; anything else as typed (the library names it). */
function num(v) {
  if (typeof v === 'number') return v;
  const t = String(v).trim();
  const x = Number(t);
  return t !== '' && Number.isFinite(x) ? x : t;
}
const given = (v) => v !== '' && v !== null && v !== undefined;

/** The model's input and output widths for the dataset (the head is a classifier, or one value for sine). */
function dataShape(s) {
  switch (s.dataset) {
    case 'two_spirals': case 'moons': return { input: { features: 2 }, outputs: 2 };
    case 'gaussian_mixture': return { input: { features: num(s.dims) }, outputs: num(s.classes) };
    case 'sine': return { input: { features: 1 }, outputs: 1 };
    default: return { input: { tokens: num(s.length), vocabulary: num(s.vocabulary) }, outputs: num(s.vocabulary) };
  }
}

function mlpLayers(s) {
  const norm = s.norm === 'none' ? [] : [{ type: s.norm }];
  const linear = () => ({ type: 'linear', width: num(s.width), init: s.init });
  const act = () => ({ type: 'activation', kind: s.activation });
  const depth = Number.isSafeInteger(num(s.depth)) ? num(s.depth) : 0;
  const pre = s.placement === 'pre';
  const layers = [];
  if (s.residual === 'none') {
    // Pre: norm -> linear -> activation (no norm on the raw input); Post: linear -> activation -> norm.
    for (let l = 0; l < depth; l++) layers.push(...(pre ? [...(l > 0 ? norm : []), linear(), act()] : [linear(), act(), ...norm]));
  } else {
    // A linear stem to the width, then blocks x + alpha f(x) with f = [norm] linear activation (Pre)
    // or f = linear activation followed by the norm after the sum (Post).
    layers.push(linear());
    for (let l = 0; l < depth; l++) {
      const shortcut = { type: 'residual', kind: s.residual, branch: pre ? [...norm, linear(), act()] : [linear(), act()] };
      if (applies('alpha', s) && given(s.alpha)) shortcut.alpha_init = num(s.alpha);
      layers.push(shortcut, ...(pre ? [] : norm));
    }
  }
  return layers;
}

function transformerLayers(s) {
  const depth = Number.isSafeInteger(num(s.depth)) ? num(s.depth) : 0;
  const layers = [{ type: 'embedding', width: num(s.width) }];
  for (let l = 0; l < depth; l++) {
    const block = {
      type: 'transformer_block', placement: s.placement === 'pre' ? 'pre_ln' : 'post_ln', norm: s.norm,
      attention: { heads: num(s.heads), variant: s.attention, init: s.init }, hidden: num(s.hidden),
      activation: s.activation, shortcut: s.residual,
    };
    if (applies('alpha', s) && given(s.alpha)) block.alpha_init = num(s.alpha);
    layers.push(block);
  }
  return layers;
}

/** The config JSON object of a spec (the hand-edited text is not consulted here). */
export function makeConfig(s) {
  const { input, outputs } = dataShape(s);
  const optimizer = { name: s.optimizer, ...s.opt };
  if (given(s.lr)) optimizer.lr = num(s.lr);
  if (given(s.weightDecay)) optimizer.weight_decay = num(s.weightDecay);
  const schedule = { kind: s.schedule, ...requiredScheduleParams(s.schedule, num(s.steps)), ...s.sched };
  if (num(s.warmup) !== 0) schedule.warmup = { steps: num(s.warmup) };
  const clip = { kind: s.clip };
  if (CLIP_PARAM[s.clip]) clip[CLIP_PARAM[s.clip]] = num(s.clipValue);
  const steps = num(s.steps);
  const dataset = { name: s.dataset };
  if (s.dataset === 'gaussian_mixture') Object.assign(dataset, { classes: num(s.classes), dims: num(s.dims) });
  if (s.kind === 'transformer') Object.assign(dataset, { length: num(s.length), vocabulary: num(s.vocabulary) });
  return {
    model: { input, layers: s.kind === 'transformer' ? transformerLayers(s) : mlpLayers(s), head: { width: outputs, init: s.init } },
    optimizer,
    schedule,
    clip,
    // A test-loss point about every tenth of the run, so that runs compare on test loss too.
    training: { steps, batch_size: num(s.batch), seed: num(s.seed),
                eval_every: Number.isSafeInteger(steps) && steps > 0 ? Math.max(1, Math.round(steps / 10)) : 100 },
    dataset,
  };
}

/** The config text a spec runs: the hand-edited text, or the generated config. */
export function configText(s) {
  return s.text ?? JSON.stringify(makeConfig(s), null, 2);
}

/** A short label of a spec for the list of runs, e.g. "MLP 3x32 LayerNorm Post, Adam lr 0.001 seed 1". */
export function specLabel(s, completed) {
  const lr = given(s.lr) ? num(s.lr) : completed?.optimizer?.name === s.optimizer ? completed.optimizer.lr : undefined;
  const opt = `${displayName(s.optimizer)}${lr !== undefined ? ` lr ${lr}` : ''} seed ${s.seed}`;
  if (s.text !== null) return `custom config, ${opt}`;
  const norm = s.norm === 'none' ? '' : ` ${displayName(s.placement)}-${s.norm === 'layer_norm' ? 'LN' : displayName(s.norm)}`;
  const model = s.kind === 'transformer'
    ? `Transformer ${s.depth}x${s.width}${norm} ${s.attention}`
    : `MLP ${s.depth}x${s.width}${norm}${s.residual === 'none' ? '' : ` ${s.residual} residual`}`;
  return `${model} on ${s.dataset}, ${opt}`;
}

// ---- the library's error: which field it names

/** The builder field (a spec key, 'opt.<name>', 'sched.<name>' or 'text') that a config path names,
 *  e.g. model.layers[0].width -> 'width'; config is the object the path points into. */
export function fieldForPath(path, config, spec) {
  if (spec.text !== null) return 'text';
  const parts = path.split(/\.|(?=\[)/).map((p) => (p.startsWith('[') ? Number(p.slice(1, -1)) : p));
  const [section, key, ...rest] = parts;
  switch (section) {
    case 'optimizer':
      if (key === 'name') return 'optimizer';
      if (key === 'lr') return 'lr';
      if (key === 'weight_decay') return 'weightDecay';
      return key ? `opt.${key}` : 'optimizer';
    case 'schedule':
      if (key === 'kind') return 'schedule';
      if (key === 'warmup') return 'warmup';
      return key ? `sched.${key}` : 'schedule';
    case 'clip': return key === 'kind' ? 'clip' : 'clipValue';
    case 'training': return { steps: 'steps', batch_size: 'batch', seed: 'seed' }[key] ?? 'text';
    case 'dataset': return { name: 'dataset', classes: 'classes', dims: 'dims', length: 'length', vocabulary: 'vocabulary' }[key] ?? 'dataset';
    case 'model': break;
    default: return 'text';
  }
  if (key === 'input' || (key === 'head' && rest[0] !== 'init')) {
    // The sizes the builder derives from the dataset's fields.
    const which = { features: 'dims', width: spec.kind === 'transformer' ? 'vocabulary' : 'classes', tokens: 'length',
                    vocabulary: 'vocabulary' }[rest[0]];
    return which && applies(which, spec) ? which : 'dataset';
  }
  if (key === 'head') return 'init';
  if (key !== 'layers') return 'text';
  // Down the layers to the last layer object on the path; what is left of the path names the field.
  let node = config?.model?.layers, layer = null, i = 0;
  while (i < rest.length && typeof rest[i] === 'number') {
    layer = node?.[rest[i]];
    i++;
    if (rest[i] === 'branch') { node = layer?.branch; i++; } else break;
  }
  const tail = rest.slice(i);
  if (!layer || tail.length === 0) return 'depth';
  const [field, sub] = tail;
  if (field === 'attention') return sub === 'heads' ? 'heads' : sub === 'init' ? 'init' : 'attention';
  const byKey = { width: 'width', heads: 'heads', hidden: 'hidden', variant: 'attention', activation: 'activation', init: 'init',
                  placement: 'placement', norm: 'norm', eps: 'norm', affine: 'norm', shortcut: 'residual', alpha_init: 'alpha',
                  branch: 'depth', vocabulary: 'vocabulary', max_tokens: 'length' };
  if (field === 'kind') return layer.type === 'activation' ? 'activation' : 'residual';
  if (field === 'type') return layer.type === 'residual' ? 'residual' : 'norm';
  return byKey[field] ?? 'text';
}

/** The parts of the library's message: "<path> = <value>: expected <allowed>". */
export function parseError(message) {
  const m = /invalid config: ([^ ]+) = (.*?): expected (.*)$/s.exec(message);
  return m ? { path: m[1], value: m[2], allowed: m[3] } : null;
}

// ---- the URL

const PREFIX = 'b.';

/** The spec's URL fields (only those that differ from the defaults): b.<key>=value, b.opt.<name>=JSON,
 *  b.sched.<name>=JSON, b.json=<hand-edited text>. */
export function toQuery(s) {
  const q = new URLSearchParams();
  const defaults = { ...DEFAULT_SPEC, ...KIND_DEFAULTS[s.kind] };
  for (const [k, v] of Object.entries(s)) {
    if (k === 'opt' || k === 'sched') {
      for (const [name, value] of Object.entries(v)) q.set(`${PREFIX}${k}.${name}`, JSON.stringify(value));
    } else if (k === 'text') {
      if (v !== null) q.set(`${PREFIX}json`, v);
    } else if (String(v) !== String(defaults[k])) {
      q.set(PREFIX + k, String(v));
    }
  }
  return q;
}

/** The spec of a query string (defaults for missing fields; a choice not offered falls back to its
 *  default, other values are kept as typed so that the library judges them). */
export function fromQuery(search) {
  const q = new URLSearchParams(search);
  const s = structuredClone(DEFAULT_SPEC);
  Object.assign(s, KIND_DEFAULTS[q.get(`${PREFIX}kind`) === 'transformer' ? 'transformer' : 'mlp']);
  for (const [key, value] of q) {
    if (!key.startsWith(PREFIX)) continue;
    const k = key.slice(PREFIX.length);
    if (k === 'json') { s.text = value; continue; }
    const dict = /^(opt|sched)\.(.+)$/.exec(k);
    if (dict) {
      try { s[dict[1]][dict[2]] = JSON.parse(value); } catch { s[dict[1]][dict[2]] = value; }
      continue;
    }
    if (!(k in DEFAULT_SPEC)) continue;
    const list = choices(k, s.kind);
    if (NUMERIC.has(k)) s[k] = num(value);
    else if (!list || list.includes(value)) s[k] = value;
  }
  return s;
}

// ---- the form

/** Builds the form into `root` and keeps it in step with the spec.
 *  hooks: validate(id, configText) -> posts it to the worker (the answer comes to onValidated);
 *         changed() -> the spec changed (the page writes the URL); run(configText, label). */
export class Builder {
  constructor(root, spec, hooks) {
    Object.assign(this, { root, spec, hooks });
    this.completed = null;  // the library's completed config of the last valid spec
    this.asked = 0;         // id of the last validation asked
    this.valid = false;
    this.timer = null;
    this.inputs = new Map();  // field -> input element
    this.errors = new Map();  // field -> error element
    this.build();
    this.refresh();
  }

  build() {
    const group = (title, fields) => {
      const box = document.createElement('fieldset');
      const row = Object.assign(document.createElement('div'), { className: 'fields' });
      for (const [key, label, type, tip] of fields) row.append(this.field(key, label, type, tip));
      box.append(Object.assign(document.createElement('legend'), { textContent: title }), row);
      return box;
    };
    this.params = Object.assign(document.createElement('div'), { className: 'row builder-params' });
    const training = group('Training', TRAIN_FIELDS);
    training.append(this.params);
    this.text = Object.assign(document.createElement('textarea'), { id: 'builder-json', rows: 14, spellcheck: false });
    this.text.oninput = () => { this.spec.text = this.text.value; this.changed(); };
    const textError = Object.assign(document.createElement('div'), { className: 'field-error' });
    textError.dataset.errorFor = 'text';
    this.errors.set('text', textError);
    this.regenerate = Object.assign(document.createElement('button'), { textContent: 'Discard text edits', id: 'builder-regenerate' });
    this.regenerate.onclick = () => { this.spec.text = null; this.changed(); };
    const details = document.createElement('details');
    details.id = 'builder-config';
    details.append(Object.assign(document.createElement('summary'), { textContent: 'Config JSON (editable; checked by the library)' }),
      this.text, textError, this.regenerate);
    this.status = Object.assign(document.createElement('span'), { id: 'builder-status', className: 'muted' });
    this.runButton = Object.assign(document.createElement('button'), { id: 'builder-run', textContent: 'Run this model', disabled: true });
    this.runButton.onclick = () => this.hooks.run(configText(this.spec), specLabel(this.spec, this.completed));
    const actions = Object.assign(document.createElement('div'), { className: 'row' });
    actions.append(this.runButton, this.status);
    this.root.replaceChildren(group('Model', MODEL_FIELDS), group('Data', DATA_FIELDS), training, details, actions);
  }

  /** One labelled input with its error line; element id builder-<key>. */
  field(key, label, type, tip) {
    const wrap = Object.assign(document.createElement('div'), { className: 'field' });
    const el = document.createElement(type === 'select' ? 'select' : 'input');
    el.id = `builder-${key}`;
    el.dataset.field = key;
    if (type !== 'select') Object.assign(el, { type: 'text', inputMode: 'decimal', size: 8 });
    const lab = Object.assign(document.createElement('label'), { textContent: `${label} ` });
    if (tip) lab.title = tip;
    lab.append(el);
    const err = Object.assign(document.createElement('div'), { className: 'field-error' });
    err.dataset.errorFor = key;
    wrap.append(lab, err);
    el.addEventListener(type === 'select' ? 'change' : 'input', () => this.onInput(key, el.value));
    this.inputs.set(key, el);
    this.errors.set(key, err);
    return wrap;
  }

  onInput(key, value) {
    const s = this.spec;
    s[key] = value;
    if (key === 'kind') Object.assign(s, KIND_DEFAULTS[value], { opt: s.opt });
    if (key === 'optimizer') { s.opt = {}; s.lr = ''; s.weightDecay = ''; }
    if (key === 'schedule') s.sched = {};
    s.text = null;
    this.changed();
  }

  /** The spec changed: redraw the form and ask the library about it (after a short pause in typing). */
  changed() {
    this.refresh();
    this.hooks.changed();
    this.valid = false;
    this.runButton.disabled = true;
    this.status.textContent = 'checking…';
    this.root.dataset.validated = 'pending';
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.validate(), 120);
  }

  /** Asks the library (through the page's worker) whether the current config is valid. */
  validate() {
    this.asked++;
    this.root.dataset.validated = 'pending';
    this.hooks.validate(this.asked, configText(this.spec));
  }

  /** The worker's answer: {id, ok, message, config, parameters, memoryBytes}. */
  onValidated(msg) {
    if (msg.id !== this.asked) return;  // an older config's answer
    this.valid = msg.ok;
    if (msg.ok) {
      this.completed = msg.config;
      this.status.textContent = `valid: ${msg.parameters} parameters, ${(msg.memoryBytes / 1048576).toFixed(2)} MiB planned buffer`;
      this.showErrors(null);
      this.drawParams();
    } else {
      this.status.textContent = 'invalid config (see the field marked)';
      this.showErrors(msg.message);
    }
    this.runButton.disabled = !msg.ok || this.busy;
    this.root.dataset.validated = msg.ok ? 'ok' : 'error';
  }

  /** Whether a run is going on (the run button waits for it). */
  setBusy(busy) {
    this.busy = busy;
    this.runButton.disabled = busy || !this.valid;
  }

  showErrors(message) {
    for (const el of this.errors.values()) { el.textContent = ''; el.parentElement?.classList.remove('invalid'); }
    if (!message) return;
    const parsed = parseError(message);
    let field = parsed ? fieldForPath(parsed.path, this.spec.text === null ? makeConfig(this.spec) : null, this.spec) : 'text';
    if (!this.errors.has(field) || this.errors.get(field).closest('[hidden]')) field = 'text';
    if (field === 'text') this.root.querySelector('#builder-config').open = true;
    const el = this.errors.get(field);
    el.textContent = message.replace(/^config: /, '');
    el.parentElement.classList.add('invalid');
  }

  /** Puts the spec into the form: choices for the model kind, hidden fields, the config text. */
  refresh() {
    const s = this.spec;
    for (const [key, el] of this.inputs) {
      if (el.tagName === 'SELECT') {
        const list = choices(key, s.kind);
        const labels = list.map((v) => (key === 'optimizer' || key === 'norm' || key === 'kind' || key === 'placement' ? displayName(v) : v));
        if (el.options.length !== list.length || [...el.options].some((o, k) => o.value !== list[k])) {
          el.replaceChildren(...list.map((v, k) => new Option(labels[k], v)));
        }
      }
      if (el !== document.activeElement || el.tagName === 'SELECT') el.value = String(s[key]);
      el.closest('.field').hidden = !applies(key, s);
      el.disabled = s.text !== null;
    }
    const lr = this.inputs.get('lr'), wd = this.inputs.get('weightDecay');
    lr.placeholder = String(this.completed?.optimizer?.name === s.optimizer ? this.completed.optimizer.lr : 'default');
    wd.placeholder = String(this.completed?.optimizer?.name === s.optimizer ? this.completed.optimizer.weight_decay : 'default');
    if (this.text.value !== configText(s)) this.text.value = configText(s);
    this.regenerate.hidden = s.text === null;
    this.drawParams();
  }

  /** The other hyper-parameters of the chosen optimizer and schedule, as the library lists them in
   *  the completed config (its defaults as placeholders); a value typed is read as JSON. */
  drawParams() {
    const s = this.spec, c = this.completed;
    const groups = [];
    if (c && c.optimizer.name === s.optimizer) {
      groups.push(['opt', displayName(s.optimizer), Object.entries(c.optimizer).filter(([k]) => !['name', 'lr', 'weight_decay'].includes(k))]);
    }
    if (c && c.schedule.kind === s.schedule) {
      groups.push(['sched', `${s.schedule} schedule`, Object.entries(c.schedule).filter(([k]) => !['kind', 'warmup'].includes(k))]);
    }
    const key = JSON.stringify(groups.map(([g, , e]) => [g, e.map(([k]) => k)]));
    if (key === this.paramsKey) { this.syncParams(); return; }
    this.paramsKey = key;
    const nodes = [];
    for (const [g, title, entries] of groups) {
      if (!entries.length) continue;
      nodes.push(Object.assign(document.createElement('span'), { className: 'muted', textContent: `${title}:` }));
      for (const [name, def] of entries) {
        const field = `${g}.${name}`;
        const wrap = Object.assign(document.createElement('div'), { className: 'field' });
        const lab = Object.assign(document.createElement('label'), { textContent: `${name} ` });
        let el;
        if (typeof def === 'boolean') {
          el = Object.assign(document.createElement('input'), { type: 'checkbox' });
          el.onchange = () => this.setParam(g, name, el.checked);
        } else {
          el = Object.assign(document.createElement('input'), { type: 'text', size: 8,
            placeholder: typeof def === 'string' ? def : JSON.stringify(def) });
          el.oninput = () => this.setParam(g, name, el.value.trim() === '' ? undefined : parseValue(el.value));
        }
        el.id = `builder-${g}-${name}`;
        el.dataset.field = field;
        el.dataset.default = JSON.stringify(def);
        lab.append(el);
        const err = Object.assign(document.createElement('div'), { className: 'field-error' });
        err.dataset.errorFor = field;
        wrap.append(lab, err);
        this.errors.set(field, err);
        nodes.push(wrap);
      }
    }
    for (const k of [...this.errors.keys()]) if (/^(opt|sched)\./.test(k) && !nodes.some((n) => n.querySelector?.(`[data-error-for="${k}"]`))) this.errors.delete(k);
    this.params.replaceChildren(...nodes);
    this.syncParams();
  }

  syncParams() {
    for (const el of this.params.querySelectorAll('input')) {
      const [g, name] = el.dataset.field.split(/\.(.*)/);
      const v = this.spec[g][name];
      if (el.type === 'checkbox') el.checked = v ?? JSON.parse(el.dataset.default);
      else if (el !== document.activeElement) el.value = v === undefined ? '' : (typeof v === 'string' ? v : JSON.stringify(v));
      el.disabled = this.spec.text !== null;
    }
  }

  setParam(group, name, value) {
    if (value === undefined) delete this.spec[group][name]; else this.spec[group][name] = value;
    this.spec.text = null;
    this.changed();
  }

  /** Replaces the spec (a quick comparison, the URL) and re-checks it. */
  setSpec(spec) {
    this.spec = spec;
    this.changed();
  }
}

/** A hyper-parameter typed in a field: JSON when it parses (numbers, true/false, [100, 200]), else the text. */
function parseValue(text) {
  try { return JSON.parse(text); } catch { return text.trim(); }
}

export { KIND_DEFAULTS };
