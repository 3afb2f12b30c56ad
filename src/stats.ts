/**
 * What a store holds and how it is used, as Store.stats() reports it: counters read without
 * locks, a walk of the index for the value bytes, and the 64-bit use counters of the STORE block
 * (add64, read64) with the per-thread counts of hits and misses that feed them (UseCounts).
 */
import { arena } from './arena';
import { usage } from './allocator';
import { forEachRef } from './keyindex';
import { ENTRY, INDEX, STORE, UNIT, VALUE, inlineLength } from './layout';
import { type Ref, wordOf } from './ref';
import { learnedCount } from './structures';
import { liveThreadCount } from './threads';

/** What {@link Store.stats} reports. Counts are read without locks and may be momentarily off by concurrent writers. */
export interface StoreStats {
  name: string;
  /** Keys that hold a value (expired keys not yet reclaimed included). */
  entries: number;
  /** Keys held by a lock without a value yet. */
  placeholders: number;
  /** Keys whose value has a TTL. */
  ttlEntries: number;
  /** Bucket array size and tombstones of the key index. */
  indexCapacity: number;
  tombstones: number;
  /** Sum of the encoded sizes of the values (walks the store). */
  valueBytes: number;
  /**
   * Object shapes the store has learned from the values written to it (at most 128): objects
   * of these shapes are stored without their property names (see README, "Learned structures").
   */
  learnedStructures: number;
  /**
   * Reads that found a value (`get`, `has` excluded, `fetch` hits) and that did not, counted by
   * every thread. Each thread adds its counts to the shared ones every 1,024 reads and when it
   * calls stats(), so another thread's last few reads may not show yet. `peek` counts nothing.
   */
  hits: number;
  misses: number;
  /** Keys evicted to keep the store within its `max` / `maxSize`. */
  evictions: number;
  /** Loader calls `fetch` made, and those that threw or rejected. */
  loads: number;
  loadFailures: number;
  arena: {
    /** Bytes in blocks handed out, across all stores. */
    bytesInUse: number;
    /** Bytes of the SharedArrayBuffer (grows on demand up to maxMemory). */
    bytesReserved: number;
    maxMemory: number;
    /** Threads currently registered with the arena. */
    threads: number;
  };
}

/** The stats of store `store` called `name`. */
export function storeStats(name: string, store: Ref): StoreStats {
  const s = wordOf(store);
  arena.refresh();
  const i32 = arena.i32;
  let valueBytes = 0;
  forEachRef(store, (ref) => {
    const d = Atomics.load(arena.i32, wordOf(ref) + ENTRY.DATA);
    if (d < 0) valueBytes += inlineLength(d);
    else if (d !== 0 && arena.covers(d * UNIT + 8)) valueBytes += arena.i32[wordOf(d) + VALUE.LEN];
  }, 8, () => (valueBytes = 0));
  const idx = Atomics.load(i32, s + STORE.INDEX);
  const u = usage();
  const values = Atomics.load(i32, s + STORE.VALUES);
  return {
    name: name,
    entries: values,
    placeholders: Math.max(0, Atomics.load(i32, s + STORE.COUNT) - values),
    ttlEntries: Atomics.load(i32, s + STORE.TTL_COUNT),
    indexCapacity: arena.i32[wordOf(idx) + INDEX.CAPACITY],
    tombstones: Atomics.load(i32, s + STORE.TOMBSTONES),
    valueBytes,
    learnedStructures: learnedCount(store),
    hits: read64(i32, s + STORE.HITS),
    misses: read64(i32, s + STORE.MISSES),
    evictions: read64(i32, s + STORE.EVICTIONS),
    loads: read64(i32, s + STORE.LOADS),
    loadFailures: read64(i32, s + STORE.LOAD_FAILURES),
    arena: { bytesInUse: u.bytesInUse, bytesReserved: u.bytesReserved, maxMemory: u.maxMemory, threads: liveThreadCount() },
  };
}

/**
 * Adds `n` (0 <= n < 2^31) to the 64-bit counter at words `w` (low) and `w + 1` (high), lock-free:
 * the thread whose addition carries past 2^32 carries it into the high word.
 */
export function add64(i32: Int32Array, w: number, n: number): void {
  const before = Atomics.add(i32, w, n) >>> 0;
  if (before + n > 0xffffffff) Atomics.add(i32, w + 1, 1);
}

/** The 64-bit counter at words `w`, `w + 1` (a carry in flight may show as 2^32 too little, for a moment). */
export function read64(i32: Int32Array, w: number): number {
  for (;;) {
    const hi = Atomics.load(i32, w + 1);
    const lo = Atomics.load(i32, w) >>> 0;
    if (Atomics.load(i32, w + 1) === hi) return hi * 4294967296 + lo;
  }
}

/** Reads between two additions to the shared counters (stats.hits, stats.misses). */
export const FLUSH_EVERY = 1024;

/**
 * One handle's hits and misses not yet added to its store's counters: reads count here, in
 * plain fields of this thread, so that no read writes a line other threads read.
 */
export class UseCounts {
  hits = 0;
  misses = 0;
  constructor(private readonly store: Ref) {}
  flush(): void {
    const i32 = arena.i32;
    const s = wordOf(this.store);
    if (this.hits !== 0) add64(i32, s + STORE.HITS, this.hits);
    if (this.misses !== 0) add64(i32, s + STORE.MISSES, this.misses);
    this.hits = 0;
    this.misses = 0;
  }
}
