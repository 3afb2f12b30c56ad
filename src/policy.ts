/**
 * The eviction policy of a bounded store (`max`, `maxSize`): which key goes when a write would
 * pass the bound, shared by every thread. W-TinyLFU (Einziger, Friedman, Manes; Caffeine's
 * policy), laid out for shared memory:
 *
 * - **Window.** A new key enters a small FIFO admission window (1 % of the bound): a ring of
 *   `(ref, gen)` slots in the policy area, its entries flagged META_WINDOW. A key read again soon
 *   after its write is still there to be read, whatever its frequency.
 * - **Main area.** Every other entry of the index. Its victim is chosen by a CLOCK hand over the
 *   index's buckets: an entry read since the hand last passed (META_REFERENCED) has its bit
 *   cleared and is passed over (and protected while that part has room); the first one not
 *   read since is the victim. Reads thus cost one load of a word of the entry they already read, and one atomic OR the
 *   first time a key is read after the hand passed (markReferenced): no hit writes a shared
 *   line that a hit to another key writes. Protected entries (read again while in the main
 *   area, up to 90 % of it) are passed over too, as Caffeine's protected segment is.
 * - **Frequency.** A count-min sketch of 4-bit counters, halved every 10 × bound additions (so
 *   that it forgets), counts each insert and one hit in 16 of every thread, recorded in a buffer
 *   of the thread's own and counted under the store lock (HitBuffer; Caffeine's read buffers).
 * - **Admission.** When the store is full, the window's oldest key competes with the main
 *   area's victim: it enters the main area only if the sketch counts it more often than
 *   the victim (ties keep the resident); otherwise it is the one evicted. A one-time scan of cold keys therefore passes
 *   through the window and leaves the keys threads read often in place, and a loop larger than
 *   the store keeps most of it resident instead of none (LRU's failure).
 *
 * Everything here runs under the store's structural lock, and only in bounded stores. Keys held
 * by an entry lock (lock(), a writer, a fetch's loader) are passed over. A thread killed in here
 * leaves the lock to its recovery, which resets the window (resetWindow: every entry goes to the
 * main area, and the protected entries are recounted) and recounts the bytes (write.ts, repairCounts): the policy's state is a hint, never
 * needed for the store's integrity, so the repair only has to make it consistent again.
 *
 *  policy area (64-byte aligned, in the store's SCHEMA block after the schema text):
 *  ┌ line 0: HAND WIN_HEAD WIN_COUNT WIN_CAP SKETCH_MASK SKETCH_ADDS SKETCH_PERIOD BYTES MAX
 *  │         MAX_SIZE RING_EPOCH PROTECTED                            (under the store lock)
 *  ├ RING: WIN_CAP slots of [ref][gen], oldest at WIN_HEAD
 *  └ SKETCH (64-byte aligned): SKETCH_MASK + 1 words, eight 4-bit counters each
 */
import { arena } from './arena';
import { type CacheShape } from './cache-options';
import { bucketRef, hashKey, storedHash } from './keyindex';
import { ENTRY, HEADER, INDEX, META_PROTECTED, META_REFERENCED, META_WINDOW, SCHEMA, STORE, THREAD } from './layout';
import { release, tryAcquire } from './locks';
import { expiredAt } from './read';
import { now } from './clock';
import { type Ref, type Word, wordOf } from './ref';
import { guardEntry, unguardEntry } from './seqlock';
import { myToken, myWord } from './threads';

/** Word offsets within the policy area. */
export const POLICY = {
  /** Next bucket the CLOCK hand looks at. */
  HAND: 0,
  /** Ring slot of the window's oldest entry, and how many slots from there are in use. */
  WIN_HEAD: 1,
  WIN_COUNT: 2,
  /** Ring slots: the window's size. */
  WIN_CAP: 3,
  /** Sketch words - 1 (a power of two minus one). */
  SKETCH_MASK: 4,
  /** Additions since the sketch was last halved, and how many make it halve. */
  SKETCH_ADDS: 5,
  SKETCH_PERIOD: 6,
  /** Encoded bytes of the store's values (maintained by write.ts, publish, under the store lock). */
  BYTES: 7,
  MAX: 8,
  MAX_SIZE: 9,
  /**
   * HEADER.ENTRY_EPOCH when the ring's refs were taken: a slab retirement moves the epoch, after
   * which a ref of the ring may name memory that is no longer an entry (reclaim.ts), so the
   * window is emptied into the main area instead of followed (ringEntry).
   */
  RING_EPOCH: 10,
  /** Main-area entries flagged META_PROTECTED (maintained under the store lock). */
  PROTECTED: 11,
  RING: 16,
} as const;

/** Fraction of the bound that the admission window holds (Caffeine's default, 1 %). */
const WINDOW_FRACTION = 0.01;
/** Sketch halving period in additions, per key of the bound (TinyLFU's W/C = 10). */
const SAMPLE_FACTOR = 10;
/**
 * Entries read since the hand last passed that one victim search passes over, at most, before it
 * takes the one under the hand: a store whose keys are all read (a uniform workload) must not
 * make every eviction walk it (each step is a miss to an entry).
 */
const HAND_LIMIT = 32;
/**
 * Share of the main area that keys read again after they entered it may hold, protected from
 * eviction (Caffeine: 80 %; 90 % keeps more of a Zipf working set through scans, measured with
 * bench/hitratio).
 */
const PROTECTED_SHARE = 0.9;
/**
 * Entries not read since the hand passed that a victim is chosen among (the least frequent).
 * One, plain CLOCK: sampling 4, 16 or 64 moved no hit ratio of bench/hitratio by more than 0.2
 * points, and cost each eviction a key hash and four counter reads per sample.
 */
const VICTIM_SAMPLE = 1;
/** A store bounded by maxSize alone sizes its window and sketch for values of this many bytes. */
const ASSUMED_VALUE_BYTES = 256;
const MAX_SKETCH_WORDS = 1 << 20;

/** Keys the policy's window and sketch are sized for. */
function keysFor(shape: CacheShape): number {
  if (shape.max !== 0) return shape.max;
  return Math.max(64, Math.min(MAX_SKETCH_WORDS, Math.ceil(shape.maxSize / ASSUMED_VALUE_BYTES)));
}

function ringSlots(shape: CacheShape): number {
  return Math.max(1, Math.ceil(keysFor(shape) * WINDOW_FRACTION));
}

function sketchWords(shape: CacheShape): number {
  // One word (eight counters) per key: each key has four counters in four different words.
  let n = 16;
  while (n < 2 * keysFor(shape) && n < MAX_SKETCH_WORDS) n *= 2;
  return n;
}

function sketchStart(winCap: number): number {
  return (POLICY.RING + 2 * winCap + 15) & ~15;
}

/** Words of the policy area of a store of this shape (0 for an unbounded one). */
export function policyWords(shape: CacheShape): number {
  return sketchStart(ringSlots(shape)) + sketchWords(shape);
}

/** Fills a new policy area at word `p` (in a SCHEMA block not yet published). */
export function initPolicy(p: Word, shape: CacheShape): void {
  const i32 = arena.i32;
  const winCap = ringSlots(shape);
  const words = sketchWords(shape);
  i32.fill(0, p, p + policyWords(shape));
  i32[p + POLICY.WIN_CAP] = winCap;
  i32[p + POLICY.SKETCH_MASK] = words - 1;
  i32[p + POLICY.SKETCH_PERIOD] = Math.min(2 ** 30, SAMPLE_FACTOR * keysFor(shape));
  i32[p + POLICY.MAX] = shape.max;
  i32[p + POLICY.MAX_SIZE] = shape.maxSize;
  i32[p + POLICY.RING_EPOCH] = Atomics.load(i32, HEADER.ENTRY_EPOCH);
}

/** Word index of store `store`'s policy area, or 0 when the store has no bound. */
export function policyOf(store: Ref): Word {
  const i32 = arena.i32;
  const sch = i32[wordOf(store) + STORE.SCHEMA];
  if (sch === 0) return 0 as Word;
  const off = i32[wordOf(sch) + SCHEMA.POLICY];
  return (off === 0 ? 0 : wordOf(sch) + off) as Word;
}

// ── The frequency sketch ─────────────────────────────────────────────────────────────────────

/**
 * The four counters of hash `h`, by double hashing: one mix gives a start and an odd step, and
 * counter i is at `start + i × step`: its word is the low bits (`& mask`), its nibble the top
 * three. An odd step over a power-of-two table never lands twice on one word for i < 4 (the
 * table has at least 16 words), and one mix per key, not one per counter, is what an eviction
 * pays five times (the candidate, the victim and the new key's count).
 */
function spotStart(h: number): number {
  const x = Math.imul(h ^ (h >>> 16), 0x9e3779b1);
  return x ^ (x >>> 15);
}
function spotStep(start: number): number {
  return Math.imul(start, 0x85ebca6b) | 1;
}

/** How often the sketch has counted `h` (0..15). */
export function frequency(p: Word, h: number): number {
  const i32 = arena.i32;
  const mask = i32[p + POLICY.SKETCH_MASK];
  const base = sketchStart(i32[p + POLICY.WIN_CAP]) + p;
  let x = spotStart(h);
  const step = spotStep(x);
  let f = 15;
  for (let i = 0; i < 4; i++, x = (x + step) | 0) {
    const c = (i32[base + (x & mask)] >>> ((x >>> 29) << 2)) & 15;
    if (c < f) f = c;
  }
  return f;
}

/** Counts `h` once more (conservative update: only its smallest counters grow). */
function countKey(p: Word, h: number): void {
  const i32 = arena.i32;
  const mask = i32[p + POLICY.SKETCH_MASK];
  const base = sketchStart(i32[p + POLICY.WIN_CAP]) + p;
  const f = frequency(p, h);
  if (f < 15) {
    let x = spotStart(h);
    const step = spotStep(x);
    for (let i = 0; i < 4; i++, x = (x + step) | 0) {
      const w = base + (x & mask);
      const shift = (x >>> 29) << 2;
      if (((i32[w] >>> shift) & 15) === f) i32[w] += 1 << shift;
    }
  }
  if (++i32[p + POLICY.SKETCH_ADDS] >= i32[p + POLICY.SKETCH_PERIOD]) {
    // Age: halve every counter, so that what was frequent long ago stops counting.
    const end = base + mask + 1;
    for (let w = base; w < end; w++) i32[w] = (i32[w] >>> 1) & 0x77777777;
    i32[p + POLICY.SKETCH_ADDS] >>>= 1;
  }
}

// ── The window ───────────────────────────────────────────────────────────────────────────────

/**
 * Enters new entry `ref` (generation `gen`, key hash `h`), just published, in the window: it is
 * counted once in the sketch, and a full window moves its oldest entry to the main area.
 */
export function admitNew(p: Word, store: Ref, ref: Ref, gen: number, h: number): void {
  const i32 = arena.i32;
  drainHits(p, store);
  countKey(p, h);
  checkRing(p, store);
  const cap = i32[p + POLICY.WIN_CAP];
  while (i32[p + POLICY.WIN_COUNT] >= cap) {
    const old = popWindow(p);
    if (old !== 0) Atomics.and(i32, wordOf(old) + ENTRY.MIN_BYTES, ~META_WINDOW);
  }
  // Slot, then count, then the bit: a kill between leaves a slot or a bit the repair resets.
  const slot = p + POLICY.RING + 2 * ((i32[p + POLICY.WIN_HEAD] + i32[p + POLICY.WIN_COUNT]) % cap);
  i32[slot] = ref;
  i32[slot + 1] = gen;
  i32[p + POLICY.WIN_COUNT]++;
  Atomics.or(i32, wordOf(ref) + ENTRY.MIN_BYTES, META_WINDOW);
}

/** Empties the ring if a slab retirement may have made its refs point at other memory. */
function checkRing(p: Word, store: Ref): void {
  const i32 = arena.i32;
  if (Atomics.load(i32, HEADER.ENTRY_EPOCH) !== i32[p + POLICY.RING_EPOCH]) resetWindow(p, store);
}

/**
 * Takes the window's oldest slot off the ring and returns its entry if that still holds the key
 * it held when it entered (else 0: deleted, expired or evicted since). Its WINDOW bit stays set
 * for the caller to decide.
 */
function popWindow(p: Word): Ref {
  const i32 = arena.i32;
  const cap = i32[p + POLICY.WIN_CAP];
  const head = i32[p + POLICY.WIN_HEAD];
  const slot = p + POLICY.RING + 2 * head;
  const ref = i32[slot] as Ref;
  const gen = i32[slot + 1];
  i32[p + POLICY.WIN_HEAD] = (head + 1) % cap;
  i32[p + POLICY.WIN_COUNT]--;
  return ringEntry(p, ref, gen);
}

/**
 * `ref` if it is the live entry of generation `gen`, else 0. A ring ref may name an entry freed
 * since; its slab may even have been retired and its memory reused for values. The hazard word
 * holds the ref while GEN is read: a retirement that has not moved ENTRY_EPOCH by the time this
 * thread loads it will see the hazard in its scan and keep the slab (Dekker's pattern, as
 * lockEntry's; both sides seq-cst, so it holds on arm64 too).
 */
function ringEntry(p: Word, ref: Ref, gen: number): Ref {
  const i32 = arena.i32;
  Atomics.store(i32, myWord + THREAD.LOCK_HAZARD, ref);
  const same = Atomics.load(i32, HEADER.ENTRY_EPOCH) === i32[p + POLICY.RING_EPOCH] && Atomics.load(i32, wordOf(ref) + ENTRY.GEN) === gen;
  Atomics.store(i32, myWord + THREAD.LOCK_HAZARD, 0);
  // Under the store lock a live entry cannot be removed, so its slab cannot be retired either.
  return same ? ref : (0 as Ref);
}

/**
 * Moves every window entry to the main area and empties the ring, and recounts the protected
 * entries: after a slab retirement, and in the repair of a dead lock holder. Walks the index
 * (under the store lock), O(capacity).
 */
export function resetWindow(p: Word, store: Ref): void {
  const i32 = arena.i32;
  const idx = i32[wordOf(store) + STORE.INDEX];
  const cap = i32[wordOf(idx) + INDEX.CAPACITY];
  const base = wordOf(idx) + INDEX.BUCKETS;
  let prot = 0;
  for (let b = 0; b < cap; b++) {
    const ref = bucketRef(i32[base + b]);
    if (ref === 0) continue;
    if ((Atomics.and(i32, wordOf(ref) + ENTRY.MIN_BYTES, ~META_WINDOW) & META_PROTECTED) !== 0) prot++;
  }
  i32[p + POLICY.PROTECTED] = prot;
  i32[p + POLICY.WIN_HEAD] = 0;
  i32[p + POLICY.WIN_COUNT] = 0;
  i32[p + POLICY.RING_EPOCH] = Atomics.load(i32, HEADER.ENTRY_EPOCH);
}

// ── Choosing victims ─────────────────────────────────────────────────────────────────────────

/** Whether the store is past its bound with `more` more values of `moreBytes` bytes. */
export function overBound(p: Word, store: Ref, more: number, moreBytes: number): boolean {
  const i32 = arena.i32;
  const max = i32[p + POLICY.MAX];
  if (max !== 0 && Atomics.load(i32, wordOf(store) + STORE.VALUES) + more > max) return true;
  const maxSize = i32[p + POLICY.MAX_SIZE];
  return maxSize !== 0 && i32[p + POLICY.BYTES] + moreBytes > maxSize;
}

/**
 * The main area's victim: the first entry the hand reaches that is not in the window, holds a
 * value, is not locked and was not read since the hand last passed; entries read since are
 * counted in the sketch and passed over. After HAND_LIMIT of those, the least frequent of them
 * (they were all read once since the last pass: the loop trace's case). Returns it, with its
 * hash in victimHash and its frequency in victimFreq (-1 for an expired key, which goes before
 * any candidate), or 0 if every entry is locked or in the window. With `lock`, the victim's entry
 * lock is taken by this thread (a locked entry is passed over); without, the victim was unlocked
 * when seen and the caller takes the lock if it evicts it: an admission contest the candidate
 * loses, the common case, then writes nothing to the victim's lines.
 *
 * The hand moves past the victim whether it goes or not. (Kept on a victim that won, it made
 * every candidate of the next turn lose to the first admitted key it reached, whose count the
 * candidates could only tie: a key admitted lands anywhere in bucket order, not at the far end
 * of a queue as in Caffeine's probation LRU. Measured: new keys seen twice replaced 124 of 500
 * keys seen once, against all 500 with the hand moving on.)
 */
function mainVictim(p: Word, store: Ref, lock: boolean): Ref {
  const i32 = arena.i32;
  const idx = i32[wordOf(store) + STORE.INDEX];
  const cap = i32[wordOf(idx) + INDEX.CAPACITY];
  const base = wordOf(idx) + INDEX.BUCKETS;
  let hand = i32[p + POLICY.HAND] & (cap - 1);
  let passed = 0;
  let victim = 0 as Ref;
  let freq = 16;
  let sampled = 0;
  const t = Atomics.load(i32, wordOf(store) + STORE.TTL_COUNT) > 0 ? now() : 0;
  const protectedCap = Math.floor(PROTECTED_SHARE * (Atomics.load(i32, wordOf(store) + STORE.VALUES) - i32[p + POLICY.WIN_COUNT]));
  // Two full turns at most: the first clears every bit it finds.
  for (let n = 0; n < 2 * cap; n++, hand = (hand + 1) & (cap - 1)) {
    const ref = bucketRef(i32[base + hand]) as Ref;
    if (ref === 0) continue;
    const e = wordOf(ref);
    const meta = i32[e + ENTRY.MIN_BYTES];
    if ((meta & META_WINDOW) !== 0 || i32[e + ENTRY.DATA] === 0 || Atomics.load(i32, e + ENTRY.LOCK) !== 0) continue;
    const expired = t !== 0 && expiredAt(ref, t);
    let settle = expired;
    if (expired) {
      victim = ref;
      victimHash = storedHash(ref);
      freq = -1;
    } else if ((meta & META_PROTECTED) !== 0 && i32[p + POLICY.PROTECTED] <= protectedCap) {
      if ((meta & META_REFERENCED) !== 0) Atomics.and(i32, e + ENTRY.MIN_BYTES, ~META_REFERENCED);
      continue;
    } else if ((meta & META_PROTECTED) === 0 && (meta & META_REFERENCED) !== 0) {
      // Read since the hand last passed: a second chance, and a place in the protected part
      // while it has room (Caffeine's segmented main area: keys read twice are not victims).
      Atomics.and(i32, e + ENTRY.MIN_BYTES, ~META_REFERENCED);
      if (i32[p + POLICY.PROTECTED] < protectedCap) {
        Atomics.or(i32, e + ENTRY.MIN_BYTES, META_PROTECTED);
        i32[p + POLICY.PROTECTED]++;
        continue;
      }
      if (++passed < HAND_LIMIT) continue;
      // Everything near the hand was read lately: one of them goes (its frequency still decides
      // the admission contest against the window's candidate).
      if (victim === 0) {
        victim = ref;
        victimHash = storedHash(ref);
        freq = frequency(p, victimHash);
      }
      settle = true;
    } else {
      if ((meta & META_PROTECTED) !== 0) {
        // The protected part outgrew its share: the entry is demoted, and may go now.
        Atomics.and(i32, e + ENTRY.MIN_BYTES, ~(META_PROTECTED | META_REFERENCED));
        i32[p + POLICY.PROTECTED]--;
      }
      // Not read since: of the first VICTIM_SAMPLE such entries, the least frequent goes.
      const h = storedHash(ref);
      const f = frequency(p, h);
      if (f < freq) {
        freq = f;
        victim = ref;
        victimHash = h;
      }
      settle = ++sampled >= VICTIM_SAMPLE;
    }
    if (!settle) continue;
    if (!lock || tryAcquire(i32, wordOf(victim) + ENTRY.LOCK, myToken)) {
      i32[p + POLICY.HAND] = (hand + 1) & (cap - 1);
      victimFreq = freq;
      return victim;
    }
    victim = 0 as Ref;
    freq = 16;
    sampled = passed = 0;
  }
  i32[p + POLICY.HAND] = hand;
  victimFreq = freq;
  if (victim !== 0 && (!lock || tryAcquire(i32, wordOf(victim) + ENTRY.LOCK, myToken))) return victim;
  return 0 as Ref;
}

/**
 * The next key to evict from store `store` (its lock held), with its entry lock taken, or 0 if
 * none can be (every key locked). The window's oldest key competes with the main area's victim
 * (admission); the loser is returned, the winner stays (a candidate that wins enters the main
 * area).
 */
export function nextVictim(p: Word, store: Ref): Ref {
  const i32 = arena.i32;
  drainHits(p, store);
  checkRing(p, store);
  for (;;) {
    if (i32[p + POLICY.WIN_COUNT] === 0) return mainVictim(p, store, true);
    const cand = popWindow(p);
    if (cand === 0) continue;
    const c = wordOf(cand);
    if (i32[c + ENTRY.DATA] === 0 || !tryAcquire(i32, c + ENTRY.LOCK, myToken)) {
      // Locked (or a placeholder): it enters the main area.
      Atomics.and(i32, c + ENTRY.MIN_BYTES, ~(META_WINDOW | META_REFERENCED));
      continue;
    }
    const h = storedHash(cand);
    if (Atomics.load(i32, wordOf(store) + STORE.TTL_COUNT) > 0 && expiredAt(cand, now())) {
      victimHash = h;
      return cand;
    }
    const victim = mainVictim(p, store, false);
    // Admitted: the candidate stays (in the main area), the victim goes, if no thread locked it
    // since the hand saw it (else the candidate goes after all: a contest lost to a lock).
    if (victim !== 0 && frequency(p, h) > victimFreq && tryAcquire(i32, wordOf(victim) + ENTRY.LOCK, myToken)) {
      Atomics.and(i32, c + ENTRY.MIN_BYTES, ~(META_WINDOW | META_REFERENCED));
      releaseEntry(cand);
      return victim;
    }
    // The candidate goes with its WINDOW bit: an evicted entry's META is rewritten when the
    // block holds a key again.
    victimHash = h;
    return cand;
  }
}

/** The key hash of the entry nextVictim (or mainVictim) returned last, for its unlinking. */
export let victimHash = 0;
/** The sketch frequency of the entry mainVictim returned last (-1: expired). */
let victimFreq = 0;

function releaseEntry(ref: Ref): void {
  release(arena.i32, wordOf(ref) + ENTRY.LOCK);
}

/**
 * A get's mark on entry `ref` of a bounded store, whose REFERENCED bit it found clear: sets it,
 * so that the hand passes the entry over once and counts the read in the sketch. The ref comes
 * from this thread's lookups, so it is guarded as a lock is (lockEntry): named in LOCK_HAZARD
 * and checked against ENTRY_EPOCH before the atomic OR, so that the OR never lands in a slab
 * given back to the value memory. An entry freed and reused since the read gets a bit it did
 * not earn: one second chance for its new key.
 */
export function markReferenced(ref: Ref): void {
  if (!guardEntry(ref)) return;
  Atomics.or(arena.i32, wordOf(ref) + ENTRY.MIN_BYTES, META_REFERENCED);
  unguardEntry();
}

/**
 * verify(): what is inconsistent in policy area `p`, given the value bytes and the entries
 * flagged META_WINDOW that the caller found walking the store's index.
 */
export function policyProblems(p: Word, bytes: number, windowed: ReadonlySet<number>, protectedEntries: number): string[] {
  const i32 = arena.i32;
  const out: string[] = [];
  if (i32[p + POLICY.PROTECTED] !== protectedEntries) out.push(`the policy counts ${i32[p + POLICY.PROTECTED]} protected entries but ${protectedEntries} are flagged`);
  if (i32[p + POLICY.BYTES] !== bytes) out.push(`the policy counts ${i32[p + POLICY.BYTES]} value bytes but the values hold ${bytes}`);
  const cap = i32[p + POLICY.WIN_CAP];
  const head = i32[p + POLICY.WIN_HEAD];
  const count = i32[p + POLICY.WIN_COUNT];
  if (cap < 1 || head < 0 || head >= cap || count < 0 || count > cap) {
    out.push(`the admission window's ring is out of range (head ${head}, count ${count}, capacity ${cap})`);
    return out;
  }
  const inRing = new Set<number>();
  for (let i = 0; i < count; i++) {
    const slot = p + POLICY.RING + 2 * ((head + i) % cap);
    const ref = i32[slot];
    // A slot whose entry was deleted or evicted since is stale, and skipped when it comes up.
    if (windowed.has(ref) && i32[wordOf(ref as Ref) + ENTRY.GEN] === i32[slot + 1]) {
      if (inRing.has(ref)) out.push(`entry ${ref} is in the admission window twice`);
      inRing.add(ref);
    }
  }
  for (const ref of windowed) if (!inRing.has(ref)) out.push(`entry ${ref} is flagged as in the admission window but no slot of its ring holds it`);
  return out;
}

// ── Hits, counted in the sketch from per-thread buffers ───────────────────────────────────────

/**
 * The hits this thread made in one bounded store, not yet counted in its sketch: the keys, in a
 * plain array of this thread, so that a hit writes nothing another thread reads (Caffeine's read
 * buffers), and counting them later reads no shared memory but the sketch. The thread counts
 * them under the store lock: when it next inserts (it holds the lock then anyway), or when the
 * buffer fills and the lock is free at once; a full buffer whose lock is busy is dropped, as
 * Caffeine drops reads its buffers have no room for: frequency is an estimate, and a lost
 * sample only makes it coarser.
 */
export class HitBuffer {
  readonly keys: string[] = new Array<string>(HIT_BUFFER).fill('');
  n = 0;
  constructor(readonly store: Ref) {}
}
const HIT_BUFFER = 64;
const hitBuffers = new Map<number, HitBuffer>();

/** This thread's hit buffer of store `store` (one per store, shared by the thread's handles). */
export function hitBufferOf(store: Ref): HitBuffer {
  let b = hitBuffers.get(store);
  if (b === undefined) hitBuffers.set(store, (b = new HitBuffer(store)));
  return b;
}

/** Records a hit on `key`; a full buffer is counted now if the store lock is free. */
export function recordHit(b: HitBuffer, key: string): void {
  b.keys[b.n++] = key;
  if (b.n < HIT_BUFFER) return;
  const i32 = arena.i32;
  const w = wordOf(b.store) + STORE.LOCK;
  if (tryAcquire(i32, w, myToken)) {
    try {
      const p = policyOf(b.store);
      if (p !== 0) countHits(p, b);
    } finally {
      release(i32, w);
    }
  }
  b.n = 0;
}

/** Counts buffered hits in the sketch (store lock held). */
function countHits(p: Word, b: HitBuffer): void {
  const keys = b.keys;
  for (let i = 0; i < b.n; i++) countKey(p, hashKey(keys[i]!));
  b.n = 0;
}

/** Counts this thread's buffered hits of store `store` (its lock held), before an insert's decisions. */
export function drainHits(p: Word, store: Ref): void {
  const b = hitBuffers.get(store);
  if (b !== undefined && b.n !== 0) countHits(p, b);
}

/** An entry of a bounded store leaves the index (store lock held): its protected place too. */
export function unlinked(p: Word, ref: Ref): void {
  if ((arena.i32[wordOf(ref) + ENTRY.MIN_BYTES] & META_PROTECTED) !== 0) arena.i32[p + POLICY.PROTECTED]--;
}
