// The PNG summary of a peer run, for the README: get throughput per system, one bar per system
// for each key count × value size, drawn by png.mjs (no dependency).
//
//   node bench/peers/render-png.mjs [results.json] [out-dir]
//
// results.json defaults to bench/peers/results/peers.json, out-dir to docs/. Writes
// peers-get.png (1 thread) and, when the run has more threads, peers-get-<N>t.png for the
// largest N (peers-get-4t.png after a full run). run.mjs calls renderPngs() at the end of each
// run: into docs/ after a full run, next to its other outputs after a quick or partial one.
//
// The groups and series are the ones run.mjs gives get-<N>t.svg, so the PNG and the SVG of the
// same run show the same bars: datasets in the order the run measured them, systems in
// run.mjs's column order (CASE_SYSTEMS), labels from data.mjs.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SYSTEMS, VALUE_KINDS } from './data.mjs';
import { PALETTE, barChartPng } from './png.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DEFAULT_RESULTS = join(HERE, 'results', 'peers.json');
export const DEFAULT_OUT = join(ROOT, 'docs');

// run.mjs's CASE_SYSTEMS: the column order of its tables and charts.
const ORDER = ['keyshare', 'keyshare-hot', 'sharedmap', 'lmdb', 'map', 'lru'];

/** The chart options for `workload` at `threads` threads, from peers.json's content. */
export function chartOptions({ meta, results }, workload, threads) {
  const rows = results.filter((r) => r.workload === workload && r.threads === threads);
  const sets = [];
  for (const r of results) if (!sets.some((d) => d.keys === r.keys && d.value === r.value)) sets.push({ keys: r.keys, value: r.value });
  const systems = ORDER.filter((s) => rows.some((r) => r.system === s)).concat([...new Set(rows.map((r) => r.system))].filter((s) => !ORDER.includes(s)));
  const find = (s, ds) => rows.find((r) => r.system === s && r.keys === ds.keys && r.value === ds.value);
  return {
    title: `${workload}: ops/s per system, ${threads} thread${threads > 1 ? 's' : ''} (higher is better)`,
    subtitle: [
      `native-keyshare vs peers, keys drawn uniformly at random.`,
      `Map and lru-cache: one copy per thread; the others: one copy shared by all threads.`,
      `${meta.date.slice(0, 10)}, ${meta.cpus}, Node ${meta.node}, build ${meta.gitHead}${meta.uncommittedSrc?.length ? '+changes' : ''}, ${meta.mode} run of bench/peers/run.mjs.`,
    ].join(' '),
    groups: sets.map((ds) => `${ds.keys} keys\n${VALUE_KINDS[ds.value]?.label ?? ds.value}`),
    // A system keeps its colour when a partial run leaves others out (the SVGs colour by
    // position, which is the same thing for a full run).
    series: systems.map((s, i) => ({ name: SYSTEMS[s]?.label ?? s, values: sets.map((ds) => find(s, ds)?.opsPerSec), color: PALETTE[(ORDER.includes(s) ? ORDER.indexOf(s) : i) % PALETTE.length] })),
    yLabel: threads === 1 ? `${workload} ops/s` : `${workload} ops/s, ${threads} threads`,
  };
}

/** Writes the PNGs for the run in `resultsPath` into `outDir`; returns the files written. */
export function renderPngs(resultsPath = DEFAULT_RESULTS, outDir = DEFAULT_OUT) {
  const data = JSON.parse(readFileSync(resultsPath, 'utf8'));
  const threads = [...new Set(data.results.filter((r) => r.workload === 'get').map((r) => r.threads))].sort((a, b) => a - b);
  if (!threads.includes(1)) throw new Error(`${resultsPath} has no 1-thread get results`);
  const wanted = [{ t: 1, file: 'peers-get.png' }];
  const most = threads[threads.length - 1];
  if (most > 1) wanted.push({ t: most, file: `peers-get-${most}t.png` });
  mkdirSync(outDir, { recursive: true });
  const written = [];
  for (const { t, file } of wanted) {
    const path = join(outDir, file);
    writeFileSync(path, barChartPng(chartOptions(data, 'get', t)));
    written.push(path);
  }
  return written;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const [results = DEFAULT_RESULTS, out = DEFAULT_OUT] = process.argv.slice(2);
  for (const f of renderPngs(resolve(results), resolve(out))) console.log(`Written: ${f}`);
}
