// native-keyshare against its peers — Map, lru-cache, sharedmap, lmdb — side by side, in one
// command and one run. See bench/peers/README.md for what is measured and how.
//
//   node bench/peers/run.mjs            full run: 1K/100K/1M keys, ~20 B/~1 KB/~100 KB values,
//                                       1/2/4 threads (about 11–12 minutes on 2 cores)
//   node bench/peers/run.mjs --quick    1K/100K keys, ~20 B/~1 KB values, 1/2 threads (< 2 min)
//
// Options for partial runs while working on it: --systems=keyshare,lmdb  --datasets=1K/20B,1M/1KB
// --workloads=get,mix90  --threads=1,2  --reps=N  --window-ms=N  --warm-ms=N  --out=DIR
// --no-touch (skip the reading pass before a dataset's measurements, to see what it changes)
//
// Writes results/peers.json, results/peers.md and results/<workload>-<threads>t.svg (then, see
// the end of this file, the docs' charts docs/peers-get.svg and peers-get-4t.svg through render-chart.mjs), and prints
// the Markdown tables and `TARGET …` lines (the format bench/run.mjs collects). Exit code 0 when
// every case ran, whether targets pass or fail; 1 if a case process crashed.
import { execFileSync, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { barChart, compact } from './chart.mjs';
import { KEY_COUNTS, SYSTEMS, VALUE_KINDS, WORKLOADS, datasets, pairedRatio, summarize, threadCounts } from './data.mjs';
import { fmtNs, target } from '../common.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    systems: { type: 'string' },
    datasets: { type: 'string' },
    workloads: { type: 'string' },
    threads: { type: 'string' },
    reps: { type: 'string' },
    'window-ms': { type: 'string' },
    'warm-ms': { type: 'string' },
    'no-touch': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const quick = opts.quick;
const OUT = opts.out ?? join(HERE, 'results');
const list = (s) => (s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean));

// Timing of every measurement: `warm` unrecorded repetitions of warmMs (JIT warm-up of that
// loop in those threads), then `reps` recorded repetitions of windowMs; the median is reported.
// Full: 462 measurements × ~0.45 s + the fills ≈ 6 min on a quiet machine, 9 under heavy load;
// quick: 176 × ~0.28 s + the fills ≈ 1–1.7 min.
const timing = {
  warm: 1,
  warmMs: Number(opts['warm-ms'] ?? (quick ? 60 : 80)),
  windowMs: Number(opts['window-ms'] ?? (quick ? 60 : 80)),
  reps: Number(opts.reps ?? (quick ? 3 : 4)),
};
const CASE_SYSTEMS = ['keyshare', 'keyshare-hot', 'sharedmap', 'lmdb', 'map', 'lru', 'keyshare-max', 'keyshare-evict', 'lru-evict'];
const systems = list(opts.systems) ?? CASE_SYSTEMS;
for (const s of systems) if (!CASE_SYSTEMS.includes(s)) throw new Error(`unknown system ${s} (known: ${CASE_SYSTEMS.join(', ')})`);
const workloads = list(opts.workloads) ?? Object.keys(WORKLOADS);
const threads = (list(opts.threads) ?? threadCounts(quick)).map(Number);
let sets = datasets(quick);
if (opts.datasets) {
  const want = list(opts.datasets);
  sets = want.map((d) => {
    const [keys, value] = d.split('/');
    if (!KEY_COUNTS[keys] || !VALUE_KINDS[value]) throw new Error(`bad dataset ${d} (e.g. 1K/20B, 100K/1KB, 1M/1KB, 1K/100KB)`);
    return { keys, value };
  });
}

if (!existsSync(join(ROOT, 'dist/cjs/index.js')) || !existsSync(join(ROOT, 'dist/esm/index.mjs'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(2);
}

/** sha1 of a build's dist/cjs/*.js. */
function distFingerprint(dist = join(ROOT, 'dist')) {
  const h = createHash('sha1');
  const dir = join(dist, 'cjs');
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.js')).sort()) h.update(f).update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 12);
}
function git(args) {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

// Measure a copy of dist/ taken now: other people may rebuild dist/ during the run (npm test
// does), and every case must measure the same build. The copy lives in bench/peers/results/
// (inside the repo, so that its require('msgpackr') finds node_modules) and is removed at exit.
const SNAPSHOT = join(HERE, 'results', `.build-${process.pid}`);
mkdirSync(SNAPSHOT, { recursive: true });
cpSync(join(ROOT, 'dist'), join(SNAPSHOT, 'dist'), { recursive: true });
process.on('exit', () => rmSync(SNAPSHOT, { recursive: true, force: true }));
process.env.PEERS_KEYSHARE_DIST = join(SNAPSHOT, 'dist');

const cpu = cpus();
const meta = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: `${cpu.length} × ${cpu[0]?.model?.trim() ?? 'unknown CPU'}`,
  memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
  mode: quick ? 'quick' : opts.systems || opts.datasets || opts.workloads || opts.threads ? 'partial' : 'full',
  timing,
  gitHead: git(['rev-parse', '--short', 'HEAD']),
  uncommittedSrc: git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean).map((l) => l.slice(3)),
  distFingerprint: distFingerprint(join(SNAPSHOT, 'dist')),
  loadBefore: loadavg()[0],
};
const started = performance.now();
let broken = 0;

// ── Memory per entry ────────────────────────────────────────────────────────────────────────

function runMemory() {
  const counts = quick ? '1000,100000' : '1000,100000,1000000';
  return new Promise((resolve) => {
    const child = fork(join(HERE, 'memory.mjs'), [counts], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('MEMORY '));
      if (code !== 0 || !line) {
        broken++;
        console.error(`memory.mjs failed (exit code ${code})`);
        resolve([]);
      } else resolve(JSON.parse(line.slice(7)));
    });
  });
}

console.log(`peers benchmark (${meta.mode}): ${meta.cpus}, Node ${meta.node}, build ${meta.gitHead}${meta.uncommittedSrc.length ? ` + uncommitted ${meta.uncommittedSrc.join(', ')}` : ''} (dist ${meta.distFingerprint}), load ${meta.loadBefore.toFixed(2)}`);
console.log(`timing: ${timing.warm} warm-up × ${timing.warmMs} ms, then median of ${timing.reps} × ${timing.windowMs} ms per measurement\n`);
const memory = await runMemory();
for (const m of memory) console.log(`memory per entry, ${m.keys.toLocaleString('en-US')} keys: measured ${m.measuredBytesPerEntry.toFixed(1)} B, layout ${m.layoutBytesPerEntry.toFixed(1)} B`);

function line(r) {
  return `${`${r.keys}/${r.value}`.padEnd(9)} ${SYSTEMS[r.system].label.padEnd(27)} ${r.workload.padEnd(5)} ${r.threads}T ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(12)} ops/s ${fmtNs(r.nsPerOp).padStart(10)}/op/thread  reps ±${(r.spread * 50).toFixed(0)}%${r.misses ? `  MISSES ${r.misses}` : ''}`;
}

// ── Case processes ──────────────────────────────────────────────────────────────────────────

/** One forked case.mjs: request() sends a message and resolves with the next one it sends. */
class Case {
  constructor(system, ds) {
    this.system = system;
    this.cfg = { system, keys: ds.keys, value: ds.value, threads, workloads, ...timing };
    this.child = fork(join(HERE, 'case.mjs'), [JSON.stringify(this.cfg)], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: ['--max-old-space-size=8192', '--expose-gc'],
    });
    this.waiting = [];
    this.dead = false;
    this.child.on('message', (m) => this.waiting.shift()?.resolve(m));
    this.child.on('exit', (code, signal) => {
      this.dead = code !== 0;
      const err = new Error(`${system} case exited (${signal ?? `code ${code}`})`);
      for (const w of this.waiting.splice(0)) w.reject(err);
    });
    this.ready = this.next();
    // Awaited later, in order: a case that dies before its turn must not end the run as an
    // unhandled rejection (its failure is reported where it is awaited).
    this.ready.catch(() => {});
  }
  next() {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null) reject(new Error(`${this.system} case has exited`));
      else this.waiting.push({ resolve, reject });
    });
  }
  request(msg) {
    const p = this.next();
    this.child.send(msg);
    return p;
  }
}

/**
 * Before a dataset's first measurement, every system reads every key once, unmeasured, the
 * systems taking turns slice by slice. The set-ups take from seconds to a minute, and data left
 * idle that long is slower to read at first on this machine (its memory cools off in the VM:
 * 1 M × ~1 KB native-keyshare gets measured 10.9 µs right after a minute idle, then 4.6, then
 * back to 3.6 over the next second or so; in full runs the first-filled system's first rounds
 * were 3–20× slower than alone). Each system's data has then been read within the same few
 * seconds before the measurements begin, whatever the order its set-up finished in.
 */
const TOUCH_SLICES = 8;
async function touchAll(cases, n) {
  const t0 = performance.now();
  for (let slice = 0; slice < TOUCH_SLICES; slice++) {
    const from = Math.floor((slice * n) / TOUCH_SLICES);
    const to = Math.floor(((slice + 1) * n) / TOUCH_SLICES);
    for (const c of cases) {
      if (c.dead) continue;
      try {
        await c.request({ type: 'touch', from, to });
      } catch (err) {
        broken++;
        console.error(`  ${c.system}: touch failed: ${err.message}`);
      }
    }
  }
  return performance.now() - t0;
}

const results = [];
const setups = [];
for (const ds of sets) {
  const n = KEY_COUNTS[ds.keys];
  // 1M values of ~1 KB: ~10 GB with every system resident at once (the Map and lru-cache
  // copies × threads, sharedmap's fixed-size slots): measure them in two groups instead.
  const big = n * (ds.value === '20B' ? 20 : ds.value === '1KB' ? 1000 : 100_000) >= 5e8;
  const groups = big ? [systems.filter((s) => ['keyshare', 'keyshare-hot', 'sharedmap', 'lmdb', 'keyshare-max', 'keyshare-evict'].includes(s)), systems.filter((s) => ['map', 'lru', 'lru-evict'].includes(s))] : [systems];
  for (const group of groups.filter((g) => g.length > 0)) {
    const t0 = performance.now();
    const load0 = loadavg()[0];
    console.log(`\n━━ ${ds.keys} keys, ${VALUE_KINDS[ds.value].label} values: ${group.join(', ')} (setting up, in parallel; free memory ${(freemem() / 2 ** 30).toFixed(1)} GiB)`);
    const cases = group.map((s) => new Case(s, ds));
    const live = [];
    for (const c of cases) {
      try {
        const m = await c.ready;
        c.variants = m.variants;
        live.push(c);
      } catch (err) {
        broken++;
        console.error(`  ${c.system}: setup failed: ${err.message}`);
      }
    }
    console.log(`── set up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    // Let the set-up's after-effects (V8's concurrent sweeping and compilation in 5 processes,
    // the kernel's page bookkeeping) die down before the first measurement.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (!opts['no-touch']) {
      const touchMs = await touchAll(live, n);
      console.log(`── every key read once by every system, in ${TOUCH_SLICES} round-robin slices: ${(touchMs / 1000).toFixed(1)} s`);
    }
    // Interleaved: for each workload and thread count, round-robin over the systems, one
    // repetition each per round (the first round adds the warm-up), starting with a different
    // system each round. A system's repetitions are thus spread over the same seconds as the
    // others': a burst of load from elsewhere hits them all alike.
    for (const workload of workloads) {
      for (const t of threads) {
        const todo = [];
        for (const c of live) {
          for (const variant of c.variants) {
            if (variant === 'keyshare-hot' && !WORKLOADS[workload].read) continue;
            todo.push({ c, variant, reps: [], misses: 0, load: [] });
          }
        }
        for (let round = 0; round < timing.reps; round++) {
          const order = todo.slice(round % todo.length).concat(todo.slice(0, round % todo.length));
          for (const m of order) {
            if (m.c.dead || m.failed) continue;
            try {
              const r = await m.c.request({ type: 'measure', variant: m.variant, workload, threads: t, warm: round === 0 ? timing.warm : 0, reps: 1, round });
              m.reps.push(...r.reps.map((rep) => ({ ...rep, round })));
              m.misses += r.misses;
              m.load.push(loadavg()[0]);
            } catch (err) {
              m.failed = true;
              broken++;
              console.error(`  ${m.c.system}: ${err.message}`);
            }
          }
        }
        for (const m of todo) {
          if (m.reps.length === 0) continue;
          const r = { system: m.variant, keys: ds.keys, value: ds.value, workload, threads: t, ...summarize(m.reps, m.misses), load: Math.max(...m.load) };
          results.push(r);
          console.error(`  ${line(r)}`);
        }
      }
    }
    for (const c of live) {
      try {
        const m = await c.request({ type: 'exit' });
        setups.push({ ...m.summary, group, loadBefore: load0, loadAfter: loadavg()[0] });
      } catch (err) {
        broken++;
        console.error(`  ${c.system}: ${err.message}`);
      }
    }
    console.log(`── ${ds.keys}/${ds.value} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}
meta.totalSeconds = (performance.now() - started) / 1000;
meta.loadAfter = loadavg()[0];
meta.distFingerprintAfter = distFingerprint(join(SNAPSHOT, 'dist'));
meta.repoDistFingerprintAfter = distFingerprint();

// ── Targets ─────────────────────────────────────────────────────────────────────────────────

const find = (system, keys, value, workload, t) => results.find((r) => r.system === system && r.keys === keys && r.value === value && r.workload === workload && r.threads === t);
const vlabel = (v) => VALUE_KINDS[v].label;
const targets = [];
function addTarget(name, ratio, op, limit, detail) {
  targets.push({ name, ratio, op, limit, pass: op === '<=' ? ratio <= limit : ratio >= limit, detail });
}
for (const ds of sets) {
  for (const workload of ['get', 'mix90'].filter((w) => workloads.includes(w))) {
    for (const t of threads) {
      const ks = find('keyshare', ds.keys, ds.value, workload, t);
      const peers = ['sharedmap', 'lmdb'].map((s) => find(s, ds.keys, ds.value, workload, t)).filter(Boolean);
      if (!ks || peers.length === 0) continue;
      const best = peers.reduce((a, b) => (a.nsPerOp <= b.nsPerOp ? a : b));
      addTarget(`${WORKLOADS[workload].label}, ${ds.keys} keys, ${vlabel(ds.value)}, ${t}T, keyshare / best of sharedmap and lmdb (${SYSTEMS[best.system].label})`, pairedRatio(ks, peers), '<=', 1,
        `medians ${fmtNs(ks.nsPerOp)} vs ${fmtNs(best.nsPerOp)} (${(ks.nsPerOp / best.nsPerOp).toFixed(2)})`);
    }
  }
}
if (workloads.includes('get') && threads.includes(1)) {
  for (const ds of sets) {
    const hot = find('keyshare-hot', ds.keys, ds.value, 'get', 1);
    const lru = find('lru', ds.keys, ds.value, 'get', 1);
    if (!hot || !lru) continue;
    addTarget(`hotReads get / lru-cache get, ${ds.keys} keys, ${vlabel(ds.value)}, 1T`, pairedRatio(hot, [lru]), '<=', 3, `medians ${fmtNs(hot.nsPerOp)} vs ${fmtNs(lru.nsPerOp)} (${(hot.nsPerOp / lru.nsPerOp).toFixed(2)})`);
  }
}
// Issue 16: a bounded store's get costs at most 1.1× an unbounded one's (max = n: the policy
// runs, nothing is evicted). Every thread count of the get workload.
if (workloads.includes('get')) {
  for (const ds of sets) {
    for (const t of threads) {
      const bounded = find('keyshare-max', ds.keys, ds.value, 'get', t);
      const plain = find('keyshare', ds.keys, ds.value, 'get', t);
      if (!bounded || !plain) continue;
      addTarget(`get, bounded (max = n) / unbounded native-keyshare, ${ds.keys} keys, ${vlabel(ds.value)}, ${t}T`, pairedRatio(bounded, [plain]), '<=', 1.1, `medians ${fmtNs(bounded.nsPerOp)} vs ${fmtNs(plain.nsPerOp)} (${(bounded.nsPerOp / plain.nsPerOp).toFixed(2)})`);
    }
  }
}
for (const m of memory) {
  addTarget(`memory per entry (bytes), measured, ${m.keys.toLocaleString('en-US')} keys`, m.measuredBytesPerEntry, '<=', 64, 'arenaStats().bytesInUse delta − valueBytes, / N');
  addTarget(`memory per entry (bytes), from the layout, ${m.keys.toLocaleString('en-US')} keys`, m.layoutBytesPerEntry, '<=', 64, 'entry + value header/slack + index');
}

// ── Markdown ────────────────────────────────────────────────────────────────────────────────

const COLS = CASE_SYSTEMS.filter((s) => results.some((r) => r.system === s));
function mdTable(head, rows) {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(width[i])).join(' | ')} |`;
  return [line(head), `| ${width.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}
const cell = (r) => (r ? `${compact(r.opsPerSec)}/s · ${fmtNs(r.nsPerOp)}` : '–');
const md = [];
md.push(`<!-- generated by bench/peers/run.mjs; do not edit by hand -->`);
md.push(`${meta.date.slice(0, 10)}, Node ${meta.node}, ${meta.cpus}, ${totalmem() > 0 ? `${meta.memoryGiB} GiB` : ''}; \`node bench/peers/run.mjs${quick ? ' --quick' : ''}\` (${meta.mode} run, ${(meta.totalSeconds / 60).toFixed(1)} min, load average ${meta.loadBefore.toFixed(2)} before, ${meta.loadAfter.toFixed(2)} after); build ${meta.gitHead}${meta.uncommittedSrc.length ? ' with uncommitted changes' : ''}.`);
md.push('');
md.push('Each cell: total throughput across threads (ops/s) · time per operation in each thread (ns/op, wall clock: with more threads than cores it includes time waiting for a core). Median of the repetitions. **Map and lru-cache cannot be shared between threads: each thread has its own copy filled with the same data** (N threads = N copies in memory, N fills, and a set is seen only by the thread that made it); sharedmap, lmdb and native-keyshare hold one copy that every thread reads and writes. Keys uniform at random over all keys; values `{ value: \'Benchmark\' }` (~20 B), a ~1 KB record, a ~100 KB document; sharedmap stores them as JSON strings, the others as objects.');
for (const workload of workloads) {
  md.push('');
  md.push(`### ${WORKLOADS[workload].label}`);
  md.push('');
  const rows = [];
  for (const ds of sets) {
    for (const t of threads) {
      rows.push([ds.keys, vlabel(ds.value), t, ...COLS.map((s) => (s === 'keyshare-hot' && !WORKLOADS[workload].read ? 'n/a' : cell(find(s, ds.keys, ds.value, workload, t))))]);
    }
  }
  md.push(mdTable(['keys', 'value', 'threads', ...COLS.map((s) => SYSTEMS[s].label)], rows));
  for (const t of threads) md.push('', `![${WORKLOADS[workload].label}, ${t} thread${t > 1 ? 's' : ''}](${workload}-${t}t.svg)`);
}
md.push('');
md.push('### Memory and set-up');
md.push('');
{
  const rows = [];
  for (const s of setups) {
    const info = s.info ?? {};
    let held = '';
    if (s.system.startsWith('keyshare')) held = `arena ${(info.arenaBytesInUse / 2 ** 20).toFixed(1)} MiB in use (${(info.arenaBytesInUse / KEY_COUNTS[s.keys]).toFixed(0)} B/key)`;
    else if (s.system === 'sharedmap') held = `${(info.bytes / 2 ** 20).toFixed(1)} MiB fixed (${info.maxSize.toLocaleString('en-US')} slots × ${info.objSize} chars)`;
    else if (s.system === 'lmdb') held = 'memory-mapped file';
    else held = Math.max(...threads) === 1 ? '1 copy' : `${Math.max(...threads)} copies, one per thread`;
    const prime = s.system.startsWith('keyshare') ? `${(Math.max(...(s.threadPrimeMs ?? [0])) / 1000).toFixed(1)} s` : '–';
    rows.push([s.keys, vlabel(s.value), SYSTEMS[s.system].label.replace(/ \(.*\)/, ''), `${(s.setupMs / 1000).toFixed(1)} s`, `${(Math.max(...(s.threadFillMs ?? [0])) / 1000).toFixed(1)} s`, prime, `${(s.rssBytes / 2 ** 20).toFixed(0)} MiB`, held]);
  }
  md.push('Fill: the shared structure, by the main thread. Open/fill per thread: opening it, or filling this thread\'s own copy (Map, lru-cache). Priming: native-keyshare\'s per-thread caches (see the method). Process RSS: the case process at the end, all its threads (for native-keyshare hotReads it includes each thread\'s cache of decoded values).');
  md.push('');
  md.push(mdTable(['keys', 'value', 'system', 'fill (shared)', 'open/fill per thread', 'priming per thread', 'process RSS', 'data'], rows));
}
{
  const bounded = setups.filter((x) => x.final);
  if (bounded.length > 0) {
    md.push('');
    md.push('Bounded native-keyshare stores, counts over the whole case (fill, priming, reading pass, every workload and thread count; the evicting store\'s gets are cache-aside, so each miss is followed by a set that evicts):');
    md.push('');
    md.push(mdTable(['keys', 'value', 'system', 'max', 'evicted while filling', 'hits', 'misses', 'hit ratio', 'evictions'], bounded.map((x) => [
      x.keys, vlabel(x.value), SYSTEMS[x.system].label, x.info.max.toLocaleString('en-US'), x.info.evictionsWhileFilling.toLocaleString('en-US'),
      x.final.hits.toLocaleString('en-US'), x.final.misses.toLocaleString('en-US'), `${((100 * x.final.hits) / Math.max(1, x.final.hits + x.final.misses)).toFixed(1)}%`, x.final.evictions.toLocaleString('en-US'),
    ])));
  }
}
md.push('');
md.push('### native-keyshare memory per entry (index and headers, not the value)');
md.push('');
md.push(mdTable(
  ['keys', 'measured', 'from the layout', 'entry (32 + key)', 'value header + slack', 'index', 'avg key length'],
  memory.map((m) => [m.keys.toLocaleString('en-US'), `${m.measuredBytesPerEntry.toFixed(1)} B`, `${m.layoutBytesPerEntry.toFixed(1)} B`, `${m.breakdown.entry.toFixed(1)} B`, `${m.breakdown.valueHeaderAndSlack.toFixed(1)} B`, `${m.breakdown.index.toFixed(1)} B (buckets alone ${m.breakdown.indexBucketsOnly.toFixed(1)} B)`, m.avgKeyLength.toFixed(1)]),
));
md.push('');
md.push('### Targets');
md.push('');
md.push(mdTable(['target', 'ratio', 'limit', 'result', ''], targets.map((t) => [t.name, t.ratio.toFixed(2), `${t.op} ${t.limit}`, t.pass ? 'PASS' : 'FAIL', t.detail])));
md.push('');
const markdown = md.join('\n');

// ── Charts ──────────────────────────────────────────────────────────────────────────────────

mkdirSync(OUT, { recursive: true });
const charts = [];
for (const workload of workloads) {
  for (const t of threads) {
    const cols = COLS.filter((s) => s !== 'keyshare-hot' || WORKLOADS[workload].read);
    const series = cols.map((s) => ({ name: SYSTEMS[s].label, values: sets.map((ds) => find(s, ds.keys, ds.value, workload, t)?.opsPerSec) }));
    if (!series.some((s) => s.values.some(Number.isFinite))) continue;
    const file = `${workload}-${t}t.svg`;
    writeFileSync(join(OUT, file), barChart({
      title: `${WORKLOADS[workload].label}: total ops/s, ${t} thread${t > 1 ? 's' : ''}`,
      subtitle: `native-keyshare vs peers, ${meta.date.slice(0, 10)}, ${meta.cpus}, Node ${meta.node}; Map and lru-cache: one copy per thread`,
      groups: sets.map((ds) => `${ds.keys} keys\n${vlabel(ds.value)}`),
      series,
      yLabel: 'ops/s, all threads',
    }));
    charts.push(file);
  }
}
writeFileSync(join(OUT, 'peers.md'), markdown);
writeFileSync(join(OUT, 'peers.json'), `${JSON.stringify({ meta, memory, setups, results, targets }, null, 1)}\n`);

console.log(`\n━━ results ${'━'.repeat(52)}\n`);
console.log(markdown);
console.log(`Written: ${join(OUT, 'peers.json')}, ${join(OUT, 'peers.md')}, ${charts.length} charts (${charts.join(', ')})`);
if (meta.distFingerprintAfter !== meta.distFingerprint) console.log(`WARNING: the copy of dist/ changed during the run (${meta.distFingerprint} → ${meta.distFingerprintAfter})`);
if (meta.repoDistFingerprintAfter !== meta.distFingerprint) console.log(`Note: dist/ was rebuilt during the run (now ${meta.repoDistFingerprintAfter}); the run measured the copy taken at its start (${meta.distFingerprint}).`);
console.log(`Total ${(meta.totalSeconds / 60).toFixed(1)} min (${meta.totalSeconds.toFixed(0)} s).\n`);
for (const t of targets) target(t.name, t.ratio, t.op, t.limit);
process.exitCode = broken > 0 ? 1 : 0;

// ── Charts for the docs ─────────────────────────────────────────────────────────────────────
// docs/peers-get.svg (and peers-get-4t.svg), redrawn from the peers.json just written. Only a
// full run into results/ replaces the docs' charts; a quick or partial run, or one with --out,
// writes them next to its other outputs instead. A failure here is reported but leaves the
// exit code alone: the measurements are already written.
try {
  const { renderCharts } = await import('./render-chart.mjs');
  const chartDir = meta.mode === 'full' && opts.out === undefined ? join(ROOT, 'docs') : OUT;
  console.log(`Docs charts: ${renderCharts(join(OUT, 'peers.json'), chartDir).join(', ')}`);
} catch (err) {
  console.error(`Docs charts not written: ${err.message}`);
}
