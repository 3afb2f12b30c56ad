/**
 * The block allocator: size-class free lists over a bump-allocated heap that grows on demand.
 *
 * All state (TOP, the free-list heads, usage counters) lives in the arena header and is changed
 * only under the ALLOC_LOCK mutex. A critical section reads and decides first and then mutates
 * in a straight line of stores with no calls or loops between them, so a thread terminated
 * inside one (termination lands only at function entries and loop back-edges) leaves the lists
 * either untouched or complete.
 *
 * Two free-list families: ENTRY blocks are recycled only as ENTRY blocks while their slab lives
 * (type-stable memory, see layout.ts); every other kind shares the DATA family. A slab whose
 * entries are all free goes back to the DATA family through reclaim.ts, when an allocation
 * would otherwise fail or a clear() emptied many entries.
 *
 * Growth: when TOP would pass the buffer's length, the buffer grows (doubling, capped by the
 * LIMIT word); other threads refresh their views when they next meet a ref beyond them.
 * Reaching LIMIT throws OutOfMemoryError and changes nothing.
 */
import { arena } from './arena';
import {
  BLOCK,
  ENTRY,
  ENTRY_RUN_FLAG,
  FREE_ENTRY_FLAG,
  FREE_LIST_DATA,
  FREE_LIST_ENTRY,
  HEADER,
  HEAP_START_UNIT,
  KIND,
  MIN_BLOCK_UNITS,
  SIZE_CLASSES,
  SLAB_MAX_UNITS,
  SLAB_MIN_ENTRIES,
  SLAB_MIN_UNITS,
  THREAD,
  UNIT,
  classUnits,
  sizeClassOf,
} from './layout';
import { Acquired, acquire, release } from './locks';
import { myToken, myWord } from './threads';
import { InvalidOptionError, OutOfMemoryError } from './errors';
import { reclaimSlabs } from './reclaim';

const LIST_BASE = [HEADER.FREE_LISTS, HEADER.FREE_LISTS + SIZE_CLASSES];

function listWord(kind: number, c: number): number {
  return LIST_BASE[kind === KIND.ENTRY ? FREE_LIST_ENTRY : FREE_LIST_DATA] + c;
}

function lock(): void {
  // Critical sections are straight-line (see above), but for the free-list rebuilds of
  // defragment and splitLarger's carve, which flag themselves in HEAP_REPAIR: a holder that died
  // in one leaves some free blocks off the lists, and its successor rebuilds them from the heap.
  if (acquire(arena.i32, HEADER.ALLOC_LOCK, myToken, Infinity) === Acquired.FromDeadHolder && arena.i32[HEADER.HEAP_REPAIR] !== 0) {
    arena.refresh();
    defragment(arena.i32, true);
  }
}

function unlock(): void {
  release(arena.i32, HEADER.ALLOC_LOCK);
}

/**
 * Runs `fn` holding the allocator lock, with fresh views: no block is allocated or freed, and
 * the heap does not grow, until it returns. For readers of the whole heap (verify.ts); `fn`
 * must not allocate or free.
 */
export function withAllocatorLock<T>(fn: () => T): T {
  lock();
  try {
    arena.refresh();
    return fn();
  } finally {
    unlock();
  }
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
  const kind = (hdr >>> 8) & 0xff; // a VALUE block's tag and flags sit above the kind
  const lw = listWord(kind, c);
  const head = i32[lw];
  const units = classUnits(c);
  const entry = kind === KIND.ENTRY;
  // Straight line from here. Entries live inside slabs, whose units are already counted.
  i32[w + BLOCK.NEXT_FREE] = head;
  i32[w + BLOCK.HDR] = (KIND.FREE << 8) | c | (entry ? FREE_ENTRY_FLAG : 0);
  i32[lw] = ref;
  if (!entry) {
    i32[HEADER.UNITS_IN_USE] -= units;
    i32[HEADER.BLOCKS_IN_USE] -= 1;
  }
  // Entries count too: their slab may now be all free (see reclaim.ts).
  i32[HEADER.FREED_SINCE_DEFRAG]++;
}

/**
 * Allocates a block of at least `units` units (header included) and marks it `kind`.
 * With `pendingWord` (a PENDING_* word of this thread's slot), the new ref is recorded there
 * before the lock is released, so recovery after a termination knows the block exists. With
 * `freeDeferred`, this thread's deferred free happens in the same critical section.
 */
export function alloc(kind: number, units: number, pendingWord = -1, freeDeferred = false, mayDefragment = true): number {
  const c = sizeClassOf(units);
  const size = classUnits(c);
  lock();
  try {
    // Free blocks and TOP may lie beyond this thread's views if another thread grew the arena.
    arena.refresh();
    let i32 = arena.i32;
    if (freeDeferred) {
      const deferred = i32[myWord + THREAD.DEFERRED_FREE];
      if (deferred !== 0) {
        freeLocked(i32, deferred);
        i32[myWord + THREAD.DEFERRED_FREE] = 0;
      }
    }
    let ref: number;
    if (kind === KIND.ENTRY) {
      const lw = LIST_BASE[FREE_LIST_ENTRY] + c;
      if (i32[lw] === 0) {
        // A new slab: its units are counted once, as one block; its entries are not. It adds an
        // eighth to this class's entry capacity: slabs stay O(log n) (few, between the
        // values), and a store's unused entries stay under a ninth of its entries.
        const have = slabEntries[c];
        const slabUnits = Math.min(SLAB_MAX_UNITS, Math.max(SLAB_MIN_UNITS, (Math.max(SLAB_MIN_ENTRIES, have >>> 3) * size) + 1));
        const sc = sizeClassOf(slabUnits);
        const slabSize = classUnits(sc);
        const count = Math.floor((slabSize - 1) / size);
        slabEntries[c] = have + count;
        const slab = takeData(sc, true);
        i32 = arena.i32;
        // Straight line from here to the list head, with every figure computed before it (a
        // call is where a kill lands: one here once left a slab uncounted): the whole slab is
        // one RUN node, cut an entry at a time by popEntry, so a kill cannot leave it half carved.
        const run = (slab + 1) * 2;
        i32[run + ENTRY.SEQ] = count;
        i32[run + BLOCK.NEXT_FREE] = 0;
        i32[run + BLOCK.HDR] = (KIND.FREE << 8) | c | FREE_ENTRY_FLAG | ENTRY_RUN_FLAG;
        i32[slab * 2 + BLOCK.HDR] = (KIND.SLAB << 8) | sc;
        i32[HEADER.UNITS_IN_USE] += slabSize;
        i32[HEADER.BLOCKS_IN_USE] += 1;
        i32[lw] = slab + 1;
      }
      ref = popEntry(i32, lw, size);
    } else {
      ref = takeData(c, mayDefragment);
      i32 = arena.i32;
      i32[HEADER.UNITS_IN_USE] += size;
      i32[HEADER.BLOCKS_IN_USE] += 1;
    }
    i32[ref * 2 + BLOCK.HDR] = (kind << 8) | c;
    if (pendingWord >= 0) i32[pendingWord] = ref;
    return ref;
  } finally {
    unlock();
  }
}

/**
 * A DATA block of class `c`: from its free list, else fresh space at TOP within the buffer,
 * else split from a larger free block, else fresh space the buffer grows for, else after
 * merging free neighbours (and reclaiming free slabs). Throws OutOfMemoryError, changing
 * nothing but the free lists' arrangement. Allocator lock held.
 */
function takeData(c: number, mayDefragment: boolean): number {
  const size = classUnits(c);
  let i32 = arena.i32;
  const lw = LIST_BASE[FREE_LIST_DATA] + c;
  let ref = popList(i32, lw);
  if (ref !== 0) return ref;
  for (let attempt = 0; attempt < 2; attempt++) {
    const top = i32[HEADER.TOP];
    const fits = top + size <= i32[HEADER.LIMIT] && (top + size) * UNIT <= arena.sab.maxByteLength;
    // Fresh space the buffer already has, then a larger free block, and only then growth: free
    // memory (a reclaimed slab, merged neighbours) is used before the arena commits more.
    if (fits && (top + size) * UNIT <= arena.sab.byteLength) {
      i32[HEADER.TOP] = top + size;
      return top;
    }
    ref = splitLarger(i32, c);
    if (ref !== 0) return ref;
    if (fits) {
      growTo(top + size);
      i32 = arena.i32;
      i32[HEADER.TOP] = top + size;
      return top;
    }
    if (attempt === 0 && !(mayDefragment && defragment(i32))) break;
    ref = popList(i32, lw);
    if (ref !== 0) return ref;
  }
  throw new OutOfMemoryError(size * UNIT, i32[HEADER.LIMIT] * UNIT);
}

/**
 * Pops the head of the entry free list at word `lw` (not empty; entries of `size` units). A RUN
 * node hands out its first entry and moves one entry on, and the entry is made fresh: GEN odd
 * (free), no value history, lock free. No loop and no call: a kill lands before or after.
 */
function popEntry(i32: Int32Array, lw: number, size: number): number {
  const ref = i32[lw];
  const w = ref * 2;
  const hdr = i32[w + BLOCK.HDR];
  if ((hdr & ENTRY_RUN_FLAG) === 0) {
    i32[lw] = i32[w + BLOCK.NEXT_FREE];
    return ref;
  }
  const left = i32[w + ENTRY.SEQ];
  if (left > 1) {
    const next = (ref + size) * 2;
    i32[next + ENTRY.SEQ] = left - 1;
    i32[next + BLOCK.NEXT_FREE] = i32[w + BLOCK.NEXT_FREE];
    i32[next + BLOCK.HDR] = hdr;
    i32[lw] = ref + size;
  } else {
    i32[lw] = i32[w + BLOCK.NEXT_FREE];
  }
  i32[w + ENTRY.GEN] = 1;
  i32[w + ENTRY.SEQ] = 0;
  i32[w + ENTRY.LOCK] = 0;
  return ref;
}

/**
 * Entries this thread's slabs of each class hold, to size the next slab. Per thread, so only a
 * heuristic: a thread that makes few entries makes small slabs.
 */
const slabEntries = new Array<number>(SIZE_CLASSES).fill(0);

function popList(i32: Int32Array, lw: number): number {
  const ref = i32[lw];
  if (ref !== 0) i32[lw] = i32[ref * 2 + BLOCK.NEXT_FREE];
  return ref;
}

/**
 * Pushes [start, start + units) onto the DATA free lists as blocks of exact class sizes. The
 * pieces' headers are written last piece first: each header written covers up to the run's
 * end, so at every moment the heap walks from `start` through old headers and new ones alike
 * (a kill here leaves it walkable for the repair, see lock).
 */
function carve(i32: Int32Array, start: number, units: number): void {
  const pieces = carvePieces;
  pieces.length = 0;
  let left = units;
  while (left >= MIN_BLOCK_UNITS) {
    // The largest class that fits and does not leave a single unit (no block is that small).
    let c = sizeClassOf(left);
    while (classUnits(c) > left || (left - classUnits(c) === 1)) c--;
    pieces.push(c);
    left -= classUnits(c);
  }
  // Smallest pieces first (lowest addresses): small blocks, which tend to live long (indexes,
  // store blocks), then settle low, and the large pieces lie next to TOP, where a run that
  // frees up returns to the bump space.
  pieces.sort((x, y) => x - y);
  let at = start + units - left;
  for (let i = pieces.length - 1; i >= 0; i--) {
    const c = pieces[i];
    at -= classUnits(c);
    const lw = LIST_BASE[FREE_LIST_DATA] + c;
    i32[at * 2 + BLOCK.NEXT_FREE] = i32[lw];
    i32[at * 2 + BLOCK.HDR] = (KIND.FREE << 8) | c;
    i32[lw] = at;
  }
}
const carvePieces: number[] = [];

/** Takes a DATA free block of a larger class, keeps `classUnits(c)` of it, frees the rest. */
function splitLarger(i32: Int32Array, c: number): number {
  const size = classUnits(c);
  for (let big = c + 1; big < SIZE_CLASSES; big++) {
    const bigSize = classUnits(big);
    if (bigSize - size === 1) continue;
    const ref = popList(i32, LIST_BASE[FREE_LIST_DATA] + big);
    if (ref === 0) continue;
    // Killed in the carve, `ref` is on no list but its header still says FREE of class `big`
    // over the pieces: the repair's heap walk finds it whole.
    i32[HEADER.HEAP_REPAIR] = 1;
    carve(i32, ref + size, bigSize - size);
    i32[HEADER.HEAP_REPAIR] = 0;
    return ref;
  }
  return 0;
}

/**
 * Merges runs of adjacent free DATA blocks and rebuilds the DATA free lists from them; a run
 * that ends at TOP is returned to the bump space. Walks the whole heap, so it runs only when
 * an allocation would otherwise fail. ENTRY-family free blocks are never merged (type
 * stability). Readers holding stale refs into merged blocks are unaffected: they validate
 * against SEQ. A thread killed in here leaves some free blocks off the lists (leaked, which
 * verify() reports), never a block on a list twice. Returns true if anything changed.
 */
function defragment(i32: Int32Array, force = false): boolean {
  // Nothing freed since the last pass: it would find the same runs. This keeps a full arena
  // from walking the heap on every failing allocation.
  if (!force && i32[HEADER.FREED_SINCE_DEFRAG] === 0) return false;
  i32[HEADER.FREED_SINCE_DEFRAG] = 0;
  // Until the end, a kill leaves lists half rebuilt: the next holder redoes it all (see lock).
  i32[HEADER.HEAP_REPAIR] = 1;
  const top = i32[HEADER.TOP];
  // Slabs whose entries are all free become free DATA blocks first, to be merged below.
  const slabs = reclaimSlabs(i32, top);
  // A retired slab a hazard kept: the next failing allocation looks again.
  if (slabs.waiting) i32[HEADER.FREED_SINCE_DEFRAG] = 1;
  for (let c = 0; c < SIZE_CLASSES; c++) i32[LIST_BASE[FREE_LIST_DATA] + c] = 0;
  let merged = false;
  let runStart = 0;
  let runUnits = 0;
  let blocksInRun = 0;
  const flush = (): void => {
    if (runUnits === 0) return;
    if (blocksInRun > 1) merged = true;
    carve(i32, runStart, runUnits);
    runUnits = 0;
    blocksInRun = 0;
  };
  for (let ref = HEAP_START_UNIT; ref < top; ) {
    const hdr = i32[ref * 2 + BLOCK.HDR];
    const size = classUnits(hdr & 0xff);
    const freeData = (hdr >>> 8) === KIND.FREE; // the ENTRY family's flag makes hdr >>> 8 non-zero
    if (freeData) {
      if (runUnits === 0) runStart = ref;
      runUnits += size;
      blocksInRun++;
    } else flush();
    ref += size;
  }
  if (runUnits > 0 && runStart + runUnits === top) {
    // The last run touches TOP: give it back to the bump pointer whole.
    i32[HEADER.TOP] = runStart;
    merged = true;
    runUnits = 0;
  }
  flush();
  i32[HEADER.HEAP_REPAIR] = 0;
  return merged || slabs.released > 0;
}

/**
 * Gives back what deletes left: slabs whose entries are all free return to the value memory,
 * and free neighbours are merged (a run that ends at TOP returns to the bump space). Walks the
 * whole heap; called after a clear() that freed many entries, so that bytesInUse falls back
 * and large values fit again without waiting for an allocation to fail first.
 */
export function reclaim(): void {
  lock();
  try {
    arena.refresh();
    defragment(arena.i32, true);
  } finally {
    unlock();
  }
}

/**
 * Free memory as an allocation sees it: `freeBytes` all of it up to maxMemory, and
 * `largestFreeBytes` the largest contiguous part (a run of free DATA blocks, the one that ends
 * at TOP counted with the never-used space above it up to maxMemory). A value block larger
 * than the largest part cannot be allocated until free neighbours merge or slabs are reclaimed
 * (which an allocation that would fail does first: see defragment). Walks the heap under the
 * allocator lock.
 */
export function freeSpace(): { freeBytes: number; largestFreeBytes: number } {
  return withAllocatorLock(() => {
    const i32 = arena.i32;
    const top = i32[HEADER.TOP];
    const limit = Math.min(i32[HEADER.LIMIT], Math.floor(arena.sab.maxByteLength / UNIT));
    const above = Math.max(0, limit - top);
    let free = above;
    let largest = 0;
    let run = 0;
    for (let ref = HEAP_START_UNIT; ref < top; ) {
      const hdr = i32[ref * 2 + BLOCK.HDR];
      const units = classUnits(hdr & 0xff);
      if ((hdr >>> 8) === KIND.FREE) {
        run += units;
        free += units;
      } else {
        if (run > largest) largest = run;
        run = 0;
      }
      ref += units;
    }
    largest = Math.max(largest, run + above);
    return { freeBytes: free * UNIT, largestFreeBytes: largest * UNIT };
  });
}

/**
 * Returns a block to its free list. With `pendingWord`, the word of a thread slot that records
 * the block (PENDING_OLD, DEFERRED_FREE, REDO_BLOCK) is cleared in the same critical section,
 * so the block is never both free and recorded: recovery never frees it twice, and verify()
 * never sees it allocated with nothing recording it.
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

/**
 * Finishes replacing a block that is published in word `published` (a store's index or
 * structure table), for a thread that took the store lock over from a holder that died in the
 * middle of it. The replacer records the new block in `newWord` as it allocates it and the old
 * one in `oldWord` before it publishes, then publishes, bumps `seqWord` by 2 (readers that
 * loaded the old ref retry) and frees the old block, clearing `oldWord`, and last clears
 * `newWord`. So: a new block that was never published is freed; a published one whose old
 * block is still recorded gets the SEQ bump (the dead thread may not have made it) and the old
 * block freed.
 */
export function finishReplacement(published: number, newWord: number, oldWord: number, seqWord: number): void {
  const i32 = arena.i32;
  const fresh = i32[newWord];
  const old = i32[oldWord];
  if (fresh !== 0 && i32[published] !== fresh) {
    i32[oldWord] = 0;
    free(fresh, newWord);
    return;
  }
  if (fresh !== 0 && old !== 0) {
    Atomics.add(i32, seqWord, 2);
    free(old, oldWord);
  }
  arena.i32[oldWord] = 0;
  arena.i32[newWord] = 0;
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

/**
 * Sets the arena-wide memory bound (shared by every thread). A bound below the heap's end (TOP)
 * is refused rather than stored: blocks never move and the arena never shrinks, so such a bound
 * could not be honoured — writes that reuse freed blocks would go on succeeding above it, and
 * the figure would only mislead. Checked under the allocator lock, so that no allocation moves
 * TOP between the check and the store.
 */
export function setLimit(bytes: number): void {
  withAllocatorLock(() => {
    const i32 = arena.i32;
    const units = Math.floor(Math.min(bytes, arena.sab.maxByteLength) / UNIT);
    // Free memory at the end of the heap goes back to the bump space first (and emptied slabs
    // with it), so that the bound is checked against what live blocks really span.
    if (units < i32[HEADER.TOP]) defragment(i32, true);
    const top = i32[HEADER.TOP];
    if (units < top) {
      const spans = top * UNIT;
      const live = Atomics.load(i32, HEADER.UNITS_IN_USE) * UNIT;
      throw new InvalidOptionError(
        `options.maxMemory must be at least the ${spans} bytes the shared arena already uses, got ${bytes} ` +
          `(its blocks reach ${spans} bytes into the arena, ${live} of them live, and blocks never move): ` +
          `pass ${spans} or more, or set the bound before the stores fill (NATIVE_KEYSHARE_MAX_MEMORY at process start)`,
      );
    }
    Atomics.store(i32, HEADER.LIMIT, units);
  });
}
