/**
 * The Redis tier: {@link RedisStore}, a store whose shared memory is a near cache of the Redis
 * keys under a prefix, for every thread of the process at once.
 *
 * - Reads: `get` is the plain store read (a local hit costs what any get costs); `fetch` reads
 *   Redis on a miss, once per thread and key at a time (loadOnce), and caches what it read unless
 *   an invalidation overtook the GET (the epochs of invalidation.ts).
 * - Writes: `put` and `del` are awaited write-throughs: Redis first, then the local tier under
 *   the key's entry lock. The synchronous writes of Store throw SyncWriteError naming them: a
 *   local-only write would be undone by the next invalidation, and a queued one would let a
 *   thread read a value Redis has not accepted yet.
 * - Values travel as the codec's bytes (redis-link.ts, frame): stored locally as they came.
 *
 * Writer's epochs: `put` bumps the key's stripe before its SET and again after its local write,
 * and stores locally only if nothing else bumped it in between. The first bump makes a
 * concurrent fetch of the old value (its GET may run before the SET) unable to store it; the
 * second, made under the entry lock, does the same for a fetch that snapshotted after the first;
 * a failed check deletes the key locally instead, so that after `put` resolves no thread of the
 * process reads the value it replaced.
 */
import type { FetchOptions, Loader } from './fetch';
import { SyncWriteError, RedisError, InvalidOptionError, describeValue } from './errors';
import { encode, encoded } from './codec';
import { Epochs, joinTracker, stripeOf, type TrackedHandle, type Tracker } from './invalidation';
import { MAX_KEY_LENGTH } from './layout';
import { checkKey } from './options';
import type { Pattern } from './patterns';
import type { Ref } from './ref';
import { closeDataClients, dataClient, frame, FRAME_HEADER, unframe, type RedisConfig } from './redis-link';
import type { StoreSchema } from './schema';
import { Store, type DeleteOptions, type SetOptions } from './store';
import { testKnob } from './faults';

/** How long a reader or writer waits for the key's entry lock before it gives up caching. */
const LOCAL_LOCK_MS = 1000;
/**
 * Test-only (NATIVE_KEYSHARE_TEST_REDIS_STORE_DELAY, see faults.ts): milliseconds a fetch waits
 * between its GET's reply and storing the value, so that a test can land an invalidation there.
 */
const STORE_DELAY_MS = testKnob('REDIS_STORE_DELAY');

/** Options of {@link RedisStore.put}. */
export interface PutOptions {
  /** Time to live in seconds in Redis (PX); the local copy lives at most this long too. */
  ttl?: number;
}


/**
 * A store backed by Redis; `createStore(name, { redis: { url, prefix } })` returns one. Every
 * thread that opens it shares one local copy, kept coherent by one tracking connection per
 * process. See the README, "Scaling out".
 */
/** The signal a Redis-backed fetch passes its loader: such a load is not aborted. */
const NEVER_ABORTED = new AbortController().signal;

export class RedisStore<T = unknown> extends Store<T> implements TrackedHandle {
  /** The Redis options the store was opened with. */
  readonly redis: { readonly url: string; readonly prefix: string; readonly maxLocalTtl: number };
  private readonly versions: Epochs;
  private readonly tracker: Tracker;

  /** @internal Use createStore(). */
  constructor(name: string, ref: Ref, hot: boolean, schema: StoreSchema | null, cacheLimit: number, config: RedisConfig) {
    super(name, ref, hot, schema, cacheLimit);
    this.redis = { url: config.url, prefix: config.prefix, maxLocalTtl: config.maxLocalTtl };
    this.versions = new Epochs(name);
    this.tracker = joinTracker(this, config, this.versions);
    openRedisHandles.add(this as unknown as RedisStore<unknown>);
  }

  /**
   * Whether invalidations flow: some thread of the process has tracking on. While false (before
   * the first connection, after a drop until it is back), `fetch` reads Redis and caches nothing.
   */
  get tracking(): boolean {
    return this.versions.live;
  }

  /** @internal Invalidations applied by this thread's tracker (for tests and benches). */
  get invalidationCount(): number {
    return this.tracker.invalidations;
  }

  /** @internal Whether this thread holds the process's tracking connection of the store. */
  get holdsTracking(): boolean {
    return this.tracker.holding;
  }

  /**
   * The value of `key`: from the local tier when it is there (as `get`), else from Redis, which
   * is then cached locally for every thread. For a key Redis does not hold, `loader` (if any)
   * runs and what it returns is written through (as `put`). Rejects with a CodecError naming the
   * key if Redis holds a value this library did not write, and a RedisError if Redis fails.
   */
  override fetch(key: string, loader?: Loader<T>, options?: FetchOptions): Promise<T | undefined> {
    const hit = this.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    if (loader !== undefined && typeof loader !== 'function') throw new InvalidOptionError(`fetch() loader must be a function, got ${describeValue(loader)}`);
    // Not yet for a Redis-backed store: its reads are deduplicated per thread (loadOnce).
    if (options !== undefined) throw new InvalidOptionError(`store "${this.name}" is backed by Redis: its fetch() takes no options yet (ttl comes from put, forceRefresh and signal are not supported)`);
    return loadOnce(this, key, () => this.readThrough(key, loader));
  }

  /** The Redis read of fetch(): the loader the cross-thread load-once will take (see loadOnce). */
  private async readThrough(key: string, loader: Loader<T> | undefined): Promise<T | undefined> {
    const client = await dataClient(this.redis.url);
    const rkey = this.redis.prefix + key;
    const stripe = stripeOf(key);
    const snap = this.versions.snapshot(stripe);
    let buf: Buffer | null;
    try {
      buf = (await (client as unknown as { get(k: string): Promise<Buffer | null> }).get(rkey)) ?? null;
    } catch (error) {
      throw new RedisError(`store "${this.name}": GET ${rkey} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    if (buf === null) {
      if (loader === undefined) return undefined;
      const loaded = await loader(key, { signal: NEVER_ABORTED, staleValue: undefined });
      if (loaded !== undefined) await this.put(key, loaded);
      return loaded;
    }
    const value = unframe(buf, this.name, key, rkey) as T;
    if (STORE_DELAY_MS !== 0) await new Promise((r) => setTimeout(r, STORE_DELAY_MS));
    if (snap.live && super.lock(key, LOCAL_LOCK_MS)) {
      try {
        // Under the entry lock: an invalidation of the key bumps first and then waits here.
        if (this.versions.unchanged(snap, stripe)) {
          super.setEncoded(key, buf[2], buf, FRAME_HEADER, buf.length - FRAME_HEADER, { ttl: this.redis.maxLocalTtl, skipLock: true });
        }
      } finally {
        super.release(key);
      }
    }
    return value;
  }

  /**
   * Writes `value` to Redis, then to the local tier, so that once it resolves every thread of
   * this process reads it (or a later value). Other processes drop their copy when Redis's
   * invalidation reaches them. Throws like `set` for a bad key or value, before any I/O.
   */
  async put(key: string, value: T, options?: PutOptions): Promise<void> {
    checkKey(key);
    const ttl = options?.ttl;
    if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0)) throw new InvalidOptionError(`options.ttl must be a number of seconds > 0, got ${describeValue(ttl)}`);
    const tag = encode(value);
    const buf = frame(tag, encoded.bytes, encoded.offset, encoded.length);
    const client = await dataClient(this.redis.url);
    const stripe = stripeOf(key);
    const mine = this.versions.bump(stripe);
    const snap = this.versions.snapshot(stripe);
    const rkey = this.redis.prefix + key;
    try {
      await client.sendCommand(ttl === undefined ? ['SET', rkey, buf] : ['SET', rkey, buf, 'PX', String(Math.max(1, Math.round(ttl * 1000)))]);
    } catch (error) {
      throw new RedisError(`store "${this.name}": SET ${rkey} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    if (!super.lock(key, LOCAL_LOCK_MS)) return; // left as is: the invalidation of the SET removes it
    try {
      if (snap.stripe === mine && this.versions.unchanged(snap, stripe)) {
        const localTtl = Math.min(ttl ?? Infinity, this.redis.maxLocalTtl);
        super.setEncoded(key, tag, buf, FRAME_HEADER, buf.length - FRAME_HEADER, { ttl: localTtl, skipLock: true });
      } else super.delete(key, { literal: true });
      this.versions.bump(stripe);
    } finally {
      super.release(key);
    }
  }

  /** Deletes `key` from Redis, then from the local tier. Resolves true if Redis held it. */
  async del(key: string): Promise<boolean> {
    checkKey(key);
    const client = await dataClient(this.redis.url);
    const stripe = stripeOf(key);
    this.versions.bump(stripe);
    const rkey = this.redis.prefix + key;
    let n: unknown;
    try {
      n = await client.sendCommand(['DEL', rkey]);
    } catch (error) {
      throw new RedisError(`store "${this.name}": DEL ${rkey} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    this.versions.bump(stripe);
    super.delete(key, { literal: true, timeout: LOCAL_LOCK_MS });
    return n === 1;
  }

  // ── the synchronous writes of Store: refused (see the module comment) ──

  override set(_key: string, _value: T, _options?: SetOptions): boolean {
    throw new SyncWriteError(this.name, 'set', 'await store.put(key, value)');
  }
  override setMany(_entries: Iterable<readonly [string, T]> | Record<string, T>, _options?: SetOptions): number {
    throw new SyncWriteError(this.name, 'setMany', 'await store.put(key, value) for each entry');
  }
  override delete(_key: Pattern, _options?: DeleteOptions): boolean {
    throw new SyncWriteError(this.name, 'delete', 'await store.del(key)');
  }
  override deleteMany(_keys: readonly string[]): number {
    throw new SyncWriteError(this.name, 'deleteMany', 'await store.del(key) for each key');
  }
  override clear(): void {
    throw new SyncWriteError(this.name, 'clear', 'await store.del(key) for each key');
  }
  override update(_key: string, _fn: (current: T | undefined) => T, _options?: SetOptions): T {
    throw new SyncWriteError(this.name, 'update', 'await store.fetch(key) then await store.put(key, value)');
  }

  /** @internal For the tracker: removes `key` locally (its stripe is bumped already). */
  dropLocal(key: string, timeout: number): void {
    if (key.length === 0 || key.length > MAX_KEY_LENGTH || this.closed) return;
    super.delete(key, { literal: true, timeout });
  }

  /** @internal For the tracker: empties the local tier. */
  flushLocal(): void {
    if (!this.closed) super.clear();
  }

  /**
   * Closes this thread's handle. The last handle of the thread gives up the tracking
   * connection if it held it (another thread takes over) and closes the thread's data
   * connections.
   */
  override close(): void {
    if (this.closed) return;
    this.tracker.leave(this);
    super.close();
    if (openRedisHandles.delete(this as unknown as RedisStore<unknown>) && openRedisHandles.size === 0) closeDataClients();
  }
}

/** This thread's open Redis-backed handles (the data connections close with the last). */
const openRedisHandles = new Set<RedisStore<unknown>>();

/** Fetches in flight in this thread, by store and key. */
const inFlight = new Map<string, Promise<unknown>>();

/**
 * THE SEAM for the cache issue's `Store.fetch(key, loader, options)`: runs `load` for `key` once
 * per thread at a time, and gives concurrent callers of the thread the same promise. When the
 * cross-thread load-once lands, this function becomes `store.fetch(key, load)` of the base
 * class (readThrough is already shaped as its loader), and loads become once per process.
 */
function loadOnce<T>(store: RedisStore<T>, key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
  const k = `${store.name}\u0000${key}`;
  const running = inFlight.get(k);
  if (running !== undefined) return running as Promise<T | undefined>;
  const p = load().finally(() => inFlight.delete(k));
  inFlight.set(k, p);
  return p;
}
