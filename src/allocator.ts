/**
 * The block allocator: size-class free lists over a bump-allocated heap that grows on demand.
 *
 * All state (TOP, the free-list heads, usage counters) lives in the arena header and is changed
 * only under the ALLOC_LOCK mutex. A critical section reads and decides first and then mutates
 * in a straight line of stores with no calls or loops between them, so a thread terminated
 * inside one (termination lands only at function entries and loop back-edges) leaves the lists
 * either untouched or complete.
 *
 * Two free-list families: ENTRY blocks are recycled only as ENTRY blocks (type-stable memory,
 * see layout.ts); every other kind shares the DATA family.
 *
 * Growth: when TOP would pass the buffer's length, the buffer grows (doubling, capped by the
 * LIMIT word); other threads refresh their views when they next meet a ref beyond them.
 * Reaching LIMIT throws OutOfMemoryError and changes nothing.
 */
import { arena } from './arena';
import {
  BLOCK,
  FREE_LIST_DATA,
  FREE_LIST_ENTRY,
  HEADER,
  KIND,
  SIZE_CLASSES,
  THREAD,
  UNIT,
  classUnits,
  sizeClassOf,
} from './layout';
import { Acquired, acquire, release } from './locks';
import { myToken, myWord } from './threads';
import { OutOfMemoryError } from './errors';

const LIST_BASE = [HEADER.FREE_LISTS, HEADER.FREE_LISTS + SIZE_CLASSES];

function listWord(kind: number, c: number): number {
  return LIST_BASE[kind === KIND.ENTRY ? FREE_LIST_ENTRY : FREE_LIST_DATA] + c;
}

function lock(): void {
  // A dead holder is taken over silently: critical sections are straight-line (see above).
  acquire(arena.i32, HEADER.ALLOC_LOCK, myToken, Infinity) satisfies Acquired;
}

function unlock(): void {
  release(arena.i32, HEADER.ALLOC_LOCK);
}

/** Grows the buffer so that units [0, endUnit) exist. Caller holds the allocator lock. */
function growTo(endUnit: number): void {
  const sab = arena.sab;
  const need = endUnit * UNIT;
  if (need <= sab.byteLength) return;
  const limitBytes = Math.min(arena.i32[HEADER.LIMIT] * UNIT, sab.maxByteLength);
  let size = Math.max(sab.byteLength * 2, need);
  // Round to 64 KiB so that views are refreshed rarely and the length stays 8-byte aligned.
  size = Math.min(Math.ceil(size / 65536) * 65536, limitBytes);
  sab.grow(size);
  arena.refresh();
}

function freeLocked(i32: Int32Array, ref: number): void {
  const w = ref * 2;
  const hdr = i32[w + BLOCK.HDR];
  const c = hdr & 0xff;
  const kind = hdr >>> 8;
  const lw = listWord(kind, c);
  const head = i32[lw];
  const units = classUnits(c);
  // Straight line from here.
  i32[w + BLOCK.NEXT_FREE] = head;
  i32[w + BLOCK.HDR] = (KIND.FREE << 8) | c | (kind === KIND.ENTRY ? 1 << 16 : 0);
  i32[lw] = ref;
  i32[HEADER.UNITS_IN_USE] -= units;
  i32[HEADER.BLOCKS_IN_USE] -= 1;
}

/**
 * Allocates a block of at least `units` units (header included) and marks it `kind`.
 * With `forValueWrite`, this thread's deferred free happens in the same critical section and
 * the new ref is recorded in PENDING_NEW before the lock is released, so recovery after a
 * termination knows the block exists.
 */
export function alloc(kind: number, units: number, forValueWrite = false): number {
  const c = sizeClassOf(units);
  const size = classUnits(c);
  lock();
  try {
    let i32 = arena.i32;
    if (forValueWrite) {
      const deferred = i32[myWord + THREAD.DEFERRED_FREE];
      if (deferred !== 0) {
        freeLocked(i32, deferred);
        i32[myWord + THREAD.DEFERRED_FREE] = 0;
      }
    }
    const lw = listWord(kind, c);
    let ref = i32[lw];
    if (ref !== 0) {
      const next = i32[ref * 2 + BLOCK.NEXT_FREE];
      i32[lw] = next;
    } else {
      ref = i32[HEADER.TOP];
      const end = ref + size;
      if (end > i32[HEADER.LIMIT] || end * UNIT > arena.sab.maxByteLength) {
        throw new OutOfMemoryError(size * UNIT, i32[HEADER.LIMIT] * UNIT);
      }
      growTo(end);
      i32 = arena.i32;
      i32[HEADER.TOP] = end;
    }
    i32[ref * 2 + BLOCK.HDR] = (kind << 8) | c;
    i32[HEADER.UNITS_IN_USE] += size;
    i32[HEADER.BLOCKS_IN_USE] += 1;
    if (forValueWrite) i32[myWord + THREAD.PENDING_NEW] = ref;
    return ref;
  } finally {
    unlock();
  }
}

/**
 * Returns a block to its free list. With `pendingWord`, that word (a PENDING_OLD of this
 * thread's slot) is cleared in the same critical section, so recovery never frees it twice.
 */
export function free(ref: number, pendingWord = -1): void {
  lock();
  try {
    arena.refresh();
    const i32 = arena.i32;
    freeLocked(i32, ref);
    if (pendingWord >= 0) i32[pendingWord] = 0;
  } finally {
    unlock();
  }
}

/** Bytes a block of `units` requested units really occupies. */
export function blockBytes(units: number): number {
  return classUnits(sizeClassOf(units)) * UNIT;
}

/** Arena-wide usage, read without the lock (each figure is a consistent word, not a snapshot). */
export function usage(): { bytesInUse: number; blocksInUse: number; bytesReserved: number; maxMemory: number; top: number } {
  const i32 = arena.i32;
  return {
    bytesInUse: Atomics.load(i32, HEADER.UNITS_IN_USE) * UNIT,
    blocksInUse: Atomics.load(i32, HEADER.BLOCKS_IN_USE),
    bytesReserved: arena.sab.byteLength,
    maxMemory: Atomics.load(i32, HEADER.LIMIT) * UNIT,
    top: Atomics.load(i32, HEADER.TOP) * UNIT,
  };
}

/** Sets the arena-wide memory bound (shared by every thread). */
export function setLimit(bytes: number): void {
  const units = Math.floor(Math.min(bytes, arena.sab.maxByteLength) / UNIT);
  Atomics.store(arena.i32, HEADER.LIMIT, units);
}
