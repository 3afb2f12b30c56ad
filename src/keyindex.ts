/**
 * A store's key index: open addressing with linear probing over a power-of-two bucket array.
 *
 * Each bucket holds an ENTRY ref tagged with its key's top hash bits (see BUCKET_TAG_BITS), EMPTY
 * or TOMBSTONE, and is published with one Atomics.store, so a lock-free reader sees a bucket
 * either before or after an insert or removal, never half. Writers (insert, remove, resize)
 * hold the store's structural lock. A tag only ever rules an entry out: a probe whose tag
 * matches still compares the key, so a wrong tag can cost a miss, never a wrong answer.
 *
 * Readers do not lock. What could mislead them is a resize: the old bucket array is freed after
 * the new one is published and may be reused for anything. So a resize bumps the store's SEQ
 * (+2) after publishing the new array and before freeing the old; `lookup` reads SEQ before and
 * after probing and retries if it moved. A probe that ends on EMPTY in an array that was not
 * replaced is a correct miss: inserts and removals never move other entries.
 *
 * An entry found in a bucket may be freed and reused for another key while we look at it; the
 * entry's GEN word (even while live, bumped on free and on reuse) read before and after the key
 * comparison says whether the comparison saw one stable key.
 */
import { arena } from './arena';
import { NEEDS_FENCE, readFence } from './ordering';
import { alloc, finishReplacement, free } from './allocator';
import { OutOfMemoryError } from './errors';
import { spin, testKnob } from './faults';
import {
  BUCKET_EMPTY,
  BUCKET_REF_MASK,
  BUCKET_TAG_BITS,
  BUCKET_TOMBSTONE,
  ENTRY,
  KEY_LEN_MASK,
  KEY_ONE_BYTE,
  INDEX,
  KIND,
  MAX_LOAD,
  MIN_INDEX_CAPACITY,
  STORE,
  UNIT,
  readArenaText,
  MAX_KEY_LENGTH,
} from './layout';

/** Module-local, so that V8 folds it: the validating loads below need a fence off x64 (ordering.ts). */
const FENCE = NEEDS_FENCE;

/** 32-bit FNV-1a over UTF-16 code units: the JS string is hashed without encoding it. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

/** hashKey of the key stored in entry `ref`, from its stored code units (store lock held). */
export function storedHash(ref: number): number {
  const lenWord = arena.i32[ref * 2 + ENTRY.KEY_LEN];
  // Clamped, defensively: a key is never longer, so a garbage length cannot make the loop long.
  const len = Math.min(lenWord & KEY_LEN_MASK, MAX_KEY_LENGTH);
  let h = 0x811c9dc5;
  if ((lenWord & KEY_ONE_BYTE) !== 0) {
    const u8 = arena.u8;
    const at = (ref * 2 + ENTRY.KEY) * 4;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ u8[at + i], 0x01000193);
  } else {
    const u16 = arena.u16;
    const at = (ref * 2 + ENTRY.KEY) * 2;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ u16[at + i], 0x01000193);
  }
  return h;
}

/** The GEN of the entry the last successful `lookup` returned. */
export let foundGen = 0;

/**
 * Compares the two-byte key stored in entry `ref` with `key` (lengths already equal). A
 * one-byte key never equals a key with a code unit >= 256, and is compared inline in lookup.
 */
function keyEqualsTwoByte(ref: number, key: string): boolean {
  const u16 = arena.u16;
  const base = ref * 4 + ENTRY.KEY * 2;
  for (let i = 0; i < key.length; i++) if (u16[base + i] !== key.charCodeAt(i)) return false;
  return true;
}

/** Whether `key` can be stored one byte per code unit (every unit below 256). */
export function isOneByteKey(key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0xff) return false;
  return true;
}

/**
 * Finds the live entry for `key`: returns its ref (and sets `foundGen`), or 0 if absent.
 * Lock-free; see the module comment for why the answer can be trusted.
 */
export function lookup(store: number, key: string, hash: number): number {
  const s = store * 2;
  const len = key.length;
  for (;;) {
    const a = arena;
    const i32 = a.i32;
    const seq = Atomics.load(i32, s + STORE.SEQ);
    // INDEX is a plain load: the SEQ loads around the probe order it, as in the read protocol
    // of seqlock.ts (an Atomics.load costs ~6 ns, a plain one ~1.5). Bounds are checked against
    // this thread's views inline, and only a ref beyond them takes covers() (which refreshes
    // the views if the arena grew) and starts over.
    const idx = i32[s + STORE.INDEX]!;
    if ((idx + 2) * UNIT > a.viewBytes) {
      a.covers((idx + 2) * UNIT);
      continue;
    }
    const cap = i32[idx * 2 + INDEX.CAPACITY]!;
    const base = idx * 2 + INDEX.BUCKETS;
    let found = 0;
    // A capacity that is not a power of two, or buckets past the arena, mean the array was
    // freed and reused under us: fall through to the SEQ check, which will have moved.
    if (cap > 0 && (cap & (cap - 1)) === 0) {
      if ((base + cap) * 4 > a.viewBytes) {
        // A new array beyond this thread's views: refresh them and start over with them.
        if (a.covers((base + cap) * 4)) found = -1;
      } else {
        const mask = cap - 1;
        let b = hash & mask;
        for (let n = 0; n < cap; n++, b = (b + 1) & mask) {
          const bucket = i32[base + b]!;
          if (bucket === BUCKET_EMPTY) break;
          // Another key's entry (or a tombstone, whose tag bits are 0): skip it without
          // touching its memory.
          if (((bucket ^ hash) & BUCKET_TAG_BITS) !== 0 || bucket === BUCKET_TOMBSTONE) continue;
          const ref = bucket & BUCKET_REF_MASK;
          const e = ref * 2;
          if ((e + ENTRY.KEY) * 4 + len * 2 > a.viewBytes) {
            // Beyond this thread's views: the arena grew (refresh them and probe again), or the
            // ref is garbage from an array freed under us (the SEQ check below retries).
            if (a.covers((e + ENTRY.KEY) * 4 + len * 2)) found = -1;
            break;
          }
          const gen = Atomics.load(i32, e + ENTRY.GEN);
          const lenWord = i32[e + ENTRY.KEY_LEN]!;
          if ((gen & 1) !== 0 || (lenWord & KEY_LEN_MASK) !== len) continue;
          if ((lenWord & KEY_ONE_BYTE) !== 0) {
            const u8 = a.u8;
            const at = (e + ENTRY.KEY) * 4;
            let i = 0;
            while (i < len && u8[at + i] === key.charCodeAt(i)) i++;
            if (i !== len) continue;
          } else if (!keyEqualsTwoByte(ref, key)) continue;
          if (FENCE) readFence();
          if (Atomics.load(i32, e + ENTRY.GEN) !== gen) continue;
          foundGen = gen;
          found = ref;
          break;
        }
      }
    }
    if (FENCE) readFence();
    if (found >= 0 && Atomics.load(a.i32, s + STORE.SEQ) === seq) return found;
  }
}

/** The entry ref bucket value `bucket` names, or 0 for EMPTY and TOMBSTONE. */
export function bucketRef(bucket: number): number {
  return bucket === BUCKET_TOMBSTONE ? 0 : bucket & BUCKET_REF_MASK;
}

/** Units of an INDEX block with `cap` buckets. */
function indexUnits(cap: number): number {
  return Math.ceil(((INDEX.BUCKETS + cap) * 4) / UNIT);
}

/** Allocates an empty bucket array (recorded in `pendingWord`, if given; see alloc). */
export function newIndex(cap: number, mayDefragment = true, pendingWord = -1): number {
  const ref = alloc(KIND.INDEX, indexUnits(cap), pendingWord, false, mayDefragment);
  const i32 = arena.i32;
  i32[ref * 2 + INDEX.CAPACITY] = cap;
  i32.fill(0, ref * 2 + INDEX.BUCKETS, ref * 2 + INDEX.BUCKETS + cap);
  return ref;
}

/**
 * Makes room for one more insert, resizing (or just sweeping tombstones) when the load would
 * pass MAX_LOAD. Caller holds the store lock. May throw OutOfMemoryError, changing nothing.
 */
export function reserveOne(store: number): void {
  const s = store * 2;
  const i32 = arena.i32;
  const idx = i32[s + STORE.INDEX];
  const cap = i32[idx * 2 + INDEX.CAPACITY];
  const count = i32[s + STORE.COUNT];
  const used = count + i32[s + STORE.TOMBSTONES] + 1;
  if (used <= cap * MAX_LOAD) return;
  // Size for a load of at most 1/2 after the resize; a store that only churns keeps its size.
  let next = MIN_INDEX_CAPACITY;
  while ((count + 1) * 2 > next) next *= 2;
  try {
    // First without merging free blocks: a merge re-cuts the free lists, which costs the
    // exact-size blocks that deleted values left for the writes that usually follow.
    rebuild(store, next, false);
  } catch (err) {
    if (!(err instanceof OutOfMemoryError)) throw err;
    // Short of memory for a new bucket array: while an EMPTY bucket remains after this insert
    // (probes end there), insert into the old array — longer probes, but the write succeeds.
    if (used < cap) return;
    rebuild(store, next, true);
  }
}

/**
 * After a clear(): a bucket array sized for many more keys than the store now holds goes back
 * to the size an insert would give it, so that its memory returns too. Store lock held. Keeps
 * the big array if no memory is left for the small one (nothing changes then). Returns whether
 * it shrank.
 */
export function shrinkIndex(store: number): boolean {
  const s = store * 2;
  const i32 = arena.i32;
  const cap = i32[i32[s + STORE.INDEX] * 2 + INDEX.CAPACITY];
  let next = MIN_INDEX_CAPACITY;
  while ((i32[s + STORE.COUNT] + 1) * 2 > next) next *= 2;
  if (next * 4 > cap) return false;
  try {
    rebuild(store, next, false);
    return true;
  } catch (err) {
    if (!(err instanceof OutOfMemoryError)) throw err;
    return false;
  }
}

/**
 * Copies every entry into a new array of `cap` buckets and publishes it. Store lock held. Both
 * arrays are recorded in the STORE block (INDEX_NEW, INDEX_OLD) until the old one is freed, so
 * that a thread killed anywhere in here leaves nothing unaccounted for (see repairIndex).
 */
export function rebuild(store: number, cap: number, mayDefragment = true): void {
  const s = store * 2;
  const fresh = newIndex(cap, mayDefragment, s + STORE.INDEX_NEW);
  const i32 = arena.i32;
  const old = i32[s + STORE.INDEX];
  i32[s + STORE.INDEX_OLD] = old;
  const oldCap = i32[old * 2 + INDEX.CAPACITY];
  const oldBase = old * 2 + INDEX.BUCKETS;
  const base = fresh * 2 + INDEX.BUCKETS;
  const mask = cap - 1;
  for (let i = 0; i < oldCap; i++) {
    const bucket = i32[oldBase + i];
    if (bucket === BUCKET_EMPTY || bucket === BUCKET_TOMBSTONE) continue;
    // The tag moves with the ref: it is the same hash's top bits whatever the capacity.
    let b = storedHash(bucket & BUCKET_REF_MASK) & mask;
    while (i32[base + b] !== BUCKET_EMPTY) b = (b + 1) & mask;
    i32[base + b] = bucket;
  }
  spin(RESIZE_DELAY_SPINS);
  // Publication point: readers that load INDEX from here on probe the new array.
  Atomics.store(i32, s + STORE.INDEX, fresh);
  i32[s + STORE.TOMBSTONES] = 0;
  // Readers that probed the old array retry; only then may it be reused.
  Atomics.add(i32, s + STORE.SEQ, 2);
  spin(RESIZE_DELAY_SPINS);
  free(old, s + STORE.INDEX_OLD);
  Atomics.store(arena.i32, s + STORE.INDEX_NEW, 0);
}

/**
 * Finishes a resize whose thread died holding the store lock (the caller has just taken it
 * over), as a structure-table save is finished: see finishReplacement.
 */
export function repairIndex(store: number): void {
  const s = store * 2;
  finishReplacement(s + STORE.INDEX, s + STORE.INDEX_NEW, s + STORE.INDEX_OLD, s + STORE.SEQ);
}

/**
 * Test-only (NATIVE_KEYSHARE_TEST_RESIZE_DELAY, see faults.ts): spins inside a resize, before its
 * publication and before freeing the old array, so that a test that kills the thread lands there.
 */
const RESIZE_DELAY_SPINS = testKnob('RESIZE_DELAY');

/** Adds entry `ref` (whose key is not in the index). Store lock held; `reserveOne` called. */
export function insert(store: number, ref: number, hash: number): void {
  const s = store * 2;
  const i32 = arena.i32;
  const idx = i32[s + STORE.INDEX];
  const mask = i32[idx * 2 + INDEX.CAPACITY] - 1;
  const base = idx * 2 + INDEX.BUCKETS;
  let b = hash & mask;
  for (;;) {
    const cur = i32[base + b];
    if (cur === BUCKET_EMPTY) break;
    if (cur === BUCKET_TOMBSTONE) {
      i32[s + STORE.TOMBSTONES]--;
      break;
    }
    b = (b + 1) & mask;
  }
  Atomics.store(i32, base + b, (hash & BUCKET_TAG_BITS) | ref);
  i32[s + STORE.COUNT]++;
}

/** Whether some bucket of the store's index holds `ref` (a full scan). Store lock held. */
export function indexHolds(store: number, ref: number): boolean {
  const i32 = arena.i32;
  const idx = i32[store * 2 + STORE.INDEX];
  const cap = i32[idx * 2 + INDEX.CAPACITY];
  const base = idx * 2 + INDEX.BUCKETS;
  for (let b = 0; b < cap; b++) if (bucketRef(i32[base + b]) === ref) return true;
  return false;
}

/** Removes entry `ref` from the index. Store lock held. Returns false if it was not there. */
export function remove(store: number, ref: number, hash: number): boolean {
  const s = store * 2;
  const i32 = arena.i32;
  const idx = i32[s + STORE.INDEX];
  const mask = i32[idx * 2 + INDEX.CAPACITY] - 1;
  const base = idx * 2 + INDEX.BUCKETS;
  let b = hash & mask;
  for (let n = 0; n <= mask; n++, b = (b + 1) & mask) {
    const cur = i32[base + b];
    if (cur === BUCKET_EMPTY) return false;
    if (bucketRef(cur) !== ref) continue;
    // A bucket followed by EMPTY ends its probe chain, so it can become EMPTY itself.
    if (i32[base + ((b + 1) & mask)] === BUCKET_EMPTY) Atomics.store(i32, base + b, BUCKET_EMPTY);
    else {
      Atomics.store(i32, base + b, BUCKET_TOMBSTONE);
      i32[s + STORE.TOMBSTONES]++;
    }
    i32[s + STORE.COUNT]--;
    return true;
  }
  return false;
}

/**
 * Calls `visit` with every entry ref in the index, lock-free. If a resize replaces the array
 * during the walk, the walk restarts, and `restart` is called first: what the abandoned walk
 * visited must be dropped, not merely deduplicated, because the old array may have been freed
 * and reused by then, and the refs read from it may be garbage (a sum or a list kept across
 * restarts would count them, or count a key twice). After `maxRestarts` it reports false and
 * the caller should reset and walk under the store lock.
 */
export function forEachRef(store: number, visit: (ref: number) => void, maxRestarts = 8, restart?: () => void): boolean {
  const s = store * 2;
  for (let attempt = 0; attempt <= maxRestarts; attempt++) {
    if (attempt !== 0 && restart !== undefined) restart();
    const seq = Atomics.load(arena.i32, s + STORE.SEQ);
    const idx = Atomics.load(arena.i32, s + STORE.INDEX);
    if (!arena.covers(idx * UNIT + 16)) continue;
    const cap = arena.i32[idx * 2 + INDEX.CAPACITY];
    const base = idx * 2 + INDEX.BUCKETS;
    if (!(cap > 0 && (cap & (cap - 1)) === 0 && arena.covers((base + cap) * 4))) continue;
    for (let i = 0; i < cap; i++) {
      const ref = bucketRef(arena.i32[base + i]);
      if (ref !== 0 && arena.covers((ref * 2 + ENTRY.KEY) * 4)) visit(ref);
    }
    if (FENCE) readFence();
    if (Atomics.load(arena.i32, s + STORE.SEQ) === seq) return true;
  }
  return false;
}

/** Reads entry `ref`'s key; the caller validates GEN around the call. */
export function readKey(ref: number): string {
  const lenWord = arena.i32[ref * 2 + ENTRY.KEY_LEN];
  const len = lenWord & KEY_LEN_MASK;
  if ((lenWord & KEY_ONE_BYTE) !== 0) {
    const at = (ref * 2 + ENTRY.KEY) * 4;
    if (len <= 0 || len > 4096 || !arena.covers(at + len)) return '';
    const u8 = arena.u8;
    let k = '';
    for (let i = 0; i < len; i++) k += String.fromCharCode(u8[at + i]);
    return k;
  }
  const base = ref * 4 + ENTRY.KEY * 2;
  if (len <= 0 || len > 4096 || !arena.covers((base + len) * 2)) return '';
  const u16 = arena.u16;
  if (len < 64) {
    let k = '';
    for (let i = 0; i < len; i++) k += String.fromCharCode(u16[base + i]);
    return k;
  }
  return readArenaText(u16, base, len);
}
