// One thread of bench/redis/near.mjs: runs case `kind` for `seconds` and reports ops/s, or
// caches `n` keys and reports the heap it took.
import { parentPort, workerData } from 'node:worker_threads';
import { createClient } from 'redis';
import { createStore } from 'native-keyshare';

const { kind, url, prefix, keys, seconds, n } = workerData;
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
let sink;
/** Keys each thread reads through a separate store or client before a memory case (see there). */
const WARM_KEYS = 2000;

async function timed(fn, isAsync) {
  const end = performance.now() + seconds * 1000;
  let ops = 0;
  let i = 0;
  while (performance.now() < end) {
    if (isAsync) for (let j = 0; j < 100; j++) sink = await fn(`k${i++ % keys}`);
    else for (let j = 0; j < 1000; j++) sink = fn(`k${i++ % keys}`);
    ops += isAsync ? 100 : 1000;
  }
  return ops / seconds;
}

parentPort.once('message', async () => {
  let out;
  if (kind === 'near' || kind === 'near-mem') {
    const s = createStore('bench', { redis: { url, prefix } });
    if (kind === 'near') {
      for (let i = 0; i < keys; i++) await s.fetch(`k${i}`);
      out = await timed((k) => s.get(k), false);
    } else {
      // Loads node-redis and connects first, and compiles the code a cached read runs (on 2,000
      // keys of another store: its own cache stays apart), so that the growth measured below is
      // the cache's, not the JIT's. The node-redis side warms up the same way.
      await s.fetch('warm-up');
      const warm = createStore('bench-warm-up', { redis: { url, prefix } });
      for (let i = 0; i < WARM_KEYS; i++) sink = await warm.fetch(`k${i}`);
      for (let i = 0; i < WARM_KEYS; i++) sink = warm.get(`k${i}`);
      warm.close();
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < n; i++) sink = await s.fetch(`k${i}`);
      for (let i = 0; i < n; i++) sink = s.get(`k${i}`); // every thread reads every key: its lookup cache fills
      sink = null;
      gc();
      out = process.memoryUsage().heapUsed - before;
    }
  } else if (kind === 'plain-store' || kind === 'learned-store') {
    const s = createStore(kind === 'plain-store' ? 'bench-plain' : 'bench-learned');
    out = await timed((k) => s.get(k), false);
  } else {
    const csc = kind === 'csc' || kind === 'csc-mem';
    const c = createClient({ url, RESP: 3, ...(csc ? { clientSideCache: { ttl: 0, maxEntries: 0 } } : {}) });
    await c.connect();
    if (kind === 'csc-mem') {
      await c.get('warm-up');
      const warm = createClient({ url, RESP: 3, clientSideCache: { ttl: 0, maxEntries: 0 } });
      await warm.connect();
      for (let i = 0; i < WARM_KEYS; i++) sink = await warm.get(`${prefix}k${i}`);
      for (let i = 0; i < WARM_KEYS; i++) sink = await warm.get(`${prefix}k${i}`);
      await warm.quit();
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < n; i++) sink = await c.get(`${prefix}k${i}`);
      for (let i = 0; i < n; i++) sink = await c.get(`${prefix}k${i}`);
      sink = null;
      gc();
      out = process.memoryUsage().heapUsed - before;
    } else {
      for (let i = 0; i < keys; i++) await c.get(`${prefix}k${i}`);
      out = await timed((k) => c.get(`${prefix}${k}`), true);
    }
    await c.quit();
  }
  parentPort.postMessage(out);
});
parentPort.postMessage('ready');
