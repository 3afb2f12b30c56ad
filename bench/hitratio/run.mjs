#!/usr/bin/env node
// Hit ratios on seeded synthetic traces, single thread, same capacity: a bounded native-keyshare
// store (`max: C`, the real thing), lru-cache (the real package), Belady's OPT (the limit,
// computed offline), and two reference models (W-TinyLFU, wtinylfu.mjs, as Caffeine describes
// it; S3-FIFO, s3fifo.mjs). Also: 4 worker threads' Zipf streams through one shared store of
// `max: C` vs four private lru-caches of C/4.
//
//   node bench/hitratio/run.mjs [--quick]
//
// Prints a table and writes bench/results/hitratio.json. Targets (see bench/README.md): the
// store's hit ratio at least lru-cache's on every trace; on the scan and loop traces, at least
// half of the gap between lru-cache and OPT closed; shared vs per-thread at least +10 points.
import { LRUCache } from 'lru-cache';
import { Worker } from 'node:worker_threads';
import { createStore } from 'native-keyshare';
import { mkdirSync, writeFileSync } from 'node:fs';
import { draw, loop, zipf, zipfWithScans } from './traces.mjs';
import { optHitRatio } from './opt.mjs';
import { S3Fifo } from './s3fifo.mjs';
import { WTinyLfu } from './wtinylfu.mjs';

const quick = process.argv.includes('--quick');
const KEYS = quick ? 100_000 : 1_000_000;
const LENGTH = quick ? 600_000 : 3_000_000;

function lruHitRatio(trace, capacity) {
  const c = new LRUCache({ max: capacity });
  let hits = 0;
  for (let i = 0; i < trace.length; i++) {
    const k = trace[i];
    if (c.get(k) !== undefined) hits++;
    else c.set(k, 1);
  }
  return hits / trace.length;
}

function policyHitRatio(trace, capacity, Policy = S3Fifo) {
  const c = new Policy(capacity);
  let hits = 0;
  for (let i = 0; i < trace.length; i++) if (c.access(trace[i])) hits++;
  return hits / trace.length;
}

let stores = 0;
/** A get, and a set on a miss, per access, through a new store of `max: capacity`. */
function storeHitRatio(trace, capacity) {
  const c = createStore(`hitratio-${stores++}`, { max: capacity });
  let hits = 0;
  for (let i = 0; i < trace.length; i++) {
    const k = String(trace[i]);
    if (c.get(k) !== undefined) hits++;
    else c.set(k, 1);
  }
  c.clear();
  return hits / trace.length;
}

const rows = [];
function measure(name, trace, capacity, gapTarget) {
  const lru = lruHitRatio(trace, capacity);
  const store = storeHitRatio(trace, capacity);
  const s3 = policyHitRatio(trace, capacity, S3Fifo);
  const tiny = policyHitRatio(trace, capacity, WTinyLfu);
  const opt = optHitRatio(trace, capacity);
  const row = { trace: name, capacity, store, lru, s3fifo: s3, wtinylfu: tiny, opt, target: gapTarget ? '≥ lru, gap ≥ 50%' : '≥ lru' };
  const pct = (x) => `${(x * 100).toFixed(2).padStart(6)}%`;
  const judge = (x) => {
    const closed = opt > lru ? (x - lru) / (opt - lru) : 1;
    return { closed, pass: x >= lru - 1e-9 && (!gapTarget || closed >= 0.5) };
  };
  const n = judge(store);
  row.gapClosed = n.closed;
  row.pass = n.pass;
  rows.push(row);
  console.log(`${name.padEnd(26)} C=${String(capacity).padEnd(7)} native-keyshare ${pct(store)} (${(n.closed * 100).toFixed(0)}% of the gap, ${n.pass ? 'ok' : 'MISS'})  lru-cache ${pct(lru)}  opt ${pct(opt)}  | models: w-tinylfu ${pct(tiny)}, s3-fifo ${pct(s3)}`);
}

for (const s of [0.8, 1.0]) {
  const trace = draw(zipf(KEYS, s, 42), LENGTH);
  for (const share of [0.01, 0.1]) measure(`zipf ${s}, ${KEYS} keys`, trace, Math.round(KEYS * share), false);
}
{
  // One-time scans of fresh keys, each twice the cache, interleaved with Zipf 0.8.
  const capacity = Math.round(KEYS * 0.01);
  const trace = zipfWithScans(KEYS, 0.8, LENGTH, Math.round(LENGTH / 60), 2 * capacity, 7);
  measure(`zipf 0.8 + scans of 2C`, trace, capacity, true);
}
{
  // A loop slightly larger than the cache.
  const capacity = Math.round(KEYS * 0.01);
  measure(`loop of 1.1C`, loop(Math.round(capacity * 1.1), 40 * Math.round(capacity * 1.1)), capacity, true);
}
{
  // Shared vs per thread at the same memory: 4 Zipf 0.8 streams over the same keys, replayed by
  // 4 worker threads through one store of max C, against four private lru-caches of C/4.
  const C = Math.round(KEYS * 0.01);
  // The same key popularity in every thread (one data set), independent draws.
  const per = [11, 12, 13, 14].map((drawSeed) => draw(zipf(KEYS, 0.8, 42, drawSeed), LENGTH / 4));
  const name = `hitratio-shared`;
  createStore(name, { max: C });
  const results = await Promise.all(per.map((trace) => new Promise((resolve, reject) => {
    const w = new Worker(new URL('./replay.mjs', import.meta.url), { workerData: { name, max: C, trace } });
    w.once('message', resolve);
    w.once('error', reject);
  })));
  const shared = results.reduce((sum, r) => sum + r.hits, 0) / LENGTH;
  const privateLru = per.reduce((sum, tr) => sum + lruHitRatio(tr, C / 4), 0) / 4;
  const pass = shared - privateLru >= 0.1;
  rows.push({ trace: '4 threads, zipf 0.8: one store of max C vs 4 × lru-cache C/4', capacity: C, shared, privateLru, pass });
  console.log(`4 threads, zipf 0.8: one shared store of max ${C}: ${(shared * 100).toFixed(2)}%; four lru-caches of ${C / 4}: ${(privateLru * 100).toFixed(2)}% (+${((shared - privateLru) * 100).toFixed(1)} points, ${pass ? 'ok' : 'MISS'})`);
}
mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
writeFileSync(new URL('../results/hitratio.json', import.meta.url), JSON.stringify({ keys: KEYS, length: LENGTH, rows }, null, 1));
const failed = rows.filter((r) => !r.pass).length;
console.log(`${rows.length - failed} of ${rows.length} traces meet their target`);
