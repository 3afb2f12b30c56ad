/**
 * The Redis tier: {@link RedisStore}, a store whose shared memory is a near cache of the Redis
 * keys under a prefix, for every thread of the process at once.
 *
 * - Reads: `get` is the plain store read (a local hit costs what any get costs); `fetch` is
 *   Store.fetch with the Redis tier's loader and LoadTier (redis-load.ts): a miss reads Redis
 *   once for the whole process, and caches what it read unless an invalidation overtook the GET
 *   (the epochs of invalidation.ts).
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
 * process reads the value it replaced, and then reads the key back (RedisLoads.refill).
 *
 * Own writes: a stored put marks its key (Epochs.markOwn), so that the tracker answers the
 * SET's own invalidation by reading the key again rather than dropping it (Tracker.apply): the
 * writer's process keeps reading its write, and never a value another client wrote after it.
 */
import { cacheShape, newStamp, type FetchOptions, type FetchStamp, type Loader, type LoadTier } from './fetch';
import { SyncWriteError, RedisError, InvalidOptionError, describeValue } from './errors';
import { encode, encoded } from './codec';
import { now } from './clock';
import { Epochs, joinTracker, ownTag, stripeOf, type TrackedHandle, type Tracker } from './invalidation';
import { MAX_KEY_LENGTH } from './layout';
import { checkKey } from './options';
import type { Pattern } from './patterns';
import type { Ref } from './ref';
import { closeDataClients, dataClient, frame, FRAME_HEADER, isFrame, readRemote, type RedisConfig } from './redis-link';
import { LOCAL_LOCK_MS, RedisLoads } from './redis-load';
import type { StoreSchema } from './schema';
import { Store, type DeleteOptions, type SetOptions } from './store';

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
export class RedisStore<T = unknown> extends Store<T> implements TrackedHandle {
  /** The Redis options the store was opened with. */
  readonly redis: { readonly url: string; readonly prefix: string; readonly maxLocalTtl: number };
  private readonly versions: Epochs;
  private readonly tracker: Tracker;
  private readonly loads: RedisLoads<T>;

  /** @internal Use createStore(). */
  constructor(name: string, ref: Ref, hot: boolean, schema: StoreSchema | null, cacheLimit: number, config: RedisConfig) {
    super(name, ref, hot, schema, cacheLimit);
    this.redis = { url: config.url, prefix: config.prefix, maxLocalTtl: config.maxLocalTtl };
    this.versions = new Epochs(name);
    this.tracker = joinTracker(this, config, this.versions);
    this.loads = new RedisLoads<T>(this, this.versions);
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
   * The value of `key`: from the local tier when it is there (as `get`), else from Redis, read
   * once for every thread of the process and cached locally. For a key Redis does not hold,
   * `loader` (if any) runs, once in the process, and what it returns is written through (as
   * `put`, with `options.ttl` as PX). Options as Store.fetch: `ttl` (of what the fetch caches
   * locally, at most `maxLocalTtl`, and of a loaded value in Redis), `forceRefresh` (read Redis
   * even on a local hit), `signal`. Rejects with a CodecError naming the key if Redis holds a
   * value this library did not write, and a RedisError if Redis fails.
   */
  override fetch(key: string, loader?: Loader<T>, options?: FetchOptions): Promise<T | undefined> {
    if (loader !== undefined && typeof loader !== 'function') return Promise.reject(new InvalidOptionError(`fetch() loader must be a function, got ${describeValue(loader)}`));
    // Checked by Store.fetch before any load runs; read here only for the loader's put.
    const ttl = typeof options === 'object' && options !== null && typeof options.ttl === 'number' ? options.ttl : (cacheShape(this.codec)?.ttl ?? 0);
    return super.fetch(key, this.loads.loaderFor(loader, ttl), options);
  }

  /** @internal fetch's tier: the epochs decide what is cached and handed out (redis-load.ts). */
  protected override loadTier(): LoadTier<T> {
    return this.loads;
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
    const localTtl = Math.min(ttl ?? Infinity, this.redis.maxLocalTtl);
    let stored = false;
    try {
      if (snap.stripe === mine && this.versions.unchanged(snap, stripe)) {
        super.setEncoded(key, tag, buf, FRAME_HEADER, buf.length - FRAME_HEADER, { ttl: localTtl, skipLock: true });
        // In the same critical section as the store (see ownedLocal): the tracker that takes
        // the mark reads the key back instead of dropping it (Tracker.apply; never a skip).
        this.versions.markOwn(stripe, ownTag(key));
        stored = true;
      } else super.delete(key, { literal: true });
      this.versions.bump(stripe);
    } finally {
      super.release(key);
    }
    if (!stored) await this.loads.refill(key, localTtl).catch(() => {});
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

  /**
   * @internal For the tracker (its stripe is bumped already): under the key's entry lock, if
   * the key has an entry, `takeMark()` and, if it took the mark, where the value is (FetchStamp)
   * when one is held. Under the lock because put() stores and marks in one critical section: a
   * put that stored before this runs has marked too, and one that checks after it saw the bump.
   */
  ownedLocal(key: string, timeout: number, takeMark: () => boolean): FetchStamp | undefined {
    if (key.length === 0 || key.length > MAX_KEY_LENGTH || this.closed) return undefined;
    const r = this.withEntryLock(
      key,
      timeout,
      () => {
        if (!takeMark()) return undefined;
        const at = newStamp();
        return this.readForFetch(key, at) === undefined ? undefined : at;
      },
      () => undefined,
    );
    return r === false ? undefined : r;
  }

  /** @internal For the tracker: `key`'s bytes in Redis (null: absent). */
  readRemote(key: string): Promise<Buffer | null> {
    return readRemote(this.redis.url, this.name, this.redis.prefix + key);
  }

  /**
   * @internal For the tracker's refresh (the key's stripe was bumped before `at` was taken,
   * under the entry lock): replaces the value the tracker saw at `at` with `buf`, read from
   * Redis since. An entry rewritten meanwhile is left as it is: every write of this store stores
   * under the entry lock only after an epoch check, and a check made after that bump passes
   * only for a value read or written after the invalidation arrived. Gone, it stays gone; a
   * value that is not a frame, or no lock in time, drops the key.
   */
  refreshLocal(key: string, at: FetchStamp, buf: Buffer | null, timeout: number): void {
    if (this.closed) return;
    if (buf === null || !isFrame(buf) || !super.lock(key, timeout)) {
      this.dropLocal(key, timeout);
      return;
    }
    try {
      const cur = newStamp();
      if (this.readForFetch(key, cur) === undefined || cur.ref !== at.ref || cur.gen !== at.gen || cur.seq !== at.seq) return;
      const left = at.expires === 0 ? Infinity : Math.max(1, at.expires - now()) / 1000;
      super.setEncoded(key, buf[2], buf, FRAME_HEADER, buf.length - FRAME_HEADER, { ttl: Math.min(left, this.redis.maxLocalTtl), skipLock: true });
    } catch {
      super.delete(key, { literal: true });
    } finally {
      super.release(key);
    }
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
