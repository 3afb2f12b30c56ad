/**
 * Invalidation of the Redis tier (near-cache.ts): the epochs that close the read/invalidate
 * race, and the one tracking connection per process and store that applies Redis's
 * invalidations to shared memory.
 *
 * Epochs. Each Redis-backed store has a record in the internal store EPOCH_STORE: `all` (the
 * flush epoch), `live` (1 while invalidations flow), 256 stripe counters `s0`…`s255` (a key
 * maps to one by hash), and 256 own-write marks `m0`…`m255` (see Tracker.apply). Every change of a key's value that this process learns of bumps the
 * key's stripe *before* it removes the key locally; a flush or a drop of the tracking connection
 * sets `live` to 0 and bumps `all` before it clears the local tier. A reader that fetched from
 * Redis stores what it read only if, under the key's entry lock, the stripe and `all` still hold
 * what it read *before* it sent the GET (and `live` was 1 then). The invalidation's delete waits
 * for that entry lock, so either the reader's store comes first and the delete removes it, or
 * the bump came first and the reader sees it and does not store. The epochs are read and bumped
 * with `Atomics.add` on the record's Int32 fields (`Store.add`): sequentially consistent on x64
 * and arm64 alike, and ordered with the entry lock's own atomics.
 *
 * Tracking. One thread of the process, per store, holds the key `tracker:<store>` of the
 * internal store TRACKER_STORE with the library's `lock()` and keeps a RESP3 connection in
 * `CLIENT TRACKING on BCAST PREFIX <prefix>` mode: Redis pushes the name of every key under the
 * prefix that any client changes, and `null` on FLUSHALL/FLUSHDB. The other threads that have
 * the store open poll `lock(key, 1)` on an unref'd timer; the lock engine hands the lock over
 * once its holder has exited or been terminated (its slot recovered, threads.ts), and the new
 * holder connects. A holder flushes the local tier when it takes over, when its connection
 * drops (node-redis 'error'/'reconnecting'/'end'), and again once tracking is on after a
 * reconnect: between a drop and its re-establishment Redis keeps no record of what it should
 * have told us, so nothing cached before the drop can be trusted, and nothing is cached during.
 *
 * Order. The holder bumps each invalidated key's stripe as it arrives, and applies (drops, or
 * replaces: a refresh, see receive) in the order Redis sent them, from a queue: a refresh of a
 * key this process wrote holds the later ones back until its GET is answered, so that what a
 * thread may read is always as if the invalidations had arrived in order, only later. The GETs
 * of several refreshes are in flight together: the wait is one round trip, not one per refresh.
 */
import { RedisError } from './errors';
import type { FetchStamp } from './fetch';
import { layoutRecord, type RecordLayout } from './records';
import { openInternalStore } from './registry';
import type { Store } from './store';
import { loadRedis, type RedisClient, type RedisConfig } from './redis-link';
import { testKnob } from './faults';

/** Stripe counters per store: two keys share one with probability 1/256. */
const STRIPES = 256;
const STRIPE_FIELDS = Array.from({ length: STRIPES }, (_, i) => `s${i}`);
/** Own-write marks, one per stripe: the tag (ownTag) of the key a put of this process stored last. */
const MARK_FIELDS = Array.from({ length: STRIPES }, (_, i) => `m${i}`);
/** Made on first use, not at load: laying out 258 fields costs every thread ~1 ms (more under load). */
let epochLayout: RecordLayout | null = null;
function epochLayoutOf(): RecordLayout {
  return (epochLayout ??= layoutRecord([
    { name: 'all', type: 'int32' },
    { name: 'live', type: 'int32' },
    ...STRIPE_FIELDS.map((name) => ({ name, type: 'int32' as const })),
    ...MARK_FIELDS.map((name) => ({ name, type: 'int32' as const })),
  ]));
}
const EPOCH_STORE = '\u0000native-keyshare:redis-epochs';
const TRACKER_STORE = '\u0000native-keyshare:redis-trackers';
/** How often a thread that does not track looks whether the tracking thread is gone, in ms. */
const POLL_MS = 100;
/** How long an invalidation waits for the key's lock (a reader storing, a writer writing). */
const INVALIDATE_LOCK_MS = 10_000;
/** How long a refresh (Tracker.apply) waits for its GET before it drops the key instead. */
const REFRESH_MS = 1000;
/** After a refresh failed or timed out, how long invalidations drop instead of refreshing, in ms. */
const REFRESH_BACKOFF_MS = 5000;
/**
 * Test-only (NATIVE_KEYSHARE_TEST_REDIS_APPLY_DELAY, see faults.ts): milliseconds the tracker
 * waits before it handles what it received, so that a test's put stores (and marks) its value
 * before its own invalidation is handled.
 */
const APPLY_DELAY_MS = testKnob('REDIS_APPLY_DELAY');
/** Test-only (NATIVE_KEYSHARE_TEST_REDIS_REFRESH_DELAY): milliseconds added to a refresh's GET. */
const REFRESH_DELAY_MS = testKnob('REDIS_REFRESH_DELAY');

let epochStore: Store<Record<string, number>> | null = null;
let trackerStore: Store<string> | null = null;

function epochs(): Store<Record<string, number>> {
  return (epochStore ??= openInternalStore(EPOCH_STORE, { record: epochLayoutOf() }));
}
function trackers(): Store<string> {
  return (trackerStore ??= openInternalStore(TRACKER_STORE));
}

/** The stripe of `key` (FNV-1a over its UTF-16 code units). */
export function stripeOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) & (STRIPES - 1);
}

/** A key's own-write tag: a second hash (djb2-xor, not the stripe's FNV), never 0 (no mark). */
export function ownTag(key: string): number {
  let h = 5381;
  for (let i = 0; i < key.length; i++) h = Math.imul(h, 33) ^ key.charCodeAt(i);
  return h === 0 ? 1 : h | 0;
}

/** What a reader notes before its GET, to compare before it stores. */
export interface EpochSnapshot {
  all: number;
  stripe: number;
  live: boolean;
}

/** The epochs of one Redis-backed store, in shared memory. */
export class Epochs {
  private readonly store = epochs();

  constructor(private readonly name: string) {
    const s = this.store;
    // Created once per process, under the key's lock so that no bump is overwritten by a zero.
    if (!s.has(name)) {
      if (!s.lock(name, INVALIDATE_LOCK_MS)) throw new RedisError(`store "${name}": could not create its invalidation epochs (the internal lock stayed taken)`);
      try {
        if (!s.has(name)) {
          const zero: Record<string, number> = {};
          for (const f of epochLayoutOf().fields) zero[f.name] = 0;
          s.set(name, zero, { skipLock: true });
        }
      } finally {
        s.release(name);
      }
    }
  }

  snapshot(stripe: number): EpochSnapshot {
    const s = this.store;
    // `live` first: a drop sets it to 0 before it bumps `all`, so a snapshot that sees live = 1
    // and an `all` from after a drop cannot happen without `all` moving again on the re-up.
    const live = s.add(this.name, 'live', 0) === 1;
    return { live, all: s.add(this.name, 'all', 0), stripe: s.add(this.name, STRIPE_FIELDS[stripe], 0) };
  }

  /** Whether nothing that invalidates the snapshot's key happened since it was taken. */
  unchanged(snap: EpochSnapshot, stripe: number): boolean {
    const s = this.store;
    return snap.live && s.add(this.name, 'all', 0) === snap.all && s.add(this.name, STRIPE_FIELDS[stripe], 0) === snap.stripe;
  }

  /**
   * Whether no flush, drop and change of the stripe happened since the snapshot, whatever
   * `live` was: a value read after it is as new as every change this process has learned of.
   */
  same(snap: EpochSnapshot, stripe: number): boolean {
    const s = this.store;
    return s.add(this.name, 'all', 0) === snap.all && s.add(this.name, STRIPE_FIELDS[stripe], 0) === snap.stripe;
  }

  /** Marks key tag `tag` (ownTag) as written by a put of this process: see Tracker.apply. */
  markOwn(stripe: number, tag: number): void {
    const s = this.store;
    const f = MARK_FIELDS[stripe];
    for (let cur = s.add(this.name, f, 0); ; ) {
      const seen = s.compareExchange(this.name, f, cur, tag);
      if (seen === cur) return;
      cur = seen;
    }
  }

  /** Clears the stripe's mark if it is `tag`; true if it was. */
  takeMark(stripe: number, tag: number): boolean {
    return this.store.compareExchange(this.name, MARK_FIELDS[stripe], tag, 0) === tag;
  }

  /** Bumps the stripe of a key whose value changed; returns the new epoch. */
  bump(stripe: number): number {
    return (this.store.add(this.name, STRIPE_FIELDS[stripe], 1) + 1) | 0;
  }

  /** Marks invalidations as not flowing (0) or flowing (1), bumping `all` either way. */
  setLive(live: 0 | 1): void {
    const s = this.store;
    if (live === 0) {
      s.compareExchange(this.name, 'live', 1, 0);
      s.add(this.name, 'all', 1);
    } else {
      s.add(this.name, 'all', 1);
      s.compareExchange(this.name, 'live', 0, 1);
    }
  }

  get live(): boolean {
    return this.store.add(this.name, 'live', 0) === 1;
  }
}

/** What a tracker needs of the store handles of its thread. */
export interface TrackedHandle {
  readonly name: string;
  /** Removes `key` from the local tier (it bumped the stripe already). */
  dropLocal(key: string, timeout: number): void;
  /** Removes every key from the local tier. */
  flushLocal(): void;
  /** Under `key`'s entry lock: `takeMark()`, and if true where its local value is (none: undefined). */
  ownedLocal(key: string, timeout: number, takeMark: () => boolean): FetchStamp | undefined;
  /** `key`'s bytes in Redis (null: absent). */
  readRemote(key: string): Promise<Buffer | null>;
  /** Replaces the local value seen at `at` with `buf` (see RedisStore.refreshLocal). */
  refreshLocal(key: string, at: FetchStamp, buf: Buffer | null, timeout: number): void;
}

/** An invalidation received (see Tracker.receive): key null for a flush; `reply` for a refresh. */
interface Received {
  key: string | null;
  handle: TrackedHandle | undefined;
  at: FetchStamp | undefined;
  reply: Promise<Buffer | null | undefined> | undefined;
}

/** This thread's tracker of each Redis-backed store it has open, by store name. */
const trackersByName = new Map<string, Tracker>();

/**
 * Joins `handle` to this thread's election for its store's tracking connection (one Tracker per
 * thread and store; one holder per process). Also checks that every handle of the store in the
 * process passes the same Redis options.
 */
export function joinTracker(handle: TrackedHandle, config: RedisConfig, epochsOf: Epochs): Tracker {
  const t = trackers();
  const cfgKey = `config:${handle.name}`;
  const agreed = t.update(cfgKey, (cur) => cur ?? config.text);
  if (agreed !== config.text) {
    throw new RedisError(`store "${handle.name}" was opened with other Redis options in this process (${agreed}); every handle of a store must pass the same url, prefix and maxLocalTtl`);
  }
  let tracker = trackersByName.get(handle.name);
  if (tracker === undefined) {
    trackersByName.set(handle.name, (tracker = new Tracker(handle.name, config, epochsOf)));
    tracker.handles.add(handle);
    tracker.elect();
  } else tracker.handles.add(handle);
  return tracker;
}

/** One thread's part in tracking one store: a candidate, or the holder of the connection. */
export class Tracker {
  readonly handles = new Set<TrackedHandle>();
  private readonly lockKey: string;
  private poll: ReturnType<typeof setInterval> | null = null;
  private client: RedisClient | null = null;
  /** Whether this thread holds the tracker lock. */
  holding = false;
  /** Invalidations applied by this thread (tests and benches read it through the store). */
  invalidations = 0;
  /** Invalidations received and not yet applied, in Redis's order. */
  private readonly queue: Received[] = [];
  /** drain() is running (awaiting a refresh's GET). */
  private draining = false;
  /** Until when (Date.now) invalidations drop rather than refresh: a refresh failed recently. */
  private noRefreshUntil = 0;

  constructor(
    private readonly name: string,
    private readonly config: RedisConfig,
    private readonly epochs: Epochs,
  ) {
    this.lockKey = `tracker:${name}`;
  }

  /** Takes the tracker lock if free, else polls for it. */
  elect(): void {
    if (this.tryTakeOver()) return;
    this.poll = setInterval(() => this.tryTakeOver(), POLL_MS);
    this.poll.unref();
  }

  private tryTakeOver(): boolean {
    if (this.holding || this.handles.size === 0) return this.holding;
    // A timeout of 1 ms, not 0: only a waiting acquire checks whether the holder still lives.
    if (!trackers().lock(this.lockKey, this.poll === null ? 0 : 1)) return false;
    this.holding = true;
    if (this.poll !== null) clearInterval(this.poll);
    this.poll = null;
    this.connect();
    return true;
  }

  private connect(): void {
    // Invalidations may have been lost since a previous holder died: start from an empty tier.
    this.down();
    const redis = loadRedis();
    const client = redis.createClient({
      url: this.config.url,
      RESP: 3,
      emitInvalidate: true,
      // CLIENT LIST shows which store a tracking connection serves (names take no spaces).
      name: `native-keyshare:tracker:${this.name.replace(/[^\w:.-]/g, '_')}`,
      socket: { reconnectStrategy: (retries: number) => Math.min(25 * 2 ** retries, 500) },
    });
    this.client = client;
    client.on('error', () => this.down());
    client.on('reconnecting', () => this.down());
    client.on('end', () => this.down());
    client.on('invalidate', (key: string | Buffer | null) => this.invalidate(key));
    client.on('ready', () => void this.up(client));
    client.connect().then(
      () => client.unref(),
      () => {
        // The first connection failed; node-redis does not retry it. Try again later.
        if (this.client !== client) return;
        this.client = null;
        client.destroy();
        const retry = setTimeout(() => {
          if (this.holding && this.client === null) this.connect();
        }, 500);
        retry.unref();
      },
    );
  }

  /** Tracking is on (again): flush what may have been cached meanwhile, then let reads cache. */
  private async up(client: RedisClient): Promise<void> {
    try {
      // node-redis's handshake turns tracking on in default mode (emitInvalidate, on every
      // connection); BCAST needs it off first. This connection reads nothing, so nothing is missed.
      await client.sendCommand(['CLIENT', 'TRACKING', 'OFF']);
      await client.sendCommand(['CLIENT', 'TRACKING', 'ON', 'BCAST', 'PREFIX', this.config.prefix]);
    } catch {
      return; // the connection dropped again: its 'error' has called down()
    }
    if (this.client !== client || !client.isReady) return;
    this.epochs.setLive(0);
    this.flush();
    this.epochs.setLive(1);
  }

  /** Invalidations stop flowing: no read caches from now on, and the local tier is emptied. */
  private down(): void {
    if (this.holding) {
      this.epochs.setLive(0);
      this.flush();
    }
  }

  private flush(): void {
    for (const h of this.handles) {
      h.flushLocal();
      return; // every handle of the store shares one tier
    }
  }

  private invalidate(key: string | Buffer | null): void {
    const k = key === null || typeof key === 'string' ? key : key.toString();
    if (APPLY_DELAY_MS !== 0) setTimeout(() => this.enqueue(k), APPLY_DELAY_MS);
    else this.enqueue(k);
  }

  private enqueue(k: string | null): void {
    const r = this.receive(k);
    if (r === null) return;
    this.queue.push(r);
    // A failure (a closed arena) leaves the item at the head: the next arrival tries it again.
    if (!this.draining) this.drain().catch(() => {});
  }

  /**
   * One invalidation as it arrives (null: not under the prefix). A key's stripe is bumped at
   * once, then, under the key's entry lock (so that a put that stored has also marked, and one
   * that has not will see the bump), the own-write mark is taken if it is the key's (ownTag).
   * Marked and held locally: a *refresh* — the entry is kept and the key is read again, the GET
   * sent now, after the invalidation arrived, so that its answer includes every write the
   * invalidation stands for, another client's SET that Redis folded into it included (BCAST
   * sends a key once per event-loop turn however often it changed, so "skip our own
   * invalidation" could skip someone else's). Until the answer is applied the invalidation
   * counts as not yet arrived. The mark is a hint (a tag per stripe: two keys may clear each
   * other's, costing a miss or a needless GET), never a reason to keep a value unchecked.
   */
  private receive(k: string | null): Received | null {
    if (k === null) return { key: null, handle: undefined, at: undefined, reply: undefined };
    const prefix = this.config.prefix;
    if (!k.startsWith(prefix) || k.length === prefix.length) return null;
    const local = k.slice(prefix.length);
    const stripe = stripeOf(local);
    this.epochs.bump(stripe);
    let handle: TrackedHandle | undefined;
    for (const h of this.handles) {
      handle = h;
      break; // every handle of the store shares one tier
    }
    if (handle === undefined || Date.now() < this.noRefreshUntil) return { key: local, handle, at: undefined, reply: undefined };
    const tag = ownTag(local);
    const at = handle.ownedLocal(local, INVALIDATE_LOCK_MS, () => this.epochs.takeMark(stripe, tag));
    return { key: local, handle, at, reply: at === undefined ? undefined : this.readBack(handle, local) };
  }

  /** A refresh's GET: the bytes (null: absent), or undefined if it failed or took REFRESH_MS. */
  private readBack(h: TrackedHandle, key: string): Promise<Buffer | null | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, REFRESH_MS, undefined);
      timer.unref();
    });
    const read = REFRESH_DELAY_MS === 0 ? h.readRemote(key) : h.readRemote(key).then((b) => new Promise<Buffer | null>((r) => setTimeout(r, REFRESH_DELAY_MS, b)));
    return Promise.race([read, late]).then(
      (buf) => {
        clearTimeout(timer);
        if (buf === undefined) this.noRefreshUntil = Date.now() + REFRESH_BACKOFF_MS;
        return buf;
      },
      () => {
        clearTimeout(timer);
        this.noRefreshUntil = Date.now() + REFRESH_BACKOFF_MS;
        return undefined;
      },
    );
  }

  /** Applies the queued invalidations in order; synchronous until it meets a refresh in flight. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const r = this.queue[0];
        if (r.key === null) {
          // FLUSHALL, FLUSHDB: everything may be gone. `all` moves, as for a drop, but reads may cache again at once.
          this.epochs.setLive(0);
          this.flush();
          this.epochs.setLive(1);
        } else if (r.reply !== undefined) {
          const buf = await r.reply;
          try {
            if (buf === undefined) r.handle!.dropLocal(r.key, INVALIDATE_LOCK_MS);
            else r.handle!.refreshLocal(r.key, r.at!, buf, INVALIDATE_LOCK_MS);
          } catch {
            // the handle closed meanwhile
          }
        } else r.handle?.dropLocal(r.key, INVALIDATE_LOCK_MS);
        this.queue.shift();
        this.invalidations++;
      }
    } finally {
      this.draining = false;
    }
  }

  /** A handle closed: the last one of the thread gives the tracking connection up. */
  leave(handle: TrackedHandle): void {
    if (this.handles.size === 1 && this.handles.has(handle) && this.holding) {
      // Not live until another thread has tracking on again; what is cached now would get no
      // invalidation until then.
      this.epochs.setLive(0);
      handle.flushLocal();
    }
    this.handles.delete(handle);
    if (this.handles.size > 0) return;
    trackersByName.delete(this.name);
    if (this.poll !== null) clearInterval(this.poll);
    this.poll = null;
    if (!this.holding) return;
    const client = this.client;
    this.client = null;
    this.holding = false;
    client?.destroy();
    trackers().release(this.lockKey);
  }
}
