/**
 * Giving entry memory back: slabs whose entries are all free return to the value memory.
 *
 * Entries live in slabs (layout.ts) so that a thread may keep `key → (entry ref, GEN)` without a
 * lock: a stale ref still points at an entry, whose GEN tells it is stale. A slab that stayed
 * an entry slab for ever would keep that promise trivially, but it would also split the value
 * memory for ever: after a phase of many small keys and a clear(), large values no longer fit
 * between the slabs. So a slab whose entries are all free is given back, in two steps, both
 * under the allocator lock (allocator.ts, defragment):
 *
 * 1. **Retire.** Its entries leave the entry free lists (which are rebuilt without them), its
 *    kind becomes RETIRED, and HEADER.ENTRY_EPOCH moves (Atomics.add: seq-cst). From here no
 *    thread can obtain a ref into it: the index names no free entry, and no list hands them out.
 * 2. **Release.** Once no live thread names one of its entries in a hazard word (THREAD.HAZARD,
 *    THREAD.LOCK_HAZARD), it becomes a FREE DATA block, merged with its free neighbours.
 *
 * What a thread holding an older ref does with it:
 * - **Readers** (read.ts: readEntry, peekEntry, liveKey; lookup-cache.ts: readHot; record-protocol.ts:
 *   readRecordField; all through seqlock.ts) only load.
 *   After they validate what they read (SEQ), they also check that ENTRY_EPOCH is still the
 *   epoch their ref is from; if it moved, the ref may point into released memory that a value
 *   now fills, and they drop what they read and their cached refs, and look the key up again.
 *   The check is one load of a word alone on its cache line, which no one writes between
 *   retirements (a plain load where it follows the validating Atomics.load of SEQ, which V8
 *   does not move loads across). The loads it guards are before it in program order: x86-64 keeps loads in
 *   order, and a reader whose check saw the old epoch read the slab before the retirement, so
 *   before any release. (arm64 needs the ordering argued for the seqlock itself; see seqlock.ts.)
 * - **Writers** change an entry's LOCK word through a ref before they can validate it (the
 *   compare-and-swap *is* the validation's first step), and a CAS into released memory would
 *   corrupt a value. So a writer first names the entry in its LOCK_HAZARD word (Atomics.store),
 *   then checks ENTRY_EPOCH. This is Dekker's pattern, both sides seq-cst: either its hazard
 *   store comes first, and step 2 sees it and waits, or the epoch bump comes first, and the
 *   writer sees it and looks up again without touching the entry. Lock-free record ops do the
 *   same with THREAD.HAZARD. A writer clears its hazard once it holds the lock of an entry whose
 *   GEN it checked (a locked entry is not free, so its slab is not retired; a slab is retired
 *   only with every LOCK word 0), or once it has let go of a stale one.
 *
 * A thread killed anywhere: a dead thread's hazard words are ignored (it will not act on them).
 * A kill inside a retirement leaves free entries off the lists, never an entry on a list in a
 * released slab: the lists are rebuilt, then the epoch moves, then slabs are marked, then
 * released. HEADER.HEAP_REPAIR is set meanwhile, and the thread that takes the allocator lock
 * over runs the whole pass again (allocator.ts, lock), which relinks every free entry of every
 * live slab.
 */
import {
  BLOCK,
  ENTRY,
  ENTRY_RUN_FLAG,
  FREE_ENTRY_FLAG,
  FREE_LIST_ENTRY,
  HEADER,
  HEAP_START_UNIT,
  KIND,
  MAX_THREADS,
  RETIRED_EPOCH,
  SIZE_CLASSES,
  THREAD,
  THREAD_STATE,
  classUnits,
} from './layout';
import { slotWord } from './threads';

const ENTRY_LISTS = HEADER.FREE_LISTS + FREE_LIST_ENTRY * SIZE_CLASSES;

/** Whether every entry of the slab at `slab` (of `units` units) is free and unlocked. */
function slabIsFree(i32: Int32Array, slab: number, units: number): boolean {
  const end = slab + units;
  let r = slab + 1;
  while (r < end) {
    const hdr = i32[r * 2 + BLOCK.HDR];
    const size = classUnits(hdr & 0xff);
    // A never-used tail (a RUN node) ends the used part: nothing past it was handed out.
    if ((hdr & FREE_ENTRY_FLAG) === 0 || (hdr >>> 8 & 0xff) !== KIND.FREE) return false;
    if ((hdr & ENTRY_RUN_FLAG) !== 0) return true;
    // A free entry whose LOCK is taken: a thread holding a stale ref is inside lockEntry.
    if (i32[r * 2 + ENTRY.LOCK] !== 0) return false;
    if (r + size + size > end) return true;
    r += size;
  }
  return true;
}

/** Pushes the free entries of live slab `slab` back onto their lists (a RUN node included). */
function relinkSlab(i32: Int32Array, slab: number, units: number): void {
  const end = slab + units;
  let r = slab + 1;
  while (r < end) {
    const hdr = i32[r * 2 + BLOCK.HDR];
    const c = hdr & 0xff;
    const size = classUnits(c);
    if ((hdr >>> 8 & 0xff) === KIND.FREE) {
      i32[r * 2 + BLOCK.NEXT_FREE] = i32[ENTRY_LISTS + c];
      i32[ENTRY_LISTS + c] = r;
      if ((hdr & ENTRY_RUN_FLAG) !== 0) return;
    }
    if (r + size + size > end) return;
    r += size;
  }
}

/** Whether a live thread names an entry in [start, end) in one of its hazard words. */
function hazardIn(i32: Int32Array, start: number, end: number): boolean {
  for (let slot = 0; slot < MAX_THREADS; slot++) {
    const w = slotWord(slot);
    if (Atomics.load(i32, w + THREAD.STATE) !== THREAD_STATE.ALIVE) continue;
    const a = Atomics.load(i32, w + THREAD.HAZARD);
    const b = Atomics.load(i32, w + THREAD.LOCK_HAZARD);
    if ((a >= start && a < end) || (b >= start && b < end)) return true;
  }
  return false;
}

/**
 * Retires every slab whose entries are all free, then releases every retired slab no live
 * thread's hazard names (see the module comment). Allocator lock held; `top` is HEADER.TOP.
 * Returns the units released (now FREE DATA blocks, for the caller's merge pass) and whether
 * some retired slab had to stay (a hazard named it).
 */
export function reclaimSlabs(i32: Int32Array, top: number): { released: number; waiting: boolean } {
  const retire: number[] = [];
  const live: number[] = [];
  let retired = false;
  for (let ref = HEAP_START_UNIT; ref < top; ) {
    const hdr = i32[ref * 2 + BLOCK.HDR];
    const units = classUnits(hdr & 0xff);
    const kind = (hdr >>> 8) & 0xff;
    if (kind === KIND.SLAB) (slabIsFree(i32, ref, units) ? retire : live).push(ref);
    else if (kind === KIND.RETIRED) retired = true;
    ref += units;
  }
  if (retire.length > 0) {
    // Step 1: the lists first (a kill here leaves free entries off every list, never a retired
    // entry on one), then the slabs' kind, then the epoch that tells readers.
    // The epoch moves before any slab is marked: a slab marked RETIRED (and so releasable) is
    // always one readers have been told about. A kill before the marks leaves all-free slabs
    // off the lists, which the repair (allocator.ts, lock) retires again.
    for (let c = 0; c < SIZE_CLASSES; c++) i32[ENTRY_LISTS + c] = 0;
    for (const slab of live) relinkSlab(i32, slab, classUnits(i32[slab * 2 + BLOCK.HDR] & 0xff));
    const epoch = (Atomics.load(i32, HEADER.ENTRY_EPOCH) + 1) | 0;
    Atomics.store(i32, HEADER.ENTRY_EPOCH, epoch);
    for (const slab of retire) {
      i32[slab * 2 + RETIRED_EPOCH] = epoch;
      i32[slab * 2 + BLOCK.HDR] = (KIND.RETIRED << 8) | (i32[slab * 2 + BLOCK.HDR] & 0xff);
    }
    retired = true;
  }
  if (!retired) return { released: 0, waiting: false };
  // Step 2.
  let released = 0;
  let waiting = false;
  for (let ref = HEAP_START_UNIT; ref < top; ) {
    const hdr = i32[ref * 2 + BLOCK.HDR];
    const c = hdr & 0xff;
    const units = classUnits(c);
    if (((hdr >>> 8) & 0xff) === KIND.RETIRED) {
      if (hazardIn(i32, ref, ref + units)) waiting = true;
      else {
        i32[ref * 2 + BLOCK.HDR] = (KIND.FREE << 8) | c;
        i32[HEADER.UNITS_IN_USE] -= units;
        i32[HEADER.BLOCKS_IN_USE] -= 1;
        released += units;
      }
    }
    ref += units;
  }
  return { released, waiting };
}
