/**
 * Memory ordering for the lock-free readers: the fence that keeps a seqlock copy between its
 * two SEQ loads on weakly ordered CPUs, and the locked read that bounds optimistic retries.
 * See docs/design.md, "Memory ordering" and "Read protocol".
 *
 * ## The fence (`readFence`)
 *
 * A seqlock reader is `s1 = Atomics.load(SEQ); copy with plain loads; s2 = Atomics.load(SEQ)`.
 * V8 compiles `Atomics.load` to a load-acquire (`ldar` on arm64). An acquire orders the loads
 * *after* it, not the ones before it: on arm64 (and POWER, RISC-V) a plain `ldr` of the copy
 * may be satisfied after the `ldar` of s2, so s2 === s1 can validate a copy that a writer was
 * changing. x86-64 (TSO) never reorders loads with loads, so there the copy is ordered for free.
 *
 * `readFence()` is a read-modify-write of a thread-private word, `Atomics.add(word, 0, 1)`,
 * called between the copy and the s2 load. V8 compiles it on arm64 to `ldaxr`/`stlxr` in a loop
 * (`ldaddal` with LSE): its store is a store-release, which orders every earlier load and store
 * before it, and an arm64 release is followed in order by a later load-acquire (`stlr`/`stlxr`
 * → `ldar` is ordered: ARMv8 acquire/release are RCsc). So copy → RMW → s2, the barrier Linux
 * spells `smp_rmb()` (`dmb ishld`) in `read_seqcount_retry`. JavaScript has no fence; a
 * seq_cst RMW is the weakest thing that is one on every CPU V8 supports.
 *
 * The word lives in a SharedArrayBuffer of its own (never shared): for a non-shared buffer an
 * engine may lower Atomics to plain accesses, since no other agent can see them. The add is of
 * 1, not 0: an idempotent RMW may be rewritten as a (fenced or not) load by a compiler.
 *
 * On x64 the call sites are `if (NEEDS_FENCE) readFence();` where `NEEDS_FENCE` is false: V8
 * compiles it to a test of a constant-true-or-false load and a never-taken branch (measured: no
 * difference in a get loop; see docs/design.md).
 *
 * ## Bounded optimistic retries (`READ_RETRY_LIMIT`, `lockForRead`)
 *
 * Linux's `read_seqbegin_or_lock`: after READ_RETRY_LIMIT failed optimistic attempts a reader
 * takes the entry's LOCK (the writers' mutex) and reads under it, where no writer can move SEQ,
 * so the next attempt validates at once. See `lockForRead`.
 */
import { arena } from './arena';
import { testKnob } from './faults';
import { ENTRY } from './layout';
import { release } from './locks';
// A const enum: inlined as literals, so this import leaves nothing at run time (no cycle).
import { Lock } from './write';

/**
 * Whether loads need `readFence()` between a seqlock copy and its validating load. Only x86-64
 * keeps loads in order with loads (ia32 would too, but Node ships no 32-bit x86 builds we test).
 * Test knob NATIVE_KEYSHARE_TEST_FORCE_FENCE=1 turns it on anywhere (to test the fenced code on
 * x64; it cannot show the fence is *needed* there).
 */
export const NEEDS_FENCE: boolean = process.arch !== 'x64' || testKnob('FORCE_FENCE') !== 0;

/** The thread-private word the fence's RMW targets (shared buffer; see the module comment). */
const fenceWord = new Int32Array(new SharedArrayBuffer(4));

/**
 * A full barrier: every load and store before it is ordered before every load and store after
 * it (seq_cst RMW). Call as `if (NEEDS_FENCE) readFence();` between a seqlock reader's plain
 * copy and its validating `Atomics.load`.
 */
export function readFence(): void {
  Atomics.add(fenceWord, 0, 1);
}

/**
 * Optimistic attempts a reader makes before it takes the entry lock. A power of two: call
 * sites test `spins !== 0 && (spins & READ_RETRY_MASK) === 0`, so a reader whose locked attempt
 * timed out makes another READ_RETRY_LIMIT optimistic ones before it tries the lock again.
 * Test knob NATIVE_KEYSHARE_TEST_READ_RETRY_LIMIT (rounded up to a power of two) lowers it.
 */
export const READ_RETRY_LIMIT: number = powerOfTwo(testKnob('READ_RETRY_LIMIT') || 16);
export const READ_RETRY_MASK: number = READ_RETRY_LIMIT - 1;

/**
 * How long a reader waits for the entry lock before it goes back to optimistic reads. Short: a
 * writer holds the lock for a copy and a publication (microseconds). A thread may hold it
 * longer through `lock()`, and may then wait for a lock this reader's thread holds; the
 * timeout is what keeps a blocked read from deadlocking with it (see `lockForRead`).
 */
export const READ_LOCK_TIMEOUT_MS = 5;

function powerOfTwo(n: number): number {
  let p = 1;
  while (p < n && p < 1 << 30) p <<= 1;
  return p;
}


/** Whether this thread is inside a locked read (a nested one means SEQ moved under the lock). */
let lockedRead = false;

/**
 * Takes entry `ref`'s LOCK for a read whose optimistic attempts failed READ_RETRY_LIMIT times,
 * through `lockEntry` (write.ts: the writers' own protocol, passed in so that this module imports
 * no store module), with READ_LOCK_TIMEOUT_MS:
 * - hazard first (the LOCK word may be written only while no slab retirement can release the
 *   entry's memory), then an entry this thread already holds (`lock()`, an update callback) is
 *   Held and read without waiting for itself, then GEN is checked under the lock (Stale);
 * - bounded, so a reader never deadlocks: it holds no other lock while it waits (reads take
 *   none), but its *thread* may hold entry locks through `lock()` while a holder of this one
 *   waits for those; the timeout (TimedOut) breaks that cycle on the reader's side, which goes
 *   back to optimistic attempts.
 *
 * Under the lock no writer can move SEQ: value writers publish DATA and bump SEQ under it,
 * in-place record writers hold it while SEQ is odd, deletes, expiry sweeps and dead-thread
 * recovery take it. So the caller's next optimistic attempt validates at once (record atomics
 * change one field without SEQ, as they may during any read). A dead holder's lock is taken
 * over as a writer would: recovery (threads.ts) has already redone its in-place write or left
 * DATA naming a whole block before the holder stopped counting as alive. A retry inside a locked
 * read (views refreshed after the arena grew) takes nothing more: TimedOut, go on optimistically.
 *
 * The caller must call {@link unlockAfterRead} with the result (try/finally) unless it is
 * TimedOut or Stale.
 */
export function lockForRead(ref: number, gen: number, lockEntry: (ref: number, gen: number, timeoutMs: number) => number): Lock {
  if (lockedRead) return Lock.TimedOut;
  const how = lockEntry(ref, gen, READ_LOCK_TIMEOUT_MS) as Lock;
  if (how === Lock.Taken) {
    lockedRead = true;
    lockedReads++;
  } else if (how === Lock.Held) {
    lockedRead = true;
  } else if (how === Lock.TimedOut) {
    lockedReadTimeouts++;
  }
  return how;
}

/** Ends a locked read begun by {@link lockForRead} (Taken or Held). */
export function unlockAfterRead(ref: number, how: Lock): void {
  lockedRead = false;
  if (how === Lock.Taken) release(arena.i32, ref * 2 + ENTRY.LOCK);
}

let lockedReads = 0;
let lockedReadTimeouts = 0;

/** @internal Locked reads of this thread so far, and lock waits that timed out (tests, benchmarks). */
export function lockedReadCounts(): { lockedReads: number; timeouts: number } {
  return { lockedReads, timeouts: lockedReadTimeouts };
}
