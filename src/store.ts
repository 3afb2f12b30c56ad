/**
 * The `Store` class: the public API of one store handle. The map itself (reads, writes, locks,
 * the lifecycle) is MapStore's (map-store.ts); this adds the cache's read side that counts no use
 * (peek, remainingTtl, iteration, dump/load: cache-read.ts), fetch (fetch.ts, loader.ts) and the
 * operations of fixed-layout records (record-protocol.ts, records.ts).
 */
import { arena } from './arena';
import { Tag } from './codec';
import { dump, type DumpedEntry, iterate, load, type ReadSource, remainingTtl, Yield } from './cache-read';
import { InvalidOptionError, KeyNotFoundError, StoreClosedError } from './errors';
import { Fetcher, type FetchOptions, type Loader, type LoadTier } from './fetch';
import { ENTRY, MAX_KEY_LENGTH, RECORD_BYTES_OFFSET, UNIT, VALUE, VALUE_FLAG } from './layout';
import { MapStore } from './map-store';
import { checkKey, checkTimeout, type IntegerField } from './options';
import { peekEntry, STALE as READ_STALE } from './read';
import { AtomicResult, type AtomicField, isRecordBlock, recordAtomic, writeRecordInPlace } from './record-protocol';
import { checkDelta, checkOperand, encodeFields, encodeRecord, fieldSpan, readFields, type RecordLayout } from './records';
import { type Ref, wordOf } from './ref';
import { type StoreSchema } from './schema';
import { currentEntryEpoch, entryRefsMoved } from './seqlock';
import { writeValue } from './write';

export type { SetOptions, DeleteOptions, StoreOptions, IntegerField } from './options';
export type { StoreStats } from './stats';
export type { DumpedEntry } from './cache-read';
export type { FetchOptions, Loader, LoaderContext } from './fetch';

/** readEntry's STALE as a constant of this module (see read.ts). */
const STALE = READ_STALE;

/**
 * A named key-value store shared by every thread of the process. Get one with
 * {@link createStore}; every thread that opens the same name sees the same data.
 *
 * Consistency: `get` returns the value of the last write that completed before it began, or of
 * a write that overlaps it. `has`, `size` and `listKeys` read without locks; under concurrent
 * writes each key's answer reflects a moment during the call, not one snapshot of the store.
 */
export class Store<T = unknown> extends MapStore<T> {
  /** fetch's flow for this handle, made at its first miss. */
  private fetcher: Fetcher<T> | null = null;

  /** The record layout of a store of fixed-layout records, else undefined. */
  get recordLayout(): RecordLayout | undefined {
    return this.codec.current()?.layout ?? undefined;
  }


  // ── the read side of a cache: reads that are not uses (cache-read.ts) ──

  /** The value of `key` as get() returns it, without counting as a use (eviction, hits, misses). */
  peek(key: string): T | undefined {
    if (this.closed) throw new StoreClosedError(this.name);
    return this.peekValue(key) as T | undefined;
  }

  /** Seconds (ms precision) before `key` expires; Infinity without a TTL; undefined if absent or expired. */
  remainingTtl(key: string): number | undefined {
    if (this.closed) throw new StoreClosedError(this.name);
    return remainingTtl(this.ref, key, this.grace);
  }

  /**
   * The keys holding a value. Weakly consistent (cache-read.ts): listed at the first next() and
   * checked again when reached, so a key live throughout comes exactly once, one deleted before
   * it is reached not at all, one added meanwhile not at all, none twice. O(keys) memory.
   */
  keys(): IterableIterator<string> {
    return this.iterate(Yield.Keys) as IterableIterator<string>;
  }

  /** The values of the keys keys() yields, each read whole when reached. */
  values(): IterableIterator<T> {
    return this.iterate(Yield.Values) as IterableIterator<T>;
  }

  /** `[key, value]` pairs, as keys() and values(); also `for (const [k, v] of store)`. */
  entries(): IterableIterator<[string, T]> {
    return this.iterate(Yield.Entries) as IterableIterator<[string, T]>;
  }

  [Symbol.iterator](): IterableIterator<[string, T]> {
    return this.entries();
  }

  private iterate(what: Yield): Generator<unknown, void, undefined> {
    if (this.closed) throw new StoreClosedError(this.name);
    return iterate(this.readSource(), what);
  }

  /** Every live key with its value and remaining TTL in seconds (absent: none), for {@link load}. */
  dump(): Array<[string, DumpedEntry<T>]> {
    if (this.closed) throw new StoreClosedError(this.name);
    return dump(this.readSource()) as Array<[string, DumpedEntry<T>]>;
  }

  /**
   * Sets each entry of a dump() with its remaining TTL (from now), skipping ttl <= 0: how a new
   * process starts warm. Checks every entry before writing any (InvalidOptionError naming the
   * bad one), then writes as setMany does. Returns how many were written.
   */
  load(entries: ReadonlyArray<readonly [string, DumpedEntry<T>]>): number {
    return load(this.readSource(), entries);
  }

  private readSource(): ReadSource {
    return { store: this as Store<unknown>, ref: this.ref, codec: this.codec, scan: () => this.scan(undefined), grace: this.grace };
  }

  /**
   * The value of `key`; on a miss, `loader(key, { signal, staleValue })` runs **once in the
   * process** while every caller in any thread awaits its result, which is stored with the
   * fetch's `ttl` (else the store's). See fetch.ts for the flow, loader.ts for the protocol.
   */
  fetch(key: string, loader: Loader<T>, options?: FetchOptions): Promise<T | undefined> {
    // A hit costs a get (inlined here) and a resolved promise: no option to parse, nothing to
    // register. A bad loader or key goes on to the checks of the slow path.
    if (options === undefined && !this.closed && typeof loader === 'function' && typeof key === 'string' && key.length !== 0 && key.length <= MAX_KEY_LENGTH) {
      // A get: a hit (or a miss) counts for the store's stats and policy as any get does.
      const v = this.get(key);
      if (v !== undefined) return Promise.resolve(v);
    }
    return this.fetchSlow(key, loader, options);
  }

  /** fetch() past its hit path: out of line, so that the hit path stays small enough to inline. */
  private fetchSlow(key: string, loader: Loader<T>, options: FetchOptions | undefined): Promise<T | undefined> {
    this.learnShape();
    return (this.fetcher ??= new Fetcher<T>(this, this.ref, this.codec, this.loadTier())).fetch(key, loader, options);
  }

  /** @internal The tier fetch keeps loaded values through (fetch.ts, LoadTier); none: the plain store. */
  protected loadTier(): LoadTier<T> | null {
    return null;
  }

  /** The fetcher read the store's ttl and grace when it was made: a new one reads them again. */
  protected override shapeLearned(): void {
    this.fetcher = null;
  }


  // ── fixed-layout records ──

  /** Writes `ranges` of sc.rec into entry `ref` (lock held): in place, or as a first block. */
  protected override writeRecord(ref: Ref, sc: StoreSchema, ranges: readonly number[]): void {
    const size = sc.layout!.size;
    const d = arena.i32[wordOf(ref) + ENTRY.DATA];
    if (isRecordBlock(d, size)) {
      if (ranges.length > 0) writeRecordInPlace(ref, d, sc.rec, ranges);
    } else {
      writeValue(this.ref, ref, Tag.Record, sc.rec, 0, size, 0, 0);
    }
  }

  /**
   * update() of a record that exists (lock held): writes only the fields whose bytes changed,
   * so that atomic ops other threads made meanwhile on the fields `fn` left alone are kept.
   */
  protected override updateRecord(key: string, sc: StoreSchema, current: unknown, next: unknown): void {
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
    const entry = this.entryOf(key);
    if (entry !== undefined) this.writeRecord(entry.ref, sc, ranges);
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
    return this.withEntryLock(
      key,
      timeout,
      (ref) => {
        const i32 = arena.i32;
        const d = i32[wordOf(ref) + ENTRY.DATA];
        if (d <= 0 || (i32[wordOf(d) + VALUE.HDR] & VALUE_FLAG.RECORD) === 0) throw new KeyNotFoundError(this.name, key);
        // Under the lock no other thread writes in place; atomic ops may change other fields
        // of this copy meanwhile, but only the ranges of the named fields are copied back.
        const base = d * UNIT + RECORD_BYTES_OFFSET;
        sc.rec.set(arena.u8.subarray(base, base + layout.size));
        const written = encodeFields(layout, plain, sc.rec, sc.recView, 'fields');
        const ranges: number[] = [];
        for (const i of written) ranges.push(layout.fields[i].offset, fieldSpan(layout.fields[i]));
        writeRecordInPlace(ref, d, sc.rec, ranges);
        return true;
      },
      () => {
        throw new KeyNotFoundError(this.name, key);
      },
    );
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
      // Adopt a new ENTRY_EPOCH before taking a ref, so that the ref is from currentEntryEpoch.
      entryRefsMoved(arena.i32);
      const entry = this.entryOf(key);
      if (entry === undefined) throw new KeyNotFoundError(this.name, key);
      const old = recordAtomic(entry.ref, entry.gen, currentEntryEpoch(), f.offset, f.kind, op, a, b);
      if (old === AtomicResult.Missing) throw new KeyNotFoundError(this.name, key);
      if (old !== AtomicResult.Stale) return old;
      this.uncache(key);
    }
  }

  private recordSchema(what: string): StoreSchema {
    if (this.closed) throw new StoreClosedError(this.name);
    const sc = this.codec.current();
    if (sc === null || sc.layout === null) throw new InvalidOptionError(`${what}() needs a store of fixed-layout records; store "${this.name}" was not created with options.record`);
    return sc;
  }

  /** @internal The integer field `field` of the record layout, for atomic ops. */
  atomicField(field: string, what: string): AtomicField {
    const known = this.codec.known;
    const sc = known !== null && !this.closed ? known : this.recordSchema(what);
    const f = sc.atomic.get(field);
    if (f === undefined) {
      throw new InvalidOptionError(`${what}(): "${String(field)}" is not an integer field of store "${this.name}" (integer fields: ${[...sc.atomic.keys()].join(', ') || 'none'})`);
    }
    return f;
  }

  /** @internal Where `key`'s entry is (for record views), or undefined if absent. */
  locate(key: string): { ref: Ref; gen: number; epoch: number } | undefined {
    if (this.closed) throw new StoreClosedError(this.name);
    this.recordSchema('a record view');
    for (;;) {
      const entry = this.entryOf(key);
      if (entry === undefined) return undefined;
      const state = peekEntry(entry.ref, entry.gen, this.grace);
      if (state === STALE) {
        this.uncache(key);
        continue;
      }
      return state === true ? { ref: entry.ref, gen: entry.gen, epoch: currentEntryEpoch() } : undefined;
    }
  }}
