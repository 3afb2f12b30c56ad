/**
 * Mutexes in shared memory: one Int32 word each, a three-state futex mutex that also names its
 * holder.
 *
 * ```
 *   word = 0                          free
 *   word = token << 1                 held by the thread with that token, nobody waiting
 *   word = token << 1 | 1             held, and some thread may be asleep in Atomics.wait on it
 * ```
 *
 * - Uncontended: one compareExchange to take it, one exchange to drop it, no notify (the
 *   waiters bit is clear, so unlock knows nobody sleeps).
 * - Contended: spin briefly (a holder's critical section is short: a pointer publication), then
 *   set the waiters bit and sleep. A woken thread takes the lock *with* the waiters bit, since it
 *   cannot know whether others still sleep (Drepper, "Futexes Are Tricky", mutex #2).
 * - A dead holder: sleeps are sliced (RECHECK_MS), and between slices the waiter checks whether
 *   the holder's token is still alive (`threads.isAlive`). Once the registry has recovered the
 *   dead thread, the first waiter to notice takes the lock over with compareExchange, so exactly
 *   one thread inherits it. Recovery therefore takes: the creating thread's next turn of its
 *   event loop (to see the worker's 'exit' event) plus at most one RECHECK_MS slice.
 * - Timeouts are measured with `performance.now()`, a monotonic clock private to the thread:
 *   a deadline is never compared across threads, and a wall-clock step must not stretch or cut
 *   a wait. (TTL deadlines, which threads do share, are epoch milliseconds: see clock.ts.)
 */
import { pause, testKnob } from './faults';
import { isAlive } from './threads';

/**
 * How long a waiter sleeps before checking again whether the holder died. Test knob
 * NATIVE_KEYSHARE_TEST_RECHECK_MS (see faults.ts) lengthens it, so that a test can tell a
 * waiter woken by the holder's notify from one whose slice ran out: with 20 ms slices a release
 * that never notified would still hand the lock on within a slice, and pass unnoticed.
 */
export const RECHECK_MS = testKnob('RECHECK_MS') || 20;
const SPINS = 64;
/**
 * Test knob NATIVE_KEYSHARE_TEST_TAKEOVER_DELAY_MS: how long a waiter sleeps between finding
 * the holder dead and taking the lock over, so that every waiter of a test passes the liveness
 * check before any takes over: only the compare-and-swap then keeps the takeover to one thread.
 */
const TAKEOVER_DELAY_MS = testKnob('TAKEOVER_DELAY_MS');

/**
 * What this thread's waits ended by, for tests (test/mutations.test.mjs): sleeps ended by a
 * notify; slices that ran out although the word had changed meanwhile (a holder released
 * without a notify reaching this thread); locks taken over from a dead holder. Counted only
 * after a sleep or on a takeover, never on the uncontended path.
 */
let wokenByNotify = 0;
let slicesExpiredAfterChange = 0;
let takeovers = 0;

/** @internal This thread's wait counters so far (see above). */
export function lockWaitCounts(): { wokenByNotify: number; slicesExpiredAfterChange: number; takeovers: number } {
  return { wokenByNotify, slicesExpiredAfterChange, takeovers };
}

/** Result of `acquire`. */
export const enum Acquired {
  TimedOut = 0,
  Yes = 1,
  /** Taken over from a holder that died: the data it guards may be mid-change. */
  FromDeadHolder = 2,
}

/** One attempt, no waiting. */
export function tryAcquire(i32: Int32Array, w: number, token: number): boolean {
  return Atomics.compareExchange(i32, w, 0, token << 1) === 0;
}

/**
 * Takes the mutex at word `w`, waiting at most `timeoutMs` (Infinity: until it is free or its
 * holder is found dead). Not re-entrant: the caller checks `holder(i32, w) === token` first
 * where re-entry is allowed.
 */
export function acquire(i32: Int32Array, w: number, token: number, timeoutMs: number): Acquired {
  const mine = token << 1;
  if (Atomics.compareExchange(i32, w, 0, mine) === 0) return Acquired.Yes;
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(i32, w) === 0 && Atomics.compareExchange(i32, w, 0, mine) === 0) return Acquired.Yes;
  }
  if (timeoutMs <= 0) return Acquired.TimedOut;
  // Deadlines are on the monotonic clock: Date.now() follows the wall clock, which NTP or an
  // operator may step, so a wait could end early or last as long as the step.
  const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
  for (;;) {
    let cur = Atomics.load(i32, w);
    if (cur === 0) {
      if (Atomics.compareExchange(i32, w, 0, mine | 1) === 0) return Acquired.Yes;
      continue;
    }
    if (!isAlive(cur >>> 1)) {
      // The registry has recovered the holder: take the lock over. Keep the waiters bit, as
      // other threads may be asleep on it.
      if (TAKEOVER_DELAY_MS !== 0) pause(TAKEOVER_DELAY_MS);
      if (Atomics.compareExchange(i32, w, cur, mine | 1) === cur) {
        takeovers++;
        return Acquired.FromDeadHolder;
      }
      continue;
    }
    if ((cur & 1) === 0) {
      // Announce a sleeper before sleeping, so that the holder's unlock notifies.
      if (Atomics.compareExchange(i32, w, cur, cur | 1) !== cur) continue;
      cur |= 1;
    }
    const left = deadline - performance.now();
    if (left <= 0) return Acquired.TimedOut;
    const woke = Atomics.wait(i32, w, cur, Math.min(left, RECHECK_MS));
    if (woke === 'ok') wokenByNotify++;
    else if (woke === 'timed-out' && Atomics.load(i32, w) !== cur) slicesExpiredAfterChange++;
  }
}

/** Releases a mutex held by the caller, waking one sleeper if any announced itself. */
export function release(i32: Int32Array, w: number): void {
  if ((Atomics.exchange(i32, w, 0) & 1) !== 0) Atomics.notify(i32, w, 1);
}

/** The token holding the mutex, or 0. */
export function holder(i32: Int32Array, w: number): number {
  return Atomics.load(i32, w) >>> 1;
}
