/**
 * The write protocol: publishing a value (writeValue, writeInline, publish), removing one
 * (clearValue), an entry's lock (lockEntry), creating and removing entries (insertEntry,
 * removeEntry, and recoverLimboEntry for a thread that died between the two halves), removing
 * expired ones (sweepExpired), and the store lock with the counters it guards (withStoreLock,
 * repairCounts).
 *
 * ## writeValue: copy-on-write under the key's lock
 *   1. take the entry's LOCK (lockEntry: spin, then Atomics.wait);
 *   2. record the write in this thread's slot (entry, old block), allocate a new VALUE block
 *      (the allocator records it as PENDING_NEW) and fill it — no reader can see it yet;
 *   3. publish: bump the write epoch of the entry's stripe (hot reads; see lookup-cache.ts), one
 *      Atomics.store of DATA (the linearisation point), then SEQ += 2;
 *   4. retire the old block (freed at this thread's next allocation), clear the record, unlock.
 * A thread terminated anywhere in 2–4 leaves DATA naming either the old or the new block — a
 * write is all or nothing — and its slot record says which block to free (see threads.ts).
 * A small value (`writeInline`) takes the same steps with the entry's free slot in place of a
 * new block: nothing to allocate, and nothing to free but a block it replaces.
 *
 * ## Structure
 * Inserting or removing a key takes the store's structural LOCK after the entry's (never the
 * other way round); the allocator's lock comes last.
 */
import { arena } from './arena';
import { alloc, free } from './allocator';
import { now } from './clock';
import { Tag } from './codec';
import { pause, spin, testKnob } from './faults';
import { bucketRef, forEachRef, hashKey, indexHolds, insert, isOneByteKey, lookup, remove, repairIndex, reserveOne } from './keyindex';
import {
  BLOCK_BITS,
  BUCKET_TOMBSTONE,
  ENTRY,
  INDEX,
  INLINE_MAX_BYTES,
  INLINE_WORDS_SHIFT,
  KEY_ONE_BYTE,
  KIND,
  RECORD_BYTES_OFFSET,
  STORE,
  TAG_SHIFT,
  THREAD,
  UNIT,
  VALUE,
  VALUE_BYTES_OFFSET,
  VALUE_BYTES_OFFSET_TTL,
  VALUE_FLAG,
  epochStripe,
  epochWord,
  inlineDescriptor,
  inlineLength,
  META_HINT_MASK,
  inlineSlot,
  inlineSlotA,
  inlineWords,
  sizeClassOf,
  writeDeadline,
} from './layout';
import { Acquired, acquire, holder, release, tryAcquire } from './locks';
import { expiredAt } from './read';
import { waitForAtomicOps } from './record-protocol';
import { NEEDS_FENCE, readFence } from './ordering';
import { type Ref, wordOf } from './ref';
import { guardEntry, unguardEntry } from './seqlock';
import { admitNew, POLICY, policyOf, resetWindow, unlinked } from './policy';
import { evictWhileOver, takeSpare } from './evict';
import { repairStructures } from './structures';
import { myToken, myWord } from './threads';

/** Module-local, so that V8 folds it: the bounded sweep's validating load needs a fence off x64. */
const FENCE = NEEDS_FENCE;

// ── Publishing a value ───────────────────────────────────────────────────────────────────────

/**
 * Publishes a new value for entry `ref` (whose lock the caller holds) of store `store`: `len`
 * encoded bytes at `bytes[src]`. Throws OutOfMemoryError before anything is published.
 */
export function writeValue(store: Ref, ref: Ref, tag: number, bytes: Uint8Array, src: number, len: number, expires: number, minBytes: number): void {
  const e = wordOf(ref);
  let i32 = arena.i32;
  const old = i32[e + ENTRY.DATA];
  const slot = myWord;
  // minBufferSize is a lasting hint: later writes without it keep the reserved size. It is
  // recorded only once a block of that size was allocated (a hint that does not fit changes
  // nothing, like every failed call).
  const hint = minBytes;
  if (minBytes === 0) minBytes = i32[e + ENTRY.MIN_BYTES] & META_HINT_MASK;
  const lenWord = i32[e + ENTRY.KEY_LEN];
  const inlineBytes = inlineWords(lenWord) * 4;
  if (len <= inlineBytes && minBytes <= inlineBytes && expires === 0 && tag !== Tag.Record && inlineBytes !== 0) {
    writeInline(store, ref, tag, bytes, src, len, old, lenWord, hint);
    return;
  }
  // 2. Record the write before the allocation that makes it recoverable.
  i32[slot + THREAD.PENDING_ENTRY] = ref;
  i32[slot + THREAD.PENDING_OLD] = old;
  i32[slot + THREAD.PENDING_NEW] = 0;
  const head = expires !== 0 ? VALUE_BYTES_OFFSET_TTL : tag === Tag.Record ? RECORD_BYTES_OFFSET : VALUE_BYTES_OFFSET;
  const units = Math.ceil((head + Math.max(len, minBytes)) / UNIT);
  let d = i32[slot + THREAD.DEFERRED_FREE];
  if (d !== 0 && (i32[wordOf(d) + VALUE.HDR] & 0xff) === sizeClassOf(units)) {
    // The block this thread retired last time has the right size: reuse it without the
    // allocator. Safe for readers for the same reason freeing it would be (a reader still
    // copying it saw SEQ before the write that retired it). These two stores have no
    // interrupt check between them, so a termination leaves the block recorded exactly once.
    i32[slot + THREAD.DEFERRED_FREE] = 0;
    i32[slot + THREAD.PENDING_NEW] = d;
  } else {
    try {
      d = alloc(KIND.VALUE, units, slot + THREAD.PENDING_NEW, true);
    } catch (err) {
      i32 = arena.i32;
      i32[slot + THREAD.PENDING_ENTRY] = 0;
      throw err;
    }
    i32 = arena.i32;
  }
  if (hint > 0) setHint(e, hint);
  const v = wordOf(d);
  i32[v + VALUE.LEN] = len;
  i32[v + VALUE.HDR] = (i32[v + VALUE.HDR] & BLOCK_BITS) | (tag << TAG_SHIFT) | (expires !== 0 ? VALUE_FLAG.TTL : 0) | (tag === Tag.Record ? VALUE_FLAG.RECORD : 0);
  if (expires !== 0) writeDeadline(i32, v, expires);
  const off = d * UNIT + head;
  const u8 = arena.u8;
  if (len <= 64) for (let i = 0; i < len; i++) u8[off + i] = bytes[src + i];
  else u8.set(src === 0 && len === bytes.length ? bytes : bytes.subarray(src, src + len), off);
  // 3. Publication point: from here every reader that loads DATA gets the new block.
  const oldTtl = old > 0 && (i32[wordOf(old) + VALUE.HDR] & VALUE_FLAG.TTL) !== 0;
  publish(store, ref, d, old === 0 ? 1 : 0, oldTtl === (expires !== 0) ? 0 : oldTtl ? -1 : 1, len - valueLength(i32, old));
  i32 = arena.i32;
  // 4. Retire: a reader may still be copying `old`; it will see SEQ moved and retry. A record
  //    block may also be about to take a lock-free atomic op: wait those out first. An inline
  //    value (old < 0) has nothing to retire.
  if (old > 0 && (i32[wordOf(old) + VALUE.HDR] & VALUE_FLAG.RECORD) !== 0) {
    waitForAtomicOps(ref);
    i32 = arena.i32;
  }
  if (old > 0) i32[slot + THREAD.DEFERRED_FREE] = old;
  i32[slot + THREAD.PENDING_ENTRY] = 0;
}

/**
 * Words per inline slot for a new entry whose first value is `len` bytes (0: no slots). The
 * size is fixed for the entry's life, so it is sized for that first value: later values of the
 * same size (the common case: the same kind of value rewritten) stay inline, and a larger one
 * goes to a block. A lock placeholder (lock() of a new key, as update() does) gets room for a
 * number, the usual value of a counter.
 */
function inlineSlotWords(tag: number, len: number, expires: number, minBytes: number, placeholder: boolean): number {
  if (placeholder) return 2;
  if (expires !== 0 || tag === Tag.Record || len > INLINE_MAX_BYTES || minBytes > INLINE_MAX_BYTES) return 0;
  return Math.max(1, Math.ceil(Math.max(len, minBytes) / 4));
}

/**
 * writeValue for a value that fits entry `ref`'s inline slots (lock held): the bytes go to the
 * inline slot DATA does not name, then DATA names it (see layout.ts, inline values). Allocates
 * nothing, so it cannot fail. A block it replaces is freed at once, as a delete frees it.
 */
function writeInline(store: Ref, ref: Ref, tag: number, bytes: Uint8Array, src: number, len: number, old: number, lenWord: number, hint: number): void {
  const e = wordOf(ref);
  let i32 = arena.i32;
  const slot = myWord;
  const a = inlineSlotA(lenWord);
  // Slot B if DATA names slot A, else A: never the inline slot a reader of the current value copies.
  const target = old < 0 && inlineSlot(old) === a ? a + inlineWords(lenWord) : a;
  const d = inlineDescriptor(target, tag, len);
  // Recovery (threads.ts) decides by DATA === PENDING_NEW whether the write committed; an
  // inline write that did not has nothing to undo, one that did may leave `old` to free.
  i32[slot + THREAD.PENDING_ENTRY] = ref;
  i32[slot + THREAD.PENDING_OLD] = old;
  i32[slot + THREAD.PENDING_NEW] = d;
  const u8 = arena.u8;
  const off = (e + target) * 4;
  for (let i = 0; i < len; i++) u8[off + i] = bytes[src + i];
  if (hint > 0) setHint(e, hint);
  const meta = old > 0 ? i32[wordOf(old) + VALUE.HDR] : 0;
  publish(store, ref, d, old === 0 ? 1 : 0, (meta & VALUE_FLAG.TTL) !== 0 ? -1 : 0, len - valueLength(i32, old));
  i32 = arena.i32;
  if (old > 0) {
    if ((meta & VALUE_FLAG.RECORD) !== 0) waitForAtomicOps(ref);
    // Not through DEFERRED_FREE: that word may hold a block already, which only an
    // allocation frees. free() clears PENDING_OLD in its critical section (see threads.ts).
    free(old, slot + THREAD.PENDING_OLD);
    i32 = arena.i32;
  }
  i32[slot + THREAD.PENDING_ENTRY] = 0;
}

/**
 * The publication point of every write and delete: DATA becomes `d` (the linearisation point),
 * SEQ moves on, and the store's counters change by `dValues` (a value appeared or went) and
 * `dTtl` (a deadline appeared or went). The stripe's write epoch moves first: a hot get that
 * still finds the epoch it recorded began before this publication (see lookup-cache.ts).
 *
 * A change of the counters is made under the store's lock, together with the DATA change that
 * causes it: a thread killed between the two leaves the lock to the next thread, which recounts
 * them from the index (repairCounts) — exactly, because no other thread can make such a change
 * meanwhile. Writes that change neither (the common overwrite) take no store lock.
 */
function publish(store: Ref, ref: Ref, d: number, dValues: number, dTtl: number, dBytes: number): void {
  // Only a bounded store counts its bytes (policy.ts, POLICY.BYTES): elsewhere a change of
  // size must not cost a store lock.
  const p = dBytes !== 0 ? policyOf(store) : 0;
  if ((dValues | dTtl | p) !== 0 && storeLockHeld !== store) {
    withStoreLock(store, () => publish(store, ref, d, dValues, dTtl, dBytes));
    return;
  }
  const i32 = arena.i32;
  const e = wordOf(ref);
  Atomics.add(i32, epochWord(store) + epochStripe(ref), 1);
  Atomics.store(i32, e + ENTRY.DATA, d);
  Atomics.add(i32, e + ENTRY.SEQ, 2);
  const s = wordOf(store);
  if ((dValues | dTtl) !== 0 && PUBLISH_DELAY_SPINS !== 0) spin(PUBLISH_DELAY_SPINS);
  if (dValues !== 0) Atomics.add(i32, s + STORE.VALUES, dValues);
  if (dTtl !== 0) Atomics.add(i32, s + STORE.TTL_COUNT, dTtl);
  if (p !== 0) i32[p + POLICY.BYTES] += dBytes;
}

/** The encoded length of the value DATA word `d` names (0 for none). */
function valueLength(i32: Int32Array, d: number): number {
  return d > 0 ? i32[wordOf(d) + VALUE.LEN] : d < 0 ? inlineLength(d) : 0;
}

/**
 * Records a minBufferSize hint in entry word `e`'s META word, keeping the policy's bits, which
 * readers may set meanwhile (a CAS loop; hints are rare).
 */
function setHint(e: number, hint: number): void {
  const i32 = arena.i32;
  for (;;) {
    const cur = Atomics.load(i32, e + ENTRY.MIN_BYTES);
    if (Atomics.compareExchange(i32, e + ENTRY.MIN_BYTES, cur, (cur & ~META_HINT_MASK) | hint) === cur) return;
  }
}

/**
 * Test-only (NATIVE_KEYSHARE_TEST_PUBLISH_DELAY, see faults.ts): spins between a publication
 * that changes the store's counters and the change, so that a test that kills the thread lands
 * there.
 */
const PUBLISH_DELAY_SPINS = testKnob('PUBLISH_DELAY');

/**
 * Test-only (NATIVE_KEYSHARE_TEST_CLEAR_FREE_DELAY_MS, see faults.ts): how long clearValue
 * sleeps between clearing DATA and freeing the block DATA named, so that a test's reader lands
 * in between. It must find no value there; were the block freed first, it would follow DATA
 * into a free block.
 */
const CLEAR_FREE_DELAY_MS = testKnob('CLEAR_FREE_DELAY_MS');

/** Removes entry `ref`'s value (lock held). Returns false if it had none. */
export function clearValue(store: Ref, ref: Ref): boolean {
  const e = wordOf(ref);
  const i32 = arena.i32;
  const old = i32[e + ENTRY.DATA];
  if (old === 0) return false;
  const slot = myWord;
  i32[slot + THREAD.PENDING_ENTRY] = ref;
  i32[slot + THREAD.PENDING_OLD] = old;
  i32[slot + THREAD.PENDING_NEW] = 0;
  const meta = old > 0 ? i32[wordOf(old) + VALUE.HDR] : 0;
  // Unpublish first, then free: a reader that loaded DATA before the publication sees SEQ move.
  publish(store, ref, 0, -1, (meta & VALUE_FLAG.TTL) !== 0 ? -1 : 0, -valueLength(i32, old));
  if (old > 0) {
    if (CLEAR_FREE_DELAY_MS !== 0) pause(CLEAR_FREE_DELAY_MS);
    if ((meta & VALUE_FLAG.RECORD) !== 0) waitForAtomicOps(ref);
    free(old, slot + THREAD.PENDING_OLD);
  }
  arena.i32[slot + THREAD.PENDING_ENTRY] = 0;
  return true;
}

// ── An entry's lock ──────────────────────────────────────────────────────────────────────────

/** lockEntry results (a const enum: literals at every use, see seqlock.ts, Begin). */
export const enum Lock {
  TimedOut = 0,
  Taken = 1,
  /** The caller already holds the lock (skipLock, or lock() by this thread): do not release it. */
  Held = 2,
  /** The entry no longer holds the key (GEN moved) or the ref predates ENTRY_EPOCH: look it up again. */
  Stale = 3,
}

/** Takes the lock of entry `ref` (generation `gen`) for a write. See the Lock results. */
export function lockEntry(ref: Ref, gen: number, timeout: number): Lock {
  // The LOCK word may be written before GEN can be checked: name the entry first (reclaim.ts).
  if (!guardEntry(ref)) return Lock.Stale;
  const i32 = arena.i32;
  const w = wordOf(ref) + ENTRY.LOCK;
  if (holder(i32, w) === myToken) {
    unguardEntry();
    arena.refresh();
    return Atomics.load(i32, wordOf(ref) + ENTRY.GEN) === gen ? Lock.Held : Lock.Stale;
  }
  if (acquire(i32, w, myToken, timeout) === Acquired.TimedOut) {
    unguardEntry();
    return Lock.TimedOut;
  }
  // What the lock guards (the current value block) may have been allocated by a thread that
  // grew the arena beyond this thread's views: refresh them after every lock taken.
  arena.refresh();
  // Under the lock the entry cannot be removed; it might have been before we got it.
  if (Atomics.load(arena.i32, wordOf(ref) + ENTRY.GEN) !== gen) {
    release(arena.i32, w);
    unguardEntry();
    return Lock.Stale;
  }
  // Locked and live: its slab cannot be retired until we unlock (reclaim.ts).
  unguardEntry();
  return Lock.Taken;
}

/** Releases the lock of entry `ref` taken by lockEntry (Lock.Taken). */
export function unlockEntry(ref: Ref): void {
  release(arena.i32, wordOf(ref) + ENTRY.LOCK);
}

// ── Creating and removing entries ────────────────────────────────────────────────────────────

/** Where insertEntry reports the entry it published, so that the caller can cache it. */
export interface EntrySink {
  admit(key: string, ref: Ref, gen: number): void;
}

/**
 * Creates the entry for `key` in store `store`, which is not in its index, with a value (or, for
 * lock(), none and its lock held), and reports it to `sink`. Returns false if another thread
 * created it first.
 */
export function insertEntry(store: Ref, key: string, tag: number, bytes: Uint8Array, src: number, len: number, expires: number, minBytes: number, placeholder: boolean, sink: EntrySink): boolean {
  const hash = hashKey(key);
  return withStoreLock(store, () => {
    if (lookup(store, key, hash) !== 0) return false;
    // A bounded store makes room first, so that the new key takes the memory the evicted one
    // gave back (a placeholder holds no value: it counts once it gets one, see settle).
    const oneByte = isOneByteKey(key);
    const slotWords = inlineSlotWords(tag, len, expires, minBytes, placeholder);
    const lenWord = key.length | (oneByte ? KEY_ONE_BYTE : 0) | (slotWords << INLINE_WORDS_SHIFT);
    // The block ends where the layout puts the end of the second inline slot (after the key).
    const units = Math.ceil(((inlineSlotA(lenWord) + 2 * slotWords) * 4) / UNIT);
    const p = placeholder ? 0 : policyOf(store);
    // The last victim, when its block is of this entry's size class, is kept (in limbo) for it.
    if (p !== 0) evictWhileOver(p, store, 1, len, sizeClassOf(units));
    const kept = takeSpare();
    try {
      reserveOne(store);
    } catch (err) {
      // The index could not grow (out of memory): the kept victim is freed, not left in limbo.
      if (kept !== 0) free(kept, myWord + THREAD.PENDING_LIMBO);
      throw err;
    }
    // Limbo: until the bucket is published, recovery frees this entry (see threads.ts).
    arena.i32[myWord + THREAD.PENDING_STORE] = store;
    const ref = kept !== 0 ? kept : (alloc(KIND.ENTRY, units, myWord + THREAD.PENDING_LIMBO) as Ref);
    let i32 = arena.i32;
    const e = wordOf(ref);
    i32[e + ENTRY.DATA] = 0;
    // Odd GEN while we set it up: a thread holding a stale ref to this block ignores it.
    let gen = Atomics.load(i32, e + ENTRY.GEN);
    if ((gen & 1) === 0) {
      gen++;
      Atomics.store(i32, e + ENTRY.GEN, gen);
    }
    i32[e + ENTRY.KEY_LEN] = lenWord;
    i32[e + ENTRY.MIN_BYTES] = minBytes;
    if (oneByte) {
      const u8 = arena.u8;
      const kb = (e + ENTRY.KEY) * 4;
      for (let i = 0; i < key.length; i++) u8[kb + i] = key.charCodeAt(i);
    } else {
      const u16 = arena.u16;
      const kb = (e + ENTRY.KEY) * 2;
      for (let i = 0; i < key.length; i++) u16[kb + i] = key.charCodeAt(i);
    }
    if (!placeholder) {
      try {
        writeValue(store, ref, tag, bytes, src, len, expires, minBytes);
      } catch (err) {
        free(ref, myWord + THREAD.PENDING_LIMBO);
        throw err;
      }
      i32 = arena.i32;
    }
    // The entry's lock word is left as it is: a thread with a stale ref may hold it for a
    // moment. A placeholder must be ours before anyone can see it.
    const owned = placeholder && tryAcquire(i32, e + ENTRY.LOCK, myToken);
    // Publication: GEN even (live), then the bucket.
    Atomics.store(i32, e + ENTRY.GEN, gen + 1);
    insert(store, ref, hash);
    arena.i32[myWord + THREAD.PENDING_LIMBO] = 0;
    if (p !== 0) admitNew(p, store, ref, gen + 1, hash);
    if (placeholder && !owned) return false;
    sink.admit(key, ref, gen + 1);
    return true;
  });
}

/**
 * Unlinks entry `ref` of `key` (lock held by this thread; its value cleared already, or here with
 * `clear`), releases its lock and frees it. The caller drops it from its caches.
 */
export function removeEntry(store: Ref, ref: Ref, key: string, clear: boolean): void {
  const e = wordOf(ref);
  const hash = hashKey(key);
  // Limbo: once unlinked, recovery frees this entry if we die before free() does. Recorded
  // before the lock is taken, so that the recovery of a thread killed anywhere in the section
  // takes the store lock over (and recounts) at once, not at the store's next structural change.
  arena.i32[myWord + THREAD.PENDING_STORE] = store;
  arena.i32[myWord + THREAD.PENDING_LIMBO] = ref;
  withStoreLock(store, () => {
    // A delete clears the value in the same store-lock section (its counters need the lock).
    if (clear) clearValue(store, ref);
    remove(store, ref, hash);
    const p = policyOf(store);
    if (p !== 0) unlinked(p, ref);
    // GEN odd: every cached (ref, gen) for this key is now stale.
    Atomics.add(arena.i32, e + ENTRY.GEN, 1);
  });
  release(arena.i32, e + ENTRY.LOCK);
  free(ref, myWord + THREAD.PENDING_LIMBO);
}

/**
 * An entry a dead thread was inserting or removing (threads.ts): if the store's index holds
 * it, it is live and stays; otherwise nothing can reach it, so free it — with the value its
 * insert had committed (DATA equal to the block the thread's last value write recorded; a
 * value write it did not commit was freed already). Under the store lock, so that no resize
 * moves the index while we look.
 */
export function recoverLimboEntry(store: Ref, entry: Ref, lastNew: number, deadToken: number): void {
  withStoreLock(store, () => {
    const i32 = arena.i32;
    if (indexHolds(store, entry)) return;
    const e = wordOf(entry);
    // Odd GEN: threads holding a cached (ref, gen) for it must see it as gone.
    if ((i32[e + ENTRY.GEN] & 1) === 0) Atomics.add(i32, e + ENTRY.GEN, 1);
    const d = i32[e + ENTRY.DATA];
    if (d !== 0 && d === lastNew) {
      i32[e + ENTRY.DATA] = 0;
      // An inline value (d < 0) goes with the entry.
      if (d > 0) free(d);
    }
    const lock = Atomics.load(i32, e + ENTRY.LOCK);
    if (lock >>> 1 === deadToken) Atomics.compareExchange(i32, e + ENTRY.LOCK, lock, 0);
    free(entry);
  });
}

// ── Expiry ───────────────────────────────────────────────────────────────────────────────────

/**
 * Deletes expired entries of store `store` among the next `buckets` buckets of its index (all
 * of them for Infinity), skipping keys whose lock is taken: each one it locks, `remove` removes
 * (Store.removeEntry, which also drops it from the handle's cache). Returns how many it deleted.
 */
export function sweepExpired(store: Ref, buckets: number, remove: (ref: Ref) => void): number {
  const s = wordOf(store);
  if (Atomics.load(arena.i32, s + STORE.TTL_COUNT) === 0) return 0;
  const expired: Ref[] = [];
  const t = now();
  if (buckets === Infinity) {
    // Refs of an abandoned walk may be garbage: a lock taken through one would write into a value.
    const complete = forEachRef(store, (ref) => {
      if (expiredAt(ref, t)) expired.push(ref);
    }, 8, () => (expired.length = 0));
    if (!complete) return 0;
  } else {
    // Threads share one cursor, so concurrent sweeps look at different buckets. The bucket
    // array is read as lookups read it (keyindex.ts): under the store's SEQ, which a resize
    // bumps before it frees the old array; if it moved, the refs read may be garbage from a
    // reused block (a lock taken through one would write into a value): sweep later.
    arena.refresh();
    const i32 = arena.i32;
    const seq = Atomics.load(i32, s + STORE.SEQ);
    const idx = Atomics.load(i32, s + STORE.INDEX);
    const cap = i32[wordOf(idx) + INDEX.CAPACITY];
    if ((cap & (cap - 1)) !== 0 || cap <= 0) return 0;
    const start = Atomics.add(i32, s + STORE.SWEEP_CURSOR, buckets) & (cap - 1);
    for (let i = 0; i < buckets && i < cap; i++) {
      const ref = bucketRef(arena.i32[wordOf(idx) + INDEX.BUCKETS + ((start + i) & (cap - 1))]);
      if (ref !== 0 && expiredAt(ref, t)) expired.push(ref);
    }
    if (FENCE) readFence();
    if (Atomics.load(i32, s + STORE.SEQ) !== seq) return 0;
  }
  let n = 0;
  for (const ref of expired) {
    const e = wordOf(ref);
    if (!guardEntry(ref)) break; // slabs were retired: these refs may be stale, sweep later
    const gen = Atomics.load(arena.i32, e + ENTRY.GEN);
    if ((gen & 1) !== 0 || !tryAcquire(arena.i32, e + ENTRY.LOCK, myToken)) {
      unguardEntry();
      continue;
    }
    if (Atomics.load(arena.i32, e + ENTRY.GEN) !== gen || !expiredAt(ref, t)) {
      release(arena.i32, e + ENTRY.LOCK);
      unguardEntry();
      continue;
    }
    unguardEntry();
    remove(ref);
    n++;
  }
  return n;
}

// ── The store lock ───────────────────────────────────────────────────────────────────────────

/** The store whose structural lock this thread holds inside withStoreLock (0: none). */
let storeLockHeld = 0;

/**
 * Runs `fn` holding the structural lock of `store`. Taken over from a dead holder, the lock
 * guards state that may be mid-change: the counters it was changing, a structure-table save.
 * @internal Exported for tests, which check that its holder is alone (test/mutations.test.mjs).
 */
export function withStoreLock<R>(store: Ref, fn: () => R): R {
  const w = wordOf(store) + STORE.LOCK;
  const got = acquire(arena.i32, w, myToken, Infinity);
  const outer = storeLockHeld;
  storeLockHeld = store;
  // The index may have been reallocated beyond this thread's views (see lockEntry).
  arena.refresh();
  try {
    if (got === Acquired.FromDeadHolder) {
      // The index first: the counts are recounted from it.
      repairIndex(store);
      repairCounts(store);
      repairStructures(store);
    }
    return fn();
  } finally {
    storeLockHeld = outer;
    release(arena.i32, w);
  }
}

/**
 * After taking over a store lock from a dead thread: the counters it was changing may be off
 * by one. Recount them from the index (the index itself is always consistent: every bucket
 * change is a single store).
 */
function repairCounts(store: Ref): void {
  const s = wordOf(store);
  let count = 0;
  let values = 0;
  let ttl = 0;
  let tombstones = 0;
  let bytes = 0;
  const i32 = arena.i32;
  const idx = i32[s + STORE.INDEX];
  const cap = i32[wordOf(idx) + INDEX.CAPACITY];
  for (let i = 0; i < cap; i++) {
    const bucket = i32[wordOf(idx) + INDEX.BUCKETS + i];
    if (bucket === BUCKET_TOMBSTONE) tombstones++;
    const ref = bucketRef(bucket);
    if (ref === 0) continue;
    count++;
    const d = i32[wordOf(ref) + ENTRY.DATA];
    if (d !== 0) {
      values++;
      bytes += valueLength(i32, d);
      if (d > 0 && (i32[wordOf(d) + VALUE.HDR] & VALUE_FLAG.TTL) !== 0) ttl++;
    }
  }
  const p = policyOf(store);
  if (p !== 0) {
    i32[p + POLICY.BYTES] = bytes;
    // The dead holder may have been moving an entry in or out of the window.
    resetWindow(p, store);
  }
  i32[s + STORE.COUNT] = count;
  Atomics.store(i32, s + STORE.VALUES, values);
  Atomics.store(i32, s + STORE.TTL_COUNT, ttl);
  i32[s + STORE.TOMBSTONES] = tombstones;
}
