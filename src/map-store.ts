/**
 * `MapStore`, the map half of a store handle (the `Store` class, store.ts, adds the cache's read
 * side, fetch and the record operations): reads, writes, deletes, locks and the lifecycle,
 * composed from the protocol modules.
 *
 * - reads go through this thread's lookup cache (lookup-cache.ts, the base class) and the read
 *   protocol (seqlock.ts, read.ts);
 * - writes take the key's entry lock (withEntryLock) and publish through the write protocol
 *   (write.ts); records are written in place or changed by atomic ops (record-protocol.ts);
 * - values are encoded and decoded by the handle's StoreCodec (schema.ts); arguments are checked
 *   by options.ts before anything is written; handles are made by createStore (registry.ts).
 *
 * Lock order: an entry's lock, then the store's structural lock, then the allocator's (never the
 * other way round). Readers take none.
 */
import { arena } from './arena';
import type { Store } from './store';
import { reclaim } from './allocator';
import { now } from './clock';
import { encoded, Tag } from './codec';
import { InvalidOptionError, InvalidValueError, LockTimeoutError, StoreClosedError, quote } from './errors';
import { forgetHandle, scheduleSweep } from './handles';
import { forEachRef, readKey, shrinkIndex } from './keyindex';
import { ENTRY, MAX_KEY_LENGTH, META_REFERENCED, STORE } from './layout';
import { holder, release } from './locks';
import { CACHE_LIMIT, LookupCache } from './lookup-cache';
import { badKey, checkKey, checkLiteralKeys, checkTimeout, deadlineAfter, DEFAULT_TIMEOUT_MS, describe, parseDeleteOptions, parseEntries, parseSetOptions, type DeleteOptions, type SetOptions } from './options';
import { compilePattern, type KeyPattern, type Pattern } from './patterns';
import { expiredAt, expiredBlock, liveKey, peekEntry, STALE as READ_STALE } from './read';
import { graceMs } from './fetch';
import { type Ref, type Word, wordOf } from './ref';
import type { CacheShape } from './cache-options';
import { type HitBuffer, hitBufferOf, markReferenced, policyOf, recordHit } from './policy';
import { StoreCodec, type StoreSchema } from './schema';
import { entryRefsMoved } from './seqlock';
import { FLUSH_EVERY, storeStats, type StoreStats, UseCounts } from './stats';
import { myToken } from './threads';
import { clearValue, insertEntry, Lock, lockEntry, removeEntry, sweepExpired, unlockEntry, withStoreLock, writeValue } from './write';
import { settle } from './evict';

/**
 * One hit in this many is counted in a bounded store's frequency sketch (policy.ts, recordHit).
 * Counting every hit cost 45 % on a get (bench/cache.bench.mjs: hashing the key and four
 * counters, amortised); one in 16 costs a few per cent and kept every hit-ratio target
 * (bench/hitratio: within a point of counting all, the scan trace 53 % of the gap either way).
 */
const HIT_SAMPLE = 16;
/** A hotReads handle looks at the entry of one hit in this many (see MapStore.refSample). */
const REF_SAMPLE_HOT = 64;
/** stats.ts's FLUSH_EVERY as a constant of this module (read on every get). */
const FLUSH = FLUSH_EVERY;
/** Expired entries an insert looks for while a store has TTL entries. */
const SWEEP_BUDGET = 16;
/** A clear() of at least this many keys gives emptied slabs back at once (allocator.reclaim). */
const RECLAIM_AFTER_CLEAR = 256;
const EMPTY = new Uint8Array(0);
/** A set() between its encoding and its write (see Store.pending). */
interface PendingWrite {
  key: string;
  tag: number;
  expires: number;
  minBytes: number;
  schema: StoreSchema | null;
}
/** readEntry's STALE as a constant of this module (see read.ts). */
const STALE = READ_STALE;
/** What withEntryLock's `absent` returns to look the key up again. */
const RETRY: unique symbol = Symbol('retry');

/**
 * A named key-value store shared by every thread of the process. Get one with
 * {@link createStore}; every thread that opens the same name sees the same data.
 *
 * Consistency: `get` returns the value of the last write that completed before it began, or of
 * a write that overlaps it. `has`, `size` and `listKeys` read without locks; under concurrent
 * writes each key's answer reflects a moment during the call, not one snapshot of the store.
 */
export abstract class MapStore<T = unknown> extends LookupCache {
  readonly name: string;
  /** Keys this thread locked with lock() through this instance. */
  protected readonly held = new Set<string>();
  /** @internal */
  closed = false;
  /**
   * The write set() is making: one reusable object read by writePending and insertPending, with
   * the encoded bytes left where the encoder put them (codec.ts, `encoded`; a record's in its
   * schema's buffer), so that a set allocates no closures (measured: +10% on a 1 K-key set) and
   * stores little. Nothing between the encoding and the write runs caller code or encodes, so
   * no other set can overwrite either.
   */
  private readonly pending: PendingWrite = { key: '', tag: 0, expires: 0, minBytes: 0, schema: null };
  /** The store's policy area when it is bounded (policy.ts), else 0; learned when a schema appears. */
  private policy: Word;
  /**
   * Mask of the hits whose entry a get looks at for the policy (see get): every hit of a plain
   * handle, which has just read the entry's line; one in REF_SAMPLE_HOT of a hotReads handle,
   * whose hits otherwise read no entry at all (the entry's line is then a cache miss that cost
   * a hot get 40 %; a key read 64 times between two passes of the policy's hand is still seen).
   */
  private readonly refSample: number;
  /** This thread's hits of a bounded store not yet counted by its policy (policy.ts, HitBuffer). */
  private hitBuffer: HitBuffer | null;
  /** This handle's gets since it last added them to the store's counters (stats.ts, UseCounts). */
  private readonly uses: UseCounts;

  /** @internal Use createStore(). */
  constructor(name: string, ref: Ref, hot: boolean, schema: StoreSchema | null, cacheLimit = CACHE_LIMIT) {
    super(ref, hot, cacheLimit, new StoreCodec(name, ref, schema));
    this.name = name;
    this.policy = policyOf(ref);
    this.hitBuffer = this.policy === 0 ? null : hitBufferOf(ref);
    this.uses = new UseCounts(ref);
    this.refSample = hot ? REF_SAMPLE_HOT - 1 : 0;
    this.grace = graceMs(this.codec);
    this.shapeKnown = this.codec.known !== null;
  }

  /**
   * Whether this handle has seen the store's schema, and so its cache shape. A handle opened
   * before another thread gave the store its cache options (createStore with `max`, `ttl`, …
   * on a store that had none) learns them here: at its next write, at the flush of its use
   * counts (every FLUSH reads), at stats() and at fetch(). Until then its reads neither mark
   * entries for the policy nor count staleWhileRevalidate's grace; polling on every read would
   * put a shared load on the get path of every store that never gets a schema.
   */
  private shapeKnown: boolean;

  /** Takes in a schema installed since this handle was opened (see shapeKnown). */
  protected learnShape(): void {
    if (this.shapeKnown || this.codec.current() === null) return;
    this.shapeKnown = true;
    this.grace = graceMs(this.codec);
    this.policy = policyOf(this.ref);
    this.hitBuffer = this.policy === 0 ? null : hitBufferOf(this.ref);
    this.shapeLearned();
  }

  /** Called once a handle learns a schema installed after it opened (Store drops its fetcher). */
  protected shapeLearned(): void {}

  // ── reads ──

  /**
   * The value of `key`, or undefined. Never locks and never waits for writers. `skipLock` is
   * accepted for compatibility: reads never take the lock.
   */
  get(key: string, skipLock?: boolean): T | undefined;
  get(key: string): T | undefined {
    if (this.closed) throw new StoreClosedError(this.name);
    const v = this.hot ? this.readHot(key) : this.readPlain(key);
    const uses = this.uses;
    if (v === undefined) {
      if (++uses.misses + uses.hits >= FLUSH) this.flushUses();
      return undefined;
    }
    // A bounded store's policy hears of the read through the entry's REFERENCED bit: one load
    // of a word on a line the read just loaded, and an atomic OR only when the bit is clear.
    const hits = ++uses.hits;
    if (this.policy !== 0 && (hits & this.refSample) === 0) {
      const ref = this.hitRef;
      if ((arena.i32[wordOf(ref) + ENTRY.MIN_BYTES] & META_REFERENCED) === 0) markReferenced(ref);
      if ((hits & (HIT_SAMPLE - 1)) === 0) recordHit(this.hitBuffer!, key);
    }
    if (hits + uses.misses >= FLUSH) this.flushUses();
    return v as T;
  }

  private flushUses(): void {
    this.uses.flush();
    if (!this.shapeKnown) this.learnShape();
  }

  /** Whether `key` holds a value (that has not expired). */
  has(key: string): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    for (;;) {
      const entry = this.entryOf(key);
      if (entry === undefined) return false;
      const state = peekEntry(entry.ref, entry.gen, this.grace);
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
    const s = wordOf(this.ref);
    if (Atomics.load(arena.i32, s + STORE.TTL_COUNT) === 0) return Atomics.load(arena.i32, s + STORE.VALUES);
    this.sweepExpired(Infinity);
    // What the sweep had to leave (keys locked by some thread) is expired all the same.
    let stillExpired = 0;
    const t = now() + this.grace;
    if (Atomics.load(arena.i32, s + STORE.TTL_COUNT) > 0) {
      forEachRef(this.ref, (ref) => {
        if (expiredAt(ref, t)) stillExpired++;
      }, 8, () => (stillExpired = 0));
    }
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

  protected scan(p: KeyPattern | undefined): string[] {
    for (;;) {
      // A key read through a ref into a slab retired meanwhile may be garbage: start over.
      entryRefsMoved(arena.i32);
      const keys = new Set<string>();
      const visit = (ref: number): void => {
        const key = liveKey(ref, this.grace);
        if (key !== undefined && (p === undefined || p.test(key))) keys.add(key);
      };
      const restart = (): void => keys.clear();
      if (!forEachRef(this.ref, visit, 8, restart)) {
        restart();
        withStoreLock(this.ref, () => forEachRef(this.ref, visit, 0));
      }
      if (!entryRefsMoved(arena.i32)) return [...keys];
    }
  }

  // ── writes ──

  /**
   * The lookup → lock loop every keyed write shares: finds `key`'s entry (cached, or in the
   * index), takes its lock within `timeout` ms and runs `fn` with the entry's ref and how the
   * lock is held (Lock.Taken, or Lock.Held when this thread held it already). An entry found
   * stale (removed or reused before its lock was taken, or a ref from before a slab retirement)
   * is dropped from the cache and the key looked up again. Without an entry, returns what
   * `absent` returns, or looks again if it returns RETRY (another thread created the key).
   * Returns false when the lock was not taken in time.
   *
   * The lock is released after `fn` (if this call took it), unless `fnKeepsLock`: then `fn`
   * owns it (lock() keeps it, a delete releases it with the entry).
   */
  protected withEntryLock<R>(key: string, timeout: number, fn: (ref: Ref, lock: Lock) => R, absent: () => R | typeof RETRY, fnKeepsLock = false): R | false {
    for (;;) {
      const entry = this.entryOf(key);
      if (entry === undefined) {
        const r = absent();
        if (r !== RETRY) return r;
        continue;
      }
      const lock = lockEntry(entry.ref, entry.gen, timeout);
      if (lock === Lock.TimedOut) return false;
      if (lock === Lock.Stale) {
        this.uncache(key);
        continue;
      }
      if (fnKeepsLock) return fn(entry.ref, lock);
      try {
        return fn(entry.ref, lock);
      } finally {
        if (lock === Lock.Taken) unlockEntry(entry.ref);
      }
    }
  }

  /**
   * Stores `value` under `key`. Returns true when written, false when another thread holds the
   * key's lock for longer than `options.timeout`. Throws for a bad key, value or option, and
   * OutOfMemoryError when the arena is full (the key keeps its previous value).
   */
  set(key: string, value: T, options?: SetOptions): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    checkKey(key);
    const o = parseSetOptions(options);
    if (!this.shapeKnown) this.learnShape();
    const sc = this.codec.current();
    const cache = sc === null ? null : sc.cache;
    const deadline = o.ttlGiven || cache === null || cache.ttl === 0 ? o.expires : deadlineAfter(cache.ttl);
    // A store with staleWhileRevalidate keeps each value that much past its expiry (read.ts).
    const expires = deadline !== 0 ? deadline + this.grace : 0;
    const minBytes = o.minBytes;
    const timeout = o.timeout;
    // Encode before any lock: a value that cannot be stored throws with nothing changed.
    const tag = this.codec.encode(value, sc, `${this.name}: value`);
    if (cache !== null) this.checkBound(cache, tag === Tag.Record ? sc!.layout!.size : encoded.length, key);
    // A record has a fixed size (no minBufferSize) and is written in place (writeRecord).
    if (tag === Tag.Record && expires !== 0) throw new InvalidOptionError(`store "${this.name}" holds fixed-layout records, which cannot have a TTL`);
    const w = this.pending;
    w.key = key;
    w.tag = tag;
    w.expires = expires;
    w.minBytes = minBytes;
    w.schema = sc;
    const written = this.withEntryLock(key, timeout, this.writePending, this.insertPending);
    if (written && expires !== 0) scheduleSweep(this as unknown as Store<unknown>);
    return written;
  }
  /** set() with the entry locked: the value in place (a record) or copy-on-write. */
  private readonly writePending = (ref: Ref): boolean => {
    const w = this.pending;
    if (w.tag === Tag.Record) this.writeRecord(ref, w.schema!, w.schema!.allRanges);
    else writeValue(this.ref, ref, w.tag, encoded.bytes, encoded.offset, encoded.length, w.expires, w.minBytes);
    // A bounded store may now be past its bound: a placeholder got a value, or a value grew.
    if (this.policy !== 0) settle(this.ref);
    return true;
  };

  /** A bounded store refuses a value larger than maxSize: no eviction could make it fit. */
  private checkBound(cache: CacheShape, len: number, key: string): void {
    if (cache.maxSize !== 0 && len > cache.maxSize) {
      throw new InvalidValueError(`store "${this.name}": the value of key ${quote(key)} is ${len} bytes encoded, more than the store's maxSize of ${cache.maxSize} bytes; nothing was stored`);
    }
  }

  /** set() of a key not in the index: a new entry, unless another thread inserts it first (RETRY). */
  private readonly insertPending = (): boolean | typeof RETRY => {
    const w = this.pending;
    const record = w.tag === Tag.Record;
    // A record's bytes are in its schema's buffer, the rest in the encoder's (codec.ts, encoded).
    const bytes = record ? w.schema!.rec : encoded.bytes;
    const src = record ? 0 : encoded.offset;
    const len = record ? w.schema!.layout!.size : encoded.length;
    if (!insertEntry(this.ref, w.key, w.tag, bytes, src, len, w.expires, record ? 0 : w.minBytes, false, this)) return RETRY;
    // Inserts pay for reclaiming a few expired keys, so a TTL workload stays bounded.
    if (Atomics.load(arena.i32, wordOf(this.ref) + STORE.TTL_COUNT) > 0) this.sweepExpired(SWEEP_BUDGET);
    return true;
  };

  /**
   * @internal Stores bytes already encoded with the default codec (codec.ts: portable tags, no
   * store schema), as set() would store them: for the Redis tier (near-cache.ts), which keeps
   * the bytes it exchanges with Redis without decoding and encoding them again.
   */
  setEncoded(key: string, tag: number, bytes: Uint8Array, offset: number, length: number, options?: SetOptions): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    const o = parseSetOptions(options);
    const w = this.pending;
    w.key = key;
    w.tag = tag;
    w.expires = o.expires;
    w.minBytes = 0;
    w.schema = null;
    // writePending and insertPending read the bytes from the encoder's slot; no encode runs
    // between here and the write (the same invariant as set's).
    encoded.bytes = bytes;
    encoded.offset = offset;
    encoded.length = length;
    const written = this.withEntryLock(key, o.timeout, this.writePending, this.insertPending);
    if (written && o.expires !== 0) scheduleSweep(this as unknown as Store<unknown>);
    return written;
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
    const list = parseEntries(entries);
    parseSetOptions(options);
    const sc = this.codec.current();
    for (let i = 0; i < list.length; i++) {
      const [k, v] = list[i]!;
      if (typeof k !== 'string' || k.length === 0 || k.length > MAX_KEY_LENGTH) badKey(k, `setMany() entries[${i}]`);
      const at = `store "${this.name}": setMany() entries[${i}] (key ${quote(k)})`;
      try {
        this.codec.encode(v, sc, `${at}: value`);
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
    checkLiteralKeys(keys);
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
      if (withStoreLock(this.ref, () => shrinkIndex(this.ref))) reclaim();
    }
  }

  private deleteOne(key: string, timeout: number): boolean {
    return this.withEntryLock(
      key,
      timeout,
      (ref, lock) => {
        // An expired value is deleted too, but does not count as one: get() already said absent.
        const d = arena.i32[wordOf(ref) + ENTRY.DATA];
        const live = d !== 0 && !expiredBlock(d, now() + this.grace);
        if (lock === Lock.Held) {
          // This thread owns the key through lock(): keep the entry (it carries the lock) and
          // drop only the value; release() removes the empty entry.
          clearValue(this.ref, ref);
          return live;
        }
        this.removeEntry(ref, key, true);
        return live;
      },
      () => false,
      true,
    );
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
    return this.withEntryLock(
      key,
      t,
      () => {
        this.held.add(key);
        return true;
      },
      () => {
        // A placeholder entry, created with its lock held; another thread may create it first.
        if (!insertEntry(this.ref, key, 0, EMPTY, 0, 0, 0, 0, true, this)) return RETRY;
        this.held.add(key);
        return true;
      },
      true,
    );
  }

  /** Releases a lock this thread holds on `key`. Returns false if it does not hold it. */
  release(key: string): boolean {
    if (this.closed) throw new StoreClosedError(this.name);
    checkKey(key);
    this.held.delete(key);
    // The checks below read LOCK and GEN through a cached ref before they trust it.
    entryRefsMoved(arena.i32);
    for (;;) {
      const entry = this.entryOf(key);
      if (entry === undefined) return false;
      const i32 = arena.i32;
      const e = wordOf(entry.ref);
      if (holder(i32, e + ENTRY.LOCK) !== myToken) return false;
      if (Atomics.load(i32, e + ENTRY.GEN) !== entry.gen) {
        this.uncache(key);
        continue;
      }
      if (Atomics.load(i32, e + ENTRY.DATA) === 0) this.removeEntry(entry.ref, key, false);
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
    if (o.expires !== 0 && this.codec.current()?.layout != null) throw new InvalidOptionError(`store "${this.name}" holds fixed-layout records, which cannot have a TTL`);
    const wasHeld = this.holds(key);
    if (!wasHeld && !this.lock(key, timeout)) throw new LockTimeoutError(this.name, key, timeout);
    try {
      const current = this.get(key);
      const next = fn(current);
      const sc = this.codec.current();
      if (sc !== null && sc.layout !== null && current !== undefined) this.updateRecord(key, sc, current, next);
      else this.set(key, next, { ...options, skipLock: true });
      return next;
    } finally {
      if (!wasHeld) this.release(key);
    }
  }

  // ── fixed-layout records (store.ts) ──

  /** Writes `ranges` of sc.rec into entry `ref` (lock held): in place, or as a first block. */
  protected abstract writeRecord(ref: Ref, sc: StoreSchema, ranges: readonly number[]): void;
  /** update() of a record that exists (lock held): writes only the fields whose bytes changed. */
  protected abstract updateRecord(key: string, sc: StoreSchema, current: unknown, next: unknown): void;

  /** @internal Whether this thread holds `key`'s lock (fetch.ts stores under it). */
  holdsLock(key: string): boolean {
    return this.holds(key);
  }

  protected holds(key: string): boolean {
    const entry = this.entryOf(key);
    return entry !== undefined && holder(arena.i32, wordOf(entry.ref) + ENTRY.LOCK) === myToken;
  }

  // ── lifecycle and introspection ──

  /** Counts and sizes; see {@link StoreStats}. */
  stats(): StoreStats {
    if (this.closed) throw new StoreClosedError(this.name);
    this.flushUses();
    return storeStats(this.name, this.ref);
  }

  /**
   * Closes this thread's handle: releases the locks it holds through it and drops its caches.
   * The data stays for other threads; `createStore(name)` opens a new handle.
   */
  close(): void {
    if (this.closed) return;
    for (const key of [...this.held]) this.release(key);
    this.uses.flush();
    this.closed = true;
    this.dropCachedRefs();
    forgetHandle(this as unknown as Store<unknown>);
  }

  /**
   * @internal Deletes expired entries among the next `buckets` buckets of the index (all of
   * them for Infinity), skipping keys whose lock is taken. Returns how many it deleted.
   */
  sweepExpired(buckets: number): number {
    return sweepExpired(this.ref, buckets, this.removeExpired);
  }

  /** An expired entry the sweep locked: remove it with its value. */
  private readonly removeExpired = (ref: Ref): void => {
    this.removeEntry(ref, readKey(ref), true);
  };

  /** Unlinks and frees entry `ref` of `key` (its lock held; see write.ts, removeEntry) and forgets it. */
  private removeEntry(ref: Ref, key: string, clear: boolean): void {
    removeEntry(this.ref, ref, key, clear);
    this.uncache(key);
  }
}
