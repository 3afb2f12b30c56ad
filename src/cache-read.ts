/**
 * The read side of the cache API that a user of an in-process LRU cache expects, on top of the
 * read protocol: a key's remaining lifetime (remainingTtl, through readExpiry, a seqlock read of
 * the deadline alone), iteration over a store (iterate: keys, values, entries) and the dump/load
 * pair that carries a store's contents to a new process. `peek` is LookupCache.peekValue.
 *
 * None of these is a use of a key: none goes through get(), so nothing a store policy counts
 * or marks on a get (reference bits, hits, misses) happens here. Iteration and dump do not go
 * through this thread's lookup cache either (an index lookup per key, like a get of a full
 * cache that skips it): a walk over every key would otherwise push the thread's working set
 * out of a hotReads cache. They decode each value afresh, so values are never the deep-frozen
 * ones a hotReads get returns.
 *
 * ## What a concurrent iteration may see
 * An iteration starts at its first next(). It then takes a snapshot of the keys holding a
 * value (Store.scan: one walk of the index, deduplicated in a Set, so that a walk restarted by a
 * resize yields no key twice) and visits them in the snapshot's order; each key is looked up and
 * read again when it is reached, and skipped unless it then holds an unexpired value. So:
 * - a key that holds a value from the first next() to the end is yielded exactly once;
 * - no key is yielded twice, whatever resizes the index meanwhile (the index is walked once,
 *   before the first yield);
 * - a key deleted (or expired) before it is reached is not yielded; one deleted after it was
 *   yielded stays yielded;
 * - a key added after the first next() is not yielded (one deleted and set again before it is
 *   reached is, with its new value);
 * - each value yielded is one whole value the key held while it was read (the seqlock of
 *   read.ts: never torn, never another key's), the latest one written before the read began or
 *   one written during it — not necessarily the value it held at the snapshot.
 * It is not one snapshot of the store: two keys' values may come from different moments. The
 * snapshot costs O(keys) memory (the key strings) for the iteration's lifetime.
 */
import { arena } from './arena';
import { now } from './clock';
import { InvalidOptionError, InvalidValueError, StoreClosedError, quote } from './errors';
import { foundGen, hashKey, lookup } from './keyindex';
import { ENTRY, MAX_KEY_LENGTH, UNIT, VALUE, VALUE_BYTES_OFFSET_TTL, VALUE_FLAG, readDeadline } from './layout';
import { checkKey, describe } from './options';
import { MISSING as READ_MISSING, peekEntry, type ReadStamp, readEntry, STALE as READ_STALE } from './read';
import { type Ref, wordOf } from './ref';
import { type StoreCodec } from './schema';
import { Begin, beginEntryRead, corrupt, entryRefsMoved, refsCurrent, syncEntryEpoch, validateRead } from './seqlock';
import { type Store } from './store';

/** readEntry's MISSING and STALE as constants of this module (see read.ts). */
const MISSING = READ_MISSING;
const STALE = READ_STALE;

/** One entry of {@link Store.dump}: the value, and its remaining lifetime in seconds if it has one. */
export interface DumpedEntry<T> {
  value: T;
  /** Seconds left before the value expires (milliseconds precision); absent: no TTL. */
  ttl?: number;
}

/** What these functions need of a store handle (Store.readSource). */
export interface ReadSource {
  readonly store: Store<unknown>;
  /** The store's STORE block. */
  readonly ref: Ref;
  readonly codec: StoreCodec;
  /** The keys holding a value, from one walk of the index, each once (Store.scan). */
  scan(): string[];
  /** The store's staleWhileRevalidate in ms: stored deadlines are that much past the logical ones. */
  readonly grace: number;
}

/** readExpiry results that are not deadlines: no live value, and a ref to look up again. */
const NO_VALUE = -1;
const STALE_REF = -2;

/**
 * The deadline of entry `ref`'s value (generation `gen`) in epoch ms, 0 for a value without
 * one; NO_VALUE for no value; STALE_REF when the entry no longer holds the key. readEntry's
 * seqlock with the copy shrunk to the two deadline words: the block DATA names is immutable
 * while DATA names it, so the deadline read between two equal SEQ loads is that of the value
 * published at that SEQ. Inline values and records never have a deadline. Bounds are checked
 * before the block is followed (it may have been freed and reused under us; the SEQ check then
 * discards what was read). No lock: the loop only repeats when a write republishes DATA within
 * the few loads between the SEQ loads.
 */
export function readExpiry(ref: Ref, gen: number): number {
  const e = wordOf(ref);
  for (let spins = 0; ; spins++) {
    const i32 = arena.i32;
    const s1 = beginEntryRead(i32, e, gen, spins);
    if (s1 === Begin.Stale) return STALE_REF;
    if (s1 === Begin.Retry) continue;
    const d = i32[e + ENTRY.DATA];
    let deadline = d === 0 ? NO_VALUE : 0;
    if (d > 0) {
      const v = wordOf(d);
      if (v + VALUE.EXPIRES_LO >= i32.length) {
        // Beyond this thread's view: the arena grew (covers refreshes it: retry), DATA was
        // republished under us (retry), or, with SEQ stable, the arena is corrupt.
        if (!arena.covers(d * UNIT + VALUE_BYTES_OFFSET_TTL) && validateRead(arena.i32, e, s1) && spins > 2) {
          if (entryRefsMoved(arena.i32)) return STALE_REF;
          throw corrupt(ref);
        }
        continue;
      }
      if ((i32[v + VALUE.HDR] & VALUE_FLAG.TTL) !== 0) deadline = readDeadline(i32, v);
    }
    if (validateRead(i32, e, s1)) {
      if (refsCurrent(i32)) return deadline;
      syncEntryEpoch();
      return STALE_REF;
    }
    // Garbage from memory a retired slab gave back may never validate: check before retrying.
    if (entryRefsMoved(i32)) return STALE_REF;
  }
}

/** Store.remainingTtl: seconds left, Infinity without a TTL, undefined when absent or expired. */
export function remainingTtl(store: Ref, key: string, grace: number): number | undefined {
  checkKey(key);
  for (;;) {
    const ref = lookup(store, key, hashKey(key));
    if (ref === 0) return undefined;
    const at = readExpiry(ref, foundGen);
    // STALE_REF: the entry was removed (and maybe reused) between the lookup and the read.
    if (at === STALE_REF) continue;
    if (at === NO_VALUE) return undefined;
    if (at === 0) return Infinity;
    // The clock is read after the deadline: a value written during this call, after a clock
    // read before it, would otherwise get more than its whole TTL left.
    const left = at - grace - now();
    return left > 0 ? left / 1000 : undefined;
  }
}

/**
 * `key`'s value, decoded afresh through an index lookup (no lookup cache), or MISSING; `stamp`,
 * if given, receives the deadline of that same value (readEntry reads both under one SEQ).
 */
function readFresh(src: ReadSource, key: string, stamp: ReadStamp | null): unknown {
  for (;;) {
    const ref = lookup(src.ref, key, hashKey(key));
    if (ref === 0) return MISSING;
    const v = readEntry(ref, foundGen, src.codec, stamp, src.grace);
    if (v !== STALE) return v;
  }
}

/** Whether `key` holds an unexpired value now (has() without the lookup cache). */
function holdsValue(src: ReadSource, key: string): boolean {
  for (;;) {
    const ref = lookup(src.ref, key, hashKey(key));
    if (ref === 0) return false;
    const state = peekEntry(ref, foundGen, src.grace);
    if (state !== STALE) return state === true;
  }
}

/** What iterate yields. */
export const enum Yield {
  Keys,
  Values,
  Entries,
}

/**
 * Store.keys/values/entries: the snapshot of keys, each read again when reached (see the module
 * comment for what a concurrent iteration may see). A handle closed meanwhile ends it with
 * StoreClosedError at the next step.
 */
export function* iterate(src: ReadSource, what: Yield): Generator<unknown, void, undefined> {
  const store = src.store;
  if (store.closed) throw new StoreClosedError(store.name);
  const keys = src.scan();
  for (let i = 0; i < keys.length; i++) {
    if (store.closed) throw new StoreClosedError(store.name);
    const key = keys[i]!;
    if (what === Yield.Keys) {
      if (holdsValue(src, key)) yield key;
      continue;
    }
    const v = readFresh(src, key, null);
    if (v === MISSING) continue;
    yield what === Yield.Values ? v : [key, v];
  }
}

/** Store.dump: every key with its value and remaining TTL, each value read with its own deadline. */
export function dump(src: ReadSource): [string, DumpedEntry<unknown>][] {
  const out: [string, DumpedEntry<unknown>][] = [];
  const stamp: ReadStamp = { seq: 0, data: 0, expires: 0 };
  for (const key of src.scan()) {
    const value = readFresh(src, key, stamp);
    if (value === MISSING) continue;
    if (stamp.expires === 0) {
      out.push([key, { value }]);
      continue;
    }
    // Unexpired when read; it may have expired since (then it is left out, as a later read would).
    const left = stamp.expires - src.grace - now();
    if (left > 0) out.push([key, { value, ttl: left / 1000 }]);
  }
  return out;
}

/**
 * Store.load: checks every entry (its shape, key, TTL, and that its value encodes) before the
 * first write, so that bad input writes nothing; then sets each entry whose ttl is absent or
 * above 0, with that ttl counted from now. Each set is atomic on its own, as in setMany: a key
 * locked by another thread past the default timeout is not written, and an OutOfMemoryError
 * leaves the entries before it written. Returns how many were written.
 */
export function load(src: ReadSource, entries: unknown): number {
  const store = src.store;
  if (store.closed) throw new StoreClosedError(store.name);
  if (!Array.isArray(entries)) throw new InvalidOptionError(`load() takes an array of [key, { value, ttl? }] entries, as dump() returns, got ${describe(entries)}`);
  const sc = src.codec.current();
  const records = sc !== null && sc.layout !== null;
  const list = entries as unknown[];
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    const at = `store "${store.name}": load() entries[${i}]`;
    if (!Array.isArray(e) || e.length !== 2) throw new InvalidOptionError(`${at} must be a [key, { value, ttl? }] pair, got ${Array.isArray(e) ? `an array of length ${e.length}` : describe(e)}`);
    const [key, entry] = e as [unknown, unknown];
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw new InvalidOptionError(`${at}: the key must be a string of 1 to ${MAX_KEY_LENGTH} UTF-16 code units, got ${typeof key === 'string' ? `one of ${key.length}` : describe(key)}`);
    }
    const atKey = `${at} (key ${quote(key)})`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new InvalidOptionError(`${atKey}: the second element must be an object { value, ttl? }, got ${describe(entry)}`);
    for (const p in entry) if (p !== 'value' && p !== 'ttl') throw new InvalidOptionError(`${atKey}: unknown property "${p}" (known: value, ttl)`);
    if (!('value' in entry)) throw new InvalidOptionError(`${atKey}: no "value" property`);
    const { value, ttl } = entry as { value: unknown; ttl?: unknown };
    if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isFinite(ttl))) {
      throw new InvalidOptionError(`${atKey}: ttl must be a finite number of seconds (absent for a value without TTL), got ${describe(ttl)}`);
    }
    if (records && ttl !== undefined && ttl > 0) throw new InvalidOptionError(`${atKey}: store "${store.name}" holds fixed-layout records, which cannot have a TTL`);
    try {
      src.codec.encode(value, sc, `${atKey}: value`);
    } catch (error) {
      // Named as the entry it came from, with the codec's reason; the original as the cause.
      if (!(error instanceof InvalidValueError)) throw error;
      const msg = error.message.startsWith(atKey) ? error.message : `${atKey}: ${error.message}`;
      throw Object.assign(new InvalidOptionError(msg), { cause: error });
    }
  }
  let n = 0;
  for (const e of list) {
    const [key, entry] = e as [string, DumpedEntry<unknown>];
    const ttl = entry.ttl;
    if (ttl !== undefined && ttl <= 0) continue;
    if (store.set(key, entry.value, ttl === undefined ? undefined : { ttl })) n++;
  }
  return n;
}
