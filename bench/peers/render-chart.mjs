// The summary charts of a peer run, for the docs: get throughput per system, one bar per system
// for each key count × value size, drawn as SVG by chart.mjs (no dependency).
//
//   node bench/peers/render-chart.mjs [results.json] [out-dir]
//
// results.json defaults to bench/peers/results/peers.json, out-dir to docs/. Writes
// peers-get.svg (1 thread) and, when the run has more threads, peers-get-<N>t.svg for the
// largest N (peers-get-4t.svg after a full run). run.mjs calls renderCharts() at the end of each
// run: into docs/ after a full run, next to its other outputs after a quick or partial one.
//
// The groups and series are the ones run.mjs gives get-<N>t.svg: datasets in the order the run
// measured them, systems in run.mjs's column order (CASE_SYSTEMS), labels from data.mjs. Each
// system keeps its colour when a partial run leaves others out.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SYSTEMS, VALUE_KINDS } from './data.mjs';
import { PALETTE, barChart } from './chart.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DEFAULT_RESULTS = join(HERE, 'results', 'peers.json');
export const DEFAULT_OUT = join(ROOT, 'docs');

// run.mjs's CASE_SYSTEMS: the column order of its tables and charts.
export const ORDER = ['keyshare', 'keyshare-hot', 'sharedmap', 'lmdb', 'map', 'lru'];

/** The chart options for `workload` at `threads` threads, from peers.json's content. */
export function chartOptions({ meta, results }, workload, threads) {
  const rows = results.filter((r) => r.workload === workload && r.threads === threads);
  const sets = [];
  for (const r of results) if (!sets.some((d) => d.keys === r.keys && d.value === r.value)) sets.push({ keys: r.keys, value: r.value });
  const systems = ORDER.filter((s) => rows.some((r) => r.system === s)).concat([...new Set(rows.map((r) => r.system))].filter((s) => !ORDER.includes(s)));
  const find = (s, ds) => rows.find((r) => r.system === s && r.keys === ds.keys && r.value === ds.value);
  return {
    title: `${workload}: ops/s per system, ${threads} thread${threads > 1 ? 's' : ''} (higher is better)`,
    subtitle: `${meta.date.slice(0, 10)}, ${meta.cpus}, Node ${meta.node}, ${meta.mode} run. Keys drawn uniformly at random. Map and lru-cache: one copy per thread; the others: one shared copy.`,
    groups: sets.map((ds) => `${ds.keys} keys\n${VALUE_KINDS[ds.value]?.label ?? ds.value}`),
    series: systems.map((s, i) => ({ name: SYSTEMS[s]?.label ?? s, values: sets.map((ds) => find(s, ds)?.opsPerSec), color: PALETTE[(ORDER.includes(s) ? ORDER.indexOf(s) : i) % PALETTE.length] })),
    yLabel: threads === 1 ? `${workload} ops/s` : `${workload} ops/s, ${threads} threads`,
  };
}

/** Writes the SVGs for the run in `resultsPath` into `outDir`; returns the files written. */
export function renderCharts(resultsPath = DEFAULT_RESULTS, outDir = DEFAULT_OUT) {
  const data = JSON.parse(readFileSync(resultsPath, 'utf8'));
  const threads = [...new Set(data.results.filter((r) => r.workload === 'get').map((r) => r.threads))].sort((a, b) => a - b);
  if (!threads.includes(1)) throw new Error(`${resultsPath} has no 1-thread get results`);
  const wanted = [{ t: 1, file: 'peers-get.svg' }];
  const most = threads[threads.length - 1];
  if (most > 1) wanted.push({ t: most, file: `peers-get-${most}t.svg` });
  mkdirSync(outDir, { recursive: true });
  const written = [];
  for (const { t, file } of wanted) {
    const path = join(outDir, file);
    writeFileSync(path, barChart(chartOptions(data, 'get', t)));
    written.push(path);
  }
  return written;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const [results = DEFAULT_RESULTS, out = DEFAULT_OUT] = process.argv.slice(2);
  for (const f of renderCharts(resolve(results), resolve(out))) console.log(`Written: ${f}`);
}
