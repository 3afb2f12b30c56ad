// Hit ratio of a bounded near cache over Redis (issue 17): 4 worker threads read seeded Zipf
// traces of a 100 K-key space through one Redis-backed store opened with `max` (1 % and 10 % of
// the keys), `get` and, on a miss, `fetch` (a Redis GET), while another process (a child with its
// own node-redis client) SETs Zipf-distributed keys at WRITE_SHARE of the reads' pace. For
// comparison the same traces and writes with one node-redis clientSideCache client per thread,
// bounded by `maxEntries` to C/4 per thread (the same number of entries in the process as the
// near cache's C) and to C per thread (each thread holding as many as the shared cache).
// Reported: local hit ratio over the second half of each trace (the first half warms the
// caches), Redis GETs per 1000 reads (INFO commandstats, the whole run), invalidations applied,
// and stale reads: after the writer stopped and the near cache's tracker applied one
// invalidation per SET, every thread reads every written key and compares its version with
// Redis's.
//
//   npm run build && node bench/redis/hitratio.mjs     (needs redis-server; ~1 minute)
//
// BENCH_HR_KEYS (100000), BENCH_HR_READS (reads per thread, 40000), BENCH_HR_WRITES (0.02).
// A report, not a test: figures go to bench/README.md ("Redis tier").
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { createClient } from 'redis';
import { arenaStats } from 'native-keyshare';
import { startRedis } from '../../test/fixtures/redis-server.mjs';

const KEYS = Number(process.env.BENCH_HR_KEYS ?? 100_000);
const READS = Number(process.env.BENCH_HR_READS ?? 40_000);
const WRITE_SHARE = Number(process.env.BENCH_HR_WRITES ?? 0.02);
const THREADS = 4;
const prefix = 'h:';
const server = await startRedis();
const url = server.url;
arenaStats(); // this thread's arena, which the workers share

const writer = fork(new URL('./hitratio-writer.mjs', import.meta.url), [url, prefix, String(KEYS)]);
const fromWriter = () => new Promise((r) => writer.once('message', r));
await fromWriter();
const admin = createClient({ url });
await admin.connect();
async function redisGets() {
  const info = await admin.info('commandstats');
  return Number(/cmdstat_get:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

let run = 0;
// Every key, once: a scenario's readers find what the previous one's writer left, which changes
// no hit or miss (the stale check compares with what Redis holds, not with the seed).
writer.send({ cmd: 'seed' });
await fromWriter();

async function scenario(kind, s, max, maxEntries) {
  const name = `hr-${++run}`;
  const progress = new SharedArrayBuffer(4);
  const counter = new Int32Array(progress);
  const ws = [];
  for (let t = 0; t < THREADS; t++) {
    const w = new Worker(new URL('./hitratio-worker.mjs', import.meta.url), {
      workerData: { kind, url, prefix, name, max, maxEntries, keys: KEYS, reads: READS, s, seed: 1000 + Math.round(s * 10), progress, thread: t },
    });
    await new Promise((r, j) => { w.once('message', r); w.once('error', j); });
    ws.push(w);
  }
  const ask = (w, msg) => new Promise((r) => { w.once('message', r); w.postMessage(msg); });
  writer.send({ cmd: 'start', s, seed: 1000 + Math.round(s * 10) });
  const gets0 = await redisGets();
  const t0 = performance.now();
  const done = Promise.all(ws.map((w) => ask(w, { cmd: 'go' })));
  let finished = false;
  done.then(() => { finished = true; });
  // Paces the writer by the readers' progress: SETs = WRITE_SHARE × reads so far.
  while (!finished) {
    writer.send({ cmd: 'writeTo', n: Math.floor(Atomics.load(counter, 0) * WRITE_SHARE) });
    await new Promise((r) => setTimeout(r, 5));
  }
  const results = await done;
  const seconds = (performance.now() - t0) / 1000;
  writer.send({ cmd: 'finish' });
  const { writes, keys } = await fromWriter();
  const gets = (await redisGets()) - gets0;
  // The near cache: wait until its tracker's count of applied invalidations has not moved for
  // 200 ms. Redis sends a SET's invalidation before its reply (both in the same event-loop turn,
  // the broadcast first), and every SET was acknowledged by now, so what is left is the tracker
  // reading its socket. (Not "one per SET": BCAST coalesces the SETs of one key within one
  // turn of Redis's event loop.) A check that ran too early would show up as stale reads.
  // node-redis: its invalidations come on the connection its reads use, before the replies to
  // anything sent after the writes.
  let invalidations = 0;
  if (kind === 'near') {
    let still = 0;
    while (still < 4) {
      const n = (await Promise.all(ws.map((w) => ask(w, { cmd: 'invalidations' })))).reduce((a, b) => a + b, 0);
      still = n === invalidations ? still + 1 : 0;
      invalidations = n;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const stale = (await Promise.all(ws.map((w) => ask(w, { cmd: 'check', keys })))).reduce((a, b) => a + b, 0);
  await Promise.all(ws.map((w) => w.terminate()));
  const hits = results.reduce((a, r) => a + r.hits, 0);
  const counted = results.reduce((a, r) => a + r.reads, 0);
  return { hitRatio: hits / counted, getsPer1000: (gets * 1000) / (READS * THREADS), writes, written: keys.length, invalidations, stale, checked: keys.length * THREADS, seconds };
}

const pct = (x) => `${(x * 100).toFixed(1)} %`;
console.log(`${KEYS} keys, ${THREADS} threads × ${READS} reads, writes at ${WRITE_SHARE * 100} % of the reads from another process`);
console.log('| Zipf | C (entries) | reader | local hit ratio | Redis GETs / 1000 reads | SETs (keys) | invalidations applied | stale reads after the writer stopped | s |');
console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const s of [0.8, 1.0]) {
  for (const share of [0.01, 0.1]) {
    const C = Math.round(KEYS * share);
    for (const [kind, label, max, maxEntries] of [
      ['near', 'near cache, `max` C, shared', C, 0],
      ['csc', 'node-redis csc, `maxEntries` C/4 per thread', 0, Math.round(C / THREADS)],
      ['csc', 'node-redis csc, `maxEntries` C per thread', 0, C],
    ]) {
      const r = await scenario(kind, s, max, maxEntries);
      console.log(`| ${s} | ${C.toLocaleString('en-US')} | ${label} | ${pct(r.hitRatio)} | ${r.getsPer1000.toFixed(0)} | ${r.writes.toLocaleString('en-US')} (${r.written.toLocaleString('en-US')}) | ${kind === 'near' ? r.invalidations.toLocaleString('en-US') : '–'} | ${r.stale} of ${r.checked.toLocaleString('en-US')} | ${r.seconds.toFixed(1)} |`);
    }
  }
}
writer.send({ cmd: 'exit' });
await admin.quit();
await server.stop();
