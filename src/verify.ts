/**
 * The integrity checker: walks the whole arena and reports every inconsistency it finds.
 *
 * What it checks (see layout.ts for the records):
 * - header: magic, version, TOP and LIMIT within the buffer;
 * - heap: walking block by block from HEAP_START by each block's size class lands exactly on
 *   TOP; every header has a known kind and class; the allocator's usage counters match;
 * - free lists: every node is a FREE block (not a live one) of the list's class and family (no
 *   entry on a DATA list, nothing but entries on an ENTRY list), each free block is on exactly
 *   one list, and no list has a cycle;
 * - learned structures: each store's table is a VALUE block of readable JSON whose COUNT is
 *   right and that names no shape twice; no save is left half-done except by a dead thread;
 * - index resizes: none is left half-done (INDEX_NEW/INDEX_OLD set) except by a dead thread;
 * - stores: the directory list; each index's capacity, bucket counts (COUNT, TOMBSTONES),
 *   VALUES and TTL_COUNT; every bucket names a live ENTRY block whose hash is the hash of its
 *   key and that a lookup would reach from its home bucket; no key appears twice;
 * - entries and values: GEN even, SEQ even (odd = an in-place write never finished), DATA empty
 *   or a VALUE block whose length fits the block; no value block shared by two entries;
 * - leaks: allocated blocks that nothing references (a thread's retired or pending block, and
 *   the blocks of a store it is creating or of a schema it is installing, count as referenced);
 * - locks: entry, store, directory and allocator locks held by a thread that is no longer
 *   registered (they are taken over by the next thread that waits, so these are warnings);
 * - threads: slots stuck in RECOVERING;
 * - fetch's loader table (loader.ts, checkLoads): its chains reach LOAD blocks without a cycle,
 *   and its records and their results count as referenced (a load in flight, or an outcome
 *   some waiter has not read yet); a record in flight that no thread holds is a warning.
 *
 * It holds the allocator lock while it runs, so no block is allocated or freed under it: the
 * heap walk, the usage counters and the free lists are one snapshot, whatever other threads do
 * (a worker that has answered may still be freeing its retired block as it exits). Stores,
 * entries and values it reads without their locks: run it when no writes are in flight (in a
 * test, or after the workers of a crashed job are gone) for those; concurrent writes can show
 * up there as transient mismatches of a store's counters or of which entry holds a block.
 */
import { arena } from './arena';
import {
  BLOCK,
  BUCKET_EMPTY,
  BUCKET_REF_MASK,
  BUCKET_TAG_BITS,
  BUCKET_TAG_SHIFT,
  BUCKET_TOMBSTONE,
  ENTRY,
  ENTRY_FIXED_BYTES,
  INLINE_MAX_BYTES,
  INLINE_WORDS_MASK,
  INLINE_WORDS_SHIFT,
  KEY_LEN_MASK,
  KEY_ONE_BYTE,
  ENTRY_RUN_FLAG,
  FREE_ENTRY_FLAG,
  FREE_LIST_ENTRY,
  HEADER,
  HEAP_START_UNIT,
  INDEX,
  KIND,
  LAYOUT_VERSION,
  MAGIC,
  MAX_KEY_LENGTH,
  MAX_THREADS,
  MIN_BLOCK_UNITS,
  SIZE_CLASSES,
  STORE,
  STRUCTS,
  THREAD,
  THREAD_STATE,
  UNIT,
  VALUE,
  VALUE_BYTES_OFFSET,
  VALUE_BYTES_OFFSET_TTL,
  VALUE_FLAG,
  RECORD_BYTES_OFFSET,
  SCHEMA,
  META_WINDOW,
  META_PROTECTED,
  classUnits,
  inlineLength,
  inlineSlot,
  inlineSlotA,
  inlineTag,
  inlineWords,
  readArenaText,
} from './layout';
import { policyOf, policyProblems } from './policy';
import { type Ref } from './ref';
import { withAllocatorLock } from './allocator';
import { hashKey, readKey } from './keyindex';
import { isTable } from './structures';
import { isAlive, slotWord } from './threads';
import { checkLoads } from './loader';

export type ProblemKind = 'header' | 'heap' | 'free-list' | 'store' | 'index' | 'entry' | 'value' | 'leak' | 'lock' | 'thread' | 'load';

/** One inconsistency. `ref` is the block's offset in 8-byte units (0 when not about a block). */
export interface VerifyProblem {
  kind: ProblemKind;
  /** 'error': the arena is inconsistent. 'warning': recoverable (a dead thread's lock, a leak). */
  severity: 'error' | 'warning';
  ref: number;
  store?: string;
  key?: string;
  message: string;
}

export interface VerifyReport {
  /** True when no error was found (warnings allowed). */
  ok: boolean;
  problems: VerifyProblem[];
  /** Top-level blocks (slabs count as one), free DATA blocks, and entries inside slabs. */
  blocks: { total: number; free: number; entries: number; freeEntries: number; values: number; indexes: number; stores: number; slabs: number; retiredSlabs: number };
  stores: number;
  entries: number;
  bytesInUse: number;
  leakedBytes: number;
}

const KIND_NAMES = ['FREE', 'ENTRY', 'VALUE', 'INDEX', 'STORE', 'SLAB', 'RETIRED', 'LOAD'];

/** Walks the arena and reports what is wrong with it. */
export function verify(): VerifyReport {
  arena.refresh();
  // Read before taking the lock, which takes a dead holder's over.
  const allocLock = Atomics.load(arena.i32, HEADER.ALLOC_LOCK);
  return withAllocatorLock(() => walk(allocLock));
}

function walk(allocLock: number): VerifyReport {
  const i32 = arena.i32;
  const problems: VerifyProblem[] = [];
  const err = (kind: ProblemKind, ref: number, message: string, extra: Partial<VerifyProblem> = {}): void => {
    problems.push({ kind, severity: 'error', ref, message, ...extra });
  };
  const warn = (kind: ProblemKind, ref: number, message: string, extra: Partial<VerifyProblem> = {}): void => {
    problems.push({ kind, severity: 'warning', ref, message, ...extra });
  };
  const report: VerifyReport = {
    ok: false,
    problems,
    blocks: { total: 0, free: 0, entries: 0, freeEntries: 0, values: 0, indexes: 0, stores: 0, slabs: 0, retiredSlabs: 0 },
    stores: 0,
    entries: 0,
    bytesInUse: 0,
    leakedBytes: 0,
  };

  // ── header ──
  const totalUnits = Math.floor(arena.viewBytes / UNIT);
  if (i32[HEADER.MAGIC] !== MAGIC) err('header', 0, `bad magic ${hex(i32[HEADER.MAGIC])}`);
  if (i32[HEADER.VERSION] !== LAYOUT_VERSION) err('header', 0, `layout version ${i32[HEADER.VERSION]}, expected ${LAYOUT_VERSION}`);
  const top = i32[HEADER.TOP];
  if (top < HEAP_START_UNIT || top > totalUnits) {
    err('header', 0, `TOP is unit ${top}, outside the heap [${HEAP_START_UNIT}, ${totalUnits}]`);
    report.ok = false;
    return report; // nothing below can be walked
  }
  if (i32[HEADER.LIMIT] <= 0) err('header', 0, `LIMIT is ${i32[HEADER.LIMIT]} units`);
  lockCheck(allocLock, 0, 'the allocator lock', warn);
  lockCheck(i32[HEADER.DIR_LOCK], 0, 'the store directory lock', warn);

  // ── heap walk ──
  /** kind of each block start, by ref (only block starts are present). */
  const kinds = new Map<number, number>();
  let units = 0;
  let ref = HEAP_START_UNIT;
  while (ref < top) {
    const hdr = i32[ref * 2 + BLOCK.HDR];
    const c = hdr & 0xff;
    const kind = (hdr >>> 8) & 0xff;
    if (c >= SIZE_CLASSES || kind > KIND.LOAD) {
      err('heap', ref, `block header ${hex(hdr)} has an unknown ${c >= SIZE_CLASSES ? 'size class' : 'kind'}; the heap cannot be walked past it`);
      break;
    }
    const size = classUnits(c);
    if (ref + size > top) {
      err('heap', ref, `block of ${size} units runs past TOP (${top})`);
      break;
    }
    kinds.set(ref, hdr);
    report.blocks.total++;
    if (kind === KIND.FREE) report.blocks.free++;
    else {
      units += size;
      if (kind === KIND.VALUE) report.blocks.values++;
      else if (kind === KIND.INDEX) report.blocks.indexes++;
      else if (kind === KIND.STORE) report.blocks.stores++;
      else if (kind === KIND.SLAB) {
        report.blocks.slabs++;
        walkSlab(ref, size);
      }
      else if (kind === KIND.RETIRED) report.blocks.retiredSlabs++;
      else if (kind === KIND.ENTRY) err('heap', ref, 'an ENTRY block outside any slab');
    }
    ref += size;
  }
  /** A slab's interior: ENTRY blocks (live or free) of one class from unit 1 to its end. */
  function walkSlab(slab: number, slabUnits: number): void {
    let r = slab + 1;
    let entryClass = -1;
    // The slab's tail, shorter than one entry, was never carved: stop before it.
    while (r + (entryClass < 0 ? MIN_BLOCK_UNITS : classUnits(entryClass)) <= slab + slabUnits) {
      const hdr = i32[r * 2 + BLOCK.HDR];
      const c = hdr & 0xff;
      const kind = (hdr >>> 8) & 0xff;
      const freeEntry = kind === KIND.FREE && (hdr & FREE_ENTRY_FLAG) !== 0;
      if (c >= SIZE_CLASSES || !(kind === KIND.ENTRY || freeEntry) || (entryClass >= 0 && c !== entryClass)) {
        err('heap', r, `slab at unit ${slab} holds a block with header ${hex(hdr)} (${describeHdr(hdr)}), not an entry of its class`);
        return;
      }
      entryClass = c;
      if (r + classUnits(c) > slab + slabUnits) break;
      kinds.set(r, hdr);
      if ((hdr & ENTRY_RUN_FLAG) !== 0) {
        // The never-used tail: one free-list node for all of it, nothing walkable after it.
        if (!freeEntry) err('heap', r, `slab at unit ${slab} has a RUN mark on a block that is not free (${describeHdr(hdr)})`);
        const left = i32[r * 2 + ENTRY.SEQ];
        const room = Math.floor((slab + slabUnits - r) / classUnits(c));
        if (left < 1 || left > room) err('heap', r, `slab at unit ${slab}: its never-used tail claims ${left} entries where ${room} fit`);
        report.blocks.freeEntries += Math.max(0, Math.min(left, room));
        return;
      }
      if (freeEntry) report.blocks.freeEntries++;
      else report.blocks.entries++;
      r += classUnits(c);
    }
  }
  const heapWalked = ref === top;
  report.bytesInUse = units * UNIT;
  if (heapWalked) {
    if (units !== i32[HEADER.UNITS_IN_USE]) err('heap', 0, `allocated blocks hold ${units} units but UNITS_IN_USE says ${i32[HEADER.UNITS_IN_USE]}`);
    const inUse = report.blocks.total - report.blocks.free;
    if (inUse !== i32[HEADER.BLOCKS_IN_USE]) err('heap', 0, `${inUse} blocks are allocated but BLOCKS_IN_USE says ${i32[HEADER.BLOCKS_IN_USE]}`);
  }
  const isBlock = (r: number, kind: number): boolean => {
    const hdr = kinds.get(r);
    return hdr !== undefined && ((hdr >>> 8) & 0xff) === kind;
  };

  // ── free lists ──
  const onList = new Set<number>();
  for (let family = 0; family < 2; family++) {
    for (let c = 0; c < SIZE_CLASSES; c++) {
      let r = i32[HEADER.FREE_LISTS + family * SIZE_CLASSES + c];
      let steps = 0;
      while (r !== 0) {
        const where = `free list ${family === FREE_LIST_ENTRY ? 'ENTRY' : 'DATA'}[${c}]`;
        if (onList.has(r)) {
          err('free-list', r, `${where} reaches block ${r} twice (a cycle, or a block on two lists)`);
          break;
        }
        if (heapWalked && !kinds.has(r)) {
          err('free-list', r, `${where} names unit ${r}, which is not the start of a block`);
          break;
        }
        // Three independent checks, each a different allocator bug: a block freed without its
        // header (the next allocation hands out a live block again), a block pushed onto the
        // other family's list (an entry reused as a value breaks type stability, see layout.ts),
        // a block on the list of another size class.
        const hdr = i32[r * 2 + BLOCK.HDR];
        const kind = (hdr >>> 8) & 0xff;
        const entryFamily = kind === KIND.ENTRY || (kind === KIND.FREE && (hdr & FREE_ENTRY_FLAG) !== 0);
        if (kind !== KIND.FREE) err('free-list', r, `${where} holds block ${r}, which is not free: it is a live ${KIND_NAMES[kind] ?? `kind ${kind}`} block`);
        if (entryFamily !== (family === FREE_LIST_ENTRY)) {
          err('free-list', r, family === FREE_LIST_ENTRY
            ? `${where} holds block ${r}, which is not an entry (${describeHdr(hdr)}): the ENTRY lists hold only entries`
            : `${where} holds block ${r}, an entry block${kind === KIND.FREE ? ' (freed)' : ''}: entries are reused only as entries, never through a DATA list`);
        }
        if ((hdr & 0xff) !== c) err('free-list', r, `${where} holds block ${r} of size class ${hdr & 0xff}`);
        onList.add(r);
        r = i32[r * 2 + BLOCK.NEXT_FREE];
        if (++steps > report.blocks.total + report.blocks.entries + report.blocks.freeEntries + 1) {
          err('free-list', r, `${where} is longer than the heap has blocks`);
          break;
        }
      }
    }
  }
  if (heapWalked) {
    for (const [r, hdr] of kinds) {
      if (((hdr >>> 8) & 0xff) === KIND.FREE && !onList.has(r)) warn('leak', r, `free block of ${classUnits(hdr & 0xff) * UNIT} bytes is on no free list`);
    }
  }

  // ── thread table: what in-flight writes reference ──
  const inFlight = new Set<number>();
  for (let slot = 0; slot < MAX_THREADS; slot++) {
    const w = slotWord(slot);
    const state = i32[w + THREAD.STATE];
    if (state === THREAD_STATE.FREE) continue;
    if (state === THREAD_STATE.RECOVERING) warn('thread', 0, `thread slot ${slot} (threadId ${i32[w + THREAD.THREAD_ID]}) is stuck in recovery`);
    for (const f of [THREAD.PENDING_OLD, THREAD.PENDING_NEW, THREAD.DEFERRED_FREE, THREAD.REDO_BLOCK, THREAD.CREATE_STORE, THREAD.CREATE_BLOCK, THREAD.LOAD_NEW, THREAD.LOAD_FREE]) if (i32[w + f] > 0) inFlight.add(i32[w + f]);
    // A store being created names its index in its STORE block once CREATE_BLOCK is cleared
    // (see layout.ts, THREAD.CREATE_STORE); read in that order, the INDEX word is then valid.
    const creating = Atomics.load(i32, w + THREAD.CREATE_STORE);
    if (creating > 0 && Atomics.load(i32, w + THREAD.CREATE_BLOCK) === 0 && creating < top) {
      const idx = i32[creating * 2 + STORE.INDEX];
      if (idx > 0) inFlight.add(idx);
    }
  }

  // ── stores, indexes, entries, values ──
  const referenced = new Set<number>();
  const seenStores = new Set<number>();
  for (let s = i32[HEADER.STORE_HEAD]; s !== 0; s = i32[s * 2 + STORE.NEXT]) {
    if (seenStores.has(s)) {
      err('store', s, 'the store directory list has a cycle');
      break;
    }
    seenStores.add(s);
    if (heapWalked && !isBlock(s, KIND.STORE)) {
      err('store', s, `the store directory names unit ${s}, which is not a STORE block`);
      break;
    }
    referenced.add(s);
    const schema = i32[s * 2 + STORE.SCHEMA];
    if (schema !== 0) {
      if (heapWalked && !isBlock(schema, KIND.VALUE)) err('store', s, `SCHEMA names unit ${schema}, which is not a VALUE-kind block`);
      referenced.add(schema);
    }
    verifyStructures(i32, s, { err, warn, isBlock, heapWalked, referenced });
    verifyReplacement(i32, s, STORE.INDEX_NEW, STORE.INDEX_OLD, 'INDEX_NEW/INDEX_OLD', 'an index resize', { err, warn, referenced });
    report.stores++;
    const name = storeName(i32, s);
    verifyStore(i32, s, name, { err, warn, isBlock, heapWalked, referenced, report });
  }

  // ── fetch's loader table: loads in flight and outcomes not yet read by every waiter ──
  lockCheck(i32[HEADER.LOAD_LOCK], 0, 'the loader table lock', warn);
  checkLoads(i32, isBlock, (r, message) => warn('load', r, message), referenced);

  // ── leaks ──
  if (heapWalked) {
    for (const [r, hdr] of kinds) {
      const kind = (hdr >>> 8) & 0xff;
      if (kind === KIND.FREE || kind === KIND.SLAB || kind === KIND.RETIRED || referenced.has(r) || inFlight.has(r)) continue;
      const bytes = classUnits(hdr & 0xff) * UNIT;
      report.leakedBytes += bytes;
      warn('leak', r, `${KIND_NAMES[kind]} block of ${bytes} bytes is allocated but nothing references it`);
    }
  }

  report.ok = !problems.some((p) => p.severity === 'error');
  return report;
}

interface Ctx {
  err: (kind: ProblemKind, ref: number, message: string, extra?: Partial<VerifyProblem>) => void;
  warn: (kind: ProblemKind, ref: number, message: string, extra?: Partial<VerifyProblem>) => void;
  isBlock: (r: number, kind: number) => boolean;
  heapWalked: boolean;
  referenced: Set<number>;
  report: VerifyReport;
}

function verifyStore(i32: Int32Array, s: number, store: string, ctx: Ctx): void {
  const { err, warn, isBlock, heapWalked, referenced } = ctx;
  const w = s * 2;
  const at = { store };
  lockCheck(i32[w + STORE.LOCK], s, `store "${store}"'s structural lock`, warn, at);
  if ((i32[w + STORE.SEQ] & 1) !== 0) err('store', s, 'structural SEQ is odd', at);
  const idx = i32[w + STORE.INDEX];
  if (heapWalked && !isBlock(idx, KIND.INDEX)) {
    err('index', idx, `store's INDEX names unit ${idx}, which is not an INDEX block`, at);
    return;
  }
  referenced.add(idx);
  const cap = i32[idx * 2 + INDEX.CAPACITY];
  const blockUnits = classUnits(i32[idx * 2] & 0xff);
  if (cap <= 0 || (cap & (cap - 1)) !== 0 || (INDEX.BUCKETS + cap) * 4 > blockUnits * UNIT) {
    err('index', idx, `capacity ${cap} is not a power of two that fits its ${blockUnits * UNIT}-byte block`, at);
    return;
  }
  const base = idx * 2 + INDEX.BUCKETS;
  let count = 0;
  let tombstones = 0;
  let bytes = 0;
  /** Entries flagged META_WINDOW: each must be in a live slot of the policy's ring. */
  const windowed = new Set<number>();
  let protectedEntries = 0;
  let values = 0;
  let ttl = 0;
  const keys = new Set<string>();
  const recordSize = schemaRecordSize(i32, s, err, at);
  for (let b = 0; b < cap; b++) {
    const bucket = i32[base + b];
    if (bucket === BUCKET_EMPTY) continue;
    if (bucket === BUCKET_TOMBSTONE) {
      tombstones++;
      continue;
    }
    const ref = bucket & BUCKET_REF_MASK;
    count++;
    if (heapWalked ? !isBlock(ref, KIND.ENTRY) : ref < HEAP_START_UNIT) {
      err('index', ref, `bucket ${b} names unit ${ref}, which is not an ENTRY block`, at);
      continue;
    }
    if (referenced.has(ref)) err('entry', ref, 'entry is referenced twice', at);
    referenced.add(ref);
    const e = ref * 2;
    const lenWord = i32[e + ENTRY.KEY_LEN];
    const len = lenWord & KEY_LEN_MASK;
    const width = (lenWord & KEY_ONE_BYTE) !== 0 ? 1 : 2;
    const entryBytes = classUnits(i32[e] & 0xff) * UNIT;
    const slotWords = inlineWords(lenWord);
    const slotA = inlineSlotA(lenWord);
    const inlineEnd = (slotA + 2 * slotWords) * 4;
    const knownBits = KEY_LEN_MASK | KEY_ONE_BYTE | (INLINE_WORDS_MASK << INLINE_WORDS_SHIFT);
    if (len <= 0 || len > MAX_KEY_LENGTH || (lenWord & ~knownBits) !== 0 || ENTRY_FIXED_BYTES + len * width > entryBytes) {
      err('entry', ref, `key length ${len} does not fit its ${entryBytes}-byte block`, at);
      continue;
    }
    if (slotWords * 4 > INLINE_MAX_BYTES || inlineEnd > entryBytes) {
      err('entry', ref, `inline slots of ${slotWords} words after a key of ${len} code units do not fit its ${entryBytes}-byte block`, at);
      continue;
    }
    const key = readKey(ref);
    const where = { store, key };
    if ((i32[e + ENTRY.MIN_BYTES] & META_WINDOW) !== 0) windowed.add(ref);
    if ((i32[e + ENTRY.MIN_BYTES] & META_PROTECTED) !== 0) protectedEntries++;
    if ((i32[e + ENTRY.GEN] & 1) !== 0) err('entry', ref, 'entry in the index has an odd GEN (it is marked free)', where);
    if ((i32[e + ENTRY.SEQ] & 1) !== 0) err('entry', ref, 'SEQ is odd: an in-place write never finished', where);
    const hash = hashKey(key);
    // A probe skips a bucket whose tag is not its hash's: the key would be unfindable.
    if (((bucket ^ hash) & BUCKET_TAG_BITS) !== 0) err('index', ref, `bucket ${b}'s tag bits ${(bucket & BUCKET_TAG_BITS) >>> BUCKET_TAG_SHIFT} are not those of the key's hash (${(hash & BUCKET_TAG_BITS) >>> BUCKET_TAG_SHIFT})`, where);
    if (!reachable(i32, base, cap, b, hash)) err('index', ref, `bucket ${b} cannot be reached from the key's home bucket (an EMPTY bucket cuts the probe chain)`, where);
    if (keys.has(key)) err('index', ref, 'key appears twice in the index', where);
    keys.add(key);
    lockCheck(i32[e + ENTRY.LOCK], ref, `key "${key}"'s lock`, warn, where);
    const d = i32[e + ENTRY.DATA];
    if (d === 0) continue;
    if (d < 0) {
      // An inline value: in one of the entry's two slots, no longer than a slot.
      values++;
      const slot = inlineSlot(d);
      const vlen = inlineLength(d);
      const tag = inlineTag(d);
      if (slotWords === 0 || (slot !== slotA && slot !== slotA + slotWords)) {
        err('value', ref, `DATA is an inline descriptor naming word ${slot}, which is not one of the entry's ${slotWords === 0 ? 'zero' : 'two'} inline slots`, where);
      } else if (vlen > slotWords * 4) {
        err('value', ref, `inline value length ${vlen} does not fit its ${slotWords * 4}-byte slot`, where);
      }
      if (tag === 0 || tag > 16) err('value', ref, `unknown codec tag ${tag}`, where);
      if (recordSize > 0) err('value', ref, `the store's values are ${recordSize}-byte records, but this one is an inline value`, where);
      bytes += vlen;
      continue;
    }
    if (heapWalked && !isBlock(d, KIND.VALUE)) {
      err('value', d, `DATA names unit ${d}, which is not a VALUE block`, where);
      continue;
    }
    if (referenced.has(d)) err('value', d, 'value block is referenced twice', where);
    referenced.add(d);
    values++;
    const meta = i32[d * 2 + VALUE.HDR];
    const hasTtl = (meta & VALUE_FLAG.TTL) !== 0;
    if (hasTtl) ttl++;
    const vlen = i32[d * 2 + VALUE.LEN];
    bytes += vlen;
    const vBytes = classUnits(i32[d * 2] & 0xff) * UNIT;
    const head = hasTtl ? VALUE_BYTES_OFFSET_TTL : (meta & VALUE_FLAG.RECORD) !== 0 ? RECORD_BYTES_OFFSET : VALUE_BYTES_OFFSET;
    if (vlen < 0 || head + vlen > vBytes) err('value', d, `value length ${vlen} does not fit its ${vBytes}-byte block`, where);
    const tag = (meta >>> 16) & 0xff;
    if (tag === 0 || tag > 16) err('value', d, `unknown codec tag ${tag}`, where);
    if (recordSize > 0 && ((meta & VALUE_FLAG.RECORD) === 0 || vlen !== recordSize)) {
      err('value', d, `the store's values are ${recordSize}-byte records, but this one is ${(meta & VALUE_FLAG.RECORD) === 0 ? 'not a record' : `${vlen} bytes`}`, where);
    }
  }
  ctx.report.entries += count;
  const f = (field: number): number => i32[w + field];
  // The counters change only under the store lock (write.ts, publish): if its holder died,
  // they may be off until the next thread to take the lock recounts them.
  const storeLock = i32[w + STORE.LOCK];
  const counted = storeLock !== 0 && !isAlive(storeLock >>> 1) ? (kind: ProblemKind, ref: number, message: string, extra?: Partial<VerifyProblem>) => warn(kind, ref, `${message} (the store lock's holder died mid-change: the next thread to take the lock recounts)`, extra) : err;
  if (f(STORE.COUNT) !== count) counted('store', s, `COUNT is ${f(STORE.COUNT)} but the index holds ${count} entries`, at);
  if (f(STORE.TOMBSTONES) !== tombstones) counted('store', s, `TOMBSTONES is ${f(STORE.TOMBSTONES)} but the index holds ${tombstones}`, at);
  if (f(STORE.VALUES) !== values) counted('store', s, `VALUES is ${f(STORE.VALUES)} but ${values} entries hold a value`, at);
  if (f(STORE.TTL_COUNT) !== ttl) counted('store', s, `TTL_COUNT is ${f(STORE.TTL_COUNT)} but ${ttl} values have a TTL`, at);
  const p = policyOf(s as Ref);
  if (p !== 0) for (const problem of policyProblems(p, bytes, windowed, protectedEntries)) counted('store', s, problem, at);
  else if (windowed.size > 0) err('store', s, `${windowed.size} entries are flagged as in the admission window of a store without a bound`, at);
}

/** The record size of store `s`'s schema (0 without a record layout); reports an unreadable schema. */
function schemaRecordSize(i32: Int32Array, s: number, err: Ctx['err'], at: { store: string }): number {
  const block = i32[s * 2 + STORE.SCHEMA];
  if (block === 0) return 0;
  const len = i32[block * 2 + SCHEMA.LEN];
  const bytes = classUnits(i32[block * 2] & 0xff) * UNIT;
  if (len <= 0 || SCHEMA.TEXT * 4 + len * 2 > bytes) {
    err('store', s, `schema text of ${len} code units does not fit its ${bytes}-byte block`, at);
    return 0;
  }
  const text = readArenaText(arena.u16, (block * 2 + SCHEMA.TEXT) * 2, len);
  try {
    const parsed = JSON.parse(text) as { record?: { size?: unknown } | null };
    return typeof parsed.record?.size === 'number' ? parsed.record.size : 0;
  } catch {
    err('store', s, 'schema text is not JSON', at);
    return 0;
  }
}

/**
 * The store's learned structure table (structures.ts): a VALUE-kind block holding a JSON array
 * of COUNT property-name arrays; and no save half-done unless its thread died holding the store
 * lock (the next thread to take the lock finishes it: a warning, and its blocks are not leaks).
 */
function verifyStructures(i32: Int32Array, s: number, ctx: Pick<Ctx, 'err' | 'warn' | 'isBlock' | 'heapWalked' | 'referenced'>): void {
  const { err, isBlock, heapWalked, referenced } = ctx;
  const w = s * 2;
  const at = { store: storeName(i32, s) };
  const block = i32[w + STORE.STRUCTS];
  if (block !== 0) {
    if (heapWalked && !isBlock(block, KIND.VALUE)) err('store', s, `STRUCTS names unit ${block}, which is not a VALUE-kind block`, at);
    else {
      referenced.add(block);
      const len = i32[block * 2 + STRUCTS.LEN];
      const count = i32[block * 2 + STRUCTS.COUNT];
      const bytes = classUnits(i32[block * 2] & 0xff) * UNIT;
      if (len <= 0 || STRUCTS.TEXT * 4 + len * 2 > bytes) err('store', s, `structure table text of ${len} code units does not fit its ${bytes}-byte block`, at);
      else {
        const text = readArenaText(arena.u16, (block * 2 + STRUCTS.TEXT) * 2, len);
        let list: unknown = null;
        try {
          list = JSON.parse(text);
        } catch {
          // reported below
        }
        if (!isTable(list)) err('store', s, 'structure table is not a JSON array of property-name arrays', at);
        else if (list.length !== count) err('store', s, `structure table COUNT is ${count} but its text holds ${list.length} structures`, at);
        else {
          // Two ids for one shape would mean a save that did not see the table it extended.
          const seen = new Set(list.map((keys) => JSON.stringify(keys)));
          if (seen.size !== list.length) err('store', s, `structure table holds ${list.length - seen.size} shape(s) twice`, at);
        }
      }
    }
  }
  verifyReplacement(i32, s, STORE.STRUCTS_NEW, STORE.STRUCTS_OLD, 'STRUCTS_NEW/STRUCTS_OLD', 'a structure table save', ctx);
}

/**
 * A block replacement recorded in fields `newField` and `oldField` of store `s` (a structure
 * table save, an index resize; see allocator.ts, finishReplacement) is in flight only while a
 * dead thread holds the store lock: the next thread to take it finishes the replacement, so
 * that is a warning and the recorded blocks are not leaks. Recorded at any other time: an error.
 * `what` names it with its article ("an index resize").
 */
function verifyReplacement(i32: Int32Array, s: number, newField: number, oldField: number, fields: string, what: string, ctx: Pick<Ctx, 'err' | 'warn' | 'referenced'>): void {
  const w = s * 2;
  const fresh = i32[w + newField];
  const old = i32[w + oldField];
  if (fresh === 0 && old === 0) return;
  const at = { store: storeName(i32, s) };
  const lock = i32[w + STORE.LOCK];
  if (lock !== 0 && !isAlive(lock >>> 1)) {
    ctx.warn('store', s, `${what} was cut short by the death of its thread (the next thread to take the store lock finishes it)`, at);
    for (const r of [fresh, old]) if (r !== 0) ctx.referenced.add(r);
  } else {
    ctx.err('store', s, `${fields} are ${fresh}/${old} with no ${what.replace(/^an? /, '')} in flight`, at);
  }
}

/** Whether linear probing from the hash's home bucket reaches bucket `b` without an EMPTY. */
function reachable(i32: Int32Array, base: number, cap: number, b: number, hash: number): boolean {
  const mask = cap - 1;
  for (let i = hash & mask, n = 0; n < cap; i = (i + 1) & mask, n++) {
    if (i === b) return true;
    if (i32[base + i] === BUCKET_EMPTY) return false;
  }
  return false;
}

/** `word`: the lock word as read. */
function lockCheck(word: number, ref: number, what: string, warn: Ctx['warn'], extra: Partial<VerifyProblem> = {}): void {
  if (word !== 0 && !isAlive(word >>> 1)) warn('lock', ref, `${what} is held by a thread that is gone (the next waiter takes it over)`, extra);
}

function storeName(i32: Int32Array, s: number): string {
  const len = Math.min(i32[s * 2 + STORE.NAME_LEN], 256);
  return readArenaText(arena.u16, (s * 2 + STORE.NAME) * 2, len);
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

function describeHdr(hdr: number): string {
  return `${KIND_NAMES[(hdr >>> 8) & 0xff] ?? `kind ${(hdr >>> 8) & 0xff}`}, class ${hdr & 0xff}`;
}
