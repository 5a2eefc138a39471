// The page's analysis panel: the chosen layer's Jacobian spectrum and the decision boundary of a 2-D
// model (both from the worker's 'spectrum' and 'boundary' messages during a live run), a PNG export
// button on every plot, and a two-spirals demo config (2 features: it has a decision boundary, and it
// measures the Lipschitz lower bound next to the upper bound). main.js calls attachAnalysis() once and
// forwards those messages to onMessage().
import { BoundaryPlot, SpectrumPlot, savePng } from './plots.js';

/** A two-spirals MLP with every estimator (the lower bound included), small enough to train live. */
export const SPIRALS_DEMO = {
  model: { input: { features: 2 },
           layers: [{ type: 'linear', width: 32 }, { type: 'activation', kind: 'tanh' },
                    { type: 'linear', width: 32 }, { type: 'activation', kind: 'tanh' }],
           head: { width: 2 } },
  optimizer: { name: 'adam', lr: 0.01 },
  training: { steps: 2000, batch_size: 32, seed: 1, eval_every: 200,
              monitor: { every: 20, estimators: ['gradient_norms', 'lipschitz', 'lower_bound'] } },
  dataset: { name: 'two_spirals', train_samples: 512, test_samples: 128, noise: 0.05 },
};

/** Builds the panel in the plot grid. send(msg) posts to the worker; runConfig(config) starts a run. */
export function attachAnalysis({ send, runConfig }) {
  const grid = document.querySelector('.grid');
  const wide = grid.querySelector('.wide');
  const figure = (html) => {
    const f = document.createElement('figure');
    f.innerHTML = html;
    grid.insertBefore(f, wide);
    return f;
  };
  const specFig = figure(`<div class="row"><label>Layer <select id="spectrum-layer"></select></label>
    <span id="spectrum-note" class="muted"></span></div>
    <div id="plot-spectrum" class="plot" data-plot="spectrum" data-live="1"></div>`);
  const boundFig = figure(`<div class="row"><button id="run-spirals" title="Train a two-spirals MLP live">Run the 2-D two-spirals demo</button></div>
    <div id="plot-boundary" class="plot" data-plot="boundary" data-live="1"></div>`);
  const layerSelect = specFig.querySelector('#spectrum-layer');
  const note = specFig.querySelector('#spectrum-note');
  const spectrum = new SpectrumPlot(specFig.querySelector('#plot-spectrum'), { title: "Singular values of the layer's Jacobian" });
  const boundary = new BoundaryPlot(boundFig.querySelector('#plot-boundary'), { title: 'Decision boundary and test samples' });
  spectrum.el.dataset.empty = 'the spectrum of a layer appears during a live run';
  boundary.el.dataset.empty = 'a decision boundary appears for models on 2 features (try the demo)';
  let layer = 0;
  // Each plot is drawn in a task of its own (creating a uPlot chart costs tens of milliseconds), the
  // newest message only.
  const pending = new Map();
  const later = (name, draw) => {
    if (!pending.has(name)) setTimeout(() => { const f = pending.get(name); pending.delete(name); f?.(); }, 0);
    pending.set(name, draw);
  };

  layerSelect.onchange = () => { layer = Number(layerSelect.value); send({ type: 'analysis', layer }); };
  boundFig.querySelector('#run-spirals').onclick = () => {
    if (!['running', 'paused', 'loading'].includes(document.body.dataset.state)) runConfig(SPIRALS_DEMO, 'two-spirals demo');
  };

  // A PNG button under every plot (those of main.js too).
  for (const el of document.querySelectorAll('.plot')) {
    const button = document.createElement('button');
    button.textContent = 'PNG';
    button.className = 'png';
    button.title = 'Save this plot as a PNG image';
    button.onclick = () => savePng(el, el.dataset.plot).then(
      (bytes) => { el.dataset.pngBytes = String(bytes.length); },
      (e) => { note.textContent = e.message; });
    el.parentElement.append(button);
  }

  return {
    /** After the worker (re)started: it starts at layer 0, so tell it the chosen one. */
    onReady() { send({ type: 'analysis', layer }); },
    /** A new run: the spectrum and boundary of the last one no longer apply. */
    reset() {
      pending.clear();
      later('spectrum', () => spectrum.update({ sigma: [] }));  // (not in the task that starts the run)
      note.textContent = '';
      boundary.el.dataset.points = '0';
      boundary.canvas.width = boundary.canvas.height = 0;
      boundary.heading.textContent = '';
    },
    onMessage(msg) {
      if (msg.type === 'boundary') return later('boundary', () => boundary.update(msg));
      const names = msg.layers.map((l) => l.name);
      if (JSON.stringify([...layerSelect.options].map((o) => o.text)) !== JSON.stringify(names)) {
        layerSelect.replaceChildren(...msg.layers.map((l, k) => {
          const o = new Option(l.name, String(k));
          o.disabled = l.size === 0;
          return o;
        }));
      }
      layerSelect.value = String(msg.layer);
      const smallest = msg.sigma[msg.sigma.length - 1];
      note.textContent = msg.error || `${msg.sigma.length} values at test sample 0, step ${msg.step}` +
        (!msg.sigma.length ? '' : smallest > 0 ? `; condition number ${(msg.sigma[0] / smallest).toPrecision(3)}`
                                               : '; singular (its smallest singular value is 0)');
      return later('spectrum', () => spectrum.update({ sigma: msg.sigma,
        title: `Singular values of ${msg.layers[msg.layer]?.name ?? 'the layer'}'s Jacobian` }));
    },
  };
}
