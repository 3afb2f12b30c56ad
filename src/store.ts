/**
 * The store: the public API over the arena, and the read and write protocols.
 *
 * ## Read protocol (`readEntry`): lock-free, never torn
 * An entry's DATA word names an immutable VALUE block; its SEQ word grows by 2 every time DATA
 * is republished. A reader
 *   1. loads SEQ (s1) — an odd SEQ belongs to an in-place writer: wait for it;
 *   2. checks GEN is the generation it expects (the entry still holds this key);
 *   3. loads DATA, bounds-checks the block, and copies its bytes into a private buffer;
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
 *   3. publish: one Atomics.store of DATA (the linearisation point), then SEQ += 2;
 *   4. retire the old block (freed at this thread's next allocation), clear the record, unlock.
 * A thread terminated anywhere in 2–4 leaves DATA naming either the old or the new block — a
 * write is all or nothing — and its slot record says which block to free (see threads.ts).
 *
 * ## Structure
 * Inserting or removing a key takes the store's structural LOCK after the entry's (never the
 * other way round); the allocator's lock comes last. Lookups go through a per-thread cache
 * `key → (entry ref, GEN)` first, so a hot key costs a Map lookup and the protocol above.
 */
import { arena } from './arena';
import { alloc, free, usage } from './allocator';
import { now } from './clock';
import { decode, deepFreeze, encode, encoded } from './codec';
import {
  InvalidKeyError,
  InvalidOptionError,
  LockTimeoutError,
  StoreClosedError,
} from './errors';
import { forEachRef, hashKey, indexHolds, insert, lookup, newIndex, readKey, remove, reserveOne, foundGen } from './keyindex';
import {
  BUCKET_EMPTY,
  BUCKET_TOMBSTONE,
  ENTRY,
  ENTRY_FIXED_BYTES,
  HEADER,
  INDEX,
  KIND,
  MAX_KEY_LENGTH,
  MAX_STORE_NAME_LENGTH,
  MIN_INDEX_CAPACITY,
  STORE,
  TAG_MASK,
  THREAD,
  UNIT,
  VALUE,
  VALUE_BYTES_OFFSET,
  VALUE_BYTES_OFFSET_TTL,
  VALUE_FLAG,
  sizeClassOf,
} from './layout';
import { Acquired, acquire, holder, release, tryAcquire } from './locks';
import { compilePattern, type KeyPattern } from './patterns';
import { liveThreadCount, myToken, myWord, setRecoveryHooks } from './threads';

// Recovery of a dead thread frees the blocks its interrupted write leaves behind.
setRecoveryHooks({ free: (ref) => free(ref), limbo: recoverLimboEntry });

/**
 * An entry a dead thread was inserting or removing (threads.ts): if the store's index holds
 * it, it is live and stays; otherwise nothing can reach it, so free it — with the value its
 * insert had committed (DATA equal to the block the thread's last value write recorded; a
 * value write it did not commit was freed already). Under the store lock, so that no resize
 * moves the index while we look.
 */
function recoverLimboEntry(store: number, entry: number, lastNew: number, deadToken: number): void {
  const lw = store * 2 + STORE.LOCK;
  const got = acquire(arena.i32, lw, myToken, Infinity);
  arena.refresh();
  try {
    if (got === Acquired.FromDeadHolder) repairCounts(store);
    const i32 = arena.i32;
    if (indexHolds(store, entry)) return;
    const e = entry * 2;
    // Odd GEN: threads holding a cached (ref, gen) for it must see it as gone.
    if ((i32[e + ENTRY.GEN] & 1) === 0) Atomics.add(i32, e + ENTRY.GEN, 1);
    const d = i32[e + ENTRY.DATA];
    if (d !== 0 && d === lastNew) {
      i32[e + ENTRY.DATA] = 0;
      free(d);
    }
    const lock = Atomics.load(i32, e + ENTRY.LOCK);
    if (lock >>> 1 === deadToken) Atomics.compareExchange(i32, e + ENTRY.LOCK, lock, 0);
    free(entry);
  } finally {
    release(arena.i32, lw);
  }
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

/** Options of {@link Store.delete}. */
export interface DeleteOptions {
  /** Treat the argument as one literal key even if it contains `*`, `?` or slashes. */
  literal?: boolean;
  /** How long to wait for a key locked by another thread, in ms (default 1000). */
  timeout?: number;
}

/** Options of {@link createStore}. */
export interface StoreOptions {
  /**
   * Hot-path read mode: `get` keeps the decoded value per key and returns it again — without
   * copying or decoding — while the key's sequence counter is unchanged. Values returned in
   * this mode are deep-frozen, so that no caller can change what the next caller receives.
   */
  hotReads?: boolean;
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
 * not cached (their gets take the shared index path) until entries go stale and are dropped:
 * clearing instead would make every get of a large store miss and refill the cache.
 */
const CACHE_LIMIT = 1 << 16;
/** Expired entries an insert looks for while a store has TTL entries. */
const SWEEP_BUDGET = 16;

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
const WORD_COPY_MAX = 16 * 1024;
let scratch32 = new Int32Array(scratch.buffer, scratch.byteOffset, scratch.length >>> 2);
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
 * Reads the value of entry `ref` if it still has generation `gen`.
 * Returns the decoded value, MISSING (no value, or expired) or STALE (the entry no longer holds
 * the key: look it up again).
 */
function readEntry(ref: number, gen: number): unknown {
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
      waitForEven(e, s1, spins);
      continue;
    }
    // 2. Same key? GEN moves when the entry is freed or reused. GEN and DATA are plain loads:
    //    the two SEQ loads around them are what orders them (see the module comment), and in
    //    Node 20 each Atomics.load costs ~5 ns where a plain load costs ~1.
    if (i32[e + ENTRY.GEN] !== gen) return STALE;
    const d = i32[e + ENTRY.DATA];
    if (d === 0) {
      if (Atomics.load(i32, e + ENTRY.SEQ) === s1) return MISSING;
      continue;
    }
    // 3. Copy. Every field read here may be garbage if the block was freed under us: check
    //    bounds before following it; step 4 decides whether to keep the copy.
    const v = d * 2;
    let len = -1;
    let meta = 0;
    let off = 0;
    let expires = 0;
    if (v + VALUE.EXPIRES_LO < i32.length) {
      len = i32[v + VALUE.LEN];
      meta = i32[v + VALUE.META];
      off = d * UNIT + VALUE_BYTES_OFFSET;
      if ((meta & VALUE_FLAG.TTL) !== 0) {
        expires = i32[v + VALUE.EXPIRES_HI] * 4294967296 + (i32[v + VALUE.EXPIRES_LO] >>> 0);
        off = d * UNIT + VALUE_BYTES_OFFSET_TTL;
      }
    }
    if (len < 0 || off + len > a.viewBytes) {
      // Beyond this thread's views: the arena grew (refresh and retry), DATA was republished
      // under us (SEQ moved: retry), or the arena is corrupt (SEQ stable): fail loudly rather
      // than spin for ever.
      if (!a.covers(len < 0 ? (v + VALUE.EXPIRES_LO + 1) * 4 : off + len) && Atomics.load(a.i32, e + ENTRY.SEQ) === s1 && spins > 2) {
        throw corrupt(ref);
      }
      continue;
    }
    if (len > scratch.length) {
      // A Buffer, like what msgpackr's own callers pass it (its string paths prefer one).
      scratch = Buffer.allocUnsafeSlow(Math.max((len + 7) & ~7, scratch.length * 2));
      scratch32 = new Int32Array(scratch.buffer, scratch.byteOffset, scratch.length >>> 2);
    }
    if (len <= WORD_COPY_MAX) {
      // Copies out of shared memory are slow in V8 (set() of a shared subarray: ~0.6 ns/byte);
      // a word loop is ~2x faster up to tens of KB (measured), and set() wins beyond.
      const words = (len + 3) >>> 2;
      const w0 = off >>> 2;
      for (let i = 0; i < words; i++) scratch32[i] = i32[w0 + i];
    } else {
      scratch.set(a.u8.subarray(off, off + len));
    }
    // 4. Validate: the same SEQ means DATA was not republished, so the block was not freed.
    if (Atomics.load(i32, e + ENTRY.SEQ) !== s1) continue;
    if (expires !== 0 && now() >= expires) return MISSING;
    readSeq = s1;
    readData = d;
    readExpires = expires;
    return decode(meta & TAG_MASK, scratch, len);
  }
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
  // 2. Record the write before the allocation that makes it recoverable.
  i32[slot + THREAD.PENDING_ENTRY] = ref;
  i32[slot + THREAD.PENDING_OLD] = old;
  i32[slot + THREAD.PENDING_NEW] = 0;
  const head = expires !== 0 ? VALUE_BYTES_OFFSET_TTL : VALUE_BYTES_OFFSET;
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
  i32[v + VALUE.META] = tag | (expires !== 0 ? VALUE_FLAG.TTL : 0);
  if (expires !== 0) {
    i32[v + VALUE.EXPIRES_HI] = Math.floor(expires / 4294967296);
    i32[v + VALUE.EXPIRES_LO] = expires % 4294967296;
  }
  const off = d * UNIT + head;
  const u8 = arena.u8;
  if (len <= 64) for (let i = 0; i < len; i++) u8[off + i] = bytes[src + i];
  else u8.set(src === 0 && len === bytes.length ? bytes : bytes.subarray(src, src + len), off);
  // 3. Publication point: from here every reader that loads DATA gets the new block.
  Atomics.store(i32, e + ENTRY.DATA, d);
  Atomics.add(i32, e + ENTRY.SEQ, 2);
  // Bookkeeping happens only on transitions, to keep contended counters off the common path.
  const s = store * 2;
  if (old === 0) Atomics.add(i32, s + STORE.VALUES, 1);
  const oldTtl = old !== 0 && (i32[old * 2 + VALUE.META] & VALUE_FLAG.TTL) !== 0;
  if (oldTtl !== (expires !== 0)) Atomics.add(i32, s + STORE.TTL_COUNT, oldTtl ? -1 : 1);
  // 4. Retire: a reader may still be copying `old`; it will see SEQ moved and retry.
  if (old !== 0) i32[slot + THREAD.DEFERRED_FREE] = old;
  i32[slot + THREAD.PENDING_ENTRY] = 0;
}

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
  Atomics.store(i32, e + ENTRY.DATA, 0);
  Atomics.add(i32, e + ENTRY.SEQ, 2);
  const s = store * 2;
  Atomics.add(i32, s + STORE.VALUES, -1);
  if ((i32[old * 2 + VALUE.META] & VALUE_FLAG.TTL) !== 0) Atomics.add(i32, s + STORE.TTL_COUNT, -1);
  free(old, slot + THREAD.PENDING_OLD);
  arena.i32[slot + THREAD.PENDING_ENTRY] = 0;
  return true;
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

function openStore(name: string): number {
  const found = findStore(name);
  if (found !== 0) return found;
  acquire(arena.i32, HEADER.DIR_LOCK, myToken, Infinity);
  arena.refresh();
  try {
    const again = findStore(name);
    if (again !== 0) return again;
    const idx = newIndex(MIN_INDEX_CAPACITY);
    let s: number;
    try {
      s = alloc(KIND.STORE, Math.ceil((STORE.NAME * 4 + name.length * 2) / UNIT));
    } catch (err) {
      free(idx);
      throw err;
    }
    const i32 = arena.i32;
    const w = s * 2;
    i32.fill(0, w + 1, w + STORE.NAME);
    i32[w + STORE.INDEX] = idx;
    i32[w + STORE.NAME_LEN] = name.length;
    const u16 = arena.u16;
    for (let i = 0; i < name.length; i++) u16[(w + STORE.NAME) * 2 + i] = name.charCodeAt(i);
    i32[w + STORE.NEXT] = i32[HEADER.STORE_HEAD];
    // Publication point: the store is complete before any thread can find it.
    Atomics.store(i32, HEADER.STORE_HEAD, s);
    return s;
  } finally {
    release(arena.i32, HEADER.DIR_LOCK);
  }
}

// ── Argument checks ──────────────────────────────────────────────────────────────────────────

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'string') return `a string of length ${x.length}`;
  return typeof x;
}

function badKey(key: unknown): never {
  if (typeof key !== 'string') throw new InvalidKeyError(`key must be a string, got ${describe(key)}`);
  if (key.length === 0) throw new InvalidKeyError('key must not be empty');
  throw new InvalidKeyError(`key is ${key.length} UTF-16 code units long; the limit is ${MAX_KEY_LENGTH}`);
}

function checkTimeout(t: unknown, what: string): number {
  if (t === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof t !== 'number' || Number.isNaN(t) || t < 0) throw new InvalidOptionError(`${what} must be a number of milliseconds >= 0, got ${String(t)}`);
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
      throw new InvalidOptionError(`options.minBufferSize must be an integer number of bytes from 0 to ${MAX_HINT_BYTES}, got ${String(minBufferSize)}`);
    }
    parsed.minBytes = minBufferSize;
  }
  if (immutable !== undefined && typeof immutable !== 'boolean') throw new InvalidOptionError(`options.immutable must be a boolean, got ${describe(immutable)}`);
  if (ttl !== undefined) {
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0) throw new InvalidOptionError(`options.ttl must be a finite number of seconds >= 0, got ${String(ttl)}`);
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

/** What this thread remembers about one key: where its entry is, and (hot reads) its value. */
class CacheSlot {
  ref: number;
  gen: number;
  /** SEQ at which `value` was decoded; -1 when no value is cached. */
  seq = -1;
  /** The VALUE block `value` was decoded from. */
  data = 0;
  expires = 0;
  value: unknown = undefined;
  constructor(ref: number, gen: number) {
    this.ref = ref;
    this.gen = gen;
  }
}

const instances = new Map<string, Store<unknown>>();
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
  private readonly hot: boolean;
  private readonly slots = new Map<string, CacheSlot>();
  /** Keys this thread locked with lock() through this instance. */
  private readonly held = new Set<string>();
  /** @internal */
  closed = false;

  /** @internal Use createStore(). */
  constructor(name: string, ref: number, hot: boolean) {
    this.name = name;
    this.ref = ref;
    this.hot = hot;
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
    const slot = this.slots.get(key);
    if (slot !== undefined) {
      const v = readEntry(slot.ref, slot.gen);
      if (v !== STALE) return v === MISSING ? undefined : (v as T);
      this.slots.delete(key);
    }
    return this.getSlow(key);
  }

  private getSlow(key: string): T | undefined {
    for (;;) {
      const slot = this.find(key);
      if (slot === undefined) return undefined;
      const v = readEntry(slot.ref, slot.gen);
      if (v !== STALE) return v === MISSING ? undefined : (v as T);
      this.slots.delete(key);
    }
  }

  private getHot(key: string): T | undefined {
    let slot = this.slots.get(key);
    if (slot !== undefined && slot.seq >= 0) {
      const i32 = arena.i32;
      const e = slot.ref * 2;
      // Same SEQ, DATA and GEN: the entry still publishes the block the cached value was decoded
      // from. DATA is compared too because a writer publishes DATA *before* it bumps SEQ: in
      // between, a plain get already returns the new value, and a hot get must not then return
      // the old one. (GEN changes only after SEQ, so it need not be loaded atomically.)
      if (Atomics.load(i32, e + ENTRY.SEQ) === slot.seq && i32[e + ENTRY.DATA] === slot.data && i32[e + ENTRY.GEN] === slot.gen) {
        if (slot.expires === 0 || now() < slot.expires) return slot.value as T;
        return undefined;
      }
    }
    for (;;) {
      if (slot === undefined) {
        slot = this.find(key);
        if (slot === undefined) return undefined;
      }
      const v = readEntry(slot.ref, slot.gen);
      if (v === STALE) {
        this.slots.delete(key);
        slot = undefined;
        continue;
      }
      if (v === MISSING) {
        slot.seq = -1;
        slot.value = undefined;
        return undefined;
      }
      slot.seq = readSeq;
      slot.data = readData;
      slot.expires = readExpires;
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
      this.slots.delete(key);
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
   * Keys holding a value, optionally filtered by a pattern: a glob (`users:*`, `session:?`),
   * a `/regex/flags`, or a literal key. Order is unspecified.
   */
  listKeys(pattern?: string): string[] {
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
    const keys = new Set<string>();
    const visit = (ref: number): void => {
      const key = liveKey(ref);
      if (key !== undefined && (p === undefined || p.test(key))) keys.add(key);
    };
    if (!forEachRef(this.ref, visit)) this.withStoreLock(() => forEachRef(this.ref, visit, 0));
    return [...keys];
  }

  // ── writes ──

  /**
   * Stores `value` under `key`. Returns true when written, false when another thread holds the
   * key's lock for longer than `options.timeout`. Throws for a bad key, value or option, and
   * OutOfMemoryError when the arena is full (the key keeps its previous value).
   */
  set(key: string, value: T, options?: SetOptions): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) badKey(key);
    const o = parseSetOptions(options);
    const expires = o.expires;
    const minBytes = o.minBytes;
    const timeout = o.timeout;
    // Encode before any lock: a value that cannot be stored throws with nothing changed.
    const tag = encode(value);
    const bytes = encoded.bytes;
    const src = encoded.offset;
    const len = encoded.length;
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
        this.slots.delete(key);
        continue;
      }
      try {
        writeValue(this.ref, slot.ref, tag, bytes, src, len, expires, minBytes);
      } finally {
        if (lock === LOCK_TAKEN) release(arena.i32, slot.ref * 2 + ENTRY.LOCK);
      }
      if (expires !== 0) scheduleSweep(this as Store<unknown>);
      return true;
    }
  }

  /**
   * Stores several values. Every key and value is checked and encoded before the first write,
   * so bad input writes nothing. Returns how many were written (a key locked by another thread
   * past the timeout is skipped).
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
    for (const [k, v] of list) {
      if (typeof k !== 'string' || k.length === 0 || k.length > MAX_KEY_LENGTH) badKey(k);
      encode(v);
    }
    let n = 0;
    for (const [k, v] of list) if (this.set(k, v, options)) n++;
    return n;
  }

  /**
   * Deletes `key`, or every key matching a pattern (see listKeys). Returns true if a value was
   * deleted. A key locked by another thread is waited for up to `options.timeout` and then left.
   */
  delete(key: string, options?: DeleteOptions): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    const o = parseDeleteOptions(options);
    if (o.literal) {
      if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) badKey(key);
      return this.deleteOne(key, o.timeout);
    }
    const p = compilePattern(key);
    if (p.literal !== undefined) {
      if (key.length === 0 || key.length > MAX_KEY_LENGTH) badKey(key);
      return this.deleteOne(key, o.timeout);
    }
    let any = false;
    for (const k of this.scan(p)) if (this.deleteOne(k, o.timeout)) any = true;
    return any;
  }

  /** Deletes several keys (each literal). Returns how many held a value. */
  deleteMany(keys: readonly string[], options?: Omit<DeleteOptions, 'literal'>): number {
    if (!Array.isArray(keys)) throw new InvalidOptionError(`keys must be an array of strings, got ${describe(keys)}`);
    for (const k of keys) if (typeof k !== 'string' || k.length === 0 || k.length > MAX_KEY_LENGTH) badKey(k);
    const timeout = parseDeleteOptions(options).timeout;
    let n = 0;
    for (const k of keys) if (this.deleteOne(k, timeout)) n++;
    return n;
  }

  /** Deletes every key. Keys locked by other threads are waited for, as by delete(). */
  clear(): void {
    if (this.closed) throw new StoreClosedError(this.name);
    for (const k of this.scan(undefined)) this.deleteOne(k, DEFAULT_TIMEOUT_MS);
  }

  private deleteOne(key: string, timeout: number): boolean {
    for (;;) {
      const slot = this.slots.get(key) ?? this.find(key);
      if (slot === undefined) return false;
      const lock = this.lockEntry(slot, timeout);
      if (lock === LOCK_TIMEOUT) return false;
      if (lock === LOCK_STALE) {
        this.slots.delete(key);
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
      clearValue(this.ref, slot.ref);
      this.removeEntry(slot.ref, key);
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
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) badKey(key);
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
        this.slots.delete(key);
        continue;
      }
      this.held.add(key);
      return true;
    }
  }

  /** Releases a lock this thread holds on `key`. Returns false if it does not hold it. */
  release(key: string): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) badKey(key);
    this.held.delete(key);
    for (;;) {
      const slot = this.slots.get(key) ?? this.find(key);
      if (slot === undefined) return false;
      const i32 = arena.i32;
      const e = slot.ref * 2;
      if (holder(i32, e + ENTRY.LOCK) !== myToken) return false;
      if (Atomics.load(i32, e + ENTRY.GEN) !== slot.gen) {
        this.slots.delete(key);
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
   */
  update(key: string, fn: (current: T | undefined) => T, options?: SetOptions): T {
    if (this.closed) throw new StoreClosedError(this.name);
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) badKey(key);
    if (typeof fn !== 'function') throw new InvalidOptionError(`update() needs a function, got ${describe(fn)}`);
    const timeout = parseSetOptions(options).timeout; // the same checks as set()
    const wasHeld = this.holds(key);
    if (!wasHeld && !this.lock(key, timeout)) throw new LockTimeoutError(key, timeout);
    try {
      const next = fn(this.get(key));
      this.set(key, next, { ...options, skipLock: true });
      return next;
    } finally {
      if (!wasHeld) this.release(key);
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
      if (d !== 0 && arena.covers(d * UNIT + 8)) valueBytes += arena.i32[d * 2 + VALUE.LEN];
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
      arena: { bytesInUse: u.bytesInUse, bytesReserved: u.bytesReserved, maxMemory: u.maxMemory, threads: liveThreadCount() },
    };
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
    sweepable.delete(this as Store<unknown>);
    const k = instanceKey(this.name, this.hot);
    if (instances.get(k) === (this as Store<unknown>)) instances.delete(k);
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
        const ref = arena.i32[idx * 2 + INDEX.BUCKETS + ((start + i) & (cap - 1))];
        if (ref > 1 && expiredAt(ref, t)) expired.push(ref);
      }
    }
    let n = 0;
    for (const ref of expired) {
      const e = ref * 2;
      const gen = Atomics.load(arena.i32, e + ENTRY.GEN);
      if ((gen & 1) !== 0 || !tryAcquire(arena.i32, e + ENTRY.LOCK, myToken)) continue;
      if (Atomics.load(arena.i32, e + ENTRY.GEN) !== gen || !expiredAt(ref, t)) {
        release(arena.i32, e + ENTRY.LOCK);
        continue;
      }
      const key = readKey(ref);
      clearValue(this.ref, ref);
      this.removeEntry(ref, key);
      n++;
    }
    return n;
  }

  // ── internals ──

  /** Looks `key` up in the shared index and caches where it is. */
  private find(key: string): CacheSlot | undefined {
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) badKey(key);
    const ref = lookup(this.ref, key, hashKey(key));
    if (ref === 0) return undefined;
    const slot = new CacheSlot(ref, foundGen);
    if (this.slots.size < CACHE_LIMIT) this.slots.set(key, slot);
    return slot;
  }

  /** Takes the entry's lock for a write. See the LOCK_* results. */
  private lockEntry(slot: CacheSlot, timeout: number): number {
    const i32 = arena.i32;
    const w = slot.ref * 2 + ENTRY.LOCK;
    if (holder(i32, w) === myToken) {
      arena.refresh();
      return Atomics.load(i32, slot.ref * 2 + ENTRY.GEN) === slot.gen ? LOCK_HELD : LOCK_STALE;
    }
    if (acquire(i32, w, myToken, timeout) === Acquired.TimedOut) return LOCK_TIMEOUT;
    // What the lock guards (the current value block) may have been allocated by a thread that
    // grew the arena beyond this thread's views: refresh them after every lock taken.
    arena.refresh();
    // Under the lock the entry cannot be removed; it might have been before we got it.
    if (Atomics.load(arena.i32, slot.ref * 2 + ENTRY.GEN) !== slot.gen) {
      release(arena.i32, w);
      return LOCK_STALE;
    }
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
      const ref = alloc(KIND.ENTRY, Math.ceil((ENTRY_FIXED_BYTES + key.length * 2) / UNIT), myWord + THREAD.PENDING_LIMBO);
      let i32 = arena.i32;
      const e = ref * 2;
      i32[e + ENTRY.DATA] = 0;
      // Odd GEN while we set it up: a thread holding a stale ref to this block ignores it.
      let gen = Atomics.load(i32, e + ENTRY.GEN);
      if ((gen & 1) === 0) {
        gen++;
        Atomics.store(i32, e + ENTRY.GEN, gen);
      }
      i32[e + ENTRY.KEY_LEN] = key.length;
      i32[e + ENTRY.HASH] = hash;
      i32[e + ENTRY.MIN_BYTES] = minBytes;
      const u16 = arena.u16;
      const kb = (e + ENTRY.KEY) * 2;
      for (let i = 0; i < key.length; i++) u16[kb + i] = key.charCodeAt(i);
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
      if (this.slots.size < CACHE_LIMIT) this.slots.set(key, new CacheSlot(ref, gen + 1));
      return true;
    });
  }

  /** Unlinks entry `ref` (value already cleared, lock held by this thread) and frees it. */
  private removeEntry(ref: number, key: string): void {
    const e = ref * 2;
    // Limbo: once unlinked, recovery frees this entry if we die before free() does.
    arena.i32[myWord + THREAD.PENDING_STORE] = this.ref;
    arena.i32[myWord + THREAD.PENDING_LIMBO] = ref;
    this.withStoreLock(() => {
      remove(this.ref, ref, arena.i32[e + ENTRY.HASH]);
      // GEN odd: every cached (ref, gen) for this key is now stale.
      Atomics.add(arena.i32, e + ENTRY.GEN, 1);
    });
    release(arena.i32, e + ENTRY.LOCK);
    this.slots.delete(key);
    free(ref, myWord + THREAD.PENDING_LIMBO);
  }

  private withStoreLock<R>(fn: () => R): R {
    const w = this.ref * 2 + STORE.LOCK;
    const got = acquire(arena.i32, w, myToken, Infinity);
    // The index may have been reallocated beyond this thread's views (see lockEntry).
    arena.refresh();
    if (got === Acquired.FromDeadHolder) repairCounts(this.ref);
    try {
      return fn();
    } finally {
      release(arena.i32, w);
    }
  }
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
    if (Atomics.load(arena.i32, e + ENTRY.SEQ) === s1 && (s1 & 1) === 0) return live;
  }
}

function expiredBlock(d: number, t: number): boolean {
  if (!arena.covers(d * UNIT + VALUE_BYTES_OFFSET_TTL)) return false;
  const v = d * 2;
  const i32 = arena.i32;
  if ((i32[v + VALUE.META] & VALUE_FLAG.TTL) === 0) return false;
  return i32[v + VALUE.EXPIRES_HI] * 4294967296 + (i32[v + VALUE.EXPIRES_LO] >>> 0) <= t;
}

function expiredAt(ref: number, t: number): boolean {
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
    const ref = i32[idx * 2 + INDEX.BUCKETS + i];
    if (ref === BUCKET_TOMBSTONE) tombstones++;
    if (ref === BUCKET_EMPTY || ref === BUCKET_TOMBSTONE) continue;
    count++;
    const d = i32[ref * 2 + ENTRY.DATA];
    if (d !== 0) {
      values++;
      if ((i32[d * 2 + VALUE.META] & VALUE_FLAG.TTL) !== 0) ttl++;
    }
  }
  i32[s + STORE.COUNT] = count;
  Atomics.store(i32, s + STORE.VALUES, values);
  Atomics.store(i32, s + STORE.TTL_COUNT, ttl);
  i32[s + STORE.TOMBSTONES] = tombstones;
}

function instanceKey(name: string, hot: boolean): string {
  return hot ? `${name}\u0000hot` : name;
}

/**
 * Opens the store called `name` (default: "default"), creating it on first use in any thread.
 * In one thread, the same name (and options) always gives the same instance.
 */
export function createStore<T = unknown>(name: string = 'default', options?: StoreOptions): Store<T> {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_STORE_NAME_LENGTH) {
    throw new InvalidOptionError(`store name must be a non-empty string of at most ${MAX_STORE_NAME_LENGTH} characters, got ${describe(name)}`);
  }
  let hot = false;
  if (options !== undefined) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError(`options must be an object, got ${describe(options)}`);
    for (const k in options) if (k !== 'hotReads') throw new InvalidOptionError(`unknown option "${k}" (known: hotReads)`);
    if (options.hotReads !== undefined && typeof options.hotReads !== 'boolean') throw new InvalidOptionError(`options.hotReads must be a boolean, got ${describe(options.hotReads)}`);
    hot = options.hotReads === true;
  }
  const k = instanceKey(name, hot);
  const existing = instances.get(k);
  if (existing !== undefined) return existing as Store<T>;
  const store = new Store<T>(name, openStore(name), hot);
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
