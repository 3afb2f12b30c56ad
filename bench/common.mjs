// Shared helpers of the benchmarks (not a benchmark itself: bench/run.mjs runs only
// `*.bench.mjs` and `contention.mjs`).
import { fileURLToPath } from 'node:url';
import b from 'benny';

/** Where benny writes its JSON results and run.mjs its summary, whatever the cwd. */
export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

/**
 * benchmark.js options for every case. benny passes them through; benchmark.js samples a case
 * until `maxTime` seconds have passed and at least `minSamples` samples were taken (each sample
 * runs the function for ~50 ms). Its default of 5 s per case would make the suite take ~5 min.
 * BENCH_MAX_TIME (seconds) overrides maxTime, e.g. `BENCH_MAX_TIME=5 npm run bench`.
 */
export const CASE_OPTIONS = {
  minSamples: 10,
  maxTime: Number(process.env.BENCH_MAX_TIME) > 0 ? Number(process.env.BENCH_MAX_TIME) : 3,
};

/**
 * Assigned the result of every measured call, so that the compiler cannot drop a call whose
 * result would otherwise be unused (Map.get in particular has no side effects).
 */
export let sink;
export function keep(v) {
  sink = v;
}

/** benny's cycle printer, as plain lines (the default one redraws the terminal with escapes). */
export function cycle() {
  return b.cycle((result) => {
    const ns = result.details.mean * 1e9;
    console.log(`  ${result.name}: ${Math.round(result.ops).toLocaleString('en-US')} ops/s, ${fmtNs(ns)}/op, ±${result.margin.toFixed(2)}%, ${result.samples} samples`);
  });
}

/** `b.save` into bench/results/<file>.json. */
export function save(file) {
  return b.save({ file, folder: RESULTS_DIR, format: 'json' });
}

/** Mean time per op, in nanoseconds, of the case called `name` in a benny summary. */
export function meanNs(summary, name) {
  const r = summary.results.find((x) => x.name === name);
  if (r === undefined) throw new Error(`no case "${name}" in suite "${summary.name}"`);
  if (!r.completed) throw new Error(`case "${name}" did not complete`);
  return r.details.mean * 1e9;
}

export function fmtNs(ns) {
  if (ns >= 1000) return `${(ns / 1000).toFixed(2)} µs`;
  if (ns >= 100) return `${ns.toFixed(0)} ns`;
  return `${ns.toFixed(1)} ns`;
}

export function fmtRatio(r) {
  if (r !== 0 && Math.abs(r) < 0.01) return r.toExponential(2);
  return r.toFixed(2);
}

/**
 * Prints the line bench/run.mjs collects:
 *   TARGET <name>: ratio X.XX (target <= Y) PASS|FAIL
 * `op` is '<=' (lower is better) or '>=' (higher is better). Returns whether it passed.
 */
export function target(name, ratio, op, limit) {
  const pass = op === '<=' ? ratio <= limit : ratio >= limit;
  console.log(`TARGET ${name}: ratio ${fmtRatio(ratio)} (target ${op} ${limit}) ${pass ? 'PASS' : 'FAIL'}`);
  return pass;
}
