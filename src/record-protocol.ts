/**
 * The record protocol: how a fixed-layout record (VALUE_FLAG.RECORD) is read one field at a time
 * (readRecordField), changed by one lock-free atomic op (recordAtomic), and written in place
 * under the key's lock with a redo buffer (writeRecordInPlace), and how writers that retire a
 * record block wait for atomic ops still on it (waitForAtomicOps).
 *
 * A record block is the one kind of value that changes after publication:
 * - whole or partial writes change its bytes in place, under the entry lock, with SEQ odd for
 *   the duration; readers (readEntry, readRecordField) wait for an even SEQ and retry when SEQ
 *   moved, exactly as for a republished block, so they see all of a write or none of it;
 * - add/compareExchange change one aligned integer field with one Atomics operation, without
 *   the lock and without touching SEQ. A field read sees the value before or after it. They do
 *   not order with each other across fields: a snapshot that overlaps adds to two different
 *   fields may see one of them and not the other (each field is still exact).
 * Termination safety: an in-place write is first copied into the thread's redo buffer, so
 * whoever recovers a writer that died with SEQ odd re-applies the whole write (threads.ts). An
 * atomic op is one instruction: it happened or it did not.
 * Reclamation: an atomic op follows DATA without the lock, so the block must not be freed (and
 * reused) between its load of DATA and its Atomics call. It announces the entry in its slot's
 * HAZARD word first (a seq_cst store), then loads GEN and DATA; a writer that retires a record
 * block stores DATA (seq_cst) and then waits until no live slot announces the entry. Either
 * the op sees the new DATA, or the writer sees the announcement — never neither.
 */
import { arena } from './arena';
import { alloc, free } from './allocator';
import { spin, testKnob } from './faults';
import { ENTRY, HEADER, KIND, MAX_THREADS, RECORD_BYTES_OFFSET, REDO, THREAD, THREAD_STATE, UNIT, VALUE, VALUE_FLAG, classUnits } from './layout';
import { FIELD_KIND_BYTES } from './record-layout';
import { type AtomicType } from './records';
import { type Ref, wordOf } from './ref';
import { lockForRead, READ_RETRY_MASK as RETRY_MASK, unlockAfterRead } from './ordering';
import { beginRead, corrupt, isWriting, noteRetry, refsFrom, validateRead, waitForEven } from './seqlock';
import { mySlot, myWord, slotWord } from './threads';
// A cycle (write.ts waits for atomic ops through this module): both use the other only inside calls.
import { Lock, lockEntry } from './write';

/** Module-local, so that V8 folds it (see ordering.ts, READ_RETRY_LIMIT). */
const READ_RETRY_MASK = RETRY_MASK;

/** Waits until no other live thread is inside an atomic op on entry `ref` (see above). */
export function waitForAtomicOps(ref: Ref): void {
  for (let slot = 0; slot < MAX_THREADS; slot++) {
    if (slot === mySlot) continue;
    const w = slotWord(slot);
    for (let spins = 0; arena.i32[w + THREAD.HAZARD] === ref; spins++) {
      // A dead thread's op will never complete; recovery clears its word.
      if (Atomics.load(arena.i32, w + THREAD.STATE) !== THREAD_STATE.ALIVE) break;
      if (spins > 64) Atomics.wait(arena.i32, w + THREAD.HAZARD, ref, 1);
    }
  }
}

/** How a record field is read by {@link readRecordField}. */
export const enum FieldKind {
  Float64,
  Int32,
  Uint32,
  Int16,
  Uint16,
  Int8,
  Uint8,
  /** A copy of n bytes (string and array fields). */
  Bytes,
}

/** An integer field of a record layout, as the atomic ops address it. */
export interface AtomicField {
  offset: number;
  kind: FieldKind;
  type: AtomicType;
}

/** The FieldKind of each numeric field type. */
export const FIELD_KINDS: Record<AtomicType | 'float64', FieldKind> = {
  float64: FieldKind.Float64,
  int32: FieldKind.Int32,
  uint32: FieldKind.Uint32,
  int16: FieldKind.Int16,
  uint16: FieldKind.Uint16,
  int8: FieldKind.Int8,
  uint8: FieldKind.Uint8,
};

/** What a record view (view.ts) needs to find its entry: where it was, and how to look again. */
export interface RecordTarget {
  ref: Ref;
  gen: number;
  /** The ENTRY_EPOCH `ref` is from (see seqlock.ts): a field read checks it is still current. */
  epoch: number;
  /** Looks the key up again after GEN moved; throws KeyNotFoundError if it holds no record. */
  rebind(): void;
}

// ── Field reads ──────────────────────────────────────────────────────────────────────────────

/**
 * The field read protocol: one field of a record, straight from shared memory.
 *
 * It is the seqlock of readEntry (seqlock.ts) with the copy shrunk to one load: SEQ, then GEN
 * and DATA, then the field, then SEQ again. A same, even SEQ means no in-place write overlapped
 * the load; an atomic op may have, but it changes the field in one store, so the load returned
 * the value before or after it, never a mix. With FieldKind.Bytes the "load" is a copy of `n`
 * bytes (string and array fields; see readRecordBytes), and the result is 0.
 */
export function readRecordField(t: RecordTarget, at: number, kind: FieldKind, n = 0): number {
  // Kept small, with the rare cases out of line, so that a generated getter inlines it with its
  // constant `kind` (measured: 21 ns inlined, about 40 when V8 declines to inline it).
  if (kind === FieldKind.Bytes) ensureFieldBytes(n);
  else n = FIELD_BYTES[kind];
  for (let spins = 0; ; spins++) {
    const a = arena;
    const i32 = a.i32;
    const e = wordOf(t.ref);
    // 1. Begin: an odd SEQ is an in-place write under way.
    const s1 = beginRead(i32, e);
    // 2. Same key, holding a record, whose field lies inside this thread's views. Only bounds
    //    are checked: DATA of a record store always names a record block (its schema makes
    //    every handle write records), and a block freed and reused under us fails step 4.
    const d = i32[e + ENTRY.DATA];
    const byte = d * UNIT + RECORD_BYTES_OFFSET + at;
    if (isWriting(s1) || i32[e + ENTRY.GEN] !== t.gen || d <= 0 || byte + n > a.viewBytes) {
      fieldReadBlocked(t, e, s1, byte + n, spins);
      continue;
    }
    // 3. The load (a copy into fieldBytes for Bytes).
    const x = loadField(a, byte, kind, n);
    // 4. Validate: the same SEQ means no in-place write overlapped the load; the same
    //    ENTRY_EPOCH, that the entry was an entry all along (reclaim.ts).
    if (validateRead(i32, e, s1)) {
      if (refsFrom(i32, t.epoch)) return x;
      t.rebind();
      continue;
    }
    noteRetry();
    // Bounded optimism: every READ_RETRY_LIMIT failed attempts, one read under the entry lock.
    if ((spins & READ_RETRY_MASK) === READ_RETRY_MASK) {
      const v = lockedFieldRead(t, at, kind, n);
      if (v === v) return v;
    }
  }
}

/**
 * readRecordField after READ_RETRY_LIMIT failed attempts: one read under the entry's lock, which
 * validates at once (ordering.ts, lockForRead). NaN: the lock was not free in time, or the key
 * moved (rebound): go on optimistically. Out of line, to keep the field read inlinable.
 */
function lockedFieldRead(t: RecordTarget, at: number, kind: FieldKind, n: number): number {
  const how = lockForRead(t.ref, t.gen, lockEntry);
  if (how === Lock.Stale) {
    t.rebind();
    return NaN;
  }
  if (how === Lock.TimedOut) return NaN;
  try {
    return readRecordField(t, at, kind, n);
  } finally {
    unlockAfterRead(t.ref, how);
  }
}

/** A string or array field: readRecordField's copy of its `n` bytes (valid until the next call). */
export function readRecordBytes(t: RecordTarget, at: number, n: number): Uint8Array {
  readRecordField(t, at, FieldKind.Bytes, n);
  return fieldBytes;
}

function loadField(a: typeof arena, byte: number, kind: FieldKind, n: number): number {
  switch (kind) {
    case FieldKind.Float64: return a.f64[byte >>> 3];
    case FieldKind.Int32: return a.i32[byte >>> 2];
    case FieldKind.Uint32: return a.u32[byte >>> 2];
    case FieldKind.Int16: return a.i16[byte >>> 1];
    case FieldKind.Uint16: return a.u16[byte >>> 1];
    case FieldKind.Int8: return a.i8[byte];
    case FieldKind.Uint8: return a.u8[byte];
    default: {
      const u8 = a.u8;
      const out = fieldBytes;
      for (let i = 0; i < n; i++) out[i] = u8[byte + i];
      return 0;
    }
  }
}

function ensureFieldBytes(n: number): void {
  if (n > fieldBytes.length) fieldBytes = Buffer.allocUnsafeSlow(Math.max(n, fieldBytes.length * 2));
}

/** Step 2 of readRecordField failed: wait for the writer, look the key up again, or refresh the views. */
function fieldReadBlocked(t: RecordTarget, e: number, s1: number, end: number, spins: number): void {
  if (Atomics.load(arena.i32, HEADER.ENTRY_EPOCH) !== t.epoch) {
    // The ref may point into memory a retired slab gave back: garbage, not a writer.
    t.rebind();
    return;
  }
  if (isWriting(s1)) {
    waitForEven(e, s1, spins);
    return;
  }
  const i32 = arena.i32;
  if (i32[e + ENTRY.GEN] !== t.gen || i32[e + ENTRY.DATA] <= 0) {
    // Deleted, or re-created in another entry: look the key up again (or throw).
    if (validateRead(i32, e, s1) || i32[e + ENTRY.GEN] !== t.gen) t.rebind();
    return;
  }
  // Beyond this thread's views: the arena grew (refresh and retry), or it is corrupt.
  if (!arena.covers(end) && validateRead(arena.i32, e, s1) && spins > 2) {
    if (Atomics.load(arena.i32, HEADER.ENTRY_EPOCH) !== t.epoch) t.rebind();
    else throw corrupt(t.ref);
  }
}
/** Bytes of each FieldKind but Bytes (record-layout.ts): the extent a field read checks. */
const FIELD_BYTES = FIELD_KIND_BYTES;
/** Where readRecordField(…, FieldKind.Bytes, n) leaves its copy (readRecordBytes returns it). */
let fieldBytes: Uint8Array = Buffer.allocUnsafeSlow(256);

// ── Lock-free atomic ops ─────────────────────────────────────────────────────────────────────

/** recordAtomic's results when the op did not happen: not integers, so never a field's value. */
export const enum AtomicResult {
  /** GEN moved: the entry no longer holds the key; look it up again. */
  Stale = -0.5,
  /** The key holds no record. */
  Missing = -1.5,
}

/**
 * Fault injection for tests (NATIVE_KEYSHARE_TEST_ATOMIC_DELAY): widens the window between an
 * atomic op's load of DATA and its Atomics call, where a writer retiring the block without
 * waiting for it would let the op land in a reused block. A constant per thread, so the check
 * folds away when it is 0.
 */
const ATOMIC_DELAY_SPINS = testKnob('ATOMIC_DELAY');
/** Likewise (NATIVE_KEYSHARE_TEST_INPLACE_DELAY): stalls an in-place write half-way, SEQ odd, for kills. */
const INPLACE_DELAY_SPINS = testKnob('INPLACE_DELAY');

/**
 * A lock-free atomic op on one integer field of entry `ref`'s record, `ref` being from
 * ENTRY_EPOCH `epoch`: add `a` (op 0), or compare-exchange `a` → `b` (op 1). Returns the field's
 * previous value (as Atomics does), or AtomicResult.Stale / AtomicResult.Missing when it did not happen.
 * See the module comment for why the HAZARD announcement makes following DATA without the lock
 * safe.
 */
export function recordAtomic(ref: Ref, gen: number, epoch: number, at: number, kind: FieldKind, op: 0 | 1, a: number, b: number): number {
  const h = myWord + THREAD.HAZARD;
  for (;;) {
    const ar = arena;
    const i32 = ar.i32;
    const e = wordOf(ref);
    Atomics.store(i32, h, ref);
    // After the announcement: a ref from before a slab retirement may point into a value now;
    // the hazard keeps the slab from being released while we look (reclaim.ts).
    if (Atomics.load(i32, HEADER.ENTRY_EPOCH) !== epoch) {
      i32[h] = 0;
      return AtomicResult.Stale;
    }
    const d = i32[e + ENTRY.DATA];
    // GEN after DATA: if it is still ours, DATA was this key's when we loaded it.
    if (i32[e + ENTRY.GEN] !== gen) {
      i32[h] = 0;
      return AtomicResult.Stale;
    }
    const byte = d * UNIT + RECORD_BYTES_OFFSET + at;
    if (ATOMIC_DELAY_SPINS !== 0) spin(ATOMIC_DELAY_SPINS);
    if (d <= 0 || (i32[wordOf(d) + VALUE.HDR] & VALUE_FLAG.RECORD) === 0) {
      i32[h] = 0;
      return AtomicResult.Missing;
    }
    if (byte + 4 > ar.viewBytes) {
      i32[h] = 0;
      if (!ar.covers(byte + 4)) throw corrupt(ref);
      continue;
    }
    let old: number;
    switch (kind) {
      case FieldKind.Int32: old = op === 0 ? Atomics.add(i32, byte >>> 2, a) : Atomics.compareExchange(i32, byte >>> 2, a, b); break;
      case FieldKind.Uint32: old = op === 0 ? Atomics.add(ar.u32, byte >>> 2, a) : Atomics.compareExchange(ar.u32, byte >>> 2, a, b); break;
      case FieldKind.Int16: old = op === 0 ? Atomics.add(ar.i16, byte >>> 1, a) : Atomics.compareExchange(ar.i16, byte >>> 1, a, b); break;
      case FieldKind.Uint16: old = op === 0 ? Atomics.add(ar.u16, byte >>> 1, a) : Atomics.compareExchange(ar.u16, byte >>> 1, a, b); break;
      case FieldKind.Int8: old = op === 0 ? Atomics.add(ar.i8, byte, a) : Atomics.compareExchange(ar.i8, byte, a, b); break;
      default: old = op === 0 ? Atomics.add(ar.u8, byte, a) : Atomics.compareExchange(ar.u8, byte, a, b);
    }
    i32[h] = 0;
    return old;
  }
}

// ── In-place writes ──────────────────────────────────────────────────────────────────────────

/**
 * Writes byte ranges of a record in place (entry lock held; `d` is the entry's record block):
 * `ranges` holds (offset, length) pairs into `src`, which holds the new record bytes.
 *
 * 1. Copy the ranges and their bytes into this thread's redo buffer and name the entry in
 *    REDO_ENTRY: from here a recovering thread can finish the write (threads.ts, replayRedo).
 * 2. SEQ odd: readers wait (they never copy a half-written record).
 * 3. Copy the ranges into the block — only them, so atomic ops on other fields are kept.
 * 4. SEQ even, REDO_ENTRY cleared.
 */
export function writeRecordInPlace(ref: Ref, d: Ref, src: Uint8Array, ranges: readonly number[]): void {
  let bytes = 0;
  for (let i = 1; i < ranges.length; i += 2) bytes += ranges[i];
  const count = ranges.length >> 1;
  const redoBytes = (REDO.RANGES + 2 * count) * 4 + bytes;
  const slot = myWord;
  let redo = arena.i32[slot + THREAD.REDO_BLOCK];
  if (redo === 0 || classUnitsOf(redo) * UNIT < redoBytes) {
    // The buffer is this thread's for good (freed at exit or by recovery); alloc records it in
    // REDO_BLOCK inside the allocator's critical section, so it is never lost.
    if (redo !== 0) free(redo, slot + THREAD.REDO_BLOCK);
    redo = alloc(KIND.VALUE, Math.ceil(Math.max(redoBytes, 256) / UNIT), slot + THREAD.REDO_BLOCK);
  }
  const i32 = arena.i32;
  const u8 = arena.u8;
  const r = wordOf(redo);
  i32[r + REDO.COUNT] = count;
  let at = (r + REDO.RANGES + 2 * count) * 4;
  for (let i = 0; i < count; i++) {
    const off = ranges[2 * i];
    const len = ranges[2 * i + 1];
    i32[r + REDO.RANGES + 2 * i] = off;
    i32[r + REDO.RANGES + 2 * i + 1] = len;
    for (let k = 0; k < len; k++) u8[at + k] = src[off + k];
    at += len;
  }
  const e = wordOf(ref);
  i32[slot + THREAD.PENDING_ENTRY] = ref;
  i32[slot + THREAD.PENDING_OLD] = 0;
  i32[slot + THREAD.PENDING_NEW] = d;
  i32[slot + THREAD.REDO_DATA] = d;
  Atomics.store(i32, slot + THREAD.REDO_ENTRY, ref);
  Atomics.add(i32, e + ENTRY.SEQ, 1);
  const base = d * UNIT + RECORD_BYTES_OFFSET;
  for (let i = 0; i < count; i++) {
    const off = ranges[2 * i];
    const len = ranges[2 * i + 1];
    for (let k = 0; k < len; k++) u8[base + off + k] = src[off + k];
    if (INPLACE_DELAY_SPINS !== 0 && i === 0) spin(INPLACE_DELAY_SPINS);
  }
  Atomics.add(i32, e + ENTRY.SEQ, 1);
  Atomics.store(i32, slot + THREAD.REDO_ENTRY, 0);
  i32[slot + THREAD.PENDING_ENTRY] = 0;
}

function classUnitsOf(ref: Ref): number {
  return classUnits(arena.i32[wordOf(ref)] & 0xff);
}

/**
 * Whether DATA `d` names a record block of `size` bytes, which a write may change in place
 * (else the write publishes a first record block).
 */
export function isRecordBlock(d: number, size: number): boolean {
  const i32 = arena.i32;
  return d > 0 && (i32[wordOf(d) + VALUE.HDR] & VALUE_FLAG.RECORD) !== 0 && i32[wordOf(d) + VALUE.LEN] === size;
}
