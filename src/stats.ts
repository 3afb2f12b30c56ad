/**
 * What a store holds, as Store.stats() reports it: counters read without locks, and a walk of
 * the index for the value bytes.
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
  });
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
    arena: { bytesInUse: u.bytesInUse, bytesReserved: u.bytesReserved, maxMemory: u.maxMemory, threads: liveThreadCount() },
  };
}
