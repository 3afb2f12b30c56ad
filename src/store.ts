/**
 * The store: the public API over the arena, and the read and write protocols.
 *
 * ## Read protocol (`readEntry`): lock-free, never torn
 * An entry's DATA word names an immutable VALUE block, or (a small value) one of the entry's two
 * inline slots, which is as immutable until a later write republishes DATA (layout.ts); its SEQ
 * word grows by 2 every time DATA is republished. A reader
 *   1. loads SEQ (s1) — an odd SEQ belongs to an in-place writer: wait for it;
 *   2. checks GEN is the generation it expects (the entry still holds this key);
 *   3. loads DATA, bounds-checks the block or slot, and copies its bytes into a private buffer;
 *   4. loads SEQ again (s2): if s1 === s2, no writer republished or freed anything while the
 *      bytes were copied, so the copy is one whole value — decode it. Otherwise retry.
 * Decoding only ever touches the private copy. The copy may have raced with a reuse of a freed
 * block (garbage bytes); step 4 throws such a copy away, and step 3's bounds checks keep the
 * garbage from sending the copy outside the arena.
 *
 * Memory ordering: only the two SEQ loads are atomic. V8 does not move plain typed-array loads
 * across an Atomics call, and x86-64 does not reorder loads with loads, so everything read in
 * steps 2–3 is read between them. (Weaker hardware would need a load fence before the second
 * SEQ load, which JavaScript does not offer; this library is tested on x86-64.) Writers publish
 * with Atomics stores, so a reader never sees DATA before the block it names is filled.
 *
 * ## Write protocol (`writeValue`): copy-on-write under the key's lock
 *   1. take the entry's LOCK (spin, then Atomics.wait);
 *   2. record the write in this thread's slot (entry, old block), allocate a new VALUE block
 *      (the allocator records it as PENDING_NEW) and fill it — no reader can see it yet;
 *   3. publish: bump the write epoch of the entry's stripe (hot reads; see Store.getHot), one
 *      Atomics.store of DATA (the linearisation point), then SEQ += 2;
 *   4. retire the old block (freed at this thread's next allocation), clear the record, unlock.
 * A thread terminated anywhere in 2–4 leaves DATA naming either the old or the new block — a
 * write is all or nothing — and its slot record says which block to free (see threads.ts).
 * A small value (`writeInline`) takes the same steps with the entry's free slot in place of a
 * new block: nothing to allocate, and nothing to free but a block it replaces.
 *
 * ## Structure
 * Inserting or removing a key takes the store's structural LOCK after the entry's (never the
 * other way round); the allocator's lock comes last. Lookups go through a per-thread cache
 * `key → (entry ref, GEN)` first, so a hot key costs a Map lookup and the protocol above.
 */
import { arena } from './arena';
import { alloc, free, reclaim, usage } from './allocator';
import { now } from './clock';
import { decode, deepFreeze, encoded, LearnedCodec, StructuredCodec, Tag } from './codec';
import {
  CodecError,
  InvalidKeyError,
  InvalidOptionError,
  KeyNotFoundError,
  LockTimeoutError,
  StoreClosedError,
  InvalidValueError,
  describeValue,
  quote,
} from './errors';
import {
  checkDelta,
  checkLayout,
  checkOperand,
  decodeRecord,
  encodeFields,
  encodeRecord,
  fieldSpan,
  isAtomicType,
  layoutText,
  readFields,
  type AtomicType,
  type RecordField,
  type RecordLayout,
} from './records';
import { bucketRef, forEachRef, hashKey, indexHolds, insert, isOneByteKey, lookup, newIndex, readKey, remove, repairIndex, reserveOne, shrinkIndex, foundGen } from './keyindex';
import {
  BUCKET_TOMBSTONE,
  ENTRY,
  HEADER,
  INLINE_MAX_BYTES,
  INLINE_WORDS_SHIFT,
  KEY_ONE_BYTE,
  INDEX,
  KIND,
  MAX_KEY_LENGTH,
  MAX_STORE_NAME_LENGTH,
  MAX_THREADS,
  MIN_INDEX_CAPACITY,
  RECORD_BYTES_OFFSET,
  REDO,
  SCHEMA,
  STORE,
  TAG_MASK,
  TAG_SHIFT,
  BLOCK_BITS,
  THREAD,
  UNIT,
  VALUE,
  VALUE_BYTES_OFFSET,
  VALUE_BYTES_OFFSET_TTL,
  VALUE_FLAG,
  THREAD_STATE,
  classUnits,
  epochStripe,
  epochWord,
  inlineDescriptor,
  inlineLength,
  inlineSlot,
  inlineSlotA,
  inlineTag,
  inlineWords,
  sizeClassOf,
} from './layout';
import { pause, spin, testKnob } from './faults';
import { Acquired, acquire, holder, release, tryAcquire } from './locks';
import { compilePattern, type KeyPattern, type Pattern } from './patterns';
import { learnedCount, repairStructures, sharedTable } from './structures';
import { liveThreadCount, mySlot, myToken, myWord, setRecoveryHooks, slotWord } from './threads';

// Recovery of a dead thread frees the blocks its interrupted write leaves behind.
setRecoveryHooks({ free, limbo: recoverLimboEntry, creation: recoverCreation });

/**
 * An entry a dead thread was inserting or removing (threads.ts): if the store's index holds
 * it, it is live and stays; otherwise nothing can reach it, so free it — with the value its
 * insert had committed (DATA equal to the block the thread's last value write recorded; a
 * value write it did not commit was freed already). Under the store lock, so that no resize
 * moves the index while we look.
 */
function recoverLimboEntry(store: number, entry: number, lastNew: number, deadToken: number): void {
  withStoreLock(store, () => {
    const i32 = arena.i32;
    if (indexHolds(store, entry)) return;
    const e = entry * 2;
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

// ── Types ────────────────────────────────────────────────────────────────────────────────────

/** Options of {@link Store.set}. */
export interface SetOptions {
  /**
   * Reserve at least this many bytes for the value's block, so that a value expected to grow
   * keeps recycling blocks of one size class.
   */
  minBufferSize?: number;
  /**
   * Accepted for compatibility: every write already publishes a new block and never rewrites
   * the bytes a reader may be copying (copy-on-write), which is what `immutable` asked for.
   */
  immutable?: boolean;
  /** Time to live in seconds (fractions allowed). 0 or absent: no expiry. */
  ttl?: number;
  /**
   * For the thread that holds the key through `lock(key)`: write under that lock. (A holder's
   * own writes never wait for itself, with or without this flag. A thread that does not hold
   * the lock still takes it: two unsynchronised writers could both retire the same block.)
   */
  skipLock?: boolean;
  /** How long to wait for a key locked by another thread, in ms (default 1000). */
  timeout?: number;
}

/**
 * The field names `add` and `compareExchange` accept for a store of values `T`: the properties
 * of `T` whose type is `number` (the integer fields of a record; types cannot tell an `Int32`
 * field from a `float64` one, which the runtime refuses). For an untyped store (`unknown`,
 * `any`) any string, checked at run time; for a value type without number properties (a store
 * of strings, say) `never`, so that such a call does not compile.
 */
export type IntegerField<T> = unknown extends T
  ? string
  : T extends object
    ? { [K in keyof T]-?: T[K] extends number ? K : never }[keyof T] & string
    : never;

/** Options of {@link Store.delete}. */
export interface DeleteOptions {
  /**
   * Treat the argument as one literal key even if it contains `*`, `?` or is enclosed in
   * slashes. Not with a RegExp.
   */
  literal?: boolean;
  /** How long to wait for a key locked by another thread, in ms (default 1000). */
  timeout?: number;
}

/** Options of {@link createStore}. */
export interface StoreOptions {
  /**
   * Hot-path read mode: `get` keeps the decoded value per key and returns it again — without
   * copying or decoding — until the key is written. While none of the keys that share its
   * write epoch (a 256th of the store's) is written, such a get reads one counter in shared
   * memory and nothing else. Values returned in this mode are deep-frozen, so that no caller
   * can change what the next caller receives.
   *
   * `{ maxKeys }` bounds how many keys this thread keeps decoded (default 65,536). When it is
   * full, one in 32 of the keys it misses takes the place of a key not read lately (CLOCK: a key
   * read since the hand last passed gets a second chance), so the cache follows a working set
   * that moves. Size it to the working set, as an LRU cache's `max`: a bigger bound holds more
   * decoded values per thread.
   */
  hotReads?: boolean | { maxKeys?: number };
  /**
   * Makes the store a store of fixed-layout records (see {@link layoutRecord}): every value is
   * an object with exactly these fields, kept as raw bytes that change in place, so that one
   * field can be read, changed under the key's lock ({@link Store.setFields}) or changed
   * atomically without a lock ({@link Store.add}, {@link Store.compareExchange}). The layout is
   * kept in shared memory: every handle of the store must pass the same one (or none). Not
   * with `hotReads` (atomic ops change a record without republishing it) nor TTLs.
   */
  record?: RecordLayout;
  /**
   * msgpackr record structures: property lists of the object shapes the store holds (in the
   * order objects have their properties). Objects of those shapes are then stored as a record
   * id and the values, without the property names. Kept in shared memory: every handle of the
   * store must pass the same list (or none). Needs msgpackr.
   */
  structures?: readonly (readonly string[])[];
}

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

const DEFAULT_TIMEOUT_MS = 1000;
/**
 * Per-thread lookup-cache bound per store instance. When full, keys looked up afterwards are
 * not cached (their gets take the shared index path) until cached ones go stale and are dropped
 * (see HOT_ADMIT_EVERY for why it does not evict, as a hotReads cache does).
 *
 * Why not bigger: the cache pays only while it stays in the CPU's caches. A cached get follows
 * key → Map bucket → CacheSlot → entry → value, an uncached one key → index bucket → entry →
 * value, and every step is a dependent load. Measured on uniform random gets (2-core EPYC VM):
 * 1 K keys, 139 ns cached vs 194 uncached; 100 K keys, 997 ns with 65,536 keys cached vs 781
 * with none and 793 with 16,384 — a big cache is slower than no cache once it spills.
 *
 * Even at this bound a full cache that misses costs a get more than it saves: a miss probes a
 * Map bigger than the CPU's caches before taking the index path anyway (measured in one process,
 * uniform gets of 100 K keys: 850–890 ns through a full 16,384-key cache, 680–730 ns without;
 * 1 M keys: 1,650 vs 1,400 ns; 20 K keys, an 80% hit rate: even). So once the cache is full,
 * plain gets sample its hit rate and skip it while it is below CACHE_MIN_HITS.
 */
const CACHE_LIMIT = 1 << 14;
/** Gets with a full cache whose hit rate decides whether the next gets probe it. */
const CACHE_SAMPLE_GETS = 4096;
/** Gets that skip a full cache that hit too rarely, before it is sampled again. */
const CACHE_SKIP_GETS = 1 << 16;
/** Below this share of hits (as a fraction of CACHE_SAMPLE_GETS), probing the cache costs more than it saves. */
const CACHE_MIN_HITS = (CACHE_SAMPLE_GETS * 3) >>> 2;
/** CacheSlot.mark bit: the slot was hit since the CLOCK hand last passed it. */
const USED = 1;
/**
 * CacheSlot.mark bit: the cached value has a deadline (`expires`). Hot gets read `expires` only
 * then: once any slot holds a deadline (beyond a small integer), V8 stores the field of every
 * slot as a boxed double, and reading it is one more dependent load (measured: hot gets over
 * 100 K keys +12–18% with one TTL value cached).
 */
const DEADLINE = 2;
/** CacheSlot.mark: the ring place starts above the flag bits. */
const PLACE_SHIFT = 2;
/** Used slots an insert into a full cache may pass over before it evicts (see Store.cacheSlot). */
const EVICT_SCAN = 4;
/**
 * A full hotReads cache takes one in this many of the keys it misses (a power of two; see
 * Store.cacheSlot). It holds decoded values, and their churn through the old generation costs
 * the garbage collector: measured in one process, uniform gets over 100 K keys of ~1 KB with
 * 16,384 kept, every miss taking a place cost +100%, one in 32 +11%.
 *
 * A plain handle's full cache takes none: it keeps the keys it holds until they go stale. It
 * has less to gain (a cached get saves the index probe, ~30% at best), and taking keys cost
 * more than it saved. One miss in 16 cost +10% on uniform gets over 20 K keys (82% hits). One
 * in 4, only while the last sample hit below CACHE_MIN_HITS, made the peer benchmark's first
 * single-thread window of gets over 100 K keys of ~1 KB dip to ~30% of its speed for a few
 * hundred milliseconds after the first evictions, in 5 runs of 5 (none in 4 runs without).
 */
const HOT_ADMIT_EVERY = 32;
/** Default `hotReads.maxKeys`: decoded values saved are worth more than a lookup saved. */
const HOT_CACHE_LIMIT = 1 << 16;
/** Expired entries an insert looks for while a store has TTL entries. */
const SWEEP_BUDGET = 16;
/** A clear() of at least this many keys gives emptied slabs back at once (allocator.reclaim). */
const RECLAIM_AFTER_CLEAR = 256;

// ── The read protocol ────────────────────────────────────────────────────────────────────────

/** readEntry results that are not values. Distinct objects: `undefined` is never stored. */
const MISSING: unknown = Symbol('missing');
const STALE: unknown = Symbol('stale');

/**
 * Private buffer values are copied into before they are decoded, with an Int32 view of it:
 * small values are copied a word at a time (value bytes start 4-byte aligned in their block,
 * and the block's tail is inside the block, so rounding the length up to a word stays in it).
 */
let scratch: Uint8Array = Buffer.allocUnsafeSlow(4096);
/** Values up to this many bytes are copied a word at a time (see readEntry). */
const WORD_COPY_MAX = 256;
let scratch32 = new Int32Array(scratch.buffer, scratch.byteOffset, scratch.length >>> 2);
let scratchView = new DataView(scratch.buffer, scratch.byteOffset, scratch.length);
/** SEQ and deadline of the value the last successful readEntry returned (for hot reads). */
let readSeq = 0;
let readData = 0;
let readExpires = 0;
/** Optimistic reads this thread had to repeat (a writer republished mid-copy). */
let readRetries = 0;

/** @internal Read retries of this thread so far (for benchmarks and tests). */
export function readRetryCount(): number {
  return readRetries;
}

/**
 * The ENTRY_EPOCH (reclaim.ts) this thread's entry refs are from: every ref in its lookup caches,
 * and every ref it finds in an index while the word still holds this value. When the word moves,
 * slabs were retired and may have been given back to the value memory: a ref from before may
 * point into a value now, whose bytes can look like an entry with any GEN. So every reader,
 * after it validated what it read, checks the word, and on a change drops what it read and its
 * caches (syncEntryEpoch), and looks the key up again.
 */
let entryEpoch = Atomics.load(arena.i32, HEADER.ENTRY_EPOCH);

/** Adopts the current ENTRY_EPOCH, dropping every entry ref this thread cached before it. */
function syncEntryEpoch(): void {
  entryEpoch = Atomics.load(arena.i32, HEADER.ENTRY_EPOCH);
  for (const s of instances.values()) s.dropCachedRefs();
}

/** Whether slabs were retired since this thread's refs were made (then it adopts the new epoch). */
function entryRefsMoved(i32: Int32Array): boolean {
  if (Atomics.load(i32, HEADER.ENTRY_EPOCH) === entryEpoch) return false;
  syncEntryEpoch();
  return true;
}

/**
 * Names entry `ref` in this thread's LOCK_HAZARD before a write to its LOCK word, and checks
 * that the ref is from the current ENTRY_EPOCH (reclaim.ts: the hazard store and the epoch load
 * pair with the retirement's epoch store and its hazard scan). False: the ref may be from
 * released memory; the hazard is cleared and the caller looks the key up again.
 */
function guardEntry(ref: number): boolean {
  const i32 = arena.i32;
  Atomics.store(i32, myWord + THREAD.LOCK_HAZARD, ref);
  if (!entryRefsMoved(i32)) return true;
  Atomics.store(i32, myWord + THREAD.LOCK_HAZARD, 0);
  return false;
}

function unguardEntry(): void {
  Atomics.store(arena.i32, myWord + THREAD.LOCK_HAZARD, 0);
}

/**
 * Reads the value of entry `ref` if it still has generation `gen`.
 * Returns the decoded value, MISSING (no value, or expired) or STALE (the entry no longer holds
 * the key: look it up again).
 */
function readEntry(ref: number, gen: number, store: Store<unknown>): unknown {
  const a = arena;
  const e = ref * 2;
  for (let spins = 0; ; spins++) {
    if (spins !== 0) readRetries++;
    // Views only grow, so this one stays valid for everything it covers; a ref beyond it is
    // handled by refreshing (a.covers) and starting over.
    const i32 = a.i32;
    // 1. Begin: an odd SEQ is a write in place in progress.
    const s1 = Atomics.load(i32, e + ENTRY.SEQ);
    if ((s1 & 1) !== 0) {
      // An odd word in memory a retired slab gave back is no writer to wait for.
      if (entryRefsMoved(i32)) return STALE;
      waitForEven(e, s1, spins);
      continue;
    }
    // 2. Same key? GEN moves when the entry is freed or reused. GEN and DATA are plain loads:
    //    the two SEQ loads around them are what orders them (see the module comment), and in
    //    Node 20 each Atomics.load costs ~5 ns where a plain load costs ~1.
    if (i32[e + ENTRY.GEN] !== gen) return STALE;
    const d = i32[e + ENTRY.DATA];
    if (d === 0) {
      if (Atomics.load(i32, e + ENTRY.SEQ) !== s1) continue;
      return entryRefsMoved(i32) ? STALE : MISSING;
    }
    // 3. Copy. Every field read here may be garbage if the block was freed under us: check
    //    bounds before following it; step 4 decides whether to keep the copy. An inline value
    //    (d < 0) is in a slot of this entry, which only a later write than the one that
    //    published d may overwrite (layout.ts, inline values): the same reasoning applies.
    const v = d * 2;
    let len = -1;
    let meta = 0;
    let off = 0;
    let expires = 0;
    if (d < 0) {
      len = inlineLength(d);
      meta = inlineTag(d) << TAG_SHIFT;
      off = (e + inlineSlot(d)) * 4;
    } else if (v + VALUE.EXPIRES_LO < i32.length) {
      len = i32[v + VALUE.LEN];
      meta = i32[v + VALUE.HDR];
      off = d * UNIT + VALUE_BYTES_OFFSET;
      if ((meta & (VALUE_FLAG.TTL | VALUE_FLAG.RECORD)) !== 0) {
        if ((meta & VALUE_FLAG.TTL) !== 0) {
          expires = i32[v + VALUE.EXPIRES_HI] * 4294967296 + (i32[v + VALUE.EXPIRES_LO] >>> 0);
          off = d * UNIT + VALUE_BYTES_OFFSET_TTL;
        } else {
          off = d * UNIT + RECORD_BYTES_OFFSET;
        }
      }
    }
    if (len < 0 || off + len > a.viewBytes) {
      // Beyond this thread's views: the arena grew (refresh and retry), DATA was republished
      // under us (SEQ moved: retry), or the arena is corrupt (SEQ stable): fail loudly rather
      // than spin for ever.
      if (!a.covers(len < 0 ? (v + VALUE.EXPIRES_LO + 1) * 4 : off + len) && Atomics.load(a.i32, e + ENTRY.SEQ) === s1 && spins > 2) {
        // Garbage from memory a retired slab gave back is not corruption (see entryRefsMoved).
        if (entryRefsMoved(a.i32)) return STALE;
        throw corrupt(ref);
      }
      continue;
    }
    if (len > scratch.length) {
      // A Buffer, like what msgpackr's own callers pass it (its string paths prefer one).
      scratch = Buffer.allocUnsafeSlow(Math.max((len + 7) & ~7, scratch.length * 2));
      scratch32 = new Int32Array(scratch.buffer, scratch.byteOffset, scratch.length >>> 2);
      scratchView = new DataView(scratch.buffer, scratch.byteOffset, scratch.length);
    }
    if (len <= WORD_COPY_MAX) {
      // set() of a shared subarray costs ~50 ns before it copies a byte (measured: a view is
      // made, then a relaxed-atomic memcpy); a word loop wins below a few hundred bytes. The
      // loop is ~0.25 ns/byte over the arena's growable buffer, set() ~0.05: 256 is the measured
      // crossover, where both take ~80 ns.
      const dst = scratch32;
      const words = (len + 3) >>> 2;
      const w0 = off >>> 2;
      for (let i = 0; i < words; i++) dst[i] = i32[w0 + i];
    } else {
      scratch.set(a.u8.subarray(off, off + len));
    }
    // 4. Validate: the same SEQ means DATA was not republished, so the block was not freed;
    //    the same ENTRY_EPOCH, that the entry was an entry all along (reclaim.ts).
    //    ENTRY_EPOCH is a plain load, ordered after the copy as GEN and DATA are between the
    //    SEQ loads (see the module comment): it comes after an Atomics.load that V8 does not
    //    move loads across, and x86-64 keeps loads in order. An Atomics.load costs ~5 ns here.
    if (Atomics.load(i32, e + ENTRY.SEQ) !== s1) continue;
    if (i32[HEADER.ENTRY_EPOCH] !== entryEpoch) {
      syncEntryEpoch();
      return STALE;
    }
    if (expires !== 0 && now() >= expires) return MISSING;
    readSeq = s1;
    readData = d;
    readExpires = expires;
    const tag = (meta >>> TAG_SHIFT) & TAG_MASK;
    return tag < Tag.Structured ? decode(tag, scratch, len) : store.decodeSchemaValue(tag, scratch, scratchView, len);
  }
}

/**
 * Fault injection for tests (NATIVE_KEYSHARE_TEST_ARM_DELAY_MS, see faults.ts): how long
 * armEpoch sleeps before its lock test, so that a write can publish and release the lock in
 * between (its SEQ test must then refuse the epoch).
 */
const ARM_DELAY_MS = testKnob('ARM_DELAY_MS');

/**
 * The epoch a hot cache may record with a value it found current at SEQ `seq` of entry word
 * `e`, given the stripe's epoch as loaded before the entry was read: that epoch if the entry's
 * lock is free and SEQ has not moved since, else one the stripe has already passed, which
 * cannot match (see Store.getHot).
 */
function armEpoch(e: number, seq: number, epoch: number): number {
  if (ARM_DELAY_MS !== 0) pause(ARM_DELAY_MS);
  const i32 = arena.i32;
  if (Atomics.load(i32, e + ENTRY.LOCK) === 0 && Atomics.load(i32, e + ENTRY.SEQ) === seq) return epoch;
  return (epoch - 1) | 0;
}

/**
 * An odd SEQ means a writer is changing the value in place. Spin a little, then sleep in short
 * slices: a writer that died mid-write is recovered by the registry, which makes SEQ even.
 */
function waitForEven(e: number, seq: number, spins: number): void {
  if (spins < 100) return;
  Atomics.wait(arena.i32, e + ENTRY.SEQ, seq, 1);
}

function corrupt(ref: number): Error {
  return new Error(`native-keyshare: entry at unit ${ref} points outside the arena (corrupted shared memory)`);
}

// ── The write protocol ───────────────────────────────────────────────────────────────────────

/**
 * Publishes a new value for entry `ref` (whose lock the caller holds): `len` encoded bytes at
 * `bytes[src]`. Throws OutOfMemoryError before anything is published.
 */
function writeValue(store: number, ref: number, tag: number, bytes: Uint8Array, src: number, len: number, expires: number, minBytes: number): void {
  const e = ref * 2;
  let i32 = arena.i32;
  const old = i32[e + ENTRY.DATA];
  const slot = myWord;
  // minBufferSize is a lasting hint: later writes without it keep the reserved size. It is
  // recorded only once a block of that size was allocated (a hint that does not fit changes
  // nothing, like every failed call).
  const hint = minBytes;
  if (minBytes === 0) minBytes = i32[e + ENTRY.MIN_BYTES];
  const lenWord = i32[e + ENTRY.KEY_LEN];
  const slotBytes = inlineWords(lenWord) * 4;
  if (len <= slotBytes && minBytes <= slotBytes && expires === 0 && tag !== Tag.Record && slotBytes !== 0) {
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
  if (d !== 0 && (i32[d * 2 + VALUE.HDR] & 0xff) === sizeClassOf(units)) {
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
  if (hint > 0) i32[e + ENTRY.MIN_BYTES] = hint;
  const v = d * 2;
  i32[v + VALUE.LEN] = len;
  i32[v + VALUE.HDR] = (i32[v + VALUE.HDR] & BLOCK_BITS) | (tag << TAG_SHIFT) | (expires !== 0 ? VALUE_FLAG.TTL : 0) | (tag === Tag.Record ? VALUE_FLAG.RECORD : 0);
  if (expires !== 0) {
    i32[v + VALUE.EXPIRES_HI] = Math.floor(expires / 4294967296);
    i32[v + VALUE.EXPIRES_LO] = expires % 4294967296;
  }
  const off = d * UNIT + head;
  const u8 = arena.u8;
  if (len <= 64) for (let i = 0; i < len; i++) u8[off + i] = bytes[src + i];
  else u8.set(src === 0 && len === bytes.length ? bytes : bytes.subarray(src, src + len), off);
  // 3. Publication point: from here every reader that loads DATA gets the new block.
  const oldTtl = old > 0 && (i32[old * 2 + VALUE.HDR] & VALUE_FLAG.TTL) !== 0;
  publish(store, ref, d, old === 0 ? 1 : 0, oldTtl === (expires !== 0) ? 0 : oldTtl ? -1 : 1);
  i32 = arena.i32;
  // 4. Retire: a reader may still be copying `old`; it will see SEQ moved and retry. A record
  //    block may also be about to take a lock-free atomic op: wait those out first. An inline
  //    value (old < 0) has nothing to retire.
  if (old > 0 && (i32[old * 2 + VALUE.HDR] & VALUE_FLAG.RECORD) !== 0) {
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
 * slot DATA does not name, then DATA names it (see layout.ts, inline values). Allocates
 * nothing, so it cannot fail. A block it replaces is freed at once, as a delete frees it.
 */
function writeInline(store: number, ref: number, tag: number, bytes: Uint8Array, src: number, len: number, old: number, lenWord: number, hint: number): void {
  const e = ref * 2;
  let i32 = arena.i32;
  const slot = myWord;
  const a = inlineSlotA(lenWord);
  // Slot B if DATA names slot A, else A: never the slot a reader of the current value copies.
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
  if (hint > 0) i32[e + ENTRY.MIN_BYTES] = hint;
  const meta = old > 0 ? i32[old * 2 + VALUE.HDR] : 0;
  publish(store, ref, d, old === 0 ? 1 : 0, (meta & VALUE_FLAG.TTL) !== 0 ? -1 : 0);
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
 * still finds the epoch it recorded began before this publication (see Store.getHot).
 *
 * A change of the counters is made under the store's lock, together with the DATA change that
 * causes it: a thread killed between the two leaves the lock to the next thread, which recounts
 * them from the index (repairCounts) — exactly, because no other thread can make such a change
 * meanwhile. Writes that change neither (the common overwrite) take no store lock.
 */
function publish(store: number, ref: number, d: number, dValues: number, dTtl: number): void {
  if ((dValues | dTtl) !== 0 && storeLockHeld !== store) {
    withStoreLock(store, () => publish(store, ref, d, dValues, dTtl));
    return;
  }
  const i32 = arena.i32;
  const e = ref * 2;
  Atomics.add(i32, epochWord(store) + epochStripe(ref), 1);
  Atomics.store(i32, e + ENTRY.DATA, d);
  Atomics.add(i32, e + ENTRY.SEQ, 2);
  const s = store * 2;
  if ((dValues | dTtl) !== 0 && PUBLISH_DELAY_SPINS !== 0) spin(PUBLISH_DELAY_SPINS);
  if (dValues !== 0) Atomics.add(i32, s + STORE.VALUES, dValues);
  if (dTtl !== 0) Atomics.add(i32, s + STORE.TTL_COUNT, dTtl);
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
function clearValue(store: number, ref: number): boolean {
  const e = ref * 2;
  const i32 = arena.i32;
  const old = i32[e + ENTRY.DATA];
  if (old === 0) return false;
  const slot = myWord;
  i32[slot + THREAD.PENDING_ENTRY] = ref;
  i32[slot + THREAD.PENDING_OLD] = old;
  i32[slot + THREAD.PENDING_NEW] = 0;
  const meta = old > 0 ? i32[old * 2 + VALUE.HDR] : 0;
  // Unpublish first, then free: a reader that loaded DATA before the publication sees SEQ move.
  publish(store, ref, 0, -1, (meta & VALUE_FLAG.TTL) !== 0 ? -1 : 0);
  if (old > 0) {
    if (CLEAR_FREE_DELAY_MS !== 0) pause(CLEAR_FREE_DELAY_MS);
    if ((meta & VALUE_FLAG.RECORD) !== 0) waitForAtomicOps(ref);
    free(old, slot + THREAD.PENDING_OLD);
  }
  arena.i32[slot + THREAD.PENDING_ENTRY] = 0;
  return true;
}

// ── Fixed-layout records: in-place writes, field reads, lock-free atomic ops ────────────────
//
// A record block (VALUE_FLAG.RECORD) is the one kind of value that changes after publication:
// - whole or partial writes change its bytes in place, under the entry lock, with SEQ odd for
//   the duration; readers (readEntry, readRecordField) wait for an even SEQ and retry when SEQ
//   moved, exactly as for a republished block, so they see all of a write or none of it;
// - add/compareExchange change one aligned integer field with one Atomics operation, without
//   the lock and without touching SEQ. A field read sees the value before or after it. They do
//   not order with each other across fields: a snapshot that overlaps adds to two different
//   fields may see one of them and not the other (each field is still exact).
// Termination safety: an in-place write is first copied into the thread's redo buffer, so
// whoever recovers a writer that died with SEQ odd re-applies the whole write (threads.ts). An
// atomic op is one instruction: it happened or it did not.
// Reclamation: an atomic op follows DATA without the lock, so the block must not be freed (and
// reused) between its load of DATA and its Atomics call. It announces the entry in its slot's
// HAZARD word first (a seq_cst store), then loads GEN and DATA; a writer that retires a record
// block stores DATA (seq_cst) and then waits until no live slot announces the entry. Either
// the op sees the new DATA, or the writer sees the announcement — never neither.

/** Waits until no other live thread is inside an atomic op on entry `ref` (see above). */
function waitForAtomicOps(ref: number): void {
  for (let slot = 0; slot < MAX_THREADS; slot++) {
    if (slot === mySlot) continue;
    const w = slotWord(slot);
    for (let spins = 0; arena.i32[w + THREAD.HAZARD] === ref; spins++) {
      // A dead thread's op will never complete; recovery clears its word.
      if (Atomics.load(arena.i32, w + THREAD.STATE) !== THREAD_STATE.ALIVE) break;
      if (spins > 64) Atomics.wait(arena.i32, w + THREAD.HAZARD, ref, 1);
    }
  }
}

/** How a record field is read by {@link readRecordField}. */
export const enum FieldKind {
  Float64,
  Int32,
  Uint32,
  Int16,
  Uint16,
  Int8,
  Uint8,
  /** A copy of n bytes (string and array fields). */
  Bytes,
}

/** What a record view (view.ts) needs to find its entry: where it was, and how to look again. */
export interface RecordTarget {
  ref: number;
  gen: number;
  /** The ENTRY_EPOCH `ref` is from (see entryEpoch): a field read checks it is still current. */
  epoch: number;
  /** Looks the key up again after GEN moved; throws KeyNotFoundError if it holds no record. */
  rebind(): void;
}

/**
 * The field read protocol: one field of a record, straight from shared memory.
 *
 * It is the read protocol of {@link readEntry} with the copy shrunk to one load: SEQ, then GEN
 * and DATA, then the field, then SEQ again. A same, even SEQ means no in-place write overlapped
 * the load; an atomic op may have, but it changes the field in one store, so the load returned
 * the value before or after it, never a mix. With FieldKind.Bytes the "load" is a copy of `n`
 * bytes (string and array fields) into {@link fieldBytes}, and the result is 0.
 */
export function readRecordField(t: RecordTarget, at: number, kind: FieldKind, n = 0): number {
  // Kept small, with the rare cases out of line, so that a generated getter inlines it with its
  // constant `kind` (measured: 21 ns inlined, about 40 when V8 declines to inline it).
  if (kind === FieldKind.Bytes) ensureFieldBytes(n);
  else n = FIELD_BYTES[kind];
  for (let spins = 0; ; spins++) {
    const a = arena;
    const i32 = a.i32;
    const e = t.ref * 2;
    // 1. Begin: an odd SEQ is an in-place write under way.
    const s1 = Atomics.load(i32, e + ENTRY.SEQ);
    // 2. Same key, holding a record, whose field lies inside this thread's views. Only bounds
    //    are checked: DATA of a record store always names a record block (its schema makes
    //    every handle write records), and a block freed and reused under us fails step 4.
    const d = i32[e + ENTRY.DATA];
    const byte = d * UNIT + RECORD_BYTES_OFFSET + at;
    if ((s1 & 1) !== 0 || i32[e + ENTRY.GEN] !== t.gen || d <= 0 || byte + n > a.viewBytes) {
      fieldReadBlocked(t, e, s1, byte + n, spins);
      continue;
    }
    // 3. The load (a copy into fieldBytes for Bytes).
    const x = loadField(a, byte, kind, n);
    // 4. Validate: the same SEQ means no in-place write overlapped the load; the same
    //    ENTRY_EPOCH, that the entry was an entry all along (reclaim.ts).
    if (Atomics.load(i32, e + ENTRY.SEQ) === s1) {
      // A plain load after the Atomics.load, as in readEntry's step 4.
      if (i32[HEADER.ENTRY_EPOCH] === t.epoch) return x;
      t.rebind();
      continue;
    }
    readRetries++;
  }
}

function loadField(a: typeof arena, byte: number, kind: FieldKind, n: number): number {
  switch (kind) {
    case FieldKind.Float64: return a.f64[byte >>> 3];
    case FieldKind.Int32: return a.i32[byte >>> 2];
    case FieldKind.Uint32: return a.u32[byte >>> 2];
    case FieldKind.Int16: return a.i16[byte >>> 1];
    case FieldKind.Uint16: return a.u16[byte >>> 1];
    case FieldKind.Int8: return a.i8[byte];
    case FieldKind.Uint8: return a.u8[byte];
    default: {
      const u8 = a.u8;
      const out = fieldBytes;
      for (let i = 0; i < n; i++) out[i] = u8[byte + i];
      return 0;
    }
  }
}

function ensureFieldBytes(n: number): void {
  if (n > fieldBytes.length) fieldBytes = Buffer.allocUnsafeSlow(Math.max(n, fieldBytes.length * 2));
}

/** Step 2 of readRecordField failed: wait for the writer, look the key up again, or refresh the views. */
function fieldReadBlocked(t: RecordTarget, e: number, s1: number, end: number, spins: number): void {
  if (Atomics.load(arena.i32, HEADER.ENTRY_EPOCH) !== t.epoch) {
    // The ref may point into memory a retired slab gave back: garbage, not a writer.
    t.rebind();
    return;
  }
  if ((s1 & 1) !== 0) {
    waitForEven(e, s1, spins);
    return;
  }
  const i32 = arena.i32;
  if (i32[e + ENTRY.GEN] !== t.gen || i32[e + ENTRY.DATA] <= 0) {
    // Deleted, or re-created in another entry: look the key up again (or throw).
    if (Atomics.load(i32, e + ENTRY.SEQ) === s1 || i32[e + ENTRY.GEN] !== t.gen) t.rebind();
    return;
  }
  // Beyond this thread's views: the arena grew (refresh and retry), or it is corrupt.
  if (!arena.covers(end) && Atomics.load(arena.i32, e + ENTRY.SEQ) === s1 && spins > 2) {
    if (Atomics.load(arena.i32, HEADER.ENTRY_EPOCH) !== t.epoch) t.rebind();
    else throw corrupt(t.ref);
  }
}
/** Bytes of each FieldKind but Bytes: the extent a field read checks against the views. */
const FIELD_BYTES = [8, 4, 4, 2, 2, 1, 1];
/** Where readRecordField(…, FieldKind.Bytes, n) leaves its copy (valid until the next call). */
export let fieldBytes: Uint8Array = Buffer.allocUnsafeSlow(256);

/** Results of {@link recordAtomic} besides the previous value, in {@link atomicStatus}. */
export const enum AtomicStatus {
  Done,
  /** GEN moved: the entry no longer holds the key; look it up again. */
  Stale,
  /** The key holds no record. */
  Missing,
}
/** Why the last {@link recordAtomic} that returned NaN did not happen. */
let atomicStatus: AtomicStatus = AtomicStatus.Done;
export function atomicFailure(): AtomicStatus {
  return atomicStatus;
}

/**
 * Fault injection for tests (NATIVE_KEYSHARE_TEST_ATOMIC_DELAY): widens the window between an
 * atomic op's load of DATA and its Atomics call, where a writer retiring the block without
 * waiting for it would let the op land in a reused block. A constant per thread, so the check
 * folds away when it is 0.
 */
const ATOMIC_DELAY_SPINS = testKnob('ATOMIC_DELAY');
/** Likewise (NATIVE_KEYSHARE_TEST_INPLACE_DELAY): stalls an in-place write half-way, SEQ odd, for kills. */
const INPLACE_DELAY_SPINS = testKnob('INPLACE_DELAY');

/**
 * A lock-free atomic op on one integer field of entry `ref`'s record: add `a` (op 0), or
 * compare-exchange `a` → `b` (op 1). Returns the field's previous value (as Atomics does), or
 * NaN when it did not happen (see {@link atomicFailure}). See the section comment for why the
 * HAZARD announcement makes following DATA without the lock safe.
 */
export function recordAtomic(ref: number, gen: number, epoch: number, at: number, kind: FieldKind, op: 0 | 1, a: number, b: number): number {
  const h = myWord + THREAD.HAZARD;
  for (;;) {
    const ar = arena;
    const i32 = ar.i32;
    const e = ref * 2;
    Atomics.store(i32, h, ref);
    // After the announcement: a ref from before a slab retirement may point into a value now;
    // the hazard keeps the slab from being released while we look (reclaim.ts).
    if (Atomics.load(i32, HEADER.ENTRY_EPOCH) !== epoch) {
      i32[h] = 0;
      atomicStatus = AtomicStatus.Stale;
      return NaN;
    }
    const d = i32[e + ENTRY.DATA];
    // GEN after DATA: if it is still ours, DATA was this key's when we loaded it.
    if (i32[e + ENTRY.GEN] !== gen) {
      i32[h] = 0;
      atomicStatus = AtomicStatus.Stale;
      return NaN;
    }
    const byte = d * UNIT + RECORD_BYTES_OFFSET + at;
    if (ATOMIC_DELAY_SPINS !== 0) spin(ATOMIC_DELAY_SPINS);
    if (d <= 0 || (i32[d * 2 + VALUE.HDR] & VALUE_FLAG.RECORD) === 0) {
      i32[h] = 0;
      atomicStatus = AtomicStatus.Missing;
      return NaN;
    }
    if (byte + 4 > ar.viewBytes) {
      i32[h] = 0;
      if (!ar.covers(byte + 4)) throw corrupt(ref);
      continue;
    }
    let old: number;
    switch (kind) {
      case FieldKind.Int32: old = op === 0 ? Atomics.add(i32, byte >>> 2, a) : Atomics.compareExchange(i32, byte >>> 2, a, b); break;
      case FieldKind.Uint32: old = op === 0 ? Atomics.add(ar.u32, byte >>> 2, a) : Atomics.compareExchange(ar.u32, byte >>> 2, a, b); break;
      case FieldKind.Int16: old = op === 0 ? Atomics.add(ar.i16, byte >>> 1, a) : Atomics.compareExchange(ar.i16, byte >>> 1, a, b); break;
      case FieldKind.Uint16: old = op === 0 ? Atomics.add(ar.u16, byte >>> 1, a) : Atomics.compareExchange(ar.u16, byte >>> 1, a, b); break;
      case FieldKind.Int8: old = op === 0 ? Atomics.add(ar.i8, byte, a) : Atomics.compareExchange(ar.i8, byte, a, b); break;
      default: old = op === 0 ? Atomics.add(ar.u8, byte, a) : Atomics.compareExchange(ar.u8, byte, a, b);
    }
    i32[h] = 0;
    return old;
  }
}

/**
 * Writes byte ranges of a record in place (entry lock held; `d` is the entry's record block):
 * `ranges` holds (offset, length) pairs into `src`, which holds the new record bytes.
 *
 * 1. Copy the ranges and their bytes into this thread's redo buffer and name the entry in
 *    REDO_ENTRY: from here a recovering thread can finish the write.
 * 2. SEQ odd: readers wait (they never copy a half-written record).
 * 3. Copy the ranges into the block — only them, so atomic ops on other fields are kept.
 * 4. SEQ even, REDO_ENTRY cleared.
 */
function writeRecordInPlace(ref: number, d: number, src: Uint8Array, ranges: readonly number[]): void {
  let bytes = 0;
  for (let i = 1; i < ranges.length; i += 2) bytes += ranges[i];
  const count = ranges.length >> 1;
  const redoBytes = (REDO.RANGES + 2 * count) * 4 + bytes;
  const slot = myWord;
  let redo = arena.i32[slot + THREAD.REDO_BLOCK];
  if (redo === 0 || classUnitsOf(redo) * UNIT < redoBytes) {
    // The buffer is this thread's for good (freed at exit or by recovery); alloc records it in
    // REDO_BLOCK inside the allocator's critical section, so it is never lost.
    if (redo !== 0) free(redo, slot + THREAD.REDO_BLOCK);
    redo = alloc(KIND.VALUE, Math.ceil(Math.max(redoBytes, 256) / UNIT), slot + THREAD.REDO_BLOCK);
  }
  const i32 = arena.i32;
  const u8 = arena.u8;
  const r = redo * 2;
  i32[r + REDO.COUNT] = count;
  let at = (r + REDO.RANGES + 2 * count) * 4;
  for (let i = 0; i < count; i++) {
    const off = ranges[2 * i];
    const len = ranges[2 * i + 1];
    i32[r + REDO.RANGES + 2 * i] = off;
    i32[r + REDO.RANGES + 2 * i + 1] = len;
    for (let k = 0; k < len; k++) u8[at + k] = src[off + k];
    at += len;
  }
  const e = ref * 2;
  i32[slot + THREAD.PENDING_ENTRY] = ref;
  i32[slot + THREAD.PENDING_OLD] = 0;
  i32[slot + THREAD.PENDING_NEW] = d;
  i32[slot + THREAD.REDO_DATA] = d;
  Atomics.store(i32, slot + THREAD.REDO_ENTRY, ref);
  Atomics.add(i32, e + ENTRY.SEQ, 1);
  const base = d * UNIT + RECORD_BYTES_OFFSET;
  for (let i = 0; i < count; i++) {
    const off = ranges[2 * i];
    const len = ranges[2 * i + 1];
    for (let k = 0; k < len; k++) u8[base + off + k] = src[off + k];
    if (INPLACE_DELAY_SPINS !== 0 && i === 0) spin(INPLACE_DELAY_SPINS);
  }
  Atomics.add(i32, e + ENTRY.SEQ, 1);
  Atomics.store(i32, slot + THREAD.REDO_ENTRY, 0);
  i32[slot + THREAD.PENDING_ENTRY] = 0;
}

function classUnitsOf(ref: number): number {
  return classUnits(arena.i32[ref * 2] & 0xff);
}

// ── Store directory ──────────────────────────────────────────────────────────────────────────

function nameMatches(store: number, name: string): boolean {
  const i32 = arena.i32;
  if (i32[store * 2 + STORE.NAME_LEN] !== name.length) return false;
  const u16 = arena.u16;
  const base = (store * 2 + STORE.NAME) * 2;
  for (let i = 0; i < name.length; i++) if (u16[base + i] !== name.charCodeAt(i)) return false;
  return true;
}

/** Finds a store by name in the directory list. Lock-free: STORE blocks are never freed. */
function findStore(name: string): number {
  for (let s = Atomics.load(arena.i32, HEADER.STORE_HEAD); s !== 0; s = Atomics.load(arena.i32, s * 2 + STORE.NEXT)) {
    arena.covers((s * 2 + STORE.NAME) * 4 + name.length * 2);
    if (nameMatches(s, name)) return s;
  }
  return 0;
}

/**
 * Creates store `name` under the directory lock, unless some thread has. Kill-safe like every
 * allocation: each block is recorded in this thread's slot (THREAD.CREATE_BLOCK, CREATE_STORE)
 * by the allocator as it hands it out, until something published holds it; a thread killed
 * anywhere in here leaves either a published store or blocks its recovery frees (see
 * recoverCreation).
 */
function openStore(name: string): number {
  const found = findStore(name);
  if (found !== 0) return found;
  acquire(arena.i32, HEADER.DIR_LOCK, myToken, Infinity);
  arena.refresh();
  try {
    const again = findStore(name);
    if (again !== 0) return again;
    const blockWord = myWord + THREAD.CREATE_BLOCK;
    const storeWord = myWord + THREAD.CREATE_STORE;
    const idx = newIndex(MIN_INDEX_CAPACITY, true, blockWord);
    let s: number;
    try {
      s = alloc(KIND.STORE, Math.ceil((STORE.NAME * 4 + name.length * 2) / UNIT), storeWord);
    } catch (err) {
      free(idx, blockWord);
      throw err;
    }
    spin(CREATE_DELAY_SPINS);
    const i32 = arena.i32;
    const w = s * 2;
    i32.fill(0, w + 1, w + STORE.NAME);
    i32[w + STORE.INDEX] = idx;
    i32[w + STORE.NAME_LEN] = name.length;
    const u16 = arena.u16;
    for (let i = 0; i < name.length; i++) u16[(w + STORE.NAME) * 2 + i] = name.charCodeAt(i);
    i32[w + STORE.NEXT] = i32[HEADER.STORE_HEAD];
    // The STORE block names the index now: recovery finds it there. Atomic, so that the
    // stores above are not moved past it: a cleared CREATE_BLOCK vouches for STORE.INDEX.
    Atomics.store(i32, blockWord, 0);
    spin(CREATE_DELAY_SPINS);
    // Publication point: the store is complete before any thread can find it.
    Atomics.store(i32, HEADER.STORE_HEAD, s);
    spin(CREATE_DELAY_SPINS);
    Atomics.store(i32, storeWord, 0);
    return s;
  } finally {
    release(arena.i32, HEADER.DIR_LOCK);
  }
}

/**
 * Test-only (NATIVE_KEYSHARE_TEST_CREATE_DELAY, see faults.ts): spins in a store creation (once
 * its blocks are allocated, once the STORE block names its index, once it is published) and in
 * a schema install (before and after its publication), so that a test that kills the thread
 * lands in each stage of their records.
 */
const CREATE_DELAY_SPINS = testKnob('CREATE_DELAY');

/** Whether the store directory holds STORE block `store` (lock-free: the list only grows). */
function inDirectory(store: number): boolean {
  for (let s = Atomics.load(arena.i32, HEADER.STORE_HEAD); s !== 0; s = Atomics.load(arena.i32, s * 2 + STORE.NEXT)) {
    if (s === store) return true;
  }
  return false;
}

/**
 * Recovery of a store creation or schema install cut short by the death of its thread (slot
 * word `w`; see THREAD.CREATE_STORE). Nothing but the dead thread's record names an unpublished
 * block, so freeing it races with no one; a published one is left to its store. A store's
 * index is freed here only if the store never reached the directory: once it has, the index is
 * the store's (a resize may already have replaced and freed it), and CREATE_BLOCK no longer
 * names it.
 */
function recoverCreation(w: number): void {
  const i32 = arena.i32;
  const store = i32[w + THREAD.CREATE_STORE];
  const block = i32[w + THREAD.CREATE_BLOCK];
  if (store !== 0 && inDirectory(store)) {
    // A schema install (a creation records nothing in CREATE_BLOCK past its publication).
    if (block !== 0 && Atomics.load(i32, store * 2 + STORE.SCHEMA) !== block) free(block, w + THREAD.CREATE_BLOCK);
  } else {
    // A creation killed before its publication. While CREATE_BLOCK is set it names the index
    // (and the STORE block's INDEX word may not yet); once cleared, INDEX names it.
    if (block !== 0) free(block, w + THREAD.CREATE_BLOCK);
    else if (store !== 0 && i32[store * 2 + STORE.INDEX] !== 0) free(i32[store * 2 + STORE.INDEX]);
    if (store !== 0) free(store, w + THREAD.CREATE_STORE);
  }
  arena.i32[w + THREAD.CREATE_BLOCK] = 0;
  arena.i32[w + THREAD.CREATE_STORE] = 0;
}

// ── Argument checks ──────────────────────────────────────────────────────────────────────────

/** The received value with its type, for error messages (`the string "100"`). */
const describe = describeValue;

/** Throws InvalidKeyError unless `key` is a string of 1 to MAX_KEY_LENGTH code units. */
function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) badKey(key);
}

/** Throws the InvalidKeyError for a key that failed checkKey; `where` names it in a batch. */
function badKey(key: unknown, where?: string): never {
  const at = where === undefined ? '' : ` (${where})`;
  if (typeof key !== 'string') throw new InvalidKeyError(`key${at} must be a string, got ${describe(key)}`);
  if (key.length === 0) throw new InvalidKeyError(`key${at} must not be empty`);
  throw new InvalidKeyError(`key${at} is ${key.length} UTF-16 code units long; the limit is ${MAX_KEY_LENGTH}`);
}

function checkTimeout(t: unknown, what: string): number {
  if (t === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof t !== 'number' || Number.isNaN(t) || t < 0) throw new InvalidOptionError(`${what} must be a number of milliseconds >= 0, got ${describe(t)}`);
  return t;
}

const SET_OPTIONS = new Set(['minBufferSize', 'immutable', 'ttl', 'skipLock', 'timeout']);
/** The largest minBufferSize: an Int32 field in the entry. */
const MAX_HINT_BYTES = 2 ** 31 - 1;
/** The latest deadline, in epoch ms: deadlines are stored in two Int32 words (high word < 2^31). */
const MAX_DEADLINE = 2 ** 62;

/** Parsed set options; one reusable object, since set() is a hot path. */
const parsed = { expires: 0, minBytes: 0, timeout: DEFAULT_TIMEOUT_MS };

function parseSetOptions(o: SetOptions | undefined): typeof parsed {
  parsed.expires = 0;
  parsed.minBytes = 0;
  parsed.timeout = DEFAULT_TIMEOUT_MS;
  if (o === undefined) return parsed;
  if (o === null || typeof o !== 'object') throw new InvalidOptionError(`options must be an object, got ${describe(o)}`);
  for (const k in o) if (!SET_OPTIONS.has(k)) throw new InvalidOptionError(`unknown option "${k}" (known: ${[...SET_OPTIONS].join(', ')})`);
  const { minBufferSize, immutable, ttl, skipLock, timeout } = o;
  if (minBufferSize !== undefined) {
    if (!Number.isSafeInteger(minBufferSize) || minBufferSize < 0 || minBufferSize > MAX_HINT_BYTES) {
      throw new InvalidOptionError(`options.minBufferSize must be an integer number of bytes from 0 to ${MAX_HINT_BYTES}, got ${describe(minBufferSize)}`);
    }
    parsed.minBytes = minBufferSize;
  }
  if (immutable !== undefined && typeof immutable !== 'boolean') throw new InvalidOptionError(`options.immutable must be a boolean, got ${describe(immutable)}`);
  if (ttl !== undefined) {
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0) throw new InvalidOptionError(`options.ttl must be a finite number of seconds >= 0, got ${describe(ttl)}`);
    // Deadlines beyond MAX_DEADLINE (~146 million years) are stored as MAX_DEADLINE.
    if (ttl > 0) parsed.expires = Math.min(MAX_DEADLINE, now() + Math.max(1, Math.round(ttl * 1000)));
  }
  if (skipLock !== undefined && typeof skipLock !== 'boolean') throw new InvalidOptionError(`options.skipLock must be a boolean, got ${describe(skipLock)}`);
  parsed.timeout = checkTimeout(timeout, 'options.timeout');
  return parsed;
}

function parseDeleteOptions(o: DeleteOptions | undefined): { literal: boolean; timeout: number } {
  if (o === undefined) return { literal: false, timeout: DEFAULT_TIMEOUT_MS };
  if (o === null || typeof o !== 'object') throw new InvalidOptionError(`options must be an object, got ${describe(o)}`);
  for (const k in o) if (k !== 'literal' && k !== 'timeout') throw new InvalidOptionError(`unknown option "${k}" (known: literal, timeout)`);
  if (o.literal !== undefined && typeof o.literal !== 'boolean') throw new InvalidOptionError(`options.literal must be a boolean, got ${describe(o.literal)}`);
  return { literal: o.literal === true, timeout: checkTimeout(o.timeout, 'options.timeout') };
}

// ── Per-thread state ─────────────────────────────────────────────────────────────────────────

/** CacheSlot.seq of a slot without a cached value: odd, so never the SEQ of a published block. */
const NO_VALUE = -1;

/** What this thread remembers about one key: where its entry is, and (hot reads) its value. */
class CacheSlot {
  ref: number;
  gen: number;
  /**
   * SEQ at which `value` was decoded; NO_VALUE when no value is cached. (A sentinel, not a sign
   * test: SEQ wraps into negatives.)
   */
  seq = NO_VALUE;
  /** The VALUE block `value` was decoded from. */
  data = 0;
  /**
   * The value's deadline in epoch ms, when mark has DEADLINE. Starts as null, not 0: a field that
   * starts as a small integer and later takes a deadline (beyond one) becomes a boxed double in
   * every slot of the thread; one that starts as null stays a tagged field, and only slots that
   * hold a deadline point to a number.
   */
  expires: number | null = null;
  value: unknown = undefined;
  /**
   * Its place in the cache's CLOCK ring << PLACE_SHIFT | DEADLINE | USED. USED is set by each hot
   * cache hit and cleared by the hand (a second chance; see Store.cacheSlot). Unused by plain
   * handles. One field, not three: a hot get's cost is mostly the cache misses of reaching its
   * slot, and every field makes slots bigger.
   */
  mark = 0;
  /**
   * hotReads: the write epoch of the entry's stripe at which `value` is known current, or one the
   * stripe has passed (so that it cannot match) when that was not established (see getHot).
   */
  epoch = 0;
  constructor(ref: number, gen: number) {
    this.ref = ref;
    this.gen = gen;
  }
}

const instances = new Map<string, Store<unknown>>();
const STORE_OPTIONS = ['hotReads', 'record', 'structures'];
const sweepable = new Set<Store<unknown>>();
let sweepTimer: ReturnType<typeof setInterval> | undefined;

/** An unref'd timer reclaims expired entries of the stores this thread writes TTLs to. */
function scheduleSweep(store: Store<unknown>): void {
  sweepable.add(store);
  if (sweepTimer !== undefined) return;
  sweepTimer = setInterval(() => {
    for (const s of sweepable) {
      if (s.closed) sweepable.delete(s);
      else s.sweepExpired(Infinity);
    }
  }, 1000);
  sweepTimer.unref();
}

// ── The store ────────────────────────────────────────────────────────────────────────────────

/**
 * A named key-value store shared by every thread of the process. Get one with
 * {@link createStore}; every thread that opens the same name sees the same data.
 *
 * Consistency: `get` returns the value of the last write that completed before it began, or of
 * a write that overlaps it. `has`, `size` and `listKeys` read without locks; under concurrent
 * writes each key's answer reflects a moment during the call, not one snapshot of the store.
 */
export class Store<T = unknown> {
  readonly name: string;
  /** Unit ref of this store's STORE block. */
  private readonly ref: number;
  /** Word index of the store's write epoch 0 (see getHot). */
  private readonly epochs: number;
  private readonly hot: boolean;
  /** How many keys this handle's per-thread cache holds at most. */
  private readonly cacheLimit: number;
  private readonly slots = new Map<string, CacheSlot>();
  /** hotReads: the cached slots in CLOCK order, their keys, and the hand (see cacheSlot). */
  private ring: CacheSlot[] = [];
  private ringKeys: string[] = [];
  private hand = 0;
  /** hotReads: misses of the full cache so far (see HOT_ADMIT_EVERY). */
  private fullMisses = 0;
  /** Gets sampled against the full cache, and how many of them hit (see CACHE_MIN_HITS). */
  private sampled = 0;
  private sampledHits = 0;
  /** Plain gets left that go straight to the index: the full cache was hitting too rarely. */
  private skipCache = 0;
  /** Keys this thread locked with lock() through this instance. */
  private readonly held = new Set<string>();
  /** @internal */
  closed = false;

  /** This thread's codec of the store's learned structures, once it has needed it. */
  private learned: LearnedCodec | null = null;

  /** The store's schema (record layout, structures) once this thread has seen one. */
  private schema: StoreSchema | null;

  /** @internal Use createStore(). */
  constructor(name: string, ref: number, hot: boolean, schema: StoreSchema | null, cacheLimit = CACHE_LIMIT) {
    this.name = name;
    this.ref = ref;
    this.epochs = epochWord(ref);
    this.hot = hot;
    this.cacheLimit = cacheLimit;
    this.schema = schema;
  }

  /** The record layout of a store of fixed-layout records, else undefined. */
  get recordLayout(): RecordLayout | undefined {
    return this.currentSchema()?.layout ?? undefined;
  }

  /**
   * The schema in shared memory, which another thread may have installed after this handle was
   * opened: a plain load of one word while there is none.
   */
  private currentSchema(): StoreSchema | null {
    if (this.schema !== null) return this.schema;
    const r = arena.i32[this.ref * 2 + STORE.SCHEMA];
    if (r === 0) return null;
    return (this.schema = schemaAt(this.ref, r));
  }

  /** @internal Decodes the tags that need the store's schema (called by readEntry). */
  decodeSchemaValue(tag: number, bytes: Uint8Array, view: DataView, len: number): unknown {
    if (tag === Tag.Learned) return (this.learned ??= learnedCodec(this.ref)).decode(bytes, len);
    const sc = this.currentSchema();
    if (tag === Tag.Record && sc !== null && sc.layout !== null && len === sc.layout.size) return decodeRecord(sc.layout, bytes, view);
    if (tag === Tag.Structured && sc !== null && sc.structured !== null) return sc.structured.decode(bytes, len);
    throw new CodecError(`store "${this.name}": a value with tag ${tag} (${len} bytes) does not match the store's schema`);
  }

  /** Encodes a value for this store (records into the schema's buffer); returns its tag. */
  private encodeValue(value: unknown, sc: StoreSchema | null, path: string): number {
    if (sc === null) return (this.learned ??= learnedCodec(this.ref)).encode(value);
    if (sc.layout !== null) {
      encodeRecord(sc.layout, value, sc.rec, sc.recView, path);
      return Tag.Record;
    }
    return sc.structured!.encode(value);
  }

  // ── reads ──

  /**
   * The value of `key`, or undefined. Never locks and never waits for writers. `skipLock` is
   * accepted for compatibility: reads never take the lock.
   */
  get(key: string, skipLock?: boolean): T | undefined;
  get(key: string): T | undefined {
    if (this.closed) throw new StoreClosedError(this.name);
    if (this.hot) return this.getHot(key);
    if (this.skipCache !== 0) {
      this.skipCache--;
      return this.getUncached(key);
    }
    const slot = this.slots.get(key);
    if (this.slots.size >= this.cacheLimit) this.sampleCache(slot !== undefined);
    if (slot !== undefined) {
      const v = readEntry(slot.ref, slot.gen, this as Store<unknown>);
      if (v !== STALE) return v === MISSING ? undefined : (v as T);
      this.uncache(key);
    }
    return this.getSlow(key);
  }

  /** Counts a get that probed the full cache; after a sample, decides whether to skip it. */
  private sampleCache(hit: boolean): void {
    if (hit) this.sampledHits++;
    if (++this.sampled < CACHE_SAMPLE_GETS) return;
    if (this.sampledHits < CACHE_MIN_HITS) this.skipCache = CACHE_SKIP_GETS;
    this.sampled = 0;
    this.sampledHits = 0;
  }

  /** A get through the index alone: no cache probe, and no CacheSlot made for a full cache. */
  private getUncached(key: string): T | undefined {
    checkKey(key);
    for (;;) {
      const ref = lookup(this.ref, key, hashKey(key));
      if (ref === 0) return undefined;
      const v = readEntry(ref, foundGen, this as Store<unknown>);
      // STALE: the entry was removed (and maybe reused) between the lookup and the read.
      if (v !== STALE) return v === MISSING ? undefined : (v as T);
    }
  }

  private getSlow(key: string): T | undefined {
    for (;;) {
      const slot = this.find(key);
      if (slot === undefined) return undefined;
      const v = readEntry(slot.ref, slot.gen, this as Store<unknown>);
      if (v !== STALE) return v === MISSING ? undefined : (v as T);
      this.uncache(key);
    }
  }

  /**
   * A get through the cache of decoded values. A cached value is returned when either
   *   - the write epoch of its entry's stripe is the one recorded with it: no writer has begun
   *     to republish any entry of the stripe since the value was known current. One load of a
   *     counter that stays in this thread's L1 cache while nobody writes, instead of a load of
   *     the entry (a miss to memory once the store outgrows the CPU's caches); or
   *   - the entry still has the SEQ, DATA and GEN it had when the value was decoded (a write
   *     to another key of the stripe moved the epoch). DATA is compared too because a writer
   *     publishes DATA *before* it bumps SEQ: in between, a plain get already returns the new
   *     value, and a hot get must not then return the old one.
   * Otherwise the value is read and decoded again (getHotSlow).
   *
   * Why the epoch test is sound: a writer holds the entry's lock from before it bumps the
   * epoch until after it has bumped SEQ, and bumps the epoch before it publishes DATA. An
   * epoch is recorded (armEpoch) only if it was loaded before the entry was read, the entry's
   * lock was free after the read, and SEQ had not moved by then. So a writer that publishes
   * after the read either bumped the epoch after it was loaded, or held the lock at the lock
   * test, or had released it before then and so bumped SEQ before the SEQ re-check: in every
   * case the recorded epoch does not match, or is not recorded. (Counters wrap after 2^32
   * writes to one stripe: a value not read while that many went by matches again with
   * probability 2^-32, the same bet SEQ makes.) Deletes bump the epoch as writes do, and an
   * entry is removed or reused only after its value was cleared, so an unchanged epoch also
   * means the entry still holds the key.
   */
  private getHot(key: string): T | undefined {
    const slot = this.slots.get(key);
    if (slot !== undefined && slot.seq !== NO_VALUE) {
      const i32 = arena.i32;
      const epoch = Atomics.load(i32, this.epochs + epochStripe(slot.ref));
      const mark = slot.mark;
      if (epoch === slot.epoch) {
        if ((mark & USED) === 0) slot.mark = mark | USED;
        return (mark & DEADLINE) === 0 || now() < slot.expires! ? (slot.value as T) : undefined;
      }
      const e = slot.ref * 2;
      // GEN is a plain load: it changes only after SEQ does.
      if (Atomics.load(i32, e + ENTRY.SEQ) === slot.seq && i32[e + ENTRY.DATA] === slot.data && i32[e + ENTRY.GEN] === slot.gen && !entryRefsMoved(i32)) {
        slot.epoch = armEpoch(e, slot.seq, epoch);
        if ((mark & USED) === 0) slot.mark = mark | USED;
        return (mark & DEADLINE) === 0 || now() < slot.expires! ? (slot.value as T) : undefined;
      }
    }
    return this.getHotSlow(key, slot);
  }

  /** A hot get that reads the entry and decodes its value (see getHot). */
  private getHotSlow(key: string, slot: CacheSlot | undefined): T | undefined {
    for (;;) {
      if (slot === undefined) {
        slot = this.find(key);
        if (slot === undefined) return undefined;
      }
      // Loaded before the entry is read: see getHot.
      const epoch = Atomics.load(arena.i32, this.epochs + epochStripe(slot.ref));
      const v = readEntry(slot.ref, slot.gen, this as Store<unknown>);
      if (v === STALE) {
        this.uncache(key);
        slot = undefined;
        continue;
      }
      if (v === MISSING) {
        slot.seq = NO_VALUE;
        slot.value = undefined;
        return undefined;
      }
      slot.seq = readSeq;
      slot.data = readData;
      slot.expires = readExpires === 0 ? null : readExpires;
      slot.mark = readExpires === 0 ? slot.mark & ~DEADLINE : slot.mark | DEADLINE;
      slot.epoch = armEpoch(slot.ref * 2, readSeq, epoch);
      slot.value = deepFreeze(v);
      return slot.value as T;
    }
  }

  /** Whether `key` holds a value (that has not expired). */
  has(key: string): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    for (;;) {
      const slot = this.slots.get(key) ?? this.find(key);
      if (slot === undefined) return false;
      const state = peekEntry(slot.ref, slot.gen);
      if (state !== STALE) return state === true;
      this.uncache(key);
    }
  }

  /** Values of several keys, in order (undefined for absent ones). */
  getMany(keys: readonly string[]): (T | undefined)[] {
    if (!Array.isArray(keys)) throw new InvalidOptionError(`keys must be an array of strings, got ${describe(keys)}`);
    const out = new Array<T | undefined>(keys.length);
    for (let i = 0; i < keys.length; i++) out[i] = this.get(keys[i]);
    return out;
  }

  /** Number of keys holding a value. Reclaims expired keys first when the store has TTLs. */
  get size(): number {
    if (this.closed) throw new StoreClosedError(this.name);
    const s = this.ref * 2;
    if (Atomics.load(arena.i32, s + STORE.TTL_COUNT) === 0) return Atomics.load(arena.i32, s + STORE.VALUES);
    this.sweepExpired(Infinity);
    // What the sweep had to leave (keys locked by some thread) is expired all the same.
    let stillExpired = 0;
    const t = now();
    if (Atomics.load(arena.i32, s + STORE.TTL_COUNT) > 0) forEachRef(this.ref, (ref) => {
      if (expiredAt(ref, t)) stillExpired++;
    });
    return Atomics.load(arena.i32, s + STORE.VALUES) - stillExpired;
  }

  /**
   * Keys holding a value, optionally filtered by a pattern: a RegExp, a string enclosed in
   * slashes (`/^user_\\d+$/`, a regex without flags), a glob (`users:*`, `session:?`), or a
   * literal key. Order is unspecified.
   */
  listKeys(pattern?: Pattern): string[] {
    if (this.closed) throw new StoreClosedError(this.name);
    const p = pattern === undefined ? undefined : compilePattern(pattern);
    if (p !== undefined && p.literal !== undefined) {
      // A literal no key can equal (empty, or longer than any key) lists nothing.
      const k = p.literal;
      return k.length > 0 && k.length <= MAX_KEY_LENGTH && this.has(k) ? [k] : [];
    }
    return this.scan(p);
  }

  private scan(p: KeyPattern | undefined): string[] {
    for (;;) {
      // A key read through a ref into a slab retired meanwhile may be garbage: start over.
      entryRefsMoved(arena.i32);
      const keys = new Set<string>();
      const visit = (ref: number): void => {
        const key = liveKey(ref);
        if (key !== undefined && (p === undefined || p.test(key))) keys.add(key);
      };
      if (!forEachRef(this.ref, visit)) this.withStoreLock(() => forEachRef(this.ref, visit, 0));
      if (!entryRefsMoved(arena.i32)) return [...keys];
    }
  }

  // ── writes ──

  /**
   * Stores `value` under `key`. Returns true when written, false when another thread holds the
   * key's lock for longer than `options.timeout`. Throws for a bad key, value or option, and
   * OutOfMemoryError when the arena is full (the key keeps its previous value).
   */
  set(key: string, value: T, options?: SetOptions): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    checkKey(key);
    const o = parseSetOptions(options);
    const expires = o.expires;
    let minBytes = o.minBytes;
    const timeout = o.timeout;
    // Encode before any lock: a value that cannot be stored throws with nothing changed.
    const sc = this.currentSchema();
    const tag = this.encodeValue(value, sc, `${this.name}: value`);
    let bytes = encoded.bytes;
    let src = encoded.offset;
    let len = encoded.length;
    if (tag === Tag.Record) {
      // A record has a fixed size (no minBufferSize) and is written in place (writeRecord).
      if (expires !== 0) throw new InvalidOptionError(`store "${this.name}" holds fixed-layout records, which cannot have a TTL`);
      bytes = sc!.rec;
      src = 0;
      len = sc!.layout!.size;
      minBytes = 0;
    }
    for (;;) {
      const slot = this.slots.get(key) ?? this.find(key);
      if (slot === undefined) {
        if (this.insertEntry(key, tag, bytes, src, len, expires, minBytes, false)) {
          if (expires !== 0) scheduleSweep(this as Store<unknown>);
          // Inserts pay for reclaiming a few expired keys, so a TTL workload stays bounded.
          if (Atomics.load(arena.i32, this.ref * 2 + STORE.TTL_COUNT) > 0) this.sweepExpired(SWEEP_BUDGET);
          return true;
        }
        continue; // another thread inserted it first: write through the entry path
      }
      const lock = this.lockEntry(slot, timeout);
      if (lock === LOCK_TIMEOUT) return false;
      if (lock === LOCK_STALE) {
        this.uncache(key);
        continue;
      }
      try {
        if (tag === Tag.Record) this.writeRecord(slot.ref, sc!, sc!.allRanges);
        else writeValue(this.ref, slot.ref, tag, bytes, src, len, expires, minBytes);
      } finally {
        if (lock === LOCK_TAKEN) release(arena.i32, slot.ref * 2 + ENTRY.LOCK);
      }
      if (expires !== 0) scheduleSweep(this as Store<unknown>);
      return true;
    }
  }

  /**
   * Stores several values. Every key, value and option is checked and encoded before the first
   * write, so bad input writes nothing (the error names the entry and its key). The writes are
   * then made one by one, each atomic on its own, not as one transaction: a key locked by
   * another thread past the timeout is skipped (the result counts the values written), and an
   * OutOfMemoryError leaves the entries before it written. Returns how many were written.
   */
  setMany(entries: Iterable<readonly [string, T]> | Record<string, T>, options?: SetOptions): number {
    if (this.closed) throw new StoreClosedError(this.name);
    if (entries === null || typeof entries !== 'object') throw new InvalidOptionError(`entries must be an iterable of [key, value] pairs or an object, got ${describe(entries)}`);
    const list: [string, T][] = Symbol.iterator in entries
      ? Array.from(entries as Iterable<readonly [string, T]>, (e, i) => {
          if (!Array.isArray(e) || e.length !== 2) throw new InvalidOptionError(`entries[${i}] must be a [key, value] pair, got ${Array.isArray(e) ? `an array of length ${e.length}` : describe(e)}`);
          return [e[0], e[1]];
        })
      : Object.entries(entries as Record<string, T>);
    parseSetOptions(options);
    const sc = this.currentSchema();
    for (let i = 0; i < list.length; i++) {
      const [k, v] = list[i]!;
      if (typeof k !== 'string' || k.length === 0 || k.length > MAX_KEY_LENGTH) badKey(k, `setMany() entries[${i}]`);
      const at = `store "${this.name}": setMany() entries[${i}] (key ${quote(k)})`;
      try {
        this.encodeValue(v, sc, `${at}: value`);
      } catch (error) {
        // The codec's messages say what is wrong with a value but not which one: name it.
        if (error instanceof InvalidValueError && !error.message.startsWith(at)) throw new InvalidValueError(`${at}: ${error.message}`);
        throw error;
      }
    }
    let n = 0;
    for (const [k, v] of list) if (this.set(k, v, options)) n++;
    return n;
  }

  /**
   * Deletes `key`, or every key matching a pattern (see listKeys). Returns true if a value was
   * deleted. A key locked by another thread is waited for up to `options.timeout` and then left.
   * `{ literal: true }` deletes exactly the key given, whatever characters it holds.
   */
  delete(key: Pattern, options?: DeleteOptions): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    const o = parseDeleteOptions(options);
    if (o.literal) {
      if (key instanceof RegExp) throw new InvalidOptionError(`options.literal cannot be used with a RegExp (${String(key)}): pass the key as a string`);
      checkKey(key);
      return this.deleteOne(key, o.timeout);
    }
    const p = compilePattern(key);
    if (p.kind === 'literal') {
      if (p.source.length === 0 || p.source.length > MAX_KEY_LENGTH) badKey(p.source);
      return this.deleteOne(p.source, o.timeout);
    }
    if (p.literal !== undefined) {
      // A glob whose wildcards are all escaped names one key: one lookup, no scan.
      return p.literal.length <= MAX_KEY_LENGTH && this.deleteOne(p.literal, o.timeout);
    }
    let any = false;
    for (const k of this.scan(p)) if (this.deleteOne(k, o.timeout)) any = true;
    return any;
  }

  /** Deletes several keys, each literal (never a pattern). Returns how many held a value. */
  deleteMany(keys: readonly string[], options?: Omit<DeleteOptions, 'literal'>): number {
    if (this.closed) throw new StoreClosedError(this.name);
    if (!Array.isArray(keys)) throw new InvalidOptionError(`keys must be an array of strings, got ${describe(keys)}`);
    for (let i = 0; i < keys.length; i++) {
      const k: unknown = keys[i];
      if (k instanceof RegExp) throw new InvalidKeyError(`deleteMany() takes literal keys, got ${describe(k)} at keys[${i}]; to delete the keys a pattern matches, call delete(pattern)`);
      if (typeof k !== 'string' || k.length === 0 || k.length > MAX_KEY_LENGTH) badKey(k, `keys[${i}]`);
    }
    const timeout = parseDeleteOptions(options).timeout;
    let n = 0;
    for (const k of keys) if (this.deleteOne(k, timeout)) n++;
    return n;
  }

  /** Deletes every key. Keys locked by other threads are waited for, as by delete(). */
  clear(): void {
    if (this.closed) throw new StoreClosedError(this.name);
    const keys = this.scan(undefined);
    for (const k of keys) this.deleteOne(k, DEFAULT_TIMEOUT_MS);
    // Give the emptied slabs and the index's extra buckets back to the value memory now (a
    // heap walk: only when it may pay).
    if (keys.length >= RECLAIM_AFTER_CLEAR) {
      // Reclaim first, so that the small index comes from the bottom of the freed memory and
      // does not pin TOP high; then again for the big index it replaces.
      reclaim();
      if (this.withStoreLock(() => shrinkIndex(this.ref))) reclaim();
    }
  }

  private deleteOne(key: string, timeout: number): boolean {
    for (;;) {
      const slot = this.slots.get(key) ?? this.find(key);
      if (slot === undefined) return false;
      const lock = this.lockEntry(slot, timeout);
      if (lock === LOCK_TIMEOUT) return false;
      if (lock === LOCK_STALE) {
        this.uncache(key);
        continue;
      }
      // An expired value is deleted too, but does not count as one: get() already said absent.
      const d = arena.i32[slot.ref * 2 + ENTRY.DATA];
      const live = d !== 0 && !expiredBlock(d, now());
      if (lock === LOCK_HELD) {
        // This thread owns the key through lock(): keep the entry (it carries the lock) and
        // drop only the value; release() removes the empty entry.
        clearValue(this.ref, slot.ref);
        return live;
      }
      this.removeEntry(slot.ref, key, true);
      return live;
    }
  }

  // ── locks ──

  /**
   * Takes `key`'s owner lock, waiting up to `timeout` ms. While this thread holds it, other
   * threads' set/delete/lock of the key wait; this thread writes with `{ skipLock: true }` (or
   * without: a holder's own writes do not wait for itself). Works on absent keys too.
   * Returns false on timeout.
   */
  lock(key: string, timeout: number = DEFAULT_TIMEOUT_MS): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    checkKey(key);
    const t = checkTimeout(timeout, 'timeout');
    for (;;) {
      let slot = this.slots.get(key) ?? this.find(key);
      if (slot === undefined) {
        if (this.insertEntry(key, 0, EMPTY, 0, 0, 0, 0, true)) {
          this.held.add(key);
          return true;
        }
        slot = this.find(key);
        if (slot === undefined) continue;
      }
      const lock = this.lockEntry(slot, t);
      if (lock === LOCK_TIMEOUT) return false;
      if (lock === LOCK_STALE) {
        this.uncache(key);
        continue;
      }
      this.held.add(key);
      return true;
    }
  }

  /** Releases a lock this thread holds on `key`. Returns false if it does not hold it. */
  release(key: string): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    checkKey(key);
    this.held.delete(key);
    // The checks below read LOCK and GEN through a cached ref before they trust it.
    entryRefsMoved(arena.i32);
    for (;;) {
      const slot = this.slots.get(key) ?? this.find(key);
      if (slot === undefined) return false;
      const i32 = arena.i32;
      const e = slot.ref * 2;
      if (holder(i32, e + ENTRY.LOCK) !== myToken) return false;
      if (Atomics.load(i32, e + ENTRY.GEN) !== slot.gen) {
        this.uncache(key);
        continue;
      }
      if (Atomics.load(i32, e + ENTRY.DATA) === 0) this.removeEntry(slot.ref, key);
      else release(i32, e + ENTRY.LOCK);
      return true;
    }
  }

  /**
   * Atomically replaces `key`'s value with `fn(current)`: lock, read, write, release in one
   * call. Returns the new value. Throws LockTimeoutError if the lock is not taken in time;
   * if `fn` throws, nothing is written and the error propagates.
   *
   * `fn` runs holding the key's lock, so other threads' writes of the key wait for it, while
   * this thread's own writes of it from inside `fn` (set, delete, a nested update) take effect
   * at once and are then replaced by the result. In a store of records only the fields the
   * result changed from `current` are written, so the fields it left alone keep such a write.
   */
  update(key: string, fn: (current: T | undefined) => T, options?: SetOptions): T {
    if (this.closed) throw new StoreClosedError(this.name);
    checkKey(key);
    if (typeof fn !== 'function') throw new InvalidOptionError(`update() needs a function, got ${describe(fn)}`);
    const o = parseSetOptions(options); // the same checks as set()
    const timeout = o.timeout;
    if (o.expires !== 0 && this.currentSchema()?.layout != null) throw new InvalidOptionError(`store "${this.name}" holds fixed-layout records, which cannot have a TTL`);
    const wasHeld = this.holds(key);
    if (!wasHeld && !this.lock(key, timeout)) throw new LockTimeoutError(this.name, key, timeout);
    try {
      const current = this.get(key);
      const next = fn(current);
      const sc = this.currentSchema();
      if (sc !== null && sc.layout !== null && current !== undefined) this.updateRecord(key, sc, current, next);
      else this.set(key, next, { ...options, skipLock: true });
      return next;
    } finally {
      if (!wasHeld) this.release(key);
    }
  }

  // ── fixed-layout records ──

  /** Writes `ranges` of sc.rec into entry `ref` (lock held): in place, or as a first block. */
  private writeRecord(ref: number, sc: StoreSchema, ranges: readonly number[]): void {
    const size = sc.layout!.size;
    const i32 = arena.i32;
    const d = i32[ref * 2 + ENTRY.DATA];
    if (d > 0 && (i32[d * 2 + VALUE.HDR] & VALUE_FLAG.RECORD) !== 0 && i32[d * 2 + VALUE.LEN] === size) {
      if (ranges.length > 0) writeRecordInPlace(ref, d, sc.rec, ranges);
    } else {
      writeValue(this.ref, ref, Tag.Record, sc.rec, 0, size, 0, 0);
    }
  }

  /**
   * update() of a record that exists (lock held): writes only the fields whose bytes changed,
   * so that atomic ops other threads made meanwhile on the fields `fn` left alone are kept.
   */
  private updateRecord(key: string, sc: StoreSchema, current: unknown, next: unknown): void {
    const layout = sc.layout!;
    encodeRecord(layout, next, sc.rec, sc.recView, 'value');
    encodeRecord(layout, current, sc.old, sc.oldView, 'value');
    const ranges: number[] = [];
    for (const f of layout.fields) {
      const n = fieldSpan(f);
      for (let i = f.offset; i < f.offset + n; i++) {
        if (sc.rec[i] !== sc.old[i]) {
          ranges.push(f.offset, n);
          break;
        }
      }
    }
    const slot = this.slots.get(key) ?? this.find(key);
    if (slot !== undefined) this.writeRecord(slot.ref, sc, ranges);
  }

  /**
   * Changes some fields of the record under `key`, in place under the key's lock: readers see
   * all of them changed or none. Fields not named keep their value (including atomic ops other
   * threads make meanwhile). Returns false if another thread holds the lock past the timeout.
   * Throws KeyNotFoundError when the key holds no record, InvalidValueError for a bad field.
   * Each field of `fields` is read once, before the lock is taken (a getter runs there).
   */
  setFields(key: string, fields: Partial<T>, options?: { timeout?: number }): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    checkKey(key);
    const sc = this.recordSchema('setFields');
    const layout = sc.layout!;
    const timeout = checkTimeout(options?.timeout, 'options.timeout');
    // Read and check every field before the lock (getters run here, once); the bytes are
    // encoded again over the current record, from the plain copy.
    const plain = readFields(layout, fields, 'fields');
    encodeFields(layout, plain, sc.old, sc.oldView, 'fields');
    for (;;) {
      const slot = this.slots.get(key) ?? this.find(key);
      if (slot === undefined) throw new KeyNotFoundError(this.name, key);
      const lock = this.lockEntry(slot, timeout);
      if (lock === LOCK_TIMEOUT) return false;
      if (lock === LOCK_STALE) {
        this.uncache(key);
        continue;
      }
      try {
        const i32 = arena.i32;
        const d = i32[slot.ref * 2 + ENTRY.DATA];
        if (d <= 0 || (i32[d * 2 + VALUE.HDR] & VALUE_FLAG.RECORD) === 0) throw new KeyNotFoundError(this.name, key);
        // Under the lock no other thread writes in place; atomic ops may change other fields
        // of this copy meanwhile, but only the ranges of the named fields are copied back.
        const base = d * UNIT + RECORD_BYTES_OFFSET;
        sc.rec.set(arena.u8.subarray(base, base + layout.size));
        const written = encodeFields(layout, plain, sc.rec, sc.recView, 'fields');
        const ranges: number[] = [];
        for (const i of written) ranges.push(layout.fields[i].offset, fieldSpan(layout.fields[i]));
        writeRecordInPlace(slot.ref, d, sc.rec, ranges);
      } finally {
        if (lock === LOCK_TAKEN) release(arena.i32, slot.ref * 2 + ENTRY.LOCK);
      }
      return true;
    }
  }

  /**
   * Adds `delta` to integer field `field` of the record under `key`, atomically and without a
   * lock; returns the field's previous value (as Atomics.add). Like Atomics.add, the result
   * wraps around the field type's range. Throws KeyNotFoundError when the key holds no record.
   */
  add(key: string, field: IntegerField<T>, delta: number): number {
    const f = this.atomicField(field as string, 'add');
    checkDelta(f.type, `"${field as string}"`, delta);
    return this.atomicOp(key, f, 0, delta, 0);
  }

  /**
   * Sets integer field `field` to `replacement` if it holds `expected`, atomically and without a
   * lock; returns the previous value (the exchange happened iff it equals `expected`).
   */
  compareExchange(key: string, field: IntegerField<T>, expected: number, replacement: number): number {
    const f = this.atomicField(field as string, 'compareExchange');
    checkOperand(f.type, `"${field as string}"`, 'expected', expected);
    checkOperand(f.type, `"${field as string}"`, 'replacement', replacement);
    return this.atomicOp(key, f, 1, expected, replacement);
  }

  private atomicOp(key: string, f: AtomicField, op: 0 | 1, a: number, b: number): number {
    checkKey(key);
    for (;;) {
      // Adopt a new ENTRY_EPOCH before taking a ref, so that the ref is from entryEpoch.
      entryRefsMoved(arena.i32);
      const slot = this.slots.get(key) ?? this.find(key);
      if (slot === undefined) throw new KeyNotFoundError(this.name, key);
      const old = recordAtomic(slot.ref, slot.gen, entryEpoch, f.offset, f.kind, op, a, b);
      if (old === old) return old;
      if (atomicStatus === AtomicStatus.Missing) throw new KeyNotFoundError(this.name, key);
      this.uncache(key);
    }
  }

  private recordSchema(what: string): StoreSchema {
    if (this.closed) throw new StoreClosedError(this.name);
    const sc = this.currentSchema();
    if (sc === null || sc.layout === null) throw new InvalidOptionError(`${what}() needs a store of fixed-layout records; store "${this.name}" was not created with options.record`);
    return sc;
  }

  /** @internal The integer field `field` of the record layout, for atomic ops. */
  atomicField(field: string, what: string): AtomicField {
    const sc = this.schema !== null && !this.closed ? this.schema : this.recordSchema(what);
    const f = sc.atomic.get(field);
    if (f === undefined) {
      throw new InvalidOptionError(`${what}(): "${String(field)}" is not an integer field of store "${this.name}" (integer fields: ${[...sc.atomic.keys()].join(', ') || 'none'})`);
    }
    return f;
  }

  /** @internal Where `key`'s entry is (for record views), or undefined if absent. */
  locate(key: string): { ref: number; gen: number; epoch: number } | undefined {
    if (this.closed) throw new StoreClosedError(this.name);
    this.recordSchema('a record view');
    for (;;) {
      const slot = this.slots.get(key) ?? this.find(key);
      if (slot === undefined) return undefined;
      const state = peekEntry(slot.ref, slot.gen);
      if (state === STALE) {
        this.uncache(key);
        continue;
      }
      return state === true ? { ref: slot.ref, gen: slot.gen, epoch: entryEpoch } : undefined;
    }
  }

  private holds(key: string): boolean {
    const slot = this.slots.get(key) ?? this.find(key);
    return slot !== undefined && holder(arena.i32, slot.ref * 2 + ENTRY.LOCK) === myToken;
  }

  // ── lifecycle and introspection ──

  /** Counts and sizes; see {@link StoreStats}. */
  stats(): StoreStats {
    if (this.closed) throw new StoreClosedError(this.name);
    const s = this.ref * 2;
    arena.refresh();
    const i32 = arena.i32;
    let valueBytes = 0;
    forEachRef(this.ref, (ref) => {
      const d = Atomics.load(arena.i32, ref * 2 + ENTRY.DATA);
      if (d < 0) valueBytes += inlineLength(d);
      else if (d !== 0 && arena.covers(d * UNIT + 8)) valueBytes += arena.i32[d * 2 + VALUE.LEN];
    });
    const idx = Atomics.load(i32, s + STORE.INDEX);
    const u = usage();
    const values = Atomics.load(i32, s + STORE.VALUES);
    return {
      name: this.name,
      entries: values,
      placeholders: Math.max(0, Atomics.load(i32, s + STORE.COUNT) - values),
      ttlEntries: Atomics.load(i32, s + STORE.TTL_COUNT),
      indexCapacity: arena.i32[idx * 2 + INDEX.CAPACITY],
      tombstones: Atomics.load(i32, s + STORE.TOMBSTONES),
      valueBytes,
      learnedStructures: learnedCount(this.ref),
      arena: { bytesInUse: u.bytesInUse, bytesReserved: u.bytesReserved, maxMemory: u.maxMemory, threads: liveThreadCount() },
    };
  }

  /** @internal Forgets every cached entry ref (slabs were retired: see syncEntryEpoch). */
  dropCachedRefs(): void {
    this.slots.clear();
    this.ring = [];
    this.ringKeys = [];
    this.hand = 0;
  }

  /**
   * Closes this thread's handle: releases the locks it holds through it and drops its caches.
   * The data stays for other threads; `createStore(name)` opens a new handle.
   */
  close(): void {
    if (this.closed) return;
    for (const key of [...this.held]) this.release(key);
    this.closed = true;
    this.slots.clear();
    this.ring = [];
    this.ringKeys = [];
    this.hand = 0;
    sweepable.delete(this as Store<unknown>);
    for (const [k, v] of instances) if (v === (this as Store<unknown>)) instances.delete(k);
  }

  /**
   * @internal Deletes expired entries among the next `buckets` buckets of the index (all of
   * them for Infinity), skipping keys whose lock is taken. Returns how many it deleted.
   */
  sweepExpired(buckets: number): number {
    const s = this.ref * 2;
    if (Atomics.load(arena.i32, s + STORE.TTL_COUNT) === 0) return 0;
    const expired: number[] = [];
    const t = now();
    if (buckets === Infinity) {
      forEachRef(this.ref, (ref) => {
        if (expiredAt(ref, t)) expired.push(ref);
      });
    } else {
      // Threads share one cursor, so concurrent sweeps look at different buckets.
      arena.refresh();
      const i32 = arena.i32;
      const idx = Atomics.load(i32, s + STORE.INDEX);
      const cap = i32[idx * 2 + INDEX.CAPACITY];
      const start = Atomics.add(i32, s + STORE.SWEEP_CURSOR, buckets) & (cap - 1);
      for (let i = 0; i < buckets && i < cap; i++) {
        const ref = bucketRef(arena.i32[idx * 2 + INDEX.BUCKETS + ((start + i) & (cap - 1))]);
        if (ref !== 0 && expiredAt(ref, t)) expired.push(ref);
      }
    }
    let n = 0;
    for (const ref of expired) {
      const e = ref * 2;
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
      this.removeEntry(ref, readKey(ref), true);
      n++;
    }
    return n;
  }

  // ── internals ──

  /** Looks `key` up in the shared index and caches where it is. */
  private find(key: string): CacheSlot | undefined {
    checkKey(key);
    const ref = lookup(this.ref, key, hashKey(key));
    if (ref === 0) return undefined;
    const slot = new CacheSlot(ref, foundGen);
    this.cacheSlot(key, slot);
    return slot;
  }

  /**
   * Caches `slot` for `key`. A full hotReads cache evicts by CLOCK: the hand goes round the ring
   * of cached slots; one hit since it last passed earns a slot a second chance, up to EVICT_SCAN
   * of them per insert, after which the slot under the hand goes regardless. So the cache
   * follows the working set as it moves (a cache that kept its first keys for good would decode
   * on every get for ever once the hot keys change), while keys that keep hitting stay. The scan
   * is bounded because under uniform access nearly every slot has been used. How often a full
   * cache takes a key, and why a plain handle's takes none: see HOT_ADMIT_EVERY. (Not the Map's
   * own insertion order as the queue: V8's Map leaves a hole per deleted entry until it
   * rehashes, and iterating from the front over the holes made each eviction slower than the
   * miss that caused it.)
   *
   * Invariant (hotReads handles): `ring` holds exactly the slots `slots` maps to, each at the
   * place its mark names, and `ringKeys` their keys.
   */
  private cacheSlot(key: string, slot: CacheSlot): void {
    const slots = this.slots;
    if (!this.hot) {
      // A plain handle's cache never evicts (see HOT_ADMIT_EVERY), so it needs no ring.
      if (slots.size < this.cacheLimit) slots.set(key, slot);
      return;
    }
    const ring = this.ring;
    const prev = slots.get(key);
    let at: number;
    if (prev !== undefined) {
      at = prev.mark >>> PLACE_SHIFT;
    } else if (ring.length < this.cacheLimit) {
      at = ring.length;
    } else {
      if (ring.length === 0 || (++this.fullMisses & (HOT_ADMIT_EVERY - 1)) !== 0) return;
      at = this.hand;
      let old = ring[at]!;
      for (let scanned = 0; (old.mark & USED) !== 0 && scanned < EVICT_SCAN; scanned++) {
        old.mark &= ~USED;
        at = at + 1 === ring.length ? 0 : at + 1;
        old = ring[at]!;
      }
      slots.delete(this.ringKeys[at]!);
      this.hand = at + 1 === ring.length ? 0 : at + 1;
    }
    slot.mark = at << PLACE_SHIFT;
    ring[at] = slot;
    this.ringKeys[at] = key;
    slots.set(key, slot);
  }

  /** Drops `key` from the cache (its slot went stale): the last slot of the ring takes its place. */
  private uncache(key: string): void {
    if (!this.hot) {
      this.slots.delete(key);
      return;
    }
    const slot = this.slots.get(key);
    if (slot === undefined) return;
    this.slots.delete(key);
    const ring = this.ring;
    const keys = this.ringKeys;
    const last = ring.pop()!;
    const lastKey = keys.pop()!;
    if (last !== slot) {
      const at = slot.mark >>> PLACE_SHIFT;
      ring[at] = last;
      keys[at] = lastKey;
      last.mark = (at << PLACE_SHIFT) | (last.mark & (DEADLINE | USED));
    }
    if (this.hand >= ring.length) this.hand = 0;
  }

  /** Takes the entry's lock for a write. See the LOCK_* results. */
  private lockEntry(slot: CacheSlot, timeout: number): number {
    // The LOCK word may be written before GEN can be checked: name the entry first (reclaim.ts).
    if (!guardEntry(slot.ref)) return LOCK_STALE;
    const i32 = arena.i32;
    const w = slot.ref * 2 + ENTRY.LOCK;
    if (holder(i32, w) === myToken) {
      unguardEntry();
      arena.refresh();
      return Atomics.load(i32, slot.ref * 2 + ENTRY.GEN) === slot.gen ? LOCK_HELD : LOCK_STALE;
    }
    if (acquire(i32, w, myToken, timeout) === Acquired.TimedOut) {
      unguardEntry();
      return LOCK_TIMEOUT;
    }
    // What the lock guards (the current value block) may have been allocated by a thread that
    // grew the arena beyond this thread's views: refresh them after every lock taken.
    arena.refresh();
    // Under the lock the entry cannot be removed; it might have been before we got it.
    if (Atomics.load(arena.i32, slot.ref * 2 + ENTRY.GEN) !== slot.gen) {
      release(arena.i32, w);
      unguardEntry();
      return LOCK_STALE;
    }
    // Locked and live: its slab cannot be retired until we unlock (reclaim.ts).
    unguardEntry();
    return LOCK_TAKEN;
  }

  /**
   * Creates the entry for a key that is not in the index, with a value (or, for lock(), none
   * and its lock held). Returns false if another thread created it first.
   */
  private insertEntry(key: string, tag: number, bytes: Uint8Array, src: number, len: number, expires: number, minBytes: number, placeholder: boolean): boolean {
    const hash = hashKey(key);
    return this.withStoreLock(() => {
      if (lookup(this.ref, key, hash) !== 0) return false;
      reserveOne(this.ref);
      // Limbo: until the bucket is published, recovery frees this entry (see threads.ts).
      arena.i32[myWord + THREAD.PENDING_STORE] = this.ref;
      const oneByte = isOneByteKey(key);
      const slotWords = inlineSlotWords(tag, len, expires, minBytes, placeholder);
      const lenWord = key.length | (oneByte ? KEY_ONE_BYTE : 0) | (slotWords << INLINE_WORDS_SHIFT);
      // The block ends where the layout puts the end of the second slot (after the key).
      const ref = alloc(KIND.ENTRY, Math.ceil(((inlineSlotA(lenWord) + 2 * slotWords) * 4) / UNIT), myWord + THREAD.PENDING_LIMBO);
      let i32 = arena.i32;
      const e = ref * 2;
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
          writeValue(this.ref, ref, tag, bytes, src, len, expires, minBytes);
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
      insert(this.ref, ref, hash);
      arena.i32[myWord + THREAD.PENDING_LIMBO] = 0;
      if (placeholder && !owned) return false;
      this.cacheSlot(key, new CacheSlot(ref, gen + 1));
      return true;
    });
  }

  /**
   * Unlinks entry `ref` (lock held by this thread; its value cleared already, or here with
   * `clear`) and frees it.
   */
  private removeEntry(ref: number, key: string, clear = false): void {
    const e = ref * 2;
    const hash = hashKey(key);
    // Limbo: once unlinked, recovery frees this entry if we die before free() does. Recorded
    // before the lock is taken, so that the recovery of a thread killed anywhere in the section
    // takes the store lock over (and recounts) at once, not at the store's next structural change.
    arena.i32[myWord + THREAD.PENDING_STORE] = this.ref;
    arena.i32[myWord + THREAD.PENDING_LIMBO] = ref;
    this.withStoreLock(() => {
      // A delete clears the value in the same store-lock section (its counters need the lock).
      if (clear) clearValue(this.ref, ref);
      remove(this.ref, ref, hash);
      // GEN odd: every cached (ref, gen) for this key is now stale.
      Atomics.add(arena.i32, e + ENTRY.GEN, 1);
    });
    release(arena.i32, e + ENTRY.LOCK);
    this.uncache(key);
    free(ref, myWord + THREAD.PENDING_LIMBO);
  }

  private withStoreLock<R>(fn: () => R): R {
    return withStoreLock(this.ref, fn);
  }
}

/**
 * Runs `fn` holding the structural lock of `store`. Taken over from a dead holder, the lock
 * guards state that may be mid-change: the counters it was changing, a structure-table save.
 * @internal Exported for tests, which check that its holder is alone (test/mutations.test.mjs).
 */
export function withStoreLock<R>(store: number, fn: () => R): R {
  const w = store * 2 + STORE.LOCK;
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

/** The store whose structural lock this thread holds inside withStoreLock (0: none). */
let storeLockHeld = 0;

/** This thread's codec of each store's learned structures, by STORE ref (stores are never freed). */
const learnedCodecs = new Map<number, LearnedCodec>();

function learnedCodec(store: number): LearnedCodec {
  let c = learnedCodecs.get(store);
  if (c === undefined) learnedCodecs.set(store, (c = new LearnedCodec(sharedTable(store, withStoreLock))));
  return c;
}

const LOCK_TIMEOUT = 0;
const LOCK_TAKEN = 1;
/** The caller already holds the lock (skipLock, or lock() by this thread): do not release it. */
const LOCK_HELD = 2;
const LOCK_STALE = 3;
const EMPTY = new Uint8Array(0);

/** Whether entry `ref` (generation `gen`) has a live value: true/false, or STALE. */
function peekEntry(ref: number, gen: number): unknown {
  const e = ref * 2;
  for (;;) {
    const i32 = arena.i32;
    const s1 = Atomics.load(i32, e + ENTRY.SEQ);
    if (Atomics.load(i32, e + ENTRY.GEN) !== gen) return STALE;
    const d = Atomics.load(i32, e + ENTRY.DATA);
    const live = d !== 0 && !expiredBlock(d, now());
    // Validated, or garbage from memory a retired slab gave back (which may never validate).
    if (entryRefsMoved(arena.i32)) return STALE;
    if (Atomics.load(arena.i32, e + ENTRY.SEQ) === s1 && (s1 & 1) === 0) return live;
  }
}

function expiredBlock(d: number, t: number): boolean {
  // An inline value (d < 0) never has a TTL.
  if (d <= 0 || !arena.covers(d * UNIT + VALUE_BYTES_OFFSET_TTL)) return false;
  const v = d * 2;
  const i32 = arena.i32;
  if ((i32[v + VALUE.HDR] & VALUE_FLAG.TTL) === 0) return false;
  return i32[v + VALUE.EXPIRES_HI] * 4294967296 + (i32[v + VALUE.EXPIRES_LO] >>> 0) <= t;
}

function expiredAt(ref: number, t: number): boolean {
  // A bounded sweep reads buckets without the store's SEQ check: the array may have been freed
  // and reused, and `ref` be garbage. Candidates are re-checked under the entry lock.
  if (!arena.covers((ref * 2 + ENTRY.DATA + 1) * 4)) return false;
  const d = Atomics.load(arena.i32, ref * 2 + ENTRY.DATA);
  return d !== 0 && expiredBlock(d, t);
}

/** The key of entry `ref` if it is live with an unexpired value, read consistently; else undefined. */
function liveKey(ref: number): string | undefined {
  const e = ref * 2;
  const gen = Atomics.load(arena.i32, e + ENTRY.GEN);
  if ((gen & 1) !== 0) return undefined;
  const d = Atomics.load(arena.i32, e + ENTRY.DATA);
  if (d === 0 || expiredBlock(d, now())) return undefined;
  const key = readKey(ref);
  return Atomics.load(arena.i32, e + ENTRY.GEN) === gen && key.length > 0 ? key : undefined;
}

/**
 * After taking over a store lock from a dead thread: the counters it was changing may be off
 * by one. Recount them from the index (the index itself is always consistent: every bucket
 * change is a single store).
 */
function repairCounts(store: number): void {
  const s = store * 2;
  let count = 0;
  let values = 0;
  let ttl = 0;
  let tombstones = 0;
  const i32 = arena.i32;
  const idx = i32[s + STORE.INDEX];
  const cap = i32[idx * 2 + INDEX.CAPACITY];
  for (let i = 0; i < cap; i++) {
    const bucket = i32[idx * 2 + INDEX.BUCKETS + i];
    if (bucket === BUCKET_TOMBSTONE) tombstones++;
    const ref = bucketRef(bucket);
    if (ref === 0) continue;
    count++;
    const d = i32[ref * 2 + ENTRY.DATA];
    if (d !== 0) {
      values++;
      if (d > 0 && (i32[d * 2 + VALUE.HDR] & VALUE_FLAG.TTL) !== 0) ttl++;
    }
  }
  i32[s + STORE.COUNT] = count;
  Atomics.store(i32, s + STORE.VALUES, values);
  Atomics.store(i32, s + STORE.TTL_COUNT, ttl);
  i32[s + STORE.TOMBSTONES] = tombstones;
}

function instanceKey(name: string, hot: boolean, schema: string | null, cacheLimit: number): string {
  return `${name}\u0000${hot ? `hot${cacheLimit}` : ''}\u0000${schema ?? ''}`;
}

// ── Store schemas: record layout and msgpackr structures, shared through the SCHEMA block ────

/** An integer field of a record layout, as the atomic ops address it. */
export interface AtomicField {
  offset: number;
  kind: FieldKind;
  type: AtomicType;
}

/** The FieldKind of each numeric field type. */
export const FIELD_KINDS: Record<AtomicType | 'float64', FieldKind> = {
  float64: FieldKind.Float64,
  int32: FieldKind.Int32,
  uint32: FieldKind.Uint32,
  int16: FieldKind.Int16,
  uint16: FieldKind.Uint16,
  int8: FieldKind.Int8,
  uint8: FieldKind.Uint8,
};

/**
 * What this thread built from a store's schema text: the codec of its structures, or its record
 * layout with the private buffers records are encoded in (one store's writes never interleave
 * in one thread, so one pair of buffers per store is enough).
 */
class StoreSchema {
  readonly layout: RecordLayout | null = null;
  readonly structured: StructuredCodec | null = null;
  readonly atomic = new Map<string, AtomicField>();
  readonly rec: Uint8Array = EMPTY;
  readonly recView: DataView = new DataView(new ArrayBuffer(0));
  readonly old: Uint8Array = EMPTY;
  readonly oldView: DataView = this.recView;
  /** (offset, length) of the whole record: what a set() writes. */
  readonly allRanges: readonly number[] = [];

  constructor(readonly text: string) {
    const parsed = JSON.parse(text) as { record: { size: number; fields: [string, RecordField['type'], number][] } | null; structures: string[][] | null };
    if (parsed.structures !== null) this.structured = new StructuredCodec(parsed.structures);
    if (parsed.record !== null) {
      const layout: RecordLayout = { size: parsed.record.size, fields: parsed.record.fields.map(([name, type, offset]) => ({ name, type, offset })) };
      this.layout = layout;
      this.rec = Buffer.alloc(layout.size);
      this.recView = new DataView(this.rec.buffer, this.rec.byteOffset, layout.size);
      this.old = Buffer.alloc(layout.size);
      this.oldView = new DataView(this.old.buffer, this.old.byteOffset, layout.size);
      this.allRanges = [0, layout.size];
      for (const f of layout.fields) if (isAtomicType(f.type)) this.atomic.set(f.name, { offset: f.offset, kind: FIELD_KINDS[f.type], type: f.type });
    }
  }
}

/** Schemas this thread has built, by STORE ref (a store's SCHEMA block never changes once set). */
const schemas = new Map<number, StoreSchema>();

function schemaAt(store: number, block: number): StoreSchema {
  let sc = schemas.get(store);
  if (sc === undefined) schemas.set(store, (sc = new StoreSchema(readSchemaText(block))));
  return sc;
}

function readSchemaText(block: number): string {
  arena.covers((block * 2 + SCHEMA.TEXT) * 4);
  const len = arena.i32[block * 2 + SCHEMA.LEN];
  arena.covers((block * 2 + SCHEMA.TEXT) * 4 + len * 2);
  const u16 = arena.u16;
  const base = (block * 2 + SCHEMA.TEXT) * 2;
  let text = '';
  for (let i = 0; i < len; i += 4096) text += String.fromCharCode(...u16.subarray(base + i, base + Math.min(len, i + 4096)));
  return text;
}

/** The canonical schema text of createStore options, or null when they set none. */
function schemaText(options: StoreOptions | undefined): string | null {
  const record = options?.record;
  const structures = options?.structures;
  if (record === undefined && structures === undefined) return null;
  if (record !== undefined) checkLayout(record);
  if (structures !== undefined) {
    if (!Array.isArray(structures) || structures.length > 1000) throw new InvalidOptionError('options.structures must be an array of at most 1000 structures');
    structures.forEach((keys, i) => {
      if (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => typeof k !== 'string') || new Set(keys).size !== keys.length) {
        throw new InvalidOptionError(`options.structures[${i}] must be a non-empty array of distinct property names`);
      }
    });
  }
  return JSON.stringify({
    record: record === undefined ? null : JSON.parse(layoutText(record)),
    structures: structures === undefined ? null : structures.map((keys) => [...keys]),
  });
}

/**
 * Installs the schema of a handle's options in store `store`, or checks it against the one
 * there. Every handle must agree: bytes written under one layout or structure list mean
 * something else under another.
 */
function openSchema(store: number, name: string, text: string | null): StoreSchema | null {
  const i32 = arena.i32;
  const cur = Atomics.load(i32, store * 2 + STORE.SCHEMA);
  if (text === null) return cur === 0 ? null : schemaAt(store, cur);
  if (cur === 0) {
    const installed = withStoreLock(store, () => {
      const s = store * 2;
      if (Atomics.load(arena.i32, s + STORE.SCHEMA) !== 0) return null;
      const sc = new StoreSchema(text);
      const values = Atomics.load(arena.i32, s + STORE.VALUES);
      if (sc.layout !== null && values > 0) {
        throw new InvalidOptionError(`store "${name}" already holds ${values} values written without a record layout; a store of records must be created with options.record before its first write`);
      }
      // Recorded until published, as a store creation records its blocks (see recoverCreation).
      const storeWord = myWord + THREAD.CREATE_STORE;
      const blockWord = myWord + THREAD.CREATE_BLOCK;
      Atomics.store(arena.i32, storeWord, store);
      try {
        const block = alloc(KIND.VALUE, Math.ceil((SCHEMA.TEXT * 4 + text.length * 2) / UNIT), blockWord);
        const w = block * 2;
        arena.i32[w + SCHEMA.LEN] = text.length;
        const u16 = arena.u16;
        for (let i = 0; i < text.length; i++) u16[(w + SCHEMA.TEXT) * 2 + i] = text.charCodeAt(i);
        spin(CREATE_DELAY_SPINS);
        Atomics.store(arena.i32, s + STORE.SCHEMA, block);
        spin(CREATE_DELAY_SPINS);
      } finally {
        // Published, or never allocated (alloc threw): either way nothing is left to record.
        Atomics.store(arena.i32, blockWord, 0);
        Atomics.store(arena.i32, storeWord, 0);
      }
      schemas.set(store, sc);
      return sc;
    });
    if (installed !== null) return installed;
  }
  const sc = schemaAt(store, Atomics.load(arena.i32, store * 2 + STORE.SCHEMA));
  if (sc.text !== text) {
    throw new InvalidOptionError(`store "${name}" was opened with a different ${describeSchema(sc.text, text)} in this process; every handle of a store must pass the same one (regenerate the code that opens it?)`);
  }
  return sc;
}

function describeSchema(a: string, b: string): string {
  const x = JSON.parse(a) as { record: unknown; structures: unknown };
  const y = JSON.parse(b) as { record: unknown; structures: unknown };
  return JSON.stringify(x.record) !== JSON.stringify(y.record) ? 'record layout' : 'structures list';
}

/**
 * Opens the store called `name` (default: "default"), creating it on first use in any thread.
 * In one thread, the same name (and options) always gives the same instance.
 *
 * Without a type argument the values are `any`, as in `new Map()`: an untyped store holds
 * whatever JavaScript code puts in it, and code written for the untyped API (the README's
 * examples: `store.get('counter') + 1`) compiles as it runs. `createStore<User>()` checks.
 */
export function createStore<T = any>(name: string = 'default', options?: StoreOptions): Store<T> {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_STORE_NAME_LENGTH) {
    throw new InvalidOptionError(`store name must be a non-empty string of at most ${MAX_STORE_NAME_LENGTH} characters, got ${describe(name)}`);
  }
  let hot = false;
  let cacheLimit = CACHE_LIMIT;
  let text: string | null = null;
  if (options !== undefined) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError(`options must be an object, got ${describe(options)}`);
    for (const k in options) if (!STORE_OPTIONS.includes(k)) throw new InvalidOptionError(`unknown option "${k}" (known: ${STORE_OPTIONS.join(', ')})`);
    const h = options.hotReads;
    if (h === true) cacheLimit = HOT_CACHE_LIMIT;
    if (h !== undefined && typeof h !== 'boolean') {
      cacheLimit = HOT_CACHE_LIMIT;
      if (h === null || typeof h !== 'object' || Object.keys(h).some((k) => k !== 'maxKeys')) throw new InvalidOptionError(`options.hotReads must be a boolean or { maxKeys }, got ${describe(h)}`);
      if (h.maxKeys !== undefined) {
        if (!Number.isSafeInteger(h.maxKeys) || h.maxKeys < 0) throw new InvalidOptionError(`options.hotReads.maxKeys must be an integer >= 0, got ${describe(h.maxKeys)}`);
        cacheLimit = h.maxKeys;
      }
    }
    hot = h === true || (typeof h === 'object' && h !== null);
    if (hot && options.record !== undefined) throw new InvalidOptionError('options.hotReads cannot be combined with options.record: atomic ops change a record without republishing it, so a cached copy would go stale');
    text = schemaText(options);
  }
  const k = instanceKey(name, hot, text, cacheLimit);
  const existing = instances.get(k);
  if (existing !== undefined) return existing as Store<T>;
  const ref = openStore(name);
  const schema = openSchema(ref, name, text);
  if (hot && schema !== null && schema.layout !== null) throw new InvalidOptionError(`store "${name}" holds fixed-layout records, which cannot be read with hotReads (atomic ops change a record without republishing it)`);
  const store = new Store<T>(name, ref, hot, schema, cacheLimit);
  instances.set(k, store as Store<unknown>);
  return store;
}

/** Names of every store in the process. */
export function listStores(): string[] {
  const names: string[] = [];
  for (let s = Atomics.load(arena.i32, HEADER.STORE_HEAD); s !== 0; s = Atomics.load(arena.i32, s * 2 + STORE.NEXT)) {
    arena.covers((s * 2 + STORE.NAME) * 4 + MAX_STORE_NAME_LENGTH * 2);
    const len = arena.i32[s * 2 + STORE.NAME_LEN];
    let n = '';
    for (let i = 0; i < len; i++) n += String.fromCharCode(arena.u16[(s * 2 + STORE.NAME) * 2 + i]);
    names.push(n);
  }
  return names;
}
