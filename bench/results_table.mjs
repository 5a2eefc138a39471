// One markdown table from lipflow_bench's JSON output and the peers' JSON files: per workload, the time
// of lipflow (native) and of each peer (ms), each peer's time over lipflow's (above 1: lipflow is
// faster), lipflow's % of the measured peak (FMA throughput for flop counters, triad bandwidth for
// byte counters), and the issue's target where there is one, with whether it is met.
//
// Usage: node bench/results_table.mjs lipflow_bench.json [peer.json ...] > RESULTS.md
//   lipflow_bench.json  --benchmark_out (format json); with repetitions, the fastest one is used
//   peer.json           {"machine": {...}, "results": [{"workload", "impl", "ms"}, ...]} (the PyTorch
//                       peer, the browser bench); browser peers (TF.js) are compared with
//                       "lipflow wasm SIMD" from the same file, all others with native lipflow.
// Times are CPU times (lipflow_bench's cpu_time, the fastest repetition; the peers report theirs).
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const [file, ...peerFiles] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/results_table.mjs lipflow_bench.json [peer.json ...]');
  process.exit(2);
}

const LIPFLOW = 'lipflow';
const WASM_SIMD = 'lipflow wasm SIMD';
const scale = { ns: 1e-6, us: 1e-3, ms: 1, s: 1e3 };
const gemmPeer = { lipflow: LIPFLOW, openblas: 'OpenBLAS', eigen: 'Eigen' };

// workload -> { impl -> ms }, in order of first appearance; plus lipflow's % of peak.
const rows = new Map();
const pct = new Map();
const impls = [LIPFLOW];
function put(workload, impl, ms) {
  if (!Number.isFinite(ms)) return;
  if (!rows.has(workload)) rows.set(workload, {});
  rows.get(workload)[impl] = ms;
  if (!impls.includes(impl)) impls.push(impl);
}

// lipflow_bench: names map to the peers' workload names where the same thing is timed.
const data = JSON.parse(readFileSync(file, 'utf8'));
const ctx = data.context;
const peak = Number(ctx.fma_peak_gflops);
const triad = Number(ctx.triad_gbps);
// The fastest repetition of each benchmark: on a shared machine interference only adds time, so the
// minimum is the steadiest figure (the aggregates are used only when the repetitions are not in the
// file).
const fastest = new Map();
const time = (b) => (b.run_name ?? b.name).endsWith('/manual_time') ? b.real_time : b.cpu_time;
const haveRuns = data.benchmarks.some((b) => b.run_type !== 'aggregate');
for (const b of data.benchmarks) {
  if (b.error_occurred) continue;
  if (haveRuns ? b.run_type === 'aggregate' : b.aggregate_name !== 'median') continue;
  const key = b.run_name ?? b.name;
  if (!fastest.has(key) || time(b) < time(fastest.get(key))) fastest.set(key, b);
}
for (const b of fastest.values()) {
  let name = b.run_name ?? b.name;
  if (name.startsWith('probe/')) continue;
  // A manually timed benchmark's own figure is its real_time (its cpu_time covers the whole loop).
  const manual = name.endsWith('/manual_time');
  if (manual) name = name.slice(0, -'/manual_time'.length);
  // A benchmark's own timing settings (bench_train.cpp's) are part of its name; the workload is not.
  name = name.replace(/\/(min_time|repeats):[^/]*/g, '');
  const ms = (manual ? b.real_time : b.cpu_time) * scale[b.time_unit ?? 'ns'];
  let workload = name;
  let impl = LIPFLOW;
  let value = ms;
  const gemm = /^gemm\/([a-z]+)\/(.+)$/.exec(name);
  if (gemm) {
    workload = `gemm/${gemm[2]}`;
    impl = gemmPeer[gemm[1]] ?? gemm[1];
  } else if (name === 'analysis/e2/explicit_jacobian/1') {
    workload = 'jacobian/E2';
  } else if (name === 'analysis/e2/jacobian_spectral_norm') {
    workload = 'jacobian_spectral_norm/E2';
  } else if (name === 'analysis/e2/power_iteration_20') {
    workload = 'power_iteration/E2';  // per iteration: one J v and one J^T u
    value = b.us_per_iteration / 1e3;
  }
  put(workload, impl, value);
  if (impl === LIPFLOW) {
    if (b.GFLOPS !== undefined && peak > 0) pct.set(workload, `${((100 * b.GFLOPS) / peak).toFixed(0)}% FMA`);
    else if (b.GBps !== undefined && triad > 0) pct.set(workload, `${((100 * b.GBps) / triad).toFixed(0)}% triad`);
  }
}

const machines = [];
for (const f of peerFiles) {
  const peer = JSON.parse(readFileSync(f, 'utf8'));
  for (const r of peer.results) put(r.workload, r.impl, r.ms);
  if (peer.machine) machines.push(Object.entries(peer.machine).map(([k, v]) => `${k} ${v}`).join(', '));
}

// What each peer is compared with.
const browserPeer = (impl) => impl.startsWith('TF.js') || (impl.startsWith('lipflow wasm') && impl !== WASM_SIMD);
const base = (impl) => (browserPeer(impl) ? WASM_SIMD : LIPFLOW);

// The issue's targets: [workload pattern, peer, least ratio peer/lipflow].
const squareBig = /^gemm\/(256x256x256|512x512x512|1024x1024x1024)$/;
const targets = [
  [/^train_step\/E[25]$/, 'PyTorch', 5],
  [/^optim\/adam\/1M$/, 'PyTorch', 2],
  [/^gemm\//, 'Eigen', 1],
  [squareBig, 'OpenBLAS', 0.8],
  [/^train_step\/E[25]$/, 'TF.js wasm', 10],
];

const f3 = (x) => (x === undefined ? '-' : x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(3));
const peers = impls.filter((i) => i !== LIPFLOW);
const head = ['Workload', ...impls.map((i) => `${i} ms`), 'peer / lipflow', 'lipflow % of peak', 'target'];
const lines = [];
lines.push(`| ${head.join(' | ')} |`);
lines.push(`|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
let met = 0;
let missed = 0;
for (const [workload, t] of rows) {
  const ratios = [];
  for (const p of peers) {
    const b = base(p);
    if (p === WASM_SIMD || t[p] === undefined || t[b] === undefined) continue;
    ratios.push(`${p}${b === LIPFLOW ? '' : ` / ${b}`} ${(t[p] / t[b]).toFixed(2)}x`);
  }
  const goals = [];
  for (const [re, p, least] of targets) {
    const b = base(p);
    if (!re.test(workload) || t[p] === undefined || t[b] === undefined) continue;
    const r = t[p] / t[b];
    const ok = r >= least;
    if (ok) met += 1;
    else missed += 1;
    goals.push(`${p} >= ${least}x: ${ok ? 'met' : `**missed** (${r.toFixed(2)}x)`}`);
  }
  const cells = [workload, ...impls.map((i) => f3(t[i])), ratios.join(', ') || '-', pct.get(workload) ?? '-',
    goals.join('; ') || '-'];
  lines.push(`| ${cells.join(' | ')} |`);
}

const date = (ctx.date ?? new Date().toISOString()).slice(0, 10);
console.log('# lipflow benchmark results\n');
console.log('Written by `bench/run.sh` (do not edit by hand). One thread everywhere; times are CPU ms per ' +
  'call, the fastest of the repetitions (on a shared machine interference only adds time). ' +
  '"peer / lipflow" is the peer\'s time over lipflow\'s: above 1, lipflow is faster. Browser peers are ' +
  'compared with lipflow\'s SIMD wasm module in the same page. `power_iteration/E2` is per iteration ' +
  '(one J v and one J^T u at one sample); `jacobian/E2` is the explicit 10 x 32 Jacobian of one sample. ' +
  'Training steps count GFLOPS of their matrix products only.\n');
console.log(`- Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${ctx.num_cpus} CPUs at ${ctx.mhz_per_cpu} MHz ` +
  `(${ctx.host_name}), date ${date}`);
console.log(`- Compiler: ${ctx.compiler ?? 'unknown'}; SIMD: ${ctx.simd ?? 'unknown'}`);
console.log(`- Peaks measured by the same binary: FMA ${peak.toFixed(1)} GFLOPS, triad ${triad.toFixed(1)} GB/s ` +
  '(cache-resident workloads can exceed the triad figure)');
for (const m of machines) console.log(`- Peer: ${m}`);
console.log(`- Targets: ${met} met, ${missed} missed\n`);
console.log(lines.join('\n'));
