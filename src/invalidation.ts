/**
 * Invalidation of the Redis tier (near-cache.ts): the epochs that close the read/invalidate
 * race, and the one tracking connection per process and store that applies Redis's
 * invalidations to shared memory.
 *
 * Epochs. Each Redis-backed store has a record in the internal store EPOCH_STORE: `all` (the
 * flush epoch), `live` (1 while invalidations flow), and 256 stripe counters `s0`…`s255` (a key
 * maps to one by hash). Every change of a key's value that this process learns of bumps the
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
 */
import { RedisError } from './errors';
import { layoutRecord, type RecordLayout } from './records';
import { openInternalStore } from './registry';
import type { Store } from './store';
import { loadRedis, type RedisClient, type RedisConfig } from './redis-link';

/** Stripe counters per store: two keys share one with probability 1/256. */
const STRIPES = 256;
const STRIPE_FIELDS = Array.from({ length: STRIPES }, (_, i) => `s${i}`);
/** Made on first use, not at load: laying out 258 fields costs every thread ~1 ms (more under load). */
let epochLayout: RecordLayout | null = null;
function epochLayoutOf(): RecordLayout {
  return (epochLayout ??= layoutRecord([
    { name: 'all', type: 'int32' },
    { name: 'live', type: 'int32' },
    ...STRIPE_FIELDS.map((name) => ({ name, type: 'int32' as const })),
  ]));
}
const EPOCH_STORE = '\u0000native-keyshare:redis-epochs';
const TRACKER_STORE = '\u0000native-keyshare:redis-trackers';
/** How often a thread that does not track looks whether the tracking thread is gone, in ms. */
const POLL_MS = 100;
/** How long an invalidation waits for the key's lock (a reader storing, a writer writing). */
const INVALIDATE_LOCK_MS = 10_000;

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
    if (key === null) {
      // FLUSHALL, FLUSHDB: everything may be gone. `all` moves, as for a drop, but reads may cache again at once.
      this.epochs.setLive(0);
      this.flush();
      this.epochs.setLive(1);
      this.invalidations++;
      return;
    }
    const k = typeof key === 'string' ? key : key.toString();
    const prefix = this.config.prefix;
    if (!k.startsWith(prefix) || k.length === prefix.length) return;
    const local = k.slice(prefix.length);
    this.epochs.bump(stripeOf(local));
    for (const h of this.handles) {
      h.dropLocal(local, INVALIDATE_LOCK_MS);
      break;
    }
    this.invalidations++;
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
