// Comparison mode: the finished runs of the page (preset reference runs and custom runs) in a list,
// each with an editable label and its own colour; the selected ones are overlaid in one plot per
// measurement (train loss, test loss, Lipschitz upper bound, gradient norm), one legend entry per run.
// Quick comparisons (Adam against Lion on the same seed, Pre-LN against Post-LN) queue their two runs
// and then show just those two. Each plot element carries data-lines = JSON [{label, n, last}] (the
// points and last finite value of each line it shows; the browser tests read it). A plot is drawn
// only while it is on screen (drawing plots nobody sees would cost the main thread during runs).
import { LinePlot, colour, saveFile } from './plots.js';
import { exportName, toCsv, toJson } from './result.js';
import { DEFAULT_SPEC, KIND_DEFAULTS, configText, specLabel } from './builder.js';

// The plots: [id, title, series names (the first with a finite value is drawn), y label, log y, points only].
const PLOTS = [
  ['train', 'Training loss', ['train_loss'], 'loss', true, false],
  ['test', 'Test loss', ['test_loss'], 'loss', true, true],
  // Dot-product attention has no global bound (unbounded): such a run shows its local bound.
  ['lipschitz', 'Lipschitz upper bound (global; local where unbounded)', ['lipschitz_global', 'lipschitz_local'], 'bound', true, false],
  ['gradnorm', 'Gradient norm ||g||', ['grad_norm'], 'norm', true, false],
];

/** The pairs of runs a quick comparison queues, from the builder's spec (a copy is changed). */
export const QUICK = {
  optimizers: {
    title: 'Adam vs Lion (same seed)',
    specs(base) {
      // Lion takes a learning rate about ten times smaller than Adam's (its update has norm ~ lr per weight).
      const common = { ...structuredClone(base), text: null, opt: {}, weightDecay: '' };
      return [{ ...common, optimizer: 'adam', lr: 1e-3 }, { ...common, optimizer: 'lion', lr: 1e-4 }];
    },
  },
  placement: {
    title: 'Pre-LN vs Post-LN',
    specs(base) {
      // On the builder's transformer when it shows one, else on the small default transformer.
      const t = base.kind === 'transformer' && base.text === null
        ? structuredClone(base)
        : { ...structuredClone(DEFAULT_SPEC), ...KIND_DEFAULTS.transformer, kind: 'transformer', seed: base.seed };
      if (t.norm === 'none') t.norm = 'layer_norm';
      return [{ ...t, placement: 'pre' }, { ...t, placement: 'post' }];
    },
  },
};

export class Comparison {
  /** root: the panel's element; hooks: schedule(name, draw) (the page's plot queue), spec() (the
   *  builder's current spec), runConfig(text, label) -> Promise of the new run's id, status(text). */
  constructor(root, hooks) {
    Object.assign(this, { root, hooks });
    this.runs = [];  // {id, label, series, result, selected, colour}
    this.next = 0;
    this.busy = false;
    const actions = Object.assign(document.createElement('div'), { className: 'row' });
    this.buttons = Object.entries(QUICK).map(([name, q]) => {
      const b = Object.assign(document.createElement('button'), { textContent: q.title, id: `compare-${name}` });
      b.onclick = () => this.quick(name);
      return b;
    });
    this.note = Object.assign(document.createElement('span'), { className: 'muted', id: 'compare-status',
      textContent: 'Finished runs are kept here; tick the ones to overlay.' });
    actions.append(...this.buttons, this.note);
    this.table = Object.assign(document.createElement('table'), { id: 'compare-runs', className: 'runs' });
    const grid = Object.assign(document.createElement('div'), { className: 'grid' });
    this.plots = {};
    this.onScreen = new Set();  // ids of the plots in view
    this.waiting = new Map();   // id -> a draw deferred until the plot comes into view
    const observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const id = e.target.dataset.plot;
        if (!e.isIntersecting) { this.onScreen.delete(id); continue; }
        this.onScreen.add(id);
        const draw = this.waiting.get(id);
        this.waiting.delete(id);
        if (draw) this.hooks.schedule(`compare-${id}`, draw);
      }
    });
    for (const [id, title, , yLabel, log] of PLOTS) {
      const fig = document.createElement('figure');
      const el = Object.assign(document.createElement('div'), { id: `compare-plot-${id}`, className: 'compare-plot' });
      el.dataset.lines = '[]';
      el.dataset.plot = id;
      el.dataset.empty = 'no run selected';
      observer.observe(el);
      fig.append(el);
      grid.append(fig);
      this.plots[id] = new LinePlot(el, { title, yLabel, log });
    }
    root.append(actions, this.table, grid);
    this.render();
  }

  /** Keeps a finished run; returns its id. series: [{name, x, y}] in result.json's shape; result:
   *  the whole result when there is one (its JSON export). */
  add(label, series, result = null) {
    const id = this.next++;
    this.runs.push({ id, label, series, result, selected: true, colour: colour(id) });
    this.render();
    return id;
  }

  remove(id) {
    this.runs = this.runs.filter((r) => r.id !== id);
    this.render();
  }

  /** Shows exactly the runs whose ids are listed. */
  select(ids) {
    for (const r of this.runs) r.selected = ids.includes(r.id);
    this.render();
  }

  setBusy(busy) {
    this.busy = busy;
    for (const b of this.buttons) b.disabled = busy;
  }

  /** Runs a quick comparison's two configs one after the other, then overlays just those two. */
  async quick(name) {
    const specs = QUICK[name].specs(this.hooks.spec());
    const ids = [];
    this.root.dataset.quick = 'running';
    try {
      for (const [k, spec] of specs.entries()) {
        this.note.textContent = `${QUICK[name].title}: run ${k + 1} of ${specs.length} (${specLabel(spec)})`;
        ids.push(await this.hooks.runConfig(configText(spec), specLabel(spec)));
      }
      this.select(ids);
      this.note.textContent = `${QUICK[name].title}: both runs shown`;
      this.root.dataset.quick = 'done';
    } catch (e) {
      this.note.textContent = `${QUICK[name].title} did not finish: ${e.message}`;
      this.root.dataset.quick = 'error';
    }
  }

  render() {
    this.renderTable();
    const shown = this.runs.filter((r) => r.selected);
    for (const [id, , names, , , points] of PLOTS) {
      const lines = [];
      for (const r of shown) {
        const k = names.findIndex((n) => r.series.some((t) => t.name === n && t.y.some(Number.isFinite)));
        const s = k >= 0 && r.series.find((t) => t.name === names[k]);
        if (s) lines.push({ label: k > 0 ? `${r.label} (${names[k]})` : r.label, x: s.x, y: s.y, colour: r.colour, points });
      }
      const summary = lines.map((l) => {
        const finite = l.y.filter(Number.isFinite);
        return { label: l.label, n: finite.length, last: finite.length ? finite[finite.length - 1] : null };
      });
      const el = this.plots[id].el;
      el.dataset.empty = shown.length === 0 ? 'no run selected'
        : id === 'lipschitz' ? 'no finite bound in the selected runs (dot-product attention is not Lipschitz: its bound is unbounded)'
        : 'no such series in the selected runs';
      el.dataset.lines = JSON.stringify(summary);
      const draw = () => this.plots[id].update(lines);
      if (this.onScreen.has(id)) this.hooks.schedule(`compare-${id}`, draw); else this.waiting.set(id, draw);
    }
  }

  renderTable() {
    const head = document.createElement('tr');
    for (const t of ['show', '', 'run', 'steps', 'last train loss', 'test loss', 'export', '']) head.append(Object.assign(document.createElement('th'), { textContent: t }));
    const rows = this.runs.map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.run = String(r.id);
      const check = Object.assign(document.createElement('input'), { type: 'checkbox', checked: r.selected, title: 'overlay this run' });
      check.onchange = () => { r.selected = check.checked; this.render(); };
      const swatch = Object.assign(document.createElement('span'), { className: 'swatch' });
      swatch.style.background = r.colour;
      const label = Object.assign(document.createElement('input'), { type: 'text', value: r.label, className: 'run-label', size: 60 });
      label.onchange = () => { r.label = label.value; this.render(); };
      const last = (name) => {
        const y = r.series.find((s) => s.name === name)?.y.filter(Number.isFinite) ?? [];
        return y.length ? y[y.length - 1].toPrecision(4) : '–';
      };
      const steps = r.series.find((s) => s.name === 'train_loss')?.x.length ?? 0;
      // Exports named after the run's label as shown (edited or not).
      const exports = document.createElement('span');
      for (const [what, type, text] of [['csv', 'text/csv', () => toCsv(r.series)],
                                        ['json', 'application/json', () => toJson(r.result, r.series)]]) {
        const b = Object.assign(document.createElement('button'), { textContent: what.toUpperCase(), className: `export-${what}` });
        b.onclick = () => saveFile(`${exportName(r.label, r.result?.config)}.${what}`, new Blob([text()], { type }));
        exports.append(b);
      }
      const remove = Object.assign(document.createElement('button'), { textContent: 'Remove', className: 'remove' });
      remove.onclick = () => this.remove(r.id);
      const cells = [check, swatch, label, String(steps), last('train_loss'), last('test_loss'), exports, remove];
      tr.append(...cells.map((c) => { const td = document.createElement('td'); td.append(c); return td; }));
      return tr;
    });
    this.table.replaceChildren(head, ...rows);
    this.table.hidden = rows.length === 0;
  }
}
