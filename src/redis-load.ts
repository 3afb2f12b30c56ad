/**
 * The Redis tier's part in `fetch` (near-cache.ts): the loader a Redis-backed store's fetch
 * runs, once per process through the loader table (fetch.ts, loader.ts), and its LoadTier, which
 * decides what of it is stored locally and handed out. Also put's refill (a read-back after a
 * put whose local write lost the race with an invalidation).
 *
 * The loader GETs the key; for a key Redis does not hold it runs the caller's loader, if any,
 * and writes its value through with `put` (PX = the fetch's ttl). It notes the epochs it read
 * them at (invalidation.ts): a snapshot taken before the GET (after the put for a loaded value).
 *
 * keep (the owner, synchronously before it publishes): if the key's stripe and the flush epoch
 * still hold the snapshot, nothing this process learned of since the GET was sent is newer than
 * what it read, so the value may be handed to every caller that joined the load so far (they all
 * joined before this check); it is also stored locally (under the entry lock, the check's
 * critical section, as the read/invalidate race demands) when tracking was live. Otherwise the
 * loader runs again (RELOAD): handing out the old read could give a caller that began after an
 * invalidation the value it invalidated. MAX_ATTEMPTS bounds that: a key whose stripe changes
 * during each of them fails the load with a RedisError.
 *
 * accept (a waiter that found nothing stored once the load was done): the published value
 * only if this waiter joined before the close (so before keep's check) and the epochs have not
 * moved since it took `watch`'s snapshot, just before it joined; together with keep's check
 * that covers every moment since its callers began. Else the waiter fetches again.
 */
import type { Loader, LoaderContext, LoadTier } from './fetch';
import { RELOAD } from './fetch';
import { RedisError, quote } from './errors';
import { type Epochs, type EpochSnapshot, ownTag, stripeOf } from './invalidation';
import { FRAME_HEADER, isFrame, readRemote, unframe } from './redis-link';
import type { SetOptions } from './options';
import { testKnob } from './faults';

/** How long a reader or writer waits for the key's entry lock before it gives up caching. */
export const LOCAL_LOCK_MS = 1000;
/** Loader runs of one load whose reads were each overtaken by a change of the key's stripe. */
const MAX_ATTEMPTS = 8;
/**
 * Test-only (NATIVE_KEYSHARE_TEST_REDIS_STORE_DELAY, see faults.ts): milliseconds a fetch waits
 * between its GET's reply and storing the value, so that a test can land an invalidation there.
 */
const STORE_DELAY_MS = testKnob('REDIS_STORE_DELAY');

/** What the tier needs of its RedisStore. */
export interface NearStore<T> {
  readonly name: string;
  readonly redis: { readonly url: string; readonly prefix: string; readonly maxLocalTtl: number };
  lock(key: string, timeout: number): boolean;
  release(key: string): boolean;
  setEncoded(key: string, tag: number, bytes: Uint8Array, offset: number, length: number, options?: SetOptions): boolean;
  put(key: string, value: T, options?: { ttl?: number }): Promise<void>;
}

/** What a load read, and at which epochs (buf null: nothing to store, a miss or a put's value). */
interface Read {
  snap: EpochSnapshot;
  buf: Buffer | null;
}

/** One RedisStore handle's loads. */
export class RedisLoads<T> implements LoadTier<T> {
  /** From this thread's loader to its keep(), by key (one load of a key per thread at a time). */
  private readonly reads = new Map<string, Read>();
  private readonly plain: Loader<T>;

  constructor(
    private readonly store: NearStore<T>,
    private readonly versions: Epochs,
  ) {
    this.plain = (key, ctx) => this.load(key, ctx, undefined, 0);
  }

  /** The loader of a fetch with the caller's loader `user` (or none) and ttl `ttl` (seconds, 0: none). */
  loaderFor(user: Loader<T> | undefined, ttl: number): Loader<T> {
    if (user === undefined) return this.plain;
    return (key, ctx) => this.load(key, ctx, user, ttl);
  }

  private async load(key: string, ctx: LoaderContext<T>, user: Loader<T> | undefined, ttl: number): Promise<T | undefined> {
    const s = this.store;
    const stripe = stripeOf(key);
    const snap = this.versions.snapshot(stripe);
    const rkey = s.redis.prefix + key;
    const buf = await readRemote(s.redis.url, s.name, rkey);
    if (buf !== null) {
      const value = unframe(buf, s.name, key, rkey) as T;
      if (STORE_DELAY_MS !== 0) await new Promise((r) => setTimeout(r, STORE_DELAY_MS));
      this.reads.set(key, { snap, buf });
      return value;
    }
    let loaded: T | undefined;
    let at = snap;
    if (user !== undefined) {
      loaded = await user(key, ctx);
      if (loaded !== undefined) {
        await s.put(key, loaded, ttl > 0 ? { ttl } : undefined);
        // put() stored it locally (or made sure nothing older is): current as of now.
        at = this.versions.snapshot(stripe);
      }
    }
    this.reads.set(key, { snap: at, buf: null });
    return loaded;
  }

  keep(key: string, value: T | undefined, ttl: number, attempt: number): T | undefined | typeof RELOAD {
    const r = this.reads.get(key);
    this.reads.delete(key);
    if (r === undefined) return value; // not this tier's loader (cannot happen: every fetch of the store passes one)
    const stripe = stripeOf(key);
    const v = this.versions;
    if (r.buf === null || !r.snap.live || !this.store.lock(key, LOCAL_LOCK_MS)) {
      // Nothing to store (or no way to store it safely): only whether it may be handed out.
      return v.same(r.snap, stripe) ? value : this.again(key, attempt);
    }
    try {
      // Under the entry lock: an invalidation of the key bumps first and then waits here.
      if (!v.same(r.snap, stripe)) return this.again(key, attempt);
      const local = Math.min(ttl > 0 ? ttl : Infinity, this.store.redis.maxLocalTtl);
      this.store.setEncoded(key, r.buf[2], r.buf, FRAME_HEADER, r.buf.length - FRAME_HEADER, { ttl: local, skipLock: true });
      return value;
    } finally {
      this.store.release(key);
    }
  }

  private again(key: string, attempt: number): typeof RELOAD {
    if (attempt + 1 < MAX_ATTEMPTS) return RELOAD;
    throw new RedisError(`store "${this.store.name}": key ${quote(key)} changed while fetch() read it, ${MAX_ATTEMPTS} times in a row; nothing was cached, try again`);
  }

  watch(key: string): EpochSnapshot {
    return this.versions.snapshot(stripeOf(key));
  }

  accept(key: string, watched: unknown, late: boolean): boolean {
    return !late && this.versions.same(watched as EpochSnapshot, stripeOf(key));
  }

  /**
   * put()'s read-back when its own local write failed its check (an invalidation of the stripe
   * arrived during the SET, often the SET's own): GET, and store what it returns as a fetch
   * would, marked as an own write (see Tracker.apply). Best effort: a failure leaves a miss.
   */
  async refill(key: string, ttl: number): Promise<void> {
    const s = this.store;
    const stripe = stripeOf(key);
    const snap = this.versions.snapshot(stripe);
    if (!snap.live) return;
    let buf: Buffer | null;
    try {
      buf = await readRemote(s.redis.url, s.name, s.redis.prefix + key);
    } catch {
      return;
    }
    if (buf === null || !isFrame(buf) || !s.lock(key, LOCAL_LOCK_MS)) return;
    try {
      if (!this.versions.unchanged(snap, stripe)) return;
      s.setEncoded(key, buf[2], buf, FRAME_HEADER, buf.length - FRAME_HEADER, { ttl, skipLock: true });
      this.versions.markOwn(stripe, ownTag(key));
    } finally {
      s.release(key);
    }
  }
}
