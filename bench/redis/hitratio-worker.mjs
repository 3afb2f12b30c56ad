// One reader thread of bench/redis/hitratio.mjs: reads its own seeded Zipf trace in batches of
// BATCH keys, through a bounded Redis-backed store (`near`: `get`, and `fetch` for the keys it
// missed) or a node-redis client with its own clientSideCache (`csc`: `await get` of each key).
// Counts hits over the second half of the trace (the first half warms the cache), adds its
// progress to a shared counter (the parent paces the writer by it), and on 'check' reads every
// key the writer wrote and compares its version with Redis's.
import { parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { createClient, RESP_TYPES } from 'redis';
import { createStore } from 'native-keyshare';
import { draw, zipf } from '../hitratio/traces.mjs';

const require = createRequire(import.meta.url);
const { unframe } = require('../../dist/cjs/redis-link.js');

const { kind, url, prefix, name, max, maxEntries, keys, reads, s, seed, progress, thread } = workerData;
/** Reads in flight per thread: a miss costs a round trip, and pipelined GETs keep the run short. */
const BATCH = 32;
const trace = draw(zipf(keys, s, seed, seed + 1 + thread), reads);
const counter = new Int32Array(progress);
const decode = (buf, k) => unframe(Buffer.from(buf), name, k, prefix + k);

let store = null;
let client = null;
if (kind === 'near') {
  store = createStore(name, { max, redis: { url, prefix } });
  await store.fetch('warm-up'); // connects; a key Redis does not hold
  while (!store.tracking) await new Promise((r) => setTimeout(r, 10));
} else {
  // Buffers, as the store's fetch reads them. The client's own default mapping: node-redis caches
  // only replies read with the default type mapping (withTypeMapping() would bypass the cache).
  client = createClient({ url, RESP: 3, clientSideCache: { ttl: 0, maxEntries }, commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } });
  await client.connect();
  await client.get('warm-up');
}
// The truth for the stale check: a client with no cache.
const raw = createClient({ url }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
await raw.connect();

let hits = 0;
let counted = 0;
let cscBase = null;
async function run() {
  const half = reads >>> 1;
  for (let at = 0; at < reads; at += BATCH) {
    const end = Math.min(reads, at + BATCH);
    if (at >= half && cscBase === null && client !== null) cscBase = client.clientSideCache.stats();
    if (store !== null) {
      const misses = [];
      for (let i = at; i < end; i++) {
        const k = `k${trace[i]}`;
        if (store.get(k) !== undefined) {
          if (i >= half) hits++;
        } else misses.push(store.fetch(k));
        if (i >= half) counted++;
      }
      if (misses.length > 0) await Promise.all(misses);
    } else {
      const ps = [];
      for (let i = at; i < end; i++) {
        ps.push(client.get(`${prefix}k${trace[i]}`));
        if (i >= half) counted++;
      }
      await Promise.all(ps);
    }
    Atomics.add(counter, 0, end - at);
  }
  if (client !== null) hits = client.clientSideCache.stats().hitCount - cscBase.hitCount;
  return { hits, reads: counted };
}

/** Reads each written key through the cache and straight from Redis; counts versions that differ. */
async function check(written) {
  let stale = 0;
  for (let at = 0; at < written.length; at += 256) {
    const ids = written.slice(at, at + 256);
    const truth = await Promise.all(ids.map((id) => raw.get(`${prefix}k${id}`)));
    const seen = await Promise.all(ids.map((id) => (store !== null ? store.fetch(`k${id}`) : client.get(`${prefix}k${id}`))));
    for (let j = 0; j < ids.length; j++) {
      const want = decode(truth[j], `k${ids[j]}`).v;
      const got = store !== null ? seen[j]?.v : decode(seen[j], `k${ids[j]}`).v;
      if (got !== want) stale++;
    }
  }
  return stale;
}

parentPort.on('message', async (m) => {
  if (m.cmd === 'go') parentPort.postMessage(await run());
  else if (m.cmd === 'invalidations') parentPort.postMessage(store === null ? 0 : store.invalidationCount);
  else if (m.cmd === 'check') parentPort.postMessage(await check(m.keys));
});
parentPort.postMessage('ready');
