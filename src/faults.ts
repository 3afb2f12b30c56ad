/**
 * Fault injection for tests: knobs (environment variables NATIVE_KEYSHARE_TEST_<name>) that widen
 * the windows a test must land in — a kill in the middle of a resize or a table save, a write
 * between a hot reader's read and its lock test. Each module reads its knobs once, at load, into
 * constants: a check of a knob that is 0 then costs next to nothing, and unset they change
 * nothing.
 */

/** The knob's integer value, 0 when unset. */
export function testKnob(name: string): number {
  return Number(process.env[`NATIVE_KEYSHARE_TEST_${name}`] ?? 0) | 0;
}

let sink = 0;

/**
 * Busy-waits `spins` iterations. A loop, not a sleep: its back-edges are where V8 checks for
 * termination, so a worker terminated during it dies right here.
 */
export function spin(spins: number): void {
  for (let i = 0; i < spins; i++) sink += i;
}

/** Sleeps `ms` milliseconds (Atomics.wait on a private word). */
export function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
