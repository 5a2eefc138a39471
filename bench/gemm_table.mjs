// Turns lipflow_bench's JSON output (gemm/<impl>/<shape> benchmarks) into a markdown table: GFLOPS
// of each implementation (median of the repetitions when there are several), lipflow's ratio to
// each peer, and lipflow's % of the FMA peak that the same binary measured.
// Usage: node bench/gemm_table.mjs result.json
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/gemm_table.mjs result.json');
  process.exit(2);
}
const data = JSON.parse(readFileSync(file, 'utf8'));
const peak = Number(data.context.fma_peak_gflops);
const rows = new Map(); // shape -> {impl: gflops}
const impls = [];
for (const b of data.benchmarks) {
  const name = b.run_name ?? b.name;
  const m = /^gemm\/([a-z]+)\/(\d+x\d+x\d+)/.exec(name);
  if (!m || b.error_occurred) continue;
  if (b.run_type === 'aggregate' && b.aggregate_name !== 'median') continue;
  const [, impl, shape] = m;
  if (!impls.includes(impl)) impls.push(impl);
  if (!rows.has(shape)) rows.set(shape, {});
  rows.get(shape)[impl] = b.GFLOPS; // the counter is already in GFLOP/s
}
const peers = impls.filter((i) => i !== 'lipflow');
const f1 = (x) => (x === undefined ? '-' : x.toFixed(1));
const f2 = (x) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(2));
const head = ['M x N x K', ...impls.map((i) => `${i} GFLOPS`), ...peers.map((p) => `lipflow/${p}`), 'lipflow % of peak'];
console.log(`Single-core FMA peak measured by the same binary: ${peak.toFixed(1)} GFLOPS; ` +
  `machine: ${data.context.host_name}, ${data.context.num_cpus} CPUs at ${data.context.mhz_per_cpu} MHz\n`);
console.log(`| ${head.join(' | ')} |`);
console.log(`|${head.map(() => '---').join('|')}|`);
for (const [shape, g] of rows) {
  const cells = [shape, ...impls.map((i) => f1(g[i])), ...peers.map((p) => f2(g.lipflow / g[p])),
    f1((100 * g.lipflow) / peak)];
  console.log(`| ${cells.join(' | ')} |`);
}
