/**
 * `Store.fetch`: a read that, on a miss, loads the value once for the whole process. This
 * module owns the fetch flow of one thread: the options, the loads this thread takes part in
 * (one *flight* per store and key, shared by every caller in the thread), waiting without
 * blocking the event loop, abort signals, the conditional store of a loaded value, and
 * stale-while-revalidate. The shared table and its protocol are loader.ts.
 *
 * A flight registers once in the loader table and then either runs the loader (it registered
 * first) or waits for the owner's outcome: Atomics.waitAsync on the record's STATE word, in
 * slices of WAIT_SLICE_MS, checking between slices whether the owner is still alive and taking
 * the load over if not. A pending waitAsync does not keep the event loop alive, so while this
 * thread has a flight it keeps one ref'd interval timer (released with the last flight): a
 * worker whose only work is `await store.fetch()` does not exit under it.
 *
 * Takeover bound: a waiter runs the load itself at once when the owner's death is recovered
 * (the thread that started the dead worker sees its 'exit' event; the recovery hook marks the
 * load LOAD_ORPHAN and notifies), and otherwise within one WAIT_SLICE_MS slice after recovery.
 * A thread that ends with process.exit() hands its loads over from its own exit handler.
 *
 * Tiers. A store whose values also live elsewhere (a RedisStore, redis-load.ts) passes a
 * LoadTier: the owner hands its loaded value to the tier (keep) instead of storeLoaded, and may
 * be told to run the loader again (RELOAD) when the value may be stale; a waiter takes the key's
 * stored value once the load is done, else the published one only if the tier accepts it, else
 * fetches again. The table, the waiting and the takeover are the same.
 */
import { arena } from './arena';
import { type CacheShape } from './cache-options';
import { now } from './clock';
import { decode, encoded, Tag } from './codec';
import { describeValue, InvalidOptionError, StoreClosedError } from './errors';
import { hashKey } from './keyindex';
import { add64 } from './stats';
import { closeLoad, failure, Joined, leave, loadState, publishError, publishValue, register, registered, resultBytes, stateWord, takeOver } from './loader';
import { LOAD_DONE, LOAD_FAILED, LOAD_ORPHAN, STORE } from './layout';
import { checkKey, DEFAULT_TIMEOUT_MS } from './options';
import { type StoreCodec } from './schema';
import type { Store } from './store';
import { isAlive } from './threads';

/** Options of {@link Store.fetch}. */
export interface FetchOptions {
  /** Time to live of the loaded value, in seconds (default: the store's `ttl`; 0: none). */
  ttl?: number;
  /** Load even when the key holds a value (still once for every caller in the process). */
  forceRefresh?: boolean;
  /**
   * Ends this caller's wait: its promise rejects with `signal.reason`. The loader's own
   * `signal` aborts once every caller waiting in the loader's thread has aborted.
   */
  signal?: AbortSignal;
}

/** What a loader receives besides the key. */
export interface LoaderContext<T> {
  /** Aborts when every caller waiting for this load in the loader's thread has aborted. */
  signal: AbortSignal;
  /** The value the key held (stale, or current with forceRefresh), else undefined. */
  staleValue: T | undefined;
}

/** Loads the value of a key that missed; `undefined` stores nothing. */
export type Loader<T> = (key: string, context: LoaderContext<T>) => T | undefined | Promise<T | undefined>;

/** Where a fetch read a key (lookup-cache.ts, readForFetch): entry, GEN, SEQ (ref 0: none), physical deadline. */
export interface FetchStamp {
  ref: number;
  gen: number;
  seq: number;
  expires: number;
}
export const newStamp = (): FetchStamp => ({ ref: 0, gen: 0, seq: 0, expires: 0 });

/** What a LoadTier returns to have the load run again: what was loaded may be stale. */
export const RELOAD: unique symbol = Symbol('reload');

/**
 * A store whose values are not only its own, and so need more than storeLoaded's conditional
 * store: the Redis tier (redis-load.ts), whose loaded values pass its invalidation epochs.
 * Without a tier the flow is the base one: storeLoaded, and waiters take the published value.
 */
export interface LoadTier<T> {
  /**
   * The owner, after its loader returned `value` and the load was closed, synchronously before
   * it publishes: stores what it should, and returns what the load hands out, or RELOAD when
   * `value` may be older than something a caller could have read (the loader then runs again;
   * `attempt` counts the runs, from 0, and the tier bounds them by throwing: the load fails).
   */
  keep(key: string, value: T | undefined, ttl: number, attempt: number): T | undefined | typeof RELOAD;
  /** A waiter, just before it registers: a token that accept() compares against. */
  watch(key: string): unknown;
  /**
   * A waiter of a finished load that found no value of the key stored: whether its callers may
   * take the published value (`late`: it joined after the close). False: it fetches again.
   */
  accept(key: string, watched: unknown, late: boolean): boolean;
}

/**
 * How long a waiter sleeps before it checks again whether the load's owner is alive. A notify
 * (publication, or the recovery hook's) ends a slice early, so this only bounds takeovers that
 * no notify announces. Test knob-free: it is a backstop, not a latency.
 */
export const WAIT_SLICE_MS = 50;
const FETCH_OPTIONS = new Set(['ttl', 'forceRefresh', 'signal']);
const MAX_TTL_SECONDS = 100 * 365 * 86400;

// ── the store's cache shape and load counters ──

/** The store's cache options (default ttl, staleWhileRevalidate): its schema's CacheShape. */
export function cacheShape(codec: StoreCodec): CacheShape | null {
  return codec.current()?.cache ?? null;
}
/** staleWhileRevalidate of the store in ms: the grace read paths add to now (0: none). */
export function graceMs(codec: StoreCodec): number {
  return Math.round((cacheShape(codec)?.staleWhileRevalidate ?? 0) * 1000);
}

/** Counts a finished load of store `store` in its shared counters (stats().loads, loadFailures). */
function countLoad(store: number, ok: boolean): void {
  add64(arena.i32, store * 2 + (ok ? STORE.LOADS : STORE.LOAD_FAILURES), 1);
}

// ── keeping the thread alive while it waits ──

let active = 0;
let keepAlive: ReturnType<typeof setInterval> | null = null;
function hold(): void {
  if (active++ === 0) keepAlive = setInterval(() => {}, 1 << 30);
}
function unhold(): void {
  if (--active === 0 && keepAlive !== null) {
    clearInterval(keepAlive);
    keepAlive = null;
  }
}

/** One load this thread takes part in, shared by its callers in the thread. */
class Flight {
  /** The LOAD record. */
  load = 0;
  /** Callers still waiting (not aborted). */
  callers = 0;
  /** Whether this thread runs the loader (from the start, or by taking over). */
  loading = false;
  /** Every caller aborted before the load settled: this thread left the load. */
  cancelled = false;
  readonly controller = new AbortController();
  readonly promise: Promise<unknown>;
  resolve!: (v: unknown) => void;
  reject!: (e: unknown) => void;
  constructor(readonly id: string) {
    this.promise = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // Callers handle rejections through their own promises; a flight none waits for any more
    // (all aborted, or a background refresh) must not raise an unhandled rejection.
    this.promise.catch(() => {});
  }
}
const flights = new Map<string, Flight>();

/** An Error rebuilt in this thread from what a failed load in another thread carried. */
function remoteError(info: { name: string; message: string; code: string | number | undefined }): Error {
  const e = new Error(info.message) as Error & { code?: string | number };
  e.name = info.name;
  if (info.code !== undefined) e.code = info.code;
  return e;
}

interface Parsed {
  ttl: number;
  force: boolean;
  signal: AbortSignal | undefined;
}

function parseFetchOptions(o: FetchOptions | undefined, defaultTtl: number): Parsed {
  if (o === undefined) return { ttl: defaultTtl, force: false, signal: undefined };
  if (o === null || typeof o !== 'object') throw new InvalidOptionError(`options must be an object, got ${describeValue(o)}`);
  for (const k in o) if (!FETCH_OPTIONS.has(k)) throw new InvalidOptionError(`unknown option "${k}" (known: ${[...FETCH_OPTIONS].join(', ')})`);
  const { ttl, forceRefresh, signal } = o;
  if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0 || ttl > MAX_TTL_SECONDS)) {
    throw new InvalidOptionError(`options.ttl must be a number of seconds from 0 to ${MAX_TTL_SECONDS}, got ${describeValue(ttl)}`);
  }
  if (forceRefresh !== undefined && typeof forceRefresh !== 'boolean') throw new InvalidOptionError(`options.forceRefresh must be a boolean, got ${describeValue(forceRefresh)}`);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError(`options.signal must be an AbortSignal, got ${describeValue(signal)}`);
  return { ttl: ttl ?? defaultTtl, force: forceRefresh === true, signal };
}

/** The fetch flow of one store handle (created by Store.fetch on its first miss). */
export class Fetcher<T> {
  private readonly grace: number;
  private readonly defaultTtl: number;

  constructor(
    private readonly store: Store<T>,
    private readonly ref: number,
    private readonly codec: StoreCodec,
    private readonly tier: LoadTier<T> | null = null,
  ) {
    this.grace = graceMs(codec);
    this.defaultTtl = cacheShape(codec)?.ttl ?? 0;
  }

  /** fetch() past its hit path (store.ts): every check, then a hit, a stale hit or a load. */
  fetch(key: string, loader: Loader<T>, options: FetchOptions | undefined): Promise<T | undefined> {
    let o: Parsed;
    try {
      if (this.store.closed) throw new StoreClosedError(this.store.name);
      checkKey(key);
      if (typeof loader !== 'function') throw new InvalidOptionError(`fetch() needs a loader function, got ${describeValue(loader)}`);
      o = parseFetchOptions(options, this.defaultTtl);
    } catch (error) {
      return Promise.reject(error);
    }
    if (o.signal?.aborted) return Promise.reject(o.signal.reason);
    const st = newStamp();
    const cur = this.store.readForFetch(key, st) as T | undefined;
    let stale: T | undefined;
    if (cur !== undefined) {
      if (!o.force) {
        // A value past its logical expiry but within staleWhileRevalidate: served at once,
        // refreshed once in the background for every thread.
        if (!this.fresh(st)) this.refresh(key, loader, o.ttl, cur);
        return Promise.resolve(cur);
      }
      stale = cur;
    }
    const id = `${this.ref}\u0000${key}`;
    let f = flights.get(id);
    if (f === undefined) {
      const found: { value: T | undefined } = { value: undefined };
      f = this.start(id, key, loader, o.ttl, o.force, stale, false, found);
      if (f === undefined) return Promise.resolve(found.value);
    }
    return this.attach(f, o.signal);
  }

  /** Whether a value read with stamp `st` is within its logical lifetime. */
  private fresh(st: FetchStamp): boolean {
    return st.expires === 0 || now() + this.grace < st.expires;
  }

  /** A background refresh of a stale value: unless a load of the key is in flight anywhere. */
  private refresh(key: string, loader: Loader<T>, ttl: number, stale: T): void {
    const id = `${this.ref}\u0000${key}`;
    if (flights.has(id)) return;
    this.start(id, key, loader, ttl, true, stale, true, { value: undefined });
  }

  /**
   * Registers a flight for `key` in the loader table (see loader.ts, register) and starts it:
   * the loader, or the wait. Undefined when no load is needed: the key was stored meanwhile
   * (its value in `found`), or (background) it was refreshed or a refresh is in flight.
   */
  private start(id: string, key: string, loader: Loader<T>, ttl: number, force: boolean, stale: T | undefined, background: boolean, found: { value: T | undefined }): Flight | undefined {
    const st = newStamp();
    // Under the table's lock, before a new load is registered: whether one is still needed.
    // The stamp taken here is what the conditional store compares against (storeLoaded).
    const recheck = (): boolean => {
      const v = this.store.readForFetch(key, st) as T | undefined;
      if (background) return v !== undefined && !this.fresh(st);
      if (!force && v !== undefined && this.fresh(st)) {
        found.value = v;
        return false;
      }
      return true;
    };
    const watched = this.tier === null ? undefined : this.tier.watch(key);
    const joined = register(this.ref, key, hashKey(key), !background, recheck);
    if (joined === Joined.None) return undefined;
    const f = new Flight(id);
    f.load = registered;
    flights.set(id, f);
    hold();
    if (joined === Joined.Loader) {
      f.loading = true;
      void this.run(f, key, loader, ttl, st, stale);
    } else {
      void this.wait(f, key, loader, ttl, stale, joined === Joined.LateWaiter, force, watched);
    }
    return f;
  }

  /** A caller's promise: the flight's, or (with a signal) one its abort rejects early. */
  private attach(f: Flight, signal: AbortSignal | undefined): Promise<T | undefined> {
    f.callers++;
    if (signal === undefined) return f.promise as Promise<T | undefined>;
    return new Promise<T | undefined>((resolve, reject) => {
      const onAbort = (): void => {
        reject(signal.reason);
        if (--f.callers === 0) this.abandon(f, signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      f.promise.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v as T | undefined);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  /** Every caller of `f` aborted: the loader's signal aborts, or this thread stops waiting. */
  private abandon(f: Flight, reason: unknown): void {
    if (f.loading) {
      f.controller.abort(reason);
      return;
    }
    if (f.cancelled || flights.get(f.id) !== f) return;
    f.cancelled = true;
    this.settle(f, false, reason);
  }

  /** Ends flight `f` in this thread: leaves the load, then resolves or rejects its callers. */
  private settle(f: Flight, ok: boolean, outcome: unknown): void {
    if (flights.get(f.id) === f) flights.delete(f.id);
    try {
      leave(f.load);
    } finally {
      unhold();
      if (ok) f.resolve(outcome);
      else f.reject(outcome);
    }
  }

  /** This thread owns the load: run the loader, store its value, publish the outcome. */
  private async run(f: Flight, key: string, loader: Loader<T>, ttl: number, st: FetchStamp, stale: T | undefined): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let value: T | undefined;
      try {
        value = await loader(key, { signal: f.controller.signal, staleValue: stale });
      } catch (error) {
        this.fail(f, error);
        return;
      }
      let out: T | undefined = value;
      try {
        if (this.tier !== null) {
          // Closed first, so that accept() can tell the waiters that joined after keep's check.
          closeLoad(f.load);
          const kept = this.tier.keep(key, value, ttl, attempt);
          if (kept === RELOAD) continue;
          out = kept;
        } else if (value !== undefined) {
          closeLoad(f.load);
          out = this.storeLoaded(key, value, ttl, st);
        }
        if (out === undefined) {
          publishValue(f.load, 0, null, 0, -1);
        } else {
          const sc = this.codec.current();
          const tag = this.codec.encode(out, sc, `${this.store.name}: value`);
          if (tag === Tag.Record) publishValue(f.load, tag, sc!.rec, 0, sc!.layout!.size);
          else publishValue(f.load, tag, encoded.bytes, encoded.offset, encoded.length);
        }
      } catch (error) {
        this.fail(f, error);
        return;
      }
      countLoad(this.ref, true);
      this.settle(f, true, out);
      return;
    }
  }

  private fail(f: Flight, error: unknown): void {
    publishError(f.load, error);
    countLoad(this.ref, false);
    this.settle(f, false, error);
  }

  /**
   * Stores a loaded value unless the key was written since the load began (stamp `start`),
   * under the key's lock; returns the value the load hands out: `value`, or the newer value a
   * write stored meanwhile (so a fetch never returns a value older than one its caller could
   * already have read). A key locked elsewhere past the write timeout is left as it is.
   */
  private storeLoaded(key: string, value: T, ttl: number, start: FetchStamp): T {
    const s = this.store;
    const held = s.holdsLock(key);
    if (!held && !s.lock(key, DEFAULT_TIMEOUT_MS)) return value;
    try {
      const cur = newStamp();
      const v = s.readForFetch(key, cur) as T | undefined;
      const same = cur.ref === start.ref && cur.gen === start.gen && cur.seq === start.seq;
      if (v !== undefined && !same && this.fresh(cur)) return v;
      s.set(key, value, { ttl, skipLock: true });
      return value;
    } finally {
      if (!held) s.release(key);
    }
  }

  /** This thread waits for the load another thread runs (see the module header). */
  private async wait(f: Flight, key: string, loader: Loader<T>, ttl: number, stale: T | undefined, late: boolean, force: boolean, watched: unknown): Promise<void> {
    const load = f.load;
    for (;;) {
      if (f.cancelled) return;
      const s = loadState(load);
      if (s === LOAD_DONE && this.tier !== null) {
        this.takeTiered(f, key, loader, ttl, late, force, watched);
        return;
      }
      if (s === LOAD_DONE) {
        let v: unknown;
        try {
          // A late waiter may have read a value newer than the load's (see loader.ts, Close).
          const st = newStamp();
          v = late ? this.store.readForFetch(key, st) : undefined;
          if (v === undefined || !this.fresh(st)) v = this.decodeResult(load);
        } catch (error) {
          this.settle(f, false, error);
          return;
        }
        this.settle(f, true, v);
        return;
      }
      if (s === LOAD_FAILED) {
        this.settle(f, false, remoteError(failure(load)));
        return;
      }
      if (s === LOAD_ORPHAN || !isAlive(s)) {
        if (!takeOver(load, s)) continue;
        f.loading = true;
        const st = newStamp();
        const current = this.store.readForFetch(key, st) as T | undefined;
        await this.run(f, key, loader, ttl, st, current ?? stale);
        return;
      }
      const r = Atomics.waitAsync(arena.i32, stateWord(load), s, WAIT_SLICE_MS);
      if (r.async) await r.value;
    }
  }

  /**
   * A tier's waiter whose load is done: the key's stored value (a tier stores only values that
   * are current, so one stored now is), else the published value if the tier accepts it for
   * this waiter, else a fetch of its own (a new load, which this thread may run or join).
   */
  private takeTiered(f: Flight, key: string, loader: Loader<T>, ttl: number, late: boolean, force: boolean, watched: unknown): void {
    let v: unknown;
    try {
      const st = newStamp();
      v = this.store.readForFetch(key, st);
      if (v === undefined || !this.fresh(st)) {
        if (!this.tier!.accept(key, watched, late)) {
          // Out of the map first: the new fetch must start a flight, not join this one.
          if (flights.get(f.id) === f) flights.delete(f.id);
          this.settle(f, true, this.fetch(key, loader, { ttl, forceRefresh: force }));
          return;
        }
        v = this.decodeResult(f.load);
      }
    } catch (error) {
      this.settle(f, false, error);
      return;
    }
    this.settle(f, true, v);
  }

  private decodeResult(load: number): unknown {
    const res = resultBytes(load);
    if (res === null) return undefined;
    const { tag, bytes } = res;
    if (tag < Tag.Structured) return decode(tag, bytes, bytes.length);
    return this.codec.decodeSchemaValue(tag, bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.length), bytes.length);
  }
}
