// The page's plots, drawn with uPlot: line plots of series with their own x values (merged onto one x
// axis), and a heatmap (x: step, y: layer, colour: log10 of the gradient norm) painted in a uPlot draw
// hook so that it shares uPlot's axes, cursor and sizing. Each plot's element carries
// data-points = the number of finite points it shows (the browser tests read it).
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

/** A line plot: update(lines) with lines [{label, x, y, colour?, points?}]; log: a log-scale y axis. */
export class LinePlot {
  constructor(el, { title, xLabel = 'step', yLabel = '', log = false }) {
    Object.assign(this, { el, title, xLabel, yLabel, log });
    this.plot = null;
    this.key = '';
    this.el.dataset.points = '0';
  }

  update(lines, { title, xLabel } = {}) {
    const data = align(lines, this.log);
    const key = JSON.stringify([lines.map((l) => l.label), title, xLabel]);
    const points = data.slice(1).reduce((n, row) => n + row.filter((v) => v !== null).length, 0);
    this.el.dataset.points = String(points);
    if (this.plot && key === this.key) {
      this.plot.setData(data);
      return;
    }
    this.plot?.destroy();
    this.key = key;
    const opts = {
      title: title || this.title,
      width: width(this.el),
      height: 240,
      scales: { x: { time: false }, y: this.log ? { distr: 3 } : {} },
      axes: [{ label: xLabel || this.xLabel }, { label: this.yLabel, size: 60 }],
      series: [{ label: xLabel || this.xLabel }, ...lines.map((l, k) => ({
        label: l.label, stroke: l.colour || colour(k), width: 1.5, spanGaps: true,
        points: { show: l.points ?? false, size: 6 },
      }))],
      legend: { live: false },
    };
    this.plot = new uPlot(opts, data, this.el);
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
    Object.assign(this, { el, title });
    this.grid = { layers: [], steps: [], values: [] };
    this.plot = null;
    this.key = '';
    this.el.dataset.points = '0';
  }

  update(grid, { title } = {}) {
    this.grid = grid;
    const finite = grid.values.flat().filter(Number.isFinite);
    this.el.dataset.points = String(finite.length);
    this.lo = finite.length ? Math.min(...finite) : 0;
    this.hi = finite.length ? Math.max(...finite) : 1;
    const data = [grid.steps.length ? grid.steps : [0], grid.steps.length ? grid.steps.map(() => null) : [null]];
    const key = JSON.stringify([grid.layers, title]);
    if (this.plot && key === this.key) {
      this.plot.setData(data);
      this.plot.redraw();
      return;
    }
    this.plot?.destroy();
    this.key = key;
    const n = Math.max(grid.layers.length, 1);
    this.plot = new uPlot({
      title: `${title || this.title}`,
      width: width(this.el),
      height: 240,
      scales: { x: { time: false }, y: { auto: false, range: [-0.5, n - 0.5] } },
      axes: [{ label: 'step' },
             { label: 'layer', size: 60, incrs: [1, 2, 5, 10, 20, 50],
               values: (_, ticks) => ticks.map((k) => (Number.isInteger(k) ? String(k) : '')) }],
      series: [{ label: 'step' }, { label: 'log10 ||dL/dx||', stroke: 'transparent' }],
      legend: { live: false },
      hooks: { draw: [(u) => this.paint(u)] },
    }, data, this.el);
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
