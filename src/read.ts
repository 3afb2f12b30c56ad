/**
 * Reading an entry without a lock, through the seqlock of seqlock.ts: the whole value
 * (readEntry: copy, validate, decode), whether it holds a live value (peekEntry), its key for a
 * listing (liveKey), and the TTL tests of a value block (expiredBlock, expiredAt).
 */
import { arena } from './arena';
import { now } from './clock';
import { decode, Tag } from './codec';
import { ENTRY, RECORD_BYTES_OFFSET, TAG_MASK, TAG_SHIFT, UNIT, VALUE, VALUE_BYTES_OFFSET, VALUE_BYTES_OFFSET_TTL, VALUE_FLAG, inlineLength, inlineSlot, inlineTag, readDeadline } from './layout';
import { readKey } from './keyindex';
import { type Ref, wordOf } from './ref';
import { lockForRead, READ_RETRY_MASK as RETRY_MASK, unlockAfterRead } from './ordering';
import { Begin, beginEntryRead, corrupt, entryRefsMoved, noteRetry, refsCurrent, syncEntryEpoch, validateRead } from './seqlock';
// A cycle (write.ts reads expiry through this module): both use the other only inside calls.
import { Lock, lockEntry } from './write';

/** Module-local, so that V8 folds it (see ordering.ts, READ_RETRY_LIMIT). */
const READ_RETRY_MASK = RETRY_MASK;

/**
 * readEntry results that are not values. Distinct objects: `undefined` is never stored. Declared
 * and exported apart, so that this module's own uses are of a constant, not loads from its
 * exports object (modules that test for them keep local copies the same way).
 */
const MISSING: unknown = Symbol('missing');
const STALE: unknown = Symbol('stale');
export { MISSING, STALE };

/** Decodes the tags whose meaning is the store's (its schema, its learned structures): schema.ts. */
export interface SchemaDecoder {
  decodeSchemaValue(tag: number, bytes: Uint8Array, view: DataView, len: number): unknown;
}

/** Where a value readEntry returned was published: what a hot read revalidates (lookup-cache.ts). */
export interface ReadStamp {
  /** SEQ the value was read at. */
  seq: number;
  /** DATA: the VALUE block or inline descriptor it was read from. */
  data: number;
  /** Its deadline in epoch ms, 0 for none. */
  expires: number;
}

/**
 * Private buffer values are copied into before they are decoded, with an Int32 view of it:
 * small values are copied a word at a time (value bytes start 4-byte aligned in their block,
 * and the block's tail is inside the block, so rounding the length up to a word stays in it).
 */
let scratch: Uint8Array = Buffer.allocUnsafeSlow(4096);
/** Values up to this many bytes are copied a word at a time (see readEntry). */
const WORD_COPY_MAX = 256;
let scratch32 = new Int32Array(scratch.buffer, scratch.byteOffset, scratch.length >>> 2);
let scratchView = new DataView(scratch.buffer, scratch.byteOffset, scratch.length);

/** readEntryLocked: the lock was not free in time; go on optimistically. */
const RETRY: unknown = Symbol('retry');

/**
 * readEntry after READ_RETRY_LIMIT failed optimistic attempts: under the entry's lock no writer
 * moves SEQ, so the read validates at once (ordering.ts, lockForRead). Out of line: the hot
 * path only tests the retry count.
 */
function readEntryLocked(ref: Ref, gen: number, schema: SchemaDecoder, stamp: ReadStamp | null, grace: number): unknown {
  const how = lockForRead(ref, gen, lockEntry);
  if (how === Lock.Stale) return STALE;
  if (how === Lock.TimedOut) return RETRY;
  try {
    return readEntry(ref, gen, schema, stamp, grace);
  } finally {
    unlockAfterRead(ref, how);
  }
}

/**
 * Reads the value of entry `ref` if it still has generation `gen`, decoding the store's own tags
 * with `schema`; `stamp`, if given, receives where the value was published.
 * Returns the decoded value, MISSING (no value, or expired) or STALE (the entry no longer holds
 * the key: look it up again).
 *
 * `grace` is the store's staleWhileRevalidate in ms (0 for most stores): a store that has one
 * stores each deadline that much past the value's logical expiry, so that fetch can still
 * serve it stale, and its reads count a value expired from `grace` ms before that deadline.
 */
export function readEntry(ref: Ref, gen: number, schema: SchemaDecoder, stamp: ReadStamp | null, grace: number): unknown {
  const a = arena;
  const e = wordOf(ref);
  for (let spins = 0; ; spins++) {
    if (spins !== 0) {
      noteRetry();
      // Bounded optimism: every READ_RETRY_LIMIT failed attempts, one read under the entry lock.
      if ((spins & READ_RETRY_MASK) === 0) {
        const v = readEntryLocked(ref, gen, schema, stamp, grace);
        if (v !== RETRY) return v;
      }
    }
    // Views only grow, so this one stays valid for everything it covers; a ref beyond it is
    // handled by refreshing (a.covers) and starting over.
    const i32 = a.i32;
    // 1. Begin: an odd SEQ is a write in place in progress (an odd word in memory a retired
    //    slab gave back is no writer to wait for). 2. Same key? GEN moves when the entry is
    //    freed or reused. GEN and DATA are plain loads: the two SEQ loads around them are what
    //    orders them (see seqlock.ts).
    const s1 = beginEntryRead(i32, e, gen, spins);
    if (s1 === Begin.Stale) return STALE;
    if (s1 === Begin.Retry) continue;
    const d = i32[e + ENTRY.DATA];
    if (d === 0) {
      if (!validateRead(i32, e, s1)) continue;
      return entryRefsMoved(i32) ? STALE : MISSING;
    }
    // 3. Copy. Every field read here may be garbage if the block was freed under us: check
    //    bounds before following it; step 4 decides whether to keep the copy. An inline value
    //    (d < 0) is in a slot of this entry, which only a later write than the one that
    //    published d may overwrite (layout.ts, inline values): the same reasoning applies.
    // Only a block ref (d > 0) goes through wordOf: a negative descriptor doubled leaves the
    // Smi range, and the one multiply that every reader and writer inlines would then be
    // compiled for doubles everywhere (measured: +10% on a record field read in a process that
    // also reads inline values).
    const v = d > 0 ? wordOf(d) : 0;
    let len = -1;
    let meta = 0;
    let off = 0;
    let expires = 0;
    if (d < 0) {
      len = inlineLength(d);
      meta = inlineTag(d) << TAG_SHIFT;
      off = (e + inlineSlot(d)) * 4;
    } else if (v + VALUE.EXPIRES_LO < i32.length) {
      len = i32[v + VALUE.LEN];
      meta = i32[v + VALUE.HDR];
      off = d * UNIT + VALUE_BYTES_OFFSET;
      if ((meta & (VALUE_FLAG.TTL | VALUE_FLAG.RECORD)) !== 0) {
        if ((meta & VALUE_FLAG.TTL) !== 0) {
          expires = readDeadline(i32, v);
          off = d * UNIT + VALUE_BYTES_OFFSET_TTL;
        } else {
          off = d * UNIT + RECORD_BYTES_OFFSET;
        }
      }
    }
    if (len < 0 || off + len > a.viewBytes) {
      // Beyond this thread's views: the arena grew (refresh and retry), DATA was republished
      // under us (SEQ moved: retry), or the arena is corrupt (SEQ stable): fail loudly rather
      // than spin for ever.
      if (!a.covers(len < 0 ? (v + VALUE.EXPIRES_LO + 1) * 4 : off + len) && validateRead(a.i32, e, s1) && spins > 2) {
        // Garbage from memory a retired slab gave back is not corruption (see entryRefsMoved).
        if (entryRefsMoved(a.i32)) return STALE;
        throw corrupt(ref);
      }
      continue;
    }
    if (len > scratch.length) {
      // A Buffer, like what msgpackr's own callers pass it (its string paths prefer one).
      scratch = Buffer.allocUnsafeSlow(Math.max((len + 7) & ~7, scratch.length * 2));
      scratch32 = new Int32Array(scratch.buffer, scratch.byteOffset, scratch.length >>> 2);
      scratchView = new DataView(scratch.buffer, scratch.byteOffset, scratch.length);
    }
    if (len <= WORD_COPY_MAX) {
      // set() of a shared subarray costs ~50 ns before it copies a byte (measured: a view is
      // made, then a relaxed-atomic memcpy); a word loop wins below a few hundred bytes. The
      // loop is ~0.25 ns/byte over the arena's growable buffer, set() ~0.05: 256 is the measured
      // crossover, where both take ~80 ns.
      const dst = scratch32;
      const words = (len + 3) >>> 2;
      const w0 = off >>> 2;
      for (let i = 0; i < words; i++) dst[i] = i32[w0 + i];
    } else {
      scratch.set(a.u8.subarray(off, off + len));
    }
    // 4. Validate: the same SEQ means DATA was not republished, so the block was not freed;
    //    the same ENTRY_EPOCH, that the entry was an entry all along (reclaim.ts; a plain
    //    load after the Atomics.load of SEQ, see refsFrom).
    if (!validateRead(i32, e, s1)) continue;
    if (!refsCurrent(i32)) {
      syncEntryEpoch();
      return STALE;
    }
    if (expires !== 0 && now() + grace >= expires) return MISSING;
    if (stamp !== null) {
      stamp.seq = s1;
      stamp.data = d;
      stamp.expires = expires;
    }
    const tag = (meta >>> TAG_SHIFT) & TAG_MASK;
    return tag < Tag.Structured ? decode(tag, scratch, len) : schema.decodeSchemaValue(tag, scratch, scratchView, len);
  }
}

/**
 * Whether entry `ref` (generation `gen`) has a live value: true/false, or STALE. The seqlock of
 * readEntry with the copy shrunk to the value's deadline (`grace`: see readEntry).
 */
export function peekEntry(ref: Ref, gen: number, grace: number): unknown {
  const e = wordOf(ref);
  for (let spins = 0; ; spins++) {
    const i32 = arena.i32;
    const s1 = beginEntryRead(i32, e, gen, spins);
    if (s1 === Begin.Stale) return STALE;
    if (s1 === Begin.Retry) continue;
    const d = i32[e + ENTRY.DATA];
    const live = d !== 0 && !expiredBlock(d, now() + grace);
    if (validateRead(i32, e, s1)) {
      if (refsCurrent(i32)) return live;
      syncEntryEpoch();
      return STALE;
    }
    // Garbage from memory a retired slab gave back may never validate: check before retrying.
    if (entryRefsMoved(i32)) return STALE;
  }
}

/**
 * The key of entry `ref` (a ref from an index walk) if it is live with an unexpired value, read
 * consistently; else undefined. GEN brackets the key as SEQ brackets a value: the key changes
 * only when the entry is freed or reused, which moves GEN. The caller checks ENTRY_EPOCH around
 * the whole walk (Store.scan). `grace`: see readEntry.
 */
export function liveKey(ref: Ref, grace: number): string | undefined {
  const e = wordOf(ref);
  const gen = Atomics.load(arena.i32, e + ENTRY.GEN);
  if ((gen & 1) !== 0) return undefined;
  const d = Atomics.load(arena.i32, e + ENTRY.DATA);
  if (d === 0 || expiredBlock(d, now() + grace)) return undefined;
  const key = readKey(ref);
  return Atomics.load(arena.i32, e + ENTRY.GEN) === gen && key.length > 0 ? key : undefined;
}

/** Whether the value DATA `d` names has a deadline at or before `t`. */
export function expiredBlock(d: number, t: number): boolean {
  // An inline value (d < 0) never has a TTL.
  if (d <= 0 || !arena.covers(d * UNIT + VALUE_BYTES_OFFSET_TTL)) return false;
  const v = wordOf(d);
  const i32 = arena.i32;
  if ((i32[v + VALUE.HDR] & VALUE_FLAG.TTL) === 0) return false;
  return readDeadline(i32, v) <= t;
}

/** Whether entry `ref` holds a value that expired by `t` (a candidate, re-checked under its lock). */
export function expiredAt(ref: Ref, t: number): boolean {
  // A bounded sweep reads buckets without the store's SEQ check: the array may have been freed
  // and reused, and `ref` be garbage. Candidates are re-checked under the entry lock.
  if (!arena.covers((wordOf(ref) + ENTRY.DATA + 1) * 4)) return false;
  const d = Atomics.load(arena.i32, wordOf(ref) + ENTRY.DATA);
  return d !== 0 && expiredBlock(d, t);
}
