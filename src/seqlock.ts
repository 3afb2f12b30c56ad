/**
 * The read protocol: the one seqlock every lock-free reader of an entry follows, and the
 * ENTRY_EPOCH check that keeps it safe against slab reclamation (reclaim.ts). Readers of whole
 * values (read.ts: readEntry, peekEntry), of one record field (record-protocol.ts:
 * readRecordField) and hot reads revalidating a cached value (lookup-cache.ts) are all built from
 * the steps here; writers' side of the epoch (guardEntry) lives here too.
 *
 * ## The seqlock: lock-free, never torn
 * An entry's DATA word names an immutable VALUE block, or (a small value) one of the entry's two
 * inline slots, which is as immutable until a later write republishes DATA (layout.ts); its SEQ
 * word grows by 2 every time DATA is republished, and is odd while a record is written in place.
 * A reader
 *   1. beginRead: loads SEQ (s1) — an odd SEQ belongs to an in-place writer: awaitWriter;
 *   2. checks GEN is the generation it expects (the entry still holds this key) — steps 1 and 2
 *      together: beginEntryRead;
 *   3. loads DATA, bounds-checks the block or slot, and copies what it needs into private memory;
 *   4. validateRead: loads SEQ again: if it is still s1, no writer republished or freed anything
 *      while the bytes were copied, so the copy is one whole value. Otherwise retry (noteRetry).
 *      Then refsCurrent: the entry was an entry all along (see ENTRY_EPOCH below).
 * Decoding only ever touches the private copy. The copy may have raced with a reuse of a freed
 * block (garbage bytes); step 4 throws such a copy away, and step 3's bounds checks keep the
 * garbage from sending the copy outside the arena (corrupt: a stable out-of-bounds ref).
 *
 * Memory ordering: only the two SEQ loads are atomic. V8 does not move plain typed-array loads
 * across an Atomics call, and x86-64 does not reorder loads with loads, so everything read in
 * steps 2–3 is read between them. Elsewhere (arm64) a plain load before the second SEQ load,
 * a load-acquire, may be satisfied after it, so validateRead puts a full barrier (a seq-cst
 * read-modify-write on a private word, ordering.ts) before it there; on x64 that compiles away.
 * Writers publish with Atomics stores, so a reader never sees DATA before the block it names is
 * filled. In Node 20 an Atomics.load costs ~5 ns where a plain load costs ~1: the steps keep the
 * loads plain wherever the SEQ loads order them.
 *
 * Bounded optimism: after READ_RETRY_LIMIT failed attempts in a row a reader takes the entry's
 * lock for one read (ordering.ts, lockForRead; Linux's read_seqbegin_or_lock), under which no
 * writer moves SEQ, so a reader cannot be starved by a stream of writes to its key.
 */
import { arena } from './arena';
import { CorruptArenaError } from './errors';
import { ENTRY, HEADER, THREAD } from './layout';
import { NEEDS_FENCE, readFence } from './ordering';
import { type Ref, type Word } from './ref';
import { myWord } from './threads';

/** Module-local, so that V8 folds it: on x64 the fence below compiles to nothing. */
const FENCE = NEEDS_FENCE;

// ── The seqlock steps ────────────────────────────────────────────────────────────────────────

/** Step 1: SEQ of the entry at word `e`, before anything else of it is read. Odd: see awaitWriter. */
export function beginRead(i32: Int32Array, e: Word): number {
  return Atomics.load(i32, e + ENTRY.SEQ);
}

/**
 * beginEntryRead's results that are not a SEQ to read under: odd, so never a valid one. (A const
 * enum, inlined as literals: an exported `const` is a load from this module's exports object at
 * every use in another module, which a hot path pays for.)
 */
export const enum Begin {
  Retry = 1,
  Stale = 3,
}

/**
 * Steps 1–2 for a reader holding (ref, GEN): the SEQ to read under (even); Begin.Retry after
 * waiting a little for an in-place writer (begin again); Begin.Stale when the entry no longer has
 * generation `gen` (freed or reused) or an odd SEQ turned out to be garbage from a retired slab.
 * GEN is a plain load: the two SEQ loads around it order it.
 */
export function beginEntryRead(i32: Int32Array, e: Word, gen: number, spins: number): number {
  const s1 = Atomics.load(i32, e + ENTRY.SEQ);
  if ((s1 & 1) !== 0) return awaitWriter(i32, e, s1, spins) ? Begin.Retry : Begin.Stale;
  return i32[e + ENTRY.GEN] === gen ? s1 : Begin.Stale;
}

/**
 * Step 4: whether SEQ is still `s1`: nothing read since beginRead was republished or freed.
 * Where loads may be satisfied out of order (not x64), a full barrier first keeps the copy's
 * plain loads before this SEQ load (ordering.ts, readFence; docs/design.md, Memory ordering).
 */
export function validateRead(i32: Int32Array, e: Word, s1: number): boolean {
  if (FENCE) readFence();
  return Atomics.load(i32, e + ENTRY.SEQ) === s1;
}

/** An odd SEQ: a record is being written in place (readers wait rather than copy half of it). */
export function isWriting(seq: number): boolean {
  return (seq & 1) !== 0;
}

/**
 * Step 1 found an odd SEQ. False if that SEQ may be garbage from memory a retired slab gave back
 * (ENTRY_EPOCH moved, and this thread adopted the new one): no writer to wait for, look the key
 * up again. Else waits a little for the writer (waitForEven) and the caller begins again.
 */
export function awaitWriter(i32: Int32Array, e: Word, seq: number, spins: number): boolean {
  if (entryRefsMoved(i32)) return false;
  waitForEven(e, seq, spins);
  return true;
}

/**
 * An odd SEQ means a writer is changing the value in place. Spin a little, then sleep in short
 * slices: a writer that died mid-write is recovered by the registry, which makes SEQ even.
 */
export function waitForEven(e: Word, seq: number, spins: number): void {
  if (spins < 100) return;
  Atomics.wait(arena.i32, e + ENTRY.SEQ, seq, 1);
}

/** Optimistic reads this thread had to repeat (a writer republished mid-copy). */
let readRetries = 0;

/** Counts one repeated read (arenaStats().readRetries). */
export function noteRetry(): void {
  readRetries++;
}

/** @internal Read retries of this thread so far (for benchmarks and tests). */
export function readRetryCount(): number {
  return readRetries;
}

/** The error of a ref that stays outside the arena while SEQ is stable (not a race: corruption). */
export function corrupt(ref: Ref): CorruptArenaError {
  return new CorruptArenaError(ref);
}

// ── ENTRY_EPOCH: refs from before a slab retirement ─────────────────────────────────────────

/**
 * The ENTRY_EPOCH (reclaim.ts) this thread's entry refs are from: every ref in its lookup caches,
 * and every ref it finds in an index while the word still holds this value. When the word moves,
 * slabs were retired and may have been given back to the value memory: a ref from before may
 * point into a value now, whose bytes can look like an entry with any GEN. So every reader,
 * after it validated what it read, checks the word, and on a change drops what it read and its
 * caches (syncEntryEpoch), and looks the key up again.
 */
let entryEpoch = Atomics.load(arena.i32, HEADER.ENTRY_EPOCH);

/** The ENTRY_EPOCH this thread's refs are from (a record view keeps it with its ref). */
export function currentEntryEpoch(): number {
  return entryEpoch;
}

/** What drops every entry ref this thread cached (handles.ts installs it). */
let dropCachedRefs: () => void = () => {};

export function onEntryEpochMoved(drop: () => void): void {
  dropCachedRefs = drop;
}

/** Adopts the current ENTRY_EPOCH, dropping every entry ref this thread cached before it. */
export function syncEntryEpoch(): void {
  entryEpoch = Atomics.load(arena.i32, HEADER.ENTRY_EPOCH);
  dropCachedRefs();
}

/** Whether slabs were retired since this thread's refs were made (then it adopts the new epoch). */
export function entryRefsMoved(i32: Int32Array): boolean {
  if (Atomics.load(i32, HEADER.ENTRY_EPOCH) === entryEpoch) return false;
  syncEntryEpoch();
  return true;
}

/**
 * Step 4's epoch check, after validateRead: whether refs from `epoch` still name entries. A plain
 * load, ordered after the copy as GEN and DATA are between the SEQ loads: it comes after an
 * Atomics.load that V8 does not move loads across, and x86-64 keeps loads in order (an
 * Atomics.load here cost ~5% of a 1 K-key get). The word is alone on its cache line, which
 * nothing writes between retirements.
 */
export function refsFrom(i32: Int32Array, epoch: number): boolean {
  return i32[HEADER.ENTRY_EPOCH] === epoch;
}

/** refsFrom for this thread's own refs (its caches and index lookups). */
export function refsCurrent(i32: Int32Array): boolean {
  return i32[HEADER.ENTRY_EPOCH] === entryEpoch;
}

/**
 * Names entry `ref` in this thread's LOCK_HAZARD before a write to its LOCK word, and checks
 * that the ref is from the current ENTRY_EPOCH (reclaim.ts: the hazard store and the epoch load
 * pair with the retirement's epoch store and its hazard scan). False: the ref may be from
 * released memory; the hazard is cleared and the caller looks the key up again.
 */
export function guardEntry(ref: Ref): boolean {
  const i32 = arena.i32;
  Atomics.store(i32, myWord + THREAD.LOCK_HAZARD, ref);
  if (!entryRefsMoved(i32)) return true;
  Atomics.store(i32, myWord + THREAD.LOCK_HAZARD, 0);
  return false;
}

export function unguardEntry(): void {
  Atomics.store(arena.i32, myWord + THREAD.LOCK_HAZARD, 0);
}
