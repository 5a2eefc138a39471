// The experiment's state in the URL (query string), so that a link reopens the same experiment:
//   preset=E5  seed=1  quick=1  live=1  build=simd|scalar  arm=<arm shown in the per-arm plots>
// read() always returns every field (defaults filled); write() replaces the current history entry.
// Other parts of the page add their own fields after these (addPart), e.g. the model builder's b.*.

export const DEFAULTS = { preset: 'E1', seed: 1, quick: true, live: true, build: 'simd', arm: '' };

/** The state in a query string (defaults for missing or malformed fields). */
export function read(search = location.search) {
  const q = new URLSearchParams(search);
  const seed = Number.parseInt(q.get('seed') ?? '', 10);
  return {
    preset: /^[A-Za-z0-9_]+$/.test(q.get('preset') || '') ? q.get('preset') : DEFAULTS.preset,
    seed: Number.isSafeInteger(seed) && seed >= 0 ? seed : DEFAULTS.seed,
    quick: q.has('quick') ? q.get('quick') !== '0' : DEFAULTS.quick,
    live: q.has('live') ? q.get('live') !== '0' : DEFAULTS.live,
    build: q.get('build') === 'scalar' ? 'scalar' : DEFAULTS.build,
    arm: q.get('arm') || DEFAULTS.arm,
  };
}

const parts = [];
/** Registers a function giving more query fields (URLSearchParams) to write after the state's. */
export function addPart(fields) { parts.push(fields); }

/** The query string of a state (fields in a fixed order), then the registered parts' fields. */
export function encode(state) {
  const q = new URLSearchParams();
  q.set('preset', state.preset);
  q.set('seed', String(state.seed));
  q.set('quick', state.quick ? '1' : '0');
  q.set('live', state.live ? '1' : '0');
  q.set('build', state.build);
  if (state.arm) q.set('arm', state.arm);
  for (const fields of parts) for (const [k, v] of fields()) q.set(k, v);
  return `?${q}`;
}

/** Puts the state in the address bar without adding a history entry. */
export function write(state) {
  history.replaceState(null, '', `${location.pathname}${encode(state)}${location.hash}`);
}
