// The page's plots, drawn with uPlot: line plots of series with their own x values (merged onto one x
// axis), a heatmap (x: step, y: layer, colour: log10 of the gradient norm) painted in a uPlot draw
// hook so that it shares uPlot's axes, cursor and sizing, a bar plot of singular values, and a decision
// boundary painted on a canvas of its own. Each plot's element carries data-points = the number of
// finite points it shows (the browser tests read it); savePng() exports any of them.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
                 '#bcbd22', '#17becf'];

/** Colour k of a fixed cycle (so that an arm keeps its colour across plots). */
export const colour = (k) => COLOURS[k % COLOURS.length];

function width(el) { return Math.max(320, el.clientWidth || 480); }

/** The union of the series' x values, sorted, and each series' y on it (null where it has none). */
function align(lines, positive) {
  const xs = [...new Set(lines.flatMap((l) => l.x))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, k) => [x, k]));
  const ys = lines.map((l) => {
    const row = new Array(xs.length).fill(null);
    l.x.forEach((x, k) => {
      const v = l.y[k];
      row[index.get(x)] = Number.isFinite(v) && (!positive || v > 0) ? v : null;
    });
    return row;
  });
  return [xs, ...ys];
}

/** A uPlot chart made once, when its element is set up, so that its first draw (canvas, axes and
 *  their text) happens before any run; updates change its data, series and title in place. */
function chart(el, opts) {
  const u = new uPlot({ width: width(el), height: 240, legend: { live: false }, ...opts },
                      opts.series.map(() => []), el);
  u.root.querySelector('.u-title').dataset.default = opts.title;
  keepAxes(u);
  return u;
}

/** Without data, uPlot draws no axes: a chart with none keeps them on placeholder ranges. */
function keepAxes(u) {
  if (u.data[0].length > 0) return;
  u.setScale('x', { min: 0, max: 1 });
  if (u.scales.y.auto(u)) u.setScale('y', { min: 1, max: 10 });
}

/** Sets a chart's title (its default one when `title` is empty). */
function setTitle(u, title) {
  const el = u.root.querySelector('.u-title');
  el.textContent = title || el.dataset.default;
}

/** A line plot: update(lines) with lines [{label, x, y, colour?, points?}]; log: a log-scale y axis. */
export class LinePlot {
  constructor(el, { title, xLabel = 'step', yLabel = '', log = false }) {
    Object.assign(this, { el, xLabel, log });
    this.key = '[]';
    this.el.dataset.points = '0';
    this.plot = chart(el, {
      title,
      scales: { x: { time: false }, y: this.log ? { distr: 3 } : {} },
      axes: [{ label: xLabel }, { label: yLabel, size: 60 }],
      series: [{ label: xLabel }],
    });
  }

  update(lines, { title, xLabel } = {}) {
    const data = align(lines, this.log);
    const points = data.slice(1).reduce((n, row) => n + row.filter((v) => v !== null).length, 0);
    this.el.dataset.points = String(points);
    const u = this.plot;
    const key = JSON.stringify(lines.map((l) => [l.label, l.colour, l.points]));
    u.batch(() => {
      if (key !== this.key) {
        // Other lines than those shown: replace the series (the chart and its axes stay).
        this.key = key;
        while (u.series.length > 1) u.delSeries(u.series.length - 1);
        lines.forEach((l, k) => u.addSeries({
          label: l.label, stroke: l.colour || colour(k), width: 1.5, spanGaps: true,
          points: { show: l.points ?? false, size: 6 },
        }));
      }
      setTitle(u, title);
      u.axes[0].label = xLabel || this.xLabel;
      u.setData(data);
      keepAxes(u);
    });
  }

  clear() { this.update([]); }
}

/** Viridis-like ramp: t in [0, 1] to a CSS colour. */
function ramp(t) {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const u = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(u), stops.length - 2), f = u - i;
  const c = stops[i].map((a, k) => Math.round(a + f * (stops[i + 1][k] - a)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** The gradient-norm heatmap: update({layers, steps, values}) from result.js gradientGrid. */
export class HeatmapPlot {
  constructor(el, { title }) {
    this.el = el;
    this.grid = { layers: [], steps: [], values: [] };
    this.lo = 0;
    this.hi = 1;
    this.el.dataset.points = '0';
    this.plot = chart(el, {
      title,
      scales: { x: { time: false }, y: { auto: false, range: [-0.5, 0.5] } },
      axes: [{ label: 'step' },
             { label: 'layer', size: 130, incrs: [1, 2, 5, 10, 20, 50],
               values: (_, ticks) => ticks.map((k) => (Number.isInteger(k) ? this.grid.layers[k] ?? String(k) : '')) }],
      series: [{ label: 'step' }, { label: 'log10 ||dL/dx||', stroke: 'transparent' }],
      hooks: { draw: [(u) => this.paint(u)] },
    });
  }

  update(grid, { title } = {}) {
    this.grid = grid;
    let n = 0, lo = Infinity, hi = -Infinity;
    for (const row of grid.values) {
      for (const v of row) {
        if (!Number.isFinite(v)) continue;
        n++;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    this.el.dataset.points = String(n);
    [this.lo, this.hi] = n ? [lo, hi] : [0, 1];
    const data = [grid.steps.length ? grid.steps : [0], grid.steps.length ? grid.steps.map(() => null) : [null]];
    const u = this.plot;
    u.batch(() => {
      setTitle(u, title);
      u.setData(data);
      u.setScale('y', { min: -0.5, max: Math.max(grid.layers.length, 1) - 0.5 });
      keepAxes(u);
    });
  }

  /** Paints one cell per (layer, record): the cell spans half-way to the neighbouring records. */
  paint(u) {
    const { steps, values } = this.grid;
    if (!steps.length) return;
    const ctx = u.ctx;
    const span = this.hi - this.lo || 1;
    ctx.save();
    for (let k = 0; k < steps.length; k++) {
      const left = k > 0 ? (steps[k - 1] + steps[k]) / 2 : steps[k] - (steps[1] - steps[0] || 1) / 2;
      const right = k + 1 < steps.length ? (steps[k] + steps[k + 1]) / 2 : steps[k] + (steps[k] - (steps[k - 1] ?? steps[k] - 1)) / 2;
      const x0 = u.valToPos(left, 'x', true), x1 = u.valToPos(right, 'x', true);
      values.forEach((row, layer) => {
        if (!Number.isFinite(row[k])) return;
        const y0 = u.valToPos(layer + 0.5, 'y', true), y1 = u.valToPos(layer - 0.5, 'y', true);
        ctx.fillStyle = ramp((row[k] - this.lo) / span);
        ctx.fillRect(x0, y0, Math.max(x1 - x0, 1), Math.max(y1 - y0, 1));
      });
    }
    ctx.restore();
  }

  /** The colour scale's range, for the legend under the plot. */
  range() { return [this.lo, this.hi]; }
}

/** The singular values of a Jacobian as bars: update({sigma, title}); sigma descending. */
export class SpectrumPlot {
  constructor(el, { title }) {
    this.el = el;
    this.el.dataset.points = '0';
    this.plot = chart(el, {
      title,
      scales: { x: { time: false, range: (_, lo, hi) => [lo - 0.5, hi + 0.5] }, y: { range: (_, lo, hi) => [0, hi * 1.05 || 1] } },
      axes: [{ label: 'index i (descending)' }, { label: 'sigma_i', size: 60 }],
      series: [{ label: 'i' }, { label: 'sigma', stroke: colour(0), fill: `${colour(0)}99`, paths: uPlot.paths.bars({ size: [0.8, 40] }),
                                  points: { show: false } }],
    });
  }

  update({ sigma, title }) {
    const data = [sigma.map((_, k) => k + 1), sigma.map((v) => (Number.isFinite(v) ? v : null))];
    this.el.dataset.points = String(data[1].filter((v) => v !== null).length);
    this.plot.batch((u) => {
      setTitle(u, title);
      u.setData(data);
    });
  }
}

/** The decision boundary of a model on 2 features: update(msg) with the worker's 'boundary' message.
 *  Each grid cell is coloured by its predicted class (lighter where the model is less sure), or for a
 *  single output by its value; the test samples are drawn over it in their class colour. */
export class BoundaryPlot {
  constructor(el, { title }) {
    Object.assign(this, { el, title });
    this.heading = document.createElement('div');
    this.heading.className = 'u-title';
    this.canvas = document.createElement('canvas');
    this.el.append(this.heading, this.canvas);
    this.el.dataset.points = '0';
  }

  update(b) {
    const size = Math.min(width(this.el), 360), n = b.grid;
    this.heading.textContent = `${this.title} (step ${b.step})`;
    this.canvas.width = this.canvas.height = size;
    const ctx = this.canvas.getContext('2d');
    // The grid as an n x n image, scaled up without smoothing.
    const img = new ImageData(n, n);
    let lo = Infinity, hi = -Infinity;
    if (b.outputs === 1) for (const v of b.conf) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    for (let k = 0; k < n * n; k++) {
      const rgb = b.outputs === 1 ? parse(ramp((b.conf[k] - lo) / (hi - lo || 1)))
        : parse(colour(b.cls[k])).map((c) => Math.round(255 - (255 - c) * (0.25 + 0.5 * confidence(b.conf[k], b.outputs))));
      img.data.set([...rgb, 255], 4 * k);
    }
    const tile = document.createElement('canvas');
    tile.width = tile.height = n;
    tile.getContext('2d').putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tile, 0, 0, size, size);
    // The samples.
    const [x0, x1] = b.x, [y0, y1] = b.y, p = b.points;
    for (let i = 0; i < p.labels.length; i++) {
      const px = ((p.inputs[2 * i] - x0) / (x1 - x0)) * size, py = ((y1 - p.inputs[2 * i + 1]) / (y1 - y0)) * size;
      ctx.beginPath();
      ctx.arc(px, py, 3, 0, 2 * Math.PI);
      ctx.fillStyle = b.outputs === 1 ? '#000' : colour(Math.max(0, Math.round(p.labels[i])));
      ctx.fill();
      ctx.strokeStyle = '#fff';
      ctx.stroke();
    }
    this.el.dataset.points = String(n * n + p.labels.length);
  }
}

/** How sure a class prediction is, in [0, 1]: its probability above chance (1 / classes). */
function confidence(p, classes) { return Math.min(Math.max((p - 1 / classes) / (1 - 1 / classes), 0), 1); }

/** '#rrggbb' or 'rgb(r,g,b)' to [r, g, b]. */
function parse(css) {
  if (css.startsWith('#')) return [1, 3, 5].map((i) => Number.parseInt(css.slice(i, i + 2), 16));
  return css.match(/\d+/g).slice(0, 3).map(Number);
}

/** Offers `blob` as a download named `name`. */
export function saveFile(name, blob) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** Saves the canvas of a plot element as `name`.png (a download); resolves to the PNG's bytes. */
export async function savePng(el, name) {
  const canvas = el.querySelector('canvas');
  if (!canvas) throw new Error(`plot ${name} has nothing drawn yet`);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error(`plot ${name}: the canvas gave no PNG`);
  saveFile(`${name}.png`, blob);
  return new Uint8Array(await blob.arrayBuffer());
}
