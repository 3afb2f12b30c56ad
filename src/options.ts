/**
 * What callers pass in, checked before anything is written: the options types of set, delete and
 * createStore, key checks, and their parsers (a throwing call has changed nothing; errors.ts).
 */
import { now } from './clock';
import { InvalidKeyError, InvalidOptionError, describeValue } from './errors';
import { MAX_KEY_LENGTH, MAX_STORE_NAME_LENGTH } from './layout';
import { type RecordLayout } from './records';
import { CACHE_OPTIONS } from './cache-options';

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
  /**
   * Bounds the store to this many keys: a write of a new key into a full store evicts a key
   * instead of failing, chosen by the store's shared policy (W-TinyLFU: recently written keys
   * wait in a small window, and a key leaves it for the main area only if it is read more
   * often than the key it would push out). Part of the store's shape: every handle must pass
   * the same cache options (or none).
   */
  max?: number;
  /**
   * Bounds the encoded bytes of the store's values (a number, or a size such as `'256mb'`):
   * writes evict keys, as for `max`, until the values fit. A single value larger than it is
   * refused with an InvalidValueError and stores nothing.
   */
  maxSize?: number | string;
  /** Default time to live of `set` and `fetch`, in seconds; a per-call `ttl` overrides it (`ttl: 0`: none). */
  ttl?: number;
  /**
   * Seconds after a value's expiry during which `fetch` returns the stale value at once and
   * refreshes it once, in the background, for every thread (`get` treats it as expired).
   */
  staleWhileRevalidate?: number;
  /**
   * Backs the store with Redis: this process's copy becomes a near cache of the Redis keys
   * under `prefix`, kept coherent by Redis client tracking (see near-cache.ts and the README,
   * "Scaling out"). Plain data, so that every thread can pass the same options. Needs the
   * `redis` package (node-redis 5). Not with `record` or `structures`.
   */
  redis?: RedisOptions;
}

/** Options of a store backed by Redis ({@link StoreOptions.redis}). */
export interface RedisOptions {
  /** The Redis server, as node-redis takes it: `redis://[[user]:password@]host[:port][/db]`. */
  url: string;
  /** The prefix of this store's keys in Redis (`user:` stores key `42` as `user:42`). Non-empty. */
  prefix: string;
  /**
   * The longest a value stays in the local tier, in seconds (default 300): a backstop should an
   * invalidation be lost. Values are read from Redis again after it.
   */
  maxLocalTtl?: number;
}

/** How long a write waits for a key locked by another thread, in ms, unless told. (Exported apart, so that set()'s parseSetOptions reads a constant, not this module's exports object.) */
const DEFAULT_TIMEOUT_MS = 1000;
export { DEFAULT_TIMEOUT_MS };

/** The received value with its type, for error messages (`the string "100"`). */
export const describe = describeValue;

/** Throws InvalidKeyError unless `key` is a string of 1 to MAX_KEY_LENGTH code units. */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) badKey(key);
}

/** Throws the InvalidKeyError for a key that failed checkKey; `where` names it in a batch. */
export function badKey(key: unknown, where?: string): never {
  const at = where === undefined ? '' : ` (${where})`;
  if (typeof key !== 'string') throw new InvalidKeyError(`key${at} must be a string, got ${describe(key)}`);
  if (key.length === 0) throw new InvalidKeyError(`key${at} must not be empty`);
  throw new InvalidKeyError(`key${at} is ${key.length} UTF-16 code units long; the limit is ${MAX_KEY_LENGTH}`);
}

export function checkTimeout(t: unknown, what: string): number {
  if (t === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof t !== 'number' || Number.isNaN(t) || t < 0) throw new InvalidOptionError(`${what} must be a number of milliseconds >= 0, got ${describe(t)}`);
  return t;
}

const SET_OPTIONS = new Set(['minBufferSize', 'immutable', 'ttl', 'skipLock', 'timeout']);
/** The largest minBufferSize: the low 29 bits of the entry's META word (layout.ts). */
const MAX_HINT_BYTES = 2 ** 29 - 1;
/** The latest deadline, in epoch ms: deadlines are stored in two Int32 words (high word < 2^31). */
const MAX_DEADLINE = 2 ** 62;

/** The deadline, in epoch ms, of a value written now with a TTL of `ttl` seconds (> 0). */
export function deadlineAfter(ttl: number): number {
  // Deadlines beyond MAX_DEADLINE (~146 million years) are stored as MAX_DEADLINE.
  return Math.min(MAX_DEADLINE, now() + Math.max(1, Math.round(ttl * 1000)));
}

/** Parsed set options; one reusable object, since set() is a hot path. */
const parsed = { expires: 0, minBytes: 0, timeout: DEFAULT_TIMEOUT_MS, ttlGiven: false };

export function parseSetOptions(o: SetOptions | undefined): typeof parsed {
  parsed.expires = 0;
  parsed.minBytes = 0;
  parsed.timeout = DEFAULT_TIMEOUT_MS;
  parsed.ttlGiven = false;
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
    parsed.ttlGiven = true;
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0) throw new InvalidOptionError(`options.ttl must be a finite number of seconds >= 0, got ${describe(ttl)}`);
    if (ttl > 0) parsed.expires = deadlineAfter(ttl);
  }
  if (skipLock !== undefined && typeof skipLock !== 'boolean') throw new InvalidOptionError(`options.skipLock must be a boolean, got ${describe(skipLock)}`);
  parsed.timeout = checkTimeout(timeout, 'options.timeout');
  return parsed;
}

export function parseDeleteOptions(o: DeleteOptions | undefined): { literal: boolean; timeout: number } {
  if (o === undefined) return { literal: false, timeout: DEFAULT_TIMEOUT_MS };
  if (o === null || typeof o !== 'object') throw new InvalidOptionError(`options must be an object, got ${describe(o)}`);
  for (const k in o) if (k !== 'literal' && k !== 'timeout') throw new InvalidOptionError(`unknown option "${k}" (known: literal, timeout)`);
  if (o.literal !== undefined && typeof o.literal !== 'boolean') throw new InvalidOptionError(`options.literal must be a boolean, got ${describe(o.literal)}`);
  return { literal: o.literal === true, timeout: checkTimeout(o.timeout, 'options.timeout') };
}

/** The entries of setMany() as a list of pairs: an iterable of [key, value] pairs, or an object. */
export function parseEntries<T>(entries: Iterable<readonly [string, T]> | Record<string, T>): [string, T][] {
  if (entries === null || typeof entries !== 'object') throw new InvalidOptionError(`entries must be an iterable of [key, value] pairs or an object, got ${describe(entries)}`);
  return Symbol.iterator in entries
    ? Array.from(entries as Iterable<readonly [string, T]>, (e, i) => {
        if (!Array.isArray(e) || e.length !== 2) throw new InvalidOptionError(`entries[${i}] must be a [key, value] pair, got ${Array.isArray(e) ? `an array of length ${e.length}` : describe(e)}`);
        return [e[0], e[1]];
      })
    : Object.entries(entries as Record<string, T>);
}

/** The keys of deleteMany(): an array of literal keys (a RegExp is refused with a hint). */
export function checkLiteralKeys(keys: readonly string[]): void {
  if (!Array.isArray(keys)) throw new InvalidOptionError(`keys must be an array of strings, got ${describe(keys)}`);
  for (let i = 0; i < keys.length; i++) {
    const k: unknown = keys[i];
    if (k instanceof RegExp) throw new InvalidKeyError(`deleteMany() takes literal keys, got ${describe(k)} at keys[${i}]; to delete the keys a pattern matches, call delete(pattern)`);
    if (typeof k !== 'string' || k.length === 0 || k.length > MAX_KEY_LENGTH) badKey(k, `keys[${i}]`);
  }
}

const STORE_OPTIONS = ['hotReads', 'record', 'structures', 'redis', ...CACHE_OPTIONS];

/**
 * The store name and the options of createStore but the schema (schema.ts, schemaText): whether
 * the handle reads hot, and the bound it sets on its cache (undefined: the default,
 * lookup-cache.ts cacheLimitFor).
 */
export function parseStoreOptions(name: unknown, options: StoreOptions | undefined): { hot: boolean; maxKeys: number | undefined } {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_STORE_NAME_LENGTH) {
    throw new InvalidOptionError(`store name must be a non-empty string of at most ${MAX_STORE_NAME_LENGTH} characters, got ${describe(name)}`);
  }
  if (name.charCodeAt(0) === 0) throw new InvalidOptionError(`store names starting with "\\u0000" are reserved for the library's own stores, got ${describe(name)}`);
  let hot = false;
  let maxKeys: number | undefined;
  if (options !== undefined) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError(`options must be an object, got ${describe(options)}`);
    for (const k in options) if (!STORE_OPTIONS.includes(k)) throw new InvalidOptionError(`unknown option "${k}" (known: ${STORE_OPTIONS.join(', ')})`);
    const h = options.hotReads;
    if (h !== undefined && typeof h !== 'boolean') {
      if (h === null || typeof h !== 'object' || Object.keys(h).some((k) => k !== 'maxKeys')) throw new InvalidOptionError(`options.hotReads must be a boolean or { maxKeys }, got ${describe(h)}`);
      if (h.maxKeys !== undefined) {
        if (!Number.isSafeInteger(h.maxKeys) || h.maxKeys < 0) throw new InvalidOptionError(`options.hotReads.maxKeys must be an integer >= 0, got ${describe(h.maxKeys)}`);
        maxKeys = h.maxKeys;
      }
    }
    hot = h === true || (typeof h === 'object' && h !== null);
    if (hot && options.record !== undefined) throw new InvalidOptionError('options.hotReads cannot be combined with options.record: atomic ops change a record without republishing it, so a cached copy would go stale');
  }
  return { hot, maxKeys };
}
