/**
 * The per-thread lookup cache of a store handle: `key → CacheEntry (entry ref, GEN)`, so that a
 * get of a cached key skips hashing and probing the shared index; with hotReads, the decoded
 * value too, returned again while the entry's stripe epoch or the entry itself says it is
 * current (readHot), deep-frozen; bounded, with a CLOCK ring for hot handles and hit-rate
 * sampling for plain ones. `LookupCache` is the base class of `Store`, so that a get reaches its
 * Map without one more dependent load.
 *
 * A stale cached pair is harmless because entries are type-stable and the read protocol checks
 * GEN; refs from before a slab retirement are dropped as a whole (seqlock.ts, syncEntryEpoch).
 */
import { arena } from './arena';
import { now } from './clock';
import { deepFreeze } from './codec';
import { pause, testKnob } from './faults';
import { foundGen, hashKey, lookup } from './keyindex';
import { ENTRY, epochStripe, epochWord } from './layout';
import { checkKey } from './options';
import { MISSING as READ_MISSING, type ReadStamp, readEntry, STALE as READ_STALE } from './read';
import { type Ref, type Word, wordOf } from './ref';
import { type StoreCodec } from './schema';
import { NEEDS_FENCE, readFence } from './ordering';
import { beginRead, entryRefsMoved } from './seqlock';

/** Module-local, so that V8 folds it: on x64 the fence compiles to nothing. */
const FENCE = NEEDS_FENCE;

/** readFence in an expression. */
function fenced(): boolean {
  readFence();
  return true;
}
import { type EntrySink } from './write';
import type { FetchStamp } from './fetch';

/**
 * Per-thread lookup-cache bound per store instance. When full, keys looked up afterwards are
 * not cached (their gets take the shared index path) until cached ones go stale and are dropped
 * (on use, or all at once when a sample finds the cache hitting too rarely: sampleCache; see
 * HOT_ADMIT_EVERY for why it does not evict live keys, as a hotReads cache does).
 *
 * Why not bigger: the cache pays only while it stays in the CPU's caches. A cached get follows
 * key → Map bucket → CacheEntry → entry → value, an uncached one key → index bucket → entry →
 * value, and every step is a dependent load. Measured on uniform random gets (2-core EPYC VM):
 * 1 K keys, 139 ns cached vs 194 uncached; 100 K keys, 997 ns with 65,536 keys cached vs 781
 * with none and 793 with 16,384 — a big cache is slower than no cache once it spills.
 *
 * Even at this bound a full cache that misses costs a get more than it saves: a miss probes a
 * Map bigger than the CPU's caches before taking the index path anyway (measured in one process,
 * uniform gets of 100 K keys: 850–890 ns through a full 16,384-key cache, 680–730 ns without;
 * 1 M keys: 1,650 vs 1,400 ns; 20 K keys, an 80% hit rate: even). So once the cache is full,
 * plain gets sample its hit rate and skip it while it is below CACHE_MIN_HITS.
 */
export const CACHE_LIMIT = 1 << 14;
/** Gets with a full cache whose hit rate decides whether the next gets probe it. */
const CACHE_SAMPLE_GETS = 4096;
/** Gets that skip a full cache that hit too rarely, before it is sampled again. */
const CACHE_SKIP_GETS = 1 << 16;
/** Below this share of hits (as a fraction of CACHE_SAMPLE_GETS), probing the cache costs more than it saves. */
const CACHE_MIN_HITS = (CACHE_SAMPLE_GETS * 3) >>> 2;
/** CacheEntry.mark bit: the entry was hit since the CLOCK hand last passed it. */
const USED = 1;
/**
 * CacheEntry.mark bit: the cached value has a deadline (`expires`). Hot gets read `expires` only
 * then: once any entry holds a deadline (beyond a small integer), V8 stores the field of every
 * entry as a boxed double, and reading it is one more dependent load (measured: hot gets over
 * 100 K keys +12–18% with one TTL value cached).
 */
const DEADLINE = 2;
/** CacheEntry.mark: the ring place starts above the flag bits. */
const PLACE_SHIFT = 2;
/** Used entries an insert into a full cache may pass over before it evicts (see LookupCache.cache). */
const EVICT_SCAN = 4;
/**
 * A full hotReads cache takes one in this many of the keys it misses (a power of two; see
 * LookupCache.cache). It holds decoded values, and their churn through the old generation costs
 * the garbage collector: measured in one process, uniform gets over 100 K keys of ~1 KB with
 * 16,384 kept, every miss taking a place cost +100%, one in 32 +11%.
 *
 * A plain handle's full cache takes none: it keeps the keys it holds until they go stale. It
 * has less to gain (a cached get saves the index probe, ~30% at best), and taking keys cost
 * more than it saved. One miss in 16 cost +10% on uniform gets over 20 K keys (82% hits). One
 * in 4, only while the last sample hit below CACHE_MIN_HITS, made the peer benchmark's first
 * single-thread window of gets over 100 K keys of ~1 KB dip to ~30% of its speed for a few
 * hundred milliseconds after the first evictions, in 5 runs of 5 (none in 4 runs without).
 */
const HOT_ADMIT_EVERY = 32;
/** Default `hotReads.maxKeys`: decoded values saved are worth more than a lookup saved. */
export const HOT_CACHE_LIMIT = 1 << 16;
/** The cache bound of a handle: `hotReads.maxKeys`, else the default for its kind. */
export function cacheLimitFor(hot: boolean, maxKeys: number | undefined): number {
  return maxKeys ?? (hot ? HOT_CACHE_LIMIT : CACHE_LIMIT);
}

/** CacheEntry.seq of an entry without a cached value: odd, so never the SEQ of a published block. */
const NO_VALUE = -1;

/**
 * What a thread remembers about one key: where its entry is. A plain handle's cache holds these,
 * and nothing else: a plain get re-reads the entry anyway, so it needs only the ref and the GEN
 * to check. Two fields, not HotCacheEntry's eight, because a plain handle caches up to
 * CACHE_LIMIT keys in every thread and the object is most of a key's cost there: measured on
 * Node 20, x64, a thread's heap grew 142 bytes per cached key with one eight-field class for
 * both kinds, 81–94 with this one (besides the key string, when nobody else holds it). The
 * Redis tier's memory target counts these bytes in each thread (bench/README.md, "Redis tier").
 */
export class CacheEntry {
  ref: Ref;
  gen: number;
  constructor(ref: Ref, gen: number) {
    this.ref = ref;
    this.gen = gen;
  }
}

/**
 * What a hotReads handle remembers about one key: where its entry is, and its decoded value. Only
 * hot handles make these, so a plain get's `entry.ref` loads see one object shape, and a hot
 * get's another (each site monomorphic while a process uses one kind of handle).
 */
export class HotCacheEntry extends CacheEntry {
  /**
   * SEQ at which `value` was decoded; NO_VALUE when no value is cached. (A sentinel, not a sign
   * test: SEQ wraps into negatives.)
   */
  seq = NO_VALUE;
  /** The VALUE block `value` was decoded from. */
  data = 0;
  /**
   * The value's deadline in epoch ms, when mark has DEADLINE. Starts as null, not 0: a field that
   * starts as a small integer and later takes a deadline (beyond one) becomes a boxed double in
   * every entry of the thread; one that starts as null stays a tagged field, and only entries
   * that hold a deadline point to a number.
   */
  expires: number | null = null;
  value: unknown = undefined;
  /**
   * Its place in the cache's CLOCK ring << PLACE_SHIFT | DEADLINE | USED. USED is set by each hot
   * cache hit and cleared by the hand (a second chance; see LookupCache.cache). One field, not
   * three: a hot get's cost is mostly the cache misses of reaching its entry, and every field
   * makes entries bigger.
   */
  mark = 0;
  /**
   * The write epoch of the entry's stripe at which `value` is known current, or one the stripe
   * has passed (so that it cannot match) when that was not established (see readHot).
   */
  epoch = 0;
}

/**
 * Fault injection for tests (NATIVE_KEYSHARE_TEST_ARM_DELAY_MS, see faults.ts): how long
 * armEpoch sleeps before its lock test, so that a write can publish and release the lock in
 * between (its SEQ test must then refuse the epoch).
 */
const ARM_DELAY_MS = testKnob('ARM_DELAY_MS');

/**
 * The epoch a hot cache may record with a value it found current at SEQ `seq` of entry word
 * `e`, given the stripe's epoch as loaded before the entry was read: that epoch if the entry's
 * lock is free and SEQ has not moved since, else one the stripe has already passed, which
 * cannot match (see readHot).
 */
function armEpoch(e: Word, seq: number, epoch: number): number {
  if (ARM_DELAY_MS !== 0) pause(ARM_DELAY_MS);
  const i32 = arena.i32;
  if (Atomics.load(i32, e + ENTRY.LOCK) === 0 && Atomics.load(i32, e + ENTRY.SEQ) === seq) return epoch;
  return (epoch - 1) | 0;
}

/** readEntry's MISSING and STALE as constants of this module (see read.ts). */
const MISSING = READ_MISSING;
const STALE = READ_STALE;

/** Where readHotSlow's readEntry leaves the SEQ, DATA and deadline of the value it read. */
const stamp: ReadStamp = { seq: 0, data: 0, expires: 0 };

export abstract class LookupCache implements EntrySink {
  /** Unit ref of this store's STORE block. */
  protected readonly ref: Ref;
  /** Word index of the store's write epoch 0 (see readHot). */
  private readonly epochs: Word;
  protected readonly hot: boolean;
  /** How many keys this handle's per-thread cache holds at most. */
  private readonly cacheLimit: number;
  /** Encodes and decodes the store's values (its schema, its learned structures). */
  protected readonly codec: StoreCodec;
  /**
   * The store's staleWhileRevalidate in ms (0: none): its deadlines lie that far past the
   * values' logical expiry, and reads count a value expired that much earlier (read.ts).
   */
  protected grace = 0;
  private readonly cached = new Map<string, CacheEntry>();
  /** hotReads: the cached entries in CLOCK order, their keys, and the hand (see cache). */
  private ring: HotCacheEntry[] = [];
  private ringKeys: string[] = [];
  private hand = 0;
  /** hotReads: misses of the full cache so far (see HOT_ADMIT_EVERY). */
  private fullMisses = 0;
  /** Gets sampled against the full cache, and how many of them hit (see CACHE_MIN_HITS). */
  private sampled = 0;
  private sampledHits = 0;
  /** Plain gets left that go straight to the index: the full cache was hitting too rarely. */
  private skipCache = 0;
  /**
   * The entry the last get read (valid when it returned a value): a bounded store's get marks
   * it referenced for the eviction policy (policy.ts, markReferenced).
   */
  protected hitRef = 0 as Ref;

  constructor(ref: Ref, hot: boolean, cacheLimit: number, codec: StoreCodec) {
    this.ref = ref;
    this.epochs = epochWord(ref);
    this.hot = hot;
    this.cacheLimit = cacheLimit;
    this.codec = codec;
  }

  // ── plain gets ──

  /** A get of a plain handle: through the cache, or (a full cache hitting too rarely) not. */
  protected readPlain(key: string): unknown {
    if (this.skipCache !== 0) {
      this.skipCache--;
      return this.readUncached(key);
    }
    const entry = this.cached.get(key);
    if (this.cached.size >= this.cacheLimit) this.sampleCache(entry !== undefined);
    if (entry !== undefined) {
      const v = readEntry(entry.ref, entry.gen, this.codec, null, this.grace);
      this.hitRef = entry.ref;
      if (v !== STALE) return v === MISSING ? undefined : v;
      this.uncache(key);
    }
    return this.readSlow(key);
  }

  /**
   * Counts a get that probed the full cache; after a sample, decides whether to skip it. A
   * sample that hit too rarely first drops the entries gone stale (keys deleted or evicted
   * since, by any thread): in a bounded store that churns, the cache fills with evicted keys,
   * never takes a new one, and would be skipped for good while the live keys go uncached
   * (measured: gets of a 10 K store after 50 K evictions, 1.13-1.18x an unbounded store's).
   */
  private sampleCache(hit: boolean): void {
    if (hit) this.sampledHits++;
    if (++this.sampled < CACHE_SAMPLE_GETS) return;
    if (this.sampledHits < CACHE_MIN_HITS && !this.dropStale()) this.skipCache = CACHE_SKIP_GETS;
    this.sampled = 0;
    this.sampledHits = 0;
  }

  /**
   * Drops a plain cache's stale entries; true if that freed an eighth of it (else the cache is
   * full of live keys that are rarely read, and skipping it is right). One walk of the cache
   * per CACHE_SAMPLE_GETS (+ CACHE_SKIP_GETS) gets at most. A GEN read through a ref whose slab
   * was retired since reads other memory: the entry is kept or dropped by chance, and either is
   * harmless (every use of a cached entry validates it).
   */
  private dropStale(): boolean {
    const i32 = arena.i32;
    const cached = this.cached;
    for (const [key, entry] of cached) {
      const w = wordOf(entry.ref) + ENTRY.GEN;
      if (w >= i32.length || i32[w] !== entry.gen) cached.delete(key);
    }
    return cached.size <= this.cacheLimit - (this.cacheLimit >>> 3);
  }

  /** A get through the index alone: no cache probe, and no CacheEntry made for a full cache. */
  private readUncached(key: string): unknown {
    checkKey(key);
    for (;;) {
      const ref = lookup(this.ref, key, hashKey(key));
      if (ref === 0) return undefined;
      const v = readEntry(ref, foundGen, this.codec, null, this.grace);
      this.hitRef = ref as Ref;
      // STALE: the entry was removed (and maybe reused) between the lookup and the read.
      if (v !== STALE) return v === MISSING ? undefined : v;
    }
  }

  private readSlow(key: string): unknown {
    for (;;) {
      const entry = this.find(key);
      if (entry === undefined) return undefined;
      const v = readEntry(entry.ref, entry.gen, this.codec, null, this.grace);
      this.hitRef = entry.ref;
      if (v !== STALE) return v === MISSING ? undefined : v;
      this.uncache(key);
    }
  }

  // ── hot gets ──

  /**
   * A get through the cache of decoded values. A cached value is returned when either
   *   - the write epoch of its entry's stripe is the one recorded with it: no writer has begun
   *     to republish any entry of the stripe since the value was known current. One load of a
   *     counter that stays in this thread's L1 cache while nobody writes, instead of a load of
   *     the entry (a miss to memory once the store outgrows the CPU's caches); or
   *   - the entry still has the SEQ, DATA and GEN it had when the value was decoded (a write
   *     to another key of the stripe moved the epoch). DATA is compared too because a writer
   *     publishes DATA *before* it bumps SEQ: in between, a plain get already returns the new
   *     value, and a hot get must not then return the old one.
   * Otherwise the value is read and decoded again (readHotSlow).
   *
   * Why the epoch test is sound: a writer holds the entry's lock from before it bumps the
   * epoch until after it has bumped SEQ, and bumps the epoch before it publishes DATA. An
   * epoch is recorded (armEpoch) only if it was loaded before the entry was read, the entry's
   * lock was free after the read, and SEQ had not moved by then. So a writer that publishes
   * after the read either bumped the epoch after it was loaded, or held the lock at the lock
   * test, or had released it before then and so bumped SEQ before the SEQ re-check: in every
   * case the recorded epoch does not match, or is not recorded. (Counters wrap after 2^32
   * writes to one stripe: a value not read while that many went by matches again with
   * probability 2^-32, the same bet SEQ makes.) Deletes bump the epoch as writes do, and an
   * entry is removed or reused only after its value was cleared, so an unchanged epoch also
   * means the entry still holds the key: that path reads no entry, and needs no ENTRY_EPOCH
   * check (a retired slab's entries were all deleted, and deletes move their stripes' epochs).
   */
  protected readHot(key: string): unknown {
    const entry = this.cached.get(key) as HotCacheEntry | undefined;
    if (entry !== undefined && entry.seq !== NO_VALUE) {
      const i32 = arena.i32;
      const epoch = Atomics.load(i32, this.epochs + epochStripe(entry.ref));
      const mark = entry.mark;
      if (epoch === entry.epoch) {
        if ((mark & USED) === 0) entry.mark = mark | USED;
        this.hitRef = entry.ref;
        return (mark & DEADLINE) === 0 || now() + this.grace < entry.expires! ? entry.value : undefined;
      }
      const e = wordOf(entry.ref);
      // The seqlock with nothing to copy: SEQ, DATA and GEN as they were when the value was
      // decoded, then the ENTRY_EPOCH check. GEN and DATA are plain loads: GEN changes only
      // after SEQ does, and DATA is compared against the DATA that SEQ was published with.
      // The fence keeps the plain DATA and GEN loads before the epoch load off x64 (ordering.ts).
      if (beginRead(i32, e) === entry.seq && i32[e + ENTRY.DATA] === entry.data && i32[e + ENTRY.GEN] === entry.gen && (!FENCE || fenced()) && !entryRefsMoved(i32)) {
        entry.epoch = armEpoch(e, entry.seq, epoch);
        if ((mark & USED) === 0) entry.mark = mark | USED;
        this.hitRef = entry.ref;
        return (mark & DEADLINE) === 0 || now() + this.grace < entry.expires! ? entry.value : undefined;
      }
    }
    return this.readHotSlow(key, entry);
  }

  /** A hot get that reads the entry and decodes its value (see readHot). */
  private readHotSlow(key: string, entry: HotCacheEntry | undefined): unknown {
    for (;;) {
      if (entry === undefined) {
        entry = this.find(key) as HotCacheEntry | undefined;
        if (entry === undefined) return undefined;
      }
      // Loaded before the entry is read: see readHot.
      const epoch = Atomics.load(arena.i32, this.epochs + epochStripe(entry.ref));
      const v = readEntry(entry.ref, entry.gen, this.codec, stamp, this.grace);
      if (v === STALE) {
        this.uncache(key);
        entry = undefined;
        continue;
      }
      if (v === MISSING) {
        entry.seq = NO_VALUE;
        entry.value = undefined;
        return undefined;
      }
      const expires = stamp.expires;
      entry.seq = stamp.seq;
      entry.data = stamp.data;
      entry.expires = expires === 0 ? null : expires;
      entry.mark = expires === 0 ? entry.mark & ~DEADLINE : entry.mark | DEADLINE;
      entry.epoch = armEpoch(wordOf(entry.ref), entry.seq, epoch);
      entry.value = deepFreeze(v);
      this.hitRef = entry.ref;
      return entry.value;
    }
  }

  // ── reads that are not uses (Store.peek; see cache-read.ts) ──

  /**
   * @internal What a get of `key` returns, read through a path of its own that no use-counting
   * (a store policy's reference bits and hit counts, this thread's CLOCK marks) is added to:
   * Store.peek. A hot handle returns its cached value under readHot's two tests and falls back
   * to readHotSlow (which caches what it decodes, as a get would: the cache is this thread's
   * copy, not a use of the key); a plain handle reads through the cache without the hit-rate
   * sampling of readPlain.
   */
  peekValue(key: string): unknown {
    if (!this.hot) {
      for (;;) {
        const entry = this.entryOf(key);
        if (entry === undefined) return undefined;
        const v = readEntry(entry.ref, entry.gen, this.codec, null, this.grace);
        if (v !== STALE) return v === MISSING ? undefined : v;
        this.uncache(key);
      }
    }
    const entry = this.cached.get(key) as HotCacheEntry | undefined;
    if (entry !== undefined && entry.seq !== NO_VALUE) {
      // readHot's tests, without its USED mark: see readHot for why each is sound.
      const i32 = arena.i32;
      const epoch = Atomics.load(i32, this.epochs + epochStripe(entry.ref));
      let current = epoch === entry.epoch;
      if (!current) {
        const e = wordOf(entry.ref);
        current = beginRead(i32, e) === entry.seq && i32[e + ENTRY.DATA] === entry.data && i32[e + ENTRY.GEN] === entry.gen && (!FENCE || fenced()) && !entryRefsMoved(i32);
        if (current) entry.epoch = armEpoch(e, entry.seq, epoch);
      }
      if (current) return (entry.mark & DEADLINE) === 0 || now() + this.grace < entry.expires! ? entry.value : undefined;
    }
    return this.readHotSlow(key, entry);
  }

  /**
   * @internal For fetch (fetch.ts): `key`'s value measured against its stored deadline, so that
   * a value past its logical expiry but within staleWhileRevalidate is returned too; `out`
   * receives the entry (ref 0: none), its GEN and its SEQ from before the read, and the
   * deadline the value was read with (0: none or no value).
   */
  readForFetch(key: string, out: FetchStamp): unknown {
    for (;;) {
      const entry = this.entryOf(key);
      if (entry === undefined) {
        out.ref = out.gen = out.seq = out.expires = 0;
        return undefined;
      }
      arena.covers((wordOf(entry.ref) + ENTRY.SEQ + 1) * 4);
      const seq = Atomics.load(arena.i32, wordOf(entry.ref) + ENTRY.SEQ);
      const v = readEntry(entry.ref, entry.gen, this.codec, stamp, 0);
      if (v === STALE) {
        this.uncache(key);
        continue;
      }
      out.ref = entry.ref;
      out.gen = entry.gen;
      out.seq = seq;
      out.expires = v === MISSING ? 0 : stamp.expires;
      return v === MISSING ? undefined : v;
    }
  }

  // ── the cache ──

  /** Where `key`'s entry is: cached, or looked up in the shared index (and cached); undefined if absent. */
  protected entryOf(key: string): CacheEntry | undefined {
    return this.cached.get(key) ?? this.find(key);
  }

  /** Looks `key` up in the shared index and caches where it is. */
  protected find(key: string): CacheEntry | undefined {
    checkKey(key);
    const ref = lookup(this.ref, key, hashKey(key));
    if (ref === 0) return undefined;
    const entry = this.hot ? new HotCacheEntry(ref, foundGen) : new CacheEntry(ref, foundGen);
    this.cache(key, entry);
    return entry;
  }

  /** @internal An entry this thread just created for `key` (write.ts, insertEntry). */
  admit(key: string, ref: Ref, gen: number): void {
    // A full plain cache takes no key (see cache()): no entry object for the collector then.
    if (!this.hot && this.cached.size >= this.cacheLimit) return;
    this.cache(key, this.hot ? new HotCacheEntry(ref, gen) : new CacheEntry(ref, gen));
  }

  /**
   * Caches `entry` for `key`. A full hotReads cache evicts by CLOCK: the hand goes round the ring
   * of cached entries; one hit since it last passed earns an entry a second chance, up to
   * EVICT_SCAN of them per insert, after which the entry under the hand goes regardless. So the
   * cache follows the working set as it moves (a cache that kept its first keys for good would
   * decode on every get for ever once the hot keys change), while keys that keep hitting stay.
   * The scan is bounded because under uniform access nearly every entry has been used. How often
   * a full cache takes a key, and why a plain handle's takes none: see HOT_ADMIT_EVERY. (Not the
   * Map's own insertion order as the queue: V8's Map leaves a hole per deleted entry until it
   * rehashes, and iterating from the front over the holes made each eviction slower than the
   * miss that caused it.)
   *
   * Invariant (hotReads handles): `ring` holds exactly the entries `cached` maps to, each at the
   * place its mark names, and `ringKeys` their keys.
   */
  private cache(key: string, entry: CacheEntry): void {
    const cached = this.cached;
    if (!this.hot) {
      // A plain handle's cache never evicts (see HOT_ADMIT_EVERY), so it needs no ring.
      if (cached.size < this.cacheLimit) cached.set(key, entry);
      return;
    }
    const ring = this.ring;
    const hotEntry = entry as HotCacheEntry;
    const prev = cached.get(key) as HotCacheEntry | undefined;
    let at: number;
    if (prev !== undefined) {
      at = prev.mark >>> PLACE_SHIFT;
    } else if (ring.length < this.cacheLimit) {
      at = ring.length;
    } else {
      if (ring.length === 0 || (++this.fullMisses & (HOT_ADMIT_EVERY - 1)) !== 0) return;
      at = this.hand;
      let old = ring[at]!;
      for (let scanned = 0; (old.mark & USED) !== 0 && scanned < EVICT_SCAN; scanned++) {
        old.mark &= ~USED;
        at = at + 1 === ring.length ? 0 : at + 1;
        old = ring[at]!;
      }
      cached.delete(this.ringKeys[at]!);
      this.hand = at + 1 === ring.length ? 0 : at + 1;
    }
    hotEntry.mark = at << PLACE_SHIFT;
    ring[at] = hotEntry;
    this.ringKeys[at] = key;
    cached.set(key, entry);
  }

  /** Drops `key` from the cache (its entry went stale): the last entry of the ring takes its place. */
  protected uncache(key: string): void {
    if (!this.hot) {
      this.cached.delete(key);
      return;
    }
    const entry = this.cached.get(key) as HotCacheEntry | undefined;
    if (entry === undefined) return;
    this.cached.delete(key);
    const ring = this.ring;
    const keys = this.ringKeys;
    const last = ring.pop()!;
    const lastKey = keys.pop()!;
    if (last !== entry) {
      const at = entry.mark >>> PLACE_SHIFT;
      ring[at] = last;
      keys[at] = lastKey;
      last.mark = (at << PLACE_SHIFT) | (last.mark & (DEADLINE | USED));
    }
    if (this.hand >= ring.length) this.hand = 0;
  }

  /** @internal Forgets every cached entry ref (slabs were retired: see syncEntryEpoch). */
  dropCachedRefs(): void {
    this.cached.clear();
    this.ring = [];
    this.ringKeys = [];
    this.hand = 0;
  }
}
