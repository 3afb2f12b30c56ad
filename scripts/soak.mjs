#!/usr/bin/env node
// Soak: an endless overwrite/delete workload from several threads, reporting resident memory
// and the arena's size over time. Memory must level off: freed blocks are reused.
//
//   node scripts/soak.mjs [--minutes 10] [--threads 2] [--keys 20000]
//
// Prints one line per interval; exits 1 if the arena's bytes in use at the end exceed the
// level reached after the first fifth of the run by more than 10%.
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { createStore, arenaStats, verify } from 'native-keyshare';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};

if (isMainThread) {
  const MINUTES = arg('minutes', 10);
  const THREADS = arg('threads', 2);
  const KEYS = arg('keys', 20000);
  const stop = new Int32Array(new SharedArrayBuffer(8 + 8 * THREADS));
  const ops = new Float64Array(stop.buffer, 8, THREADS);
  const workers = Array.from({ length: THREADS }, (_, id) => new Worker(new URL(import.meta.url), { workerData: { id, keys: KEYS, stop: stop.buffer } }));
  const started = Date.now();
  const end = started + MINUTES * 60_000;
  const interval = Math.max(1000, Math.min(30_000, (MINUTES * 60_000) / 20));
  let warm = 0;
  console.log(`soak: ${MINUTES} min, ${THREADS} threads, ${KEYS} keys, values 10 B–8 KB, 20% deletes`);
  console.log('  time    ops/s      RSS MiB   arena reserved MiB   in use MiB   keys');
  let lastOps = 0;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const t = Date.now();
      const total = ops.reduce((a, b) => a + b, 0);
      const a = arenaStats();
      const line = `${String(Math.round((t - started) / 1000)).padStart(5)} s ${String(Math.round(((total - lastOps) * 1000) / interval)).padStart(9)} ${(process.memoryUsage().rss / 2 ** 20).toFixed(1).padStart(10)} ${(a.bytesReserved / 2 ** 20).toFixed(1).padStart(20)} ${(a.bytesInUse / 2 ** 20).toFixed(1).padStart(12)} ${String(createStore('soak').size).padStart(6)}`;
      console.log(line);
      lastOps = total;
      if (warm === 0 && t - started >= (end - started) / 5) warm = a.bytesInUse;
      if (t >= end) {
        clearInterval(timer);
        resolve();
      }
    }, interval);
  });
  Atomics.store(stop, 0, 1);
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
  const final = arenaStats().bytesInUse;
  const report = verify();
  console.log(`in use after warm-up ${(warm / 2 ** 20).toFixed(1)} MiB, at the end ${(final / 2 ** 20).toFixed(1)} MiB; verify: ${report.ok ? 'ok' : 'ERRORS'}, ${report.leakedBytes} bytes leaked`);
  process.exitCode = final > warm * 1.1 || !report.ok ? 1 : 0;
} else {
  const { id, keys, stop } = workerData;
  const flag = new Int32Array(stop);
  const ops = new Float64Array(stop, 8, (stop.byteLength - 8) / 8);
  const store = createStore('soak');
  let x = 0x9e3779b9 ^ id;
  const rand = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 4294967296);
  const pads = Array.from({ length: 64 }, (_, i) => 'z'.repeat(Math.floor(10 * 1.115 ** i)));
  let n = 0;
  while (Atomics.load(flag, 0) === 0) {
    for (let i = 0; i < 1000; i++) {
      const k = `k${Math.floor(rand() * keys)}`;
      if (rand() < 0.2) store.delete(k);
      else store.set(k, { n, pad: pads[Math.floor(rand() * pads.length)] }, rand() < 0.1 ? { ttl: 1 + rand() * 5 } : undefined);
      n++;
    }
    ops[id] = n;
  }
}
