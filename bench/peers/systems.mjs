// The systems under test, each behind the same two-function adapter { get(key), set(key, value) }
// that the measured loops call. Two halves per system:
//
//  - setupShared(), in the main thread of a case process, before any worker starts: creates and
//    fills the shared structure once and returns what the workers need to reach it;
//  - openInThread(), in every worker: opens the shared structure (or, for Map and lru-cache,
//    which cannot be shared, builds this thread's own copy filled with the same data) and returns
//    the adapters.
//
// How each peer is shared follows its own documentation (node_modules/<peer>/README.md):
//  - sharedmap: the SharedMap object goes to the workers in workerData, and each worker restores
//    its prototype with Object.setPrototypeOf(map, SharedMap.prototype). It stores strings only:
//    objects go through JSON.stringify / JSON.parse, as its README says ("You can store objects
//    if you serialize them"). Its memory is allocated up front: maxSize entries of keySize +
//    objSize UTF-16 code units.
//  - lmdb: each thread calls open() on the same path (lmdb-js shares one LMDB environment per
//    process between threads). Default encoding (msgpack) with shared structures
//    (`sharedStructuresKey`, which its README "highly recommends" for objects of similar shapes:
//    msgpackr records whose shapes are kept in the database, as native-keyshare keeps its
//    learned shapes in the store), noSync: true, a temp directory.
//    Writes use putSync: the measured loops are synchronous, and putSync is the write that is
//    done and visible to the other threads when it returns, like native-keyshare's set. (lmdb's
//    async put() queues the write for a background thread and returns before it is visible.)
//  - native-keyshare: the main thread loads the library before starting the workers, which find
//    the arena at load and open the store by name (plain, or with hotReads in its own process).
//  - bounded native-keyshare (`keyshare-max`: `max: n`; `keyshare-evict`: `max: n / 2`) and
//    lru-cache of half the keys per thread (`lru-evict`): filled with all n keys like the others
//    (the evicting ones keep what their policy keeps). The evicting ones are read as a cache is,
//    cache-aside: a get that misses sets the key (to a value of the same shape, built once: the
//    loader's own cost is not measured) and returns it, so every get returns a value and its
//    time includes the misses' writes and evictions. Keys are uniform, the worst case of any
//    policy: about half the gets miss.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { boundOf, makeKeys, makeValue } from './data.mjs';

export const SCRATCH = process.env.PEERS_SCRATCH || '/tmp/peers-work';

/**
 * The native-keyshare build to measure: the package itself (its dist/, by the package's own
 * name), or the copy of dist/ that run.mjs takes when it starts (PEERS_KEYSHARE_DIST), so that
 * someone rebuilding dist/ during a run does not change the build half-way through.
 */
export function keyshareModule() {
  const dist = process.env.PEERS_KEYSHARE_DIST;
  return import(dist ? pathToFileURL(join(dist, 'esm/index.mjs')).href : 'native-keyshare');
}

/** What the adapter's get returns must be the stored object: checked after setup, per thread. */
export function sameValue(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Biggest JSON length of the values a run stores or writes (sharedmap's fixed value size). */
function maxJsonLength(kind, n) {
  // Values grow with the digits of their index; the largest indices make the longest strings.
  let max = 0;
  for (const i of [0, n - 1, 2 * n, 2 * n - 1, 999_999, 1_999_999]) max = Math.max(max, JSON.stringify(makeValue(kind, i)).length);
  return max + 64;
}

/** How every thread opens the lmdb database (see the header). */
function lmdbOptions(path) {
  return { path, noSync: true, sharedStructuresKey: Symbol.for('structures') };
}

// ── In the case's main thread ───────────────────────────────────────────────────────────────

/**
 * Creates and fills the shared structure of `system` with n keys of `kind` values.
 * Returns { handle (structured-cloneable, for workerData), info, close() }.
 */
export async function setupShared(system, n, kind) {
  const keys = makeKeys(n);
  if (system.startsWith('keyshare')) {
    const ks = await keyshareModule();
    // 1M values of ~1 KB take ~1.3 GB with the size-class slack: raise the default 1 GiB bound.
    ks.configure({ maxMemory: 4 * 2 ** 30 - 2 ** 20 });
    const name = `peers-${n}-${kind}`;
    const max = boundOf(system, n);
    const store = ks.createStore(name, max > 0 ? { max } : undefined);
    const before = ks.arenaStats().bytesInUse;
    for (let i = 0; i < n; i++) store.set(keys[i], makeValue(kind, i));
    const st = store.stats();
    const info = {
      arenaBytesInUse: ks.arenaStats().bytesInUse - before,
      arenaBytesReserved: ks.arenaStats().bytesReserved,
      valueBytes: st.valueBytes,
      indexCapacity: st.indexCapacity,
      entries: st.entries,
    };
    const expected = max > 0 ? Math.min(n, max) : n;
    if (st.entries !== expected) throw new Error(`keyshare store has ${st.entries} entries, expected ${expected}`);
    if (max > 0) Object.assign(info, { max, evictionsWhileFilling: st.evictions });
    return {
      handle: { name, max },
      info,
      // At the end: the store's counts over the whole run (every thread), for the hit ratio.
      final: max > 0 ? () => { const f = store.stats(); return { hits: f.hits, misses: f.misses, evictions: f.evictions, entries: f.entries }; } : undefined,
      close() {},
    };
  }
  if (system === 'sharedmap') {
    const { default: SharedMap } = await import('sharedmap');
    const objSize = maxJsonLength(kind, n);
    // Coalesced hashing over maxSize slots; its README: "almost no performance drop up to 95%
    // fill ratio". 80% here.
    const maxSize = Math.ceil(n / 0.8);
    const keySize = keys[n - 1].length + 4;
    const map = new SharedMap(maxSize, keySize, objSize);
    for (let i = 0; i < n; i++) map.set(keys[i], JSON.stringify(makeValue(kind, i)));
    if (map.length !== n) throw new Error(`sharedmap holds ${map.length} keys, expected ${n}`);
    return { handle: { map }, info: { maxSize, keySize, objSize, bytes: map.storage.byteLength }, close() {} };
  }
  if (system === 'lmdb') {
    const { open } = await import('lmdb');
    mkdirSync(SCRATCH, { recursive: true });
    const dir = mkdtempSync(join(SCRATCH, 'lmdb-'));
    const path = join(dir, 'db');
    const db = open(lmdbOptions(path));
    const CHUNK = 10_000;
    for (let i = 0; i < n; i += CHUNK) {
      db.transactionSync(() => {
        for (let j = i; j < Math.min(n, i + CHUNK); j++) db.putSync(keys[j], makeValue(kind, j));
      });
    }
    const info = { path, entries: db.getStats().entryCount };
    return {
      handle: { path },
      info,
      async close() {
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (system === 'map' || system === 'lru' || system === 'lru-evict') return { handle: {}, info: {}, close() {} };
  throw new Error(`unknown system ${system}`);
}

/**
 * The adapter of an evicting cache, read cache-aside: get(k) returns the cached value or, on a
 * miss, sets `fill` (one value of the dataset's shape, built once) and returns it. `fill` is
 * exposed for the worker's first check, which accepts it for a key the cache no longer held.
 */
function cacheAside(get, set, kind) {
  const fill = makeValue(kind, 0);
  return {
    fill,
    get: (k) => {
      const v = get(k);
      if (v !== undefined) return v;
      set(k, fill);
      return fill;
    },
    set,
  };
}

// ── In each worker ──────────────────────────────────────────────────────────────────────────

/**
 * Opens `system` in this thread. Returns { variants: { name: { get, set } }, fillMs, close() }.
 * `keys` are this thread's keys[0..n).
 */
export async function openInThread(system, handle, n, kind, keys) {
  const t0 = performance.now();
  if (system === 'keyshare-max' || system === 'keyshare-evict') {
    const { createStore } = await keyshareModule();
    const store = createStore(handle.name, { max: handle.max });
    const variant = system === 'keyshare-max'
      ? { get: (k) => store.get(k), set: (k, v) => store.set(k, v) }
      : cacheAside((k) => store.get(k), (k, v) => store.set(k, v), kind);
    return { variants: { [system]: variant }, fillMs: performance.now() - t0, close() {} };
  }
  if (system === 'keyshare' || system === 'keyshare-hot') {
    // Plain and hotReads handles are measured in separate processes: the hotReads cache keeps
    // decoded values alive in each thread's heap, and their GC cost must not be charged to the
    // plain handle's measurements, or the other way round. The hot cache gets the same budget
    // as lru-cache below (`max: n`): every key of the run.
    const { createStore } = await keyshareModule();
    const store = createStore(handle.name, { hotReads: system === 'keyshare-hot' ? { maxKeys: n } : false });
    return {
      variants: { [system]: { get: (k) => store.get(k), set: (k, v) => store.set(k, v) } },
      fillMs: performance.now() - t0,
      close() {},
    };
  }
  if (system === 'sharedmap') {
    const { default: SharedMap } = await import('sharedmap');
    const map = handle.map;
    Object.setPrototypeOf(map, SharedMap.prototype);
    return {
      variants: {
        sharedmap: {
          get: (k) => {
            const s = map.get(k);
            return s === undefined ? undefined : JSON.parse(s);
          },
          set: (k, v) => map.set(k, JSON.stringify(v)),
        },
      },
      fillMs: performance.now() - t0,
      close() {},
    };
  }
  if (system === 'lmdb') {
    const { open } = await import('lmdb');
    const db = open(lmdbOptions(handle.path));
    return {
      variants: { lmdb: { get: (k) => db.get(k), set: (k, v) => db.putSync(k, v) } },
      fillMs: performance.now() - t0,
      close: () => db.close(),
    };
  }
  if (system === 'map') {
    const map = new Map();
    for (let i = 0; i < n; i++) map.set(keys[i], makeValue(kind, i));
    return {
      variants: { map: { get: (k) => map.get(k), set: (k, v) => { map.set(k, v); } } },
      fillMs: performance.now() - t0,
      close() {},
    };
  }
  if (system === 'lru') {
    const { LRUCache } = await import('lru-cache');
    // max = n: every key fits, nothing is evicted; get still maintains recency.
    const lru = new LRUCache({ max: n });
    for (let i = 0; i < n; i++) lru.set(keys[i], makeValue(kind, i));
    return {
      variants: { lru: { get: (k) => lru.get(k), set: (k, v) => { lru.set(k, v); } } },
      fillMs: performance.now() - t0,
      close() {},
    };
  }
  if (system === 'lru-evict') {
    const { LRUCache } = await import('lru-cache');
    const lru = new LRUCache({ max: boundOf(system, n) });
    for (let i = 0; i < n; i++) lru.set(keys[i], makeValue(kind, i));
    return {
      variants: { 'lru-evict': cacheAside((k) => lru.get(k), (k, v) => { lru.set(k, v); }, kind) },
      fillMs: performance.now() - t0,
      close() {},
    };
  }
  throw new Error(`unknown system ${system}`);
}
