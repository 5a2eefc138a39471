// Results in the shape of the native CLI's result.json ({config, series, columns, summary, verdict};
// each series {name, x_label, y_label, x, y}), and what the page plots from them. A series name is
// "arm/what" in a preset that runs several configurations (arms), or just "what".

const LOSS = /^(train_loss|test_loss)$/;
const GRAD = /^layer(\d+)_(.+)_grad_input$/;
const LIPSCHITZ = /^lipschitz_(global|local|lower)$/;
const ENTROPY = /^attention(\d+)_head(\d+)_entropy$/;
const TRAINER = /^(lr|grad_norm|test_accuracy)$|^layer\d+_.+_(grad_params|update_ratio|jacobian_norm)$/;

/** Splits "arm/what" into {arm, what} (arm '' when there is no slash). */
export function splitName(name) {
  const i = name.lastIndexOf('/');
  return i < 0 ? { arm: '', what: name } : { arm: name.slice(0, i), what: name.slice(i + 1) };
}

/** The arms of a series list, in first-seen order. */
export function arms(series) {
  return [...new Set(series.map((s) => splitName(s.name).arm))];
}

/** The category a series is plotted in: 'loss', 'grad', 'lipschitz', 'entropy', 'trainer' (not
 *  plotted by default) or 'claim' (everything else: the preset's own measurements). */
export function category(name) {
  const { what } = splitName(name);
  if (LOSS.test(what)) return 'loss';
  if (GRAD.test(what)) return 'grad';
  if (LIPSCHITZ.test(what)) return 'lipschitz';
  if (ENTROPY.test(what)) return 'entropy';
  if (TRAINER.test(what)) return 'trainer';
  return 'claim';
}

/** The series of one category; for the per-arm plots, those of `arm` when it has any, else those of
 *  the first arm that has some. Returns {arm, series}. */
export function pick(series, cat, arm) {
  const of = series.filter((s) => category(s.name) === cat && s.x.length > 0);
  if (of.length === 0) return { arm, series: [] };
  const mine = of.filter((s) => splitName(s.name).arm === arm);
  if (mine.length > 0) return { arm, series: mine };
  const first = splitName(of[0].name).arm;
  return { arm: first, series: of.filter((s) => splitName(s.name).arm === first) };
}

/** The claim series of an arm that share its most common x label (so that they fit one plot). */
export function claimSeries(series, arm) {
  const { arm: used, series: of } = pick(series, 'claim', arm);
  const counts = new Map();
  for (const s of of) counts.set(s.x_label, (counts.get(s.x_label) || 0) + 1);
  const label = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  return { arm: used, series: of.filter((s) => s.x_label === label) };
}

/** The per-layer gradient norms as a grid: {layers: [names], steps: [x], values: [[log10 norm]] }
 *  with values[layer][k] (NaN where a series has no point at steps[k]). */
export function gradientGrid(gradSeries) {
  const sorted = [...gradSeries].sort((a, b) =>
    Number(GRAD.exec(splitName(a.name).what)[1]) - Number(GRAD.exec(splitName(b.name).what)[1]));
  const steps = [...new Set(sorted.flatMap((s) => s.x))].sort((a, b) => a - b);
  const index = new Map(steps.map((x, k) => [x, k]));
  const values = sorted.map((s) => {
    const row = new Array(steps.length).fill(NaN);
    s.x.forEach((x, k) => { row[index.get(x)] = s.y[k] > 0 ? Math.log10(s.y[k]) : NaN; });
    return row;
  });
  const layers = sorted.map((s) => splitName(s.name).what.replace(/_grad_input$/, ''));
  return { layers, steps, values };
}

/** A result object parsed from result.json text; throws with a reason when it is not one. */
export function parseResult(text) {
  const r = JSON.parse(text);
  if (!r || !Array.isArray(r.series)) throw new Error('not a lipflow result.json: no "series" array');
  for (const s of r.series) {
    if (typeof s.name !== 'string' || !Array.isArray(s.x) || !Array.isArray(s.y) || s.x.length !== s.y.length) {
      throw new Error(`not a lipflow result.json: series ${JSON.stringify(s.name)} is malformed`);
    }
    // The CLI writes non-finite numbers as null.
    s.y = s.y.map((v) => (v === null ? NaN : v));
  }
  return r;
}

/** Every series as CSV: series,x_label,y_label,x,y (one row per point). */
export function toCsv(series) {
  const quote = (v) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const rows = ['series,x_label,y_label,x,y'];
  for (const s of series) {
    for (let k = 0; k < s.x.length; k++) {
      rows.push([quote(s.name), quote(s.x_label || ''), quote(s.y_label || ''), s.x[k], s.y[k]].join(','));
    }
  }
  return rows.join('\n') + '\n';
}

/** The model kind of a config (or of a result's config, which holds it as "experiment"):
 *  'transformer' for a model on tokens, else 'mlp'. */
export function modelKind(config) {
  return (config?.experiment ?? config)?.model?.input?.tokens !== undefined ? 'transformer' : 'mlp';
}

/** The file name (no extension) of a run's CSV and JSON exports: its label made safe for a file name
 *  ("MLP 3x32, Adam lr 0.001" -> "MLP-3x32-Adam-lr-0.001"), or "custom-" and its config's model kind
 *  when the label has no usable character. */
export function exportName(label, config) {
  const safe = String(label ?? '').replace(/[^A-Za-z0-9._+]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 100);
  return safe || `custom-${modelKind(config)}`;
}

/** A run's JSON export: its result when there is one, else its series. */
export function toJson(result, series) {
  return JSON.stringify(result || { series }, null, 2);
}
