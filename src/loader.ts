/**
 * The loader table of `fetch`: which (store, key) loads are in flight in the process, who runs
 * each, which threads wait for it, and the outcome every waiter reads. The fetch flow around it
 * (in-thread sharing, waiting, signals, stale-while-revalidate) is fetch.ts.
 *
 * What it owns (layout.ts, LOADS / LOAD / RESULT; header words LOAD_LOCK, LOAD_TABLE,
 * LOAD_TABLE_NEW; thread words LOAD_NEW, LOAD_FREE): one LOADS block for the process, made at
 * the first miss and kept for good, whose LOAD_BUCKETS heads chain LOAD records by the hash of
 * (store, key); each LOAD record and its RESULT block, from registration until the last thread
 * that holds the record lets it go.
 *
 * Protocol.
 * - Register (under LOAD_LOCK): a record of the same store and key whose STATE is not final is
 *   the load in flight: the thread sets its WAITERS bit (its thread slot) and waits. Otherwise
 *   the caller's recheck runs (has the key been stored meanwhile?) and, if it still wants a
 *   load, a new record is linked with STATE = the thread's token and its bit set: this thread
 *   runs the loader. One thread per load, whichever registers first.
 * - Close (under LOAD_LOCK): before the owner stores a loaded value it sets CLOSED. A fetch
 *   that joins the load later (`late`) may have read a value written after the load began,
 *   and the owner's store may have kept that value (fetch.ts, storeLoaded): so a late waiter
 *   reads the key again once the load is done, and takes the record's outcome only if the key
 *   holds nothing by then (evicted). A waiter that joined before the close needs no such read:
 *   the owner's store compared the key's SEQ from the load's start under the key's lock, after
 *   every read that waiter made before it joined.
 * - Publish (the owner, no lock): the outcome goes into a RESULT block (the encoded value, or
 *   the name, message and code of the error; none for `undefined`), allocated straight into the
 *   record's RESULT word by the allocator; then STATE becomes LOAD_DONE or LOAD_FAILED with an
 *   Atomics.store, and Atomics.notify wakes the waiters. A final record is passed over by every
 *   later registration: it is unlinked from the protocol before any waiter wakes, so the next
 *   fetch after a failure loads again. It stays in its chain only so that recovery can find
 *   the threads still reading it.
 * - Leave (under LOAD_LOCK): a thread that has read the outcome (or stops waiting) clears its
 *   bit; the thread that clears the last one unlinks and frees the record and its RESULT.
 * - Take over: the owner's token is checked by every waiter when it wakes (isAlive, threads.ts),
 *   at least once per wait slice (fetch.ts). When the owner's death has been recovered, STATE
 *   is LOAD_ORPHAN (the recovery hook below sets it and notifies, so waiters wake at once) or a
 *   dead token: the first waiter to compareExchange it to its own token runs the loader itself,
 *   freeing any RESULT the dead owner had allocated but not published.
 *
 * Memory ordering. The outcome's bytes and the RESULT word are plain stores made before the
 * seq-cst Atomics.store of STATE; a waiter reads them only after an Atomics.load of STATE saw
 * it final. Atomics are sequentially consistent, so the load synchronizes with the store and
 * every earlier plain store is visible: on x64 plain stores are not reordered with a later
 * store anyway, and on arm64 V8 compiles the Atomics.store to a store-release (stlr) and the
 * Atomics.load to a load-acquire (ldar), which order them. Record fields read under LOAD_LOCK
 * (NEXT, WAITERS, the key) are ordered by the lock's own atomic exchange.
 *
 * What a waiter may observe mid-load: STATE = a live owner's token (keep waiting), LOAD_ORPHAN
 * or a dead token (take over), or a final state (read RESULT, which is complete). Never a
 * half-written RESULT: it is read only in a final state, and a RESULT from a dead owner is
 * freed by the next owner before it publishes its own.
 *
 * Recovery (threads.ts calls the hook for a dead thread's slot, and a thread that exits cleanly
 * for its own): under LOAD_LOCK, a record the thread had allocated but not linked (LOAD_NEW)
 * is freed, one it had begun to free (LOAD_FREE) is unlinked and freed, its bit is cleared in
 * every record, the loads it ran are set to LOAD_ORPHAN and their waiters woken, and records
 * left without any thread are freed. Every LOAD_LOCK critical section writes its links in a
 * straight line, and a successor that takes the lock over from a dead holder first finishes a
 * half-made table (repairTable).
 */
import { arena } from './arena';
import { alloc, free } from './allocator';
import { HEADER, KIND, LOAD, LOAD_BUCKETS, LOAD_DONE, LOAD_FAILED, LOAD_ORPHAN, LOADS, MAX_THREADS, RESULT, RESULT_ERROR, THREAD, UNIT } from './layout';
import { Acquired, acquire, release } from './locks';
import { myToken, mySlot, myWord, setLoadRecoveryHook } from './threads';

const WAITER_WORDS = MAX_THREADS / 32;
const TABLE_UNITS = Math.ceil((LOADS.HEADS + LOAD_BUCKETS) / 2);

function lockTable(): void {
  if (acquire(arena.i32, HEADER.LOAD_LOCK, myToken, Infinity) === Acquired.FromDeadHolder) repairTable();
  arena.refresh();
}

function unlockTable(): void {
  release(arena.i32, HEADER.LOAD_LOCK);
}

/** A holder that died while it made the table leaves it recorded in LOAD_TABLE_NEW: finish it. */
function repairTable(): void {
  arena.refresh();
  const i32 = arena.i32;
  const t = i32[HEADER.LOAD_TABLE_NEW];
  if (t === 0) return;
  if (i32[HEADER.LOAD_TABLE] === 0) {
    i32.fill(0, t * 2 + LOADS.HEADS, t * 2 + LOADS.HEADS + LOAD_BUCKETS);
    Atomics.store(i32, HEADER.LOAD_TABLE, t);
  }
  i32[HEADER.LOAD_TABLE_NEW] = 0;
}

/** The LOADS block, made on first use (LOAD_LOCK held). */
function table(): number {
  const t = arena.i32[HEADER.LOAD_TABLE];
  if (t !== 0) return t;
  const ref = alloc(KIND.LOAD, TABLE_UNITS, HEADER.LOAD_TABLE_NEW);
  repairTable();
  return ref;
}

/** Word index of the head of the bucket of (store, hash). */
function headWord(t: number, store: number, hash: number): number {
  return t * 2 + LOADS.HEADS + ((hash ^ Math.imul(store, 0x9e3779b1)) >>> 26) % LOAD_BUCKETS;
}

function isFinal(state: number): boolean {
  return state === LOAD_DONE || state === LOAD_FAILED;
}

function keyIs(i32: Int32Array, r: number, key: string): boolean {
  if (i32[r * 2 + LOAD.KEY_LEN] !== key.length) return false;
  const u16 = arena.u16;
  const at = (r * 2 + LOAD.KEY) * 2;
  for (let i = 0; i < key.length; i++) if (u16[at + i] !== key.charCodeAt(i)) return false;
  return true;
}

function noWaiters(i32: Int32Array, r: number): boolean {
  const w = r * 2 + LOAD.WAITERS;
  for (let i = 0; i < WAITER_WORDS; i++) if (i32[w + i] !== 0) return false;
  return true;
}

/** Registration outcomes (see register). */
export const enum Joined {
  /** No load: the recheck found what it needed, or (join = false) one is already in flight. */
  None = 0,
  /** This thread waits for a load another thread runs. */
  Waiter = 1,
  /** This thread runs the loader of a new load. */
  Loader = 2,
  /** A waiter that joined after the owner began to store its value (see Close in the header). */
  LateWaiter = 3,
}
/** The record register() joined or created. */
export let registered = 0;

/**
 * Joins the load in flight for (`store`, `key`), or starts one run by this thread. With
 * `join` false (a background refresh), a load in flight is left alone (Joined.None). Before
 * starting a load, `recheck()` runs under the table's lock: false means no load is needed after
 * all (the key was stored meanwhile). Sets `registered` to the record.
 */
export function register(store: number, key: string, hash: number, join: boolean, recheck: () => boolean): Joined {
  lockTable();
  try {
    const t = table();
    let i32 = arena.i32;
    const hw = headWord(t, store, hash);
    for (let r = i32[hw]; r !== 0; r = i32[r * 2 + LOAD.NEXT]) {
      const w = r * 2;
      if (i32[w + LOAD.STORE] !== store || i32[w + LOAD.HASH] !== hash || isFinal(Atomics.load(i32, w + LOAD.STATE)) || !keyIs(i32, r, key)) continue;
      if (!join) return Joined.None;
      Atomics.or(i32, w + LOAD.WAITERS + (mySlot >>> 5), 1 << (mySlot & 31));
      registered = r;
      return i32[w + LOAD.CLOSED] !== 0 ? Joined.LateWaiter : Joined.Waiter;
    }
    if (!recheck()) return Joined.None;
    const ref = alloc(KIND.LOAD, Math.ceil((LOAD.KEY * 4 + key.length * 2) / UNIT), myWord + THREAD.LOAD_NEW);
    i32 = arena.i32;
    const w = ref * 2;
    i32.fill(0, w + LOAD.WAITERS, w + LOAD.WAITERS + WAITER_WORDS);
    i32[w + LOAD.WAITERS + (mySlot >>> 5)] = 1 << (mySlot & 31);
    i32[w + LOAD.STORE] = store;
    i32[w + LOAD.HASH] = hash;
    i32[w + LOAD.RESULT] = 0;
    i32[w + LOAD.KEY_LEN] = key.length;
    i32[w + LOAD.CLOSED] = 0;
    const u16 = arena.u16;
    const at = (w + LOAD.KEY) * 2;
    for (let i = 0; i < key.length; i++) u16[at + i] = key.charCodeAt(i);
    i32[w + LOAD.STATE] = myToken;
    i32[w + LOAD.NEXT] = i32[hw];
    // Linked by this one store; LOAD_NEW names the record until then (recovery frees it).
    Atomics.store(i32, hw, ref);
    i32[myWord + THREAD.LOAD_NEW] = 0;
    registered = ref;
    return Joined.Loader;
  } finally {
    unlockTable();
  }
}

/** Closes the load this thread owns to new waiters: it is about to store its value (see the header). */
export function closeLoad(load: number): void {
  lockTable();
  try {
    arena.i32[load * 2 + LOAD.CLOSED] = 1;
  } finally {
    unlockTable();
  }
}

/** The record's STATE (a token while loading, LOAD_ORPHAN, LOAD_DONE, LOAD_FAILED). */
export function loadState(load: number): number {
  return Atomics.load(arena.i32, load * 2 + LOAD.STATE);
}

/** Word index of the record's STATE, for Atomics.waitAsync. */
export function stateWord(load: number): number {
  return load * 2 + LOAD.STATE;
}

/**
 * Makes this thread the owner of a load whose owner died (STATE `seen`: LOAD_ORPHAN or the dead
 * token). True if it won the compareExchange; a RESULT the dead owner allocated is freed.
 */
export function takeOver(load: number, seen: number): boolean {
  const i32 = arena.i32;
  if (Atomics.compareExchange(i32, load * 2 + LOAD.STATE, seen, myToken) !== seen) return false;
  if (i32[load * 2 + LOAD.RESULT] !== 0) free(i32[load * 2 + LOAD.RESULT], load * 2 + LOAD.RESULT);
  return true;
}

/**
 * Publishes the outcome of the load this thread owns and wakes every waiter: `len` bytes of an
 * encoded value with codec tag `tag` (from `bytes` at `src`), or nothing for `undefined`
 * (`len` < 0). Throws OutOfMemoryError with nothing published (the caller then fails the load).
 */
export function publishValue(load: number, tag: number, bytes: Uint8Array | null, src: number, len: number): void {
  if (len >= 0) writeResult(load, tag, bytes!, src, len);
  finish(load, LOAD_DONE);
}

/**
 * Publishes a failed load: `error`'s name, message and code (the Error itself cannot cross
 * threads). Never throws for want of memory: the outcome is then a bare failure.
 */
export function publishError(load: number, error: unknown): void {
  const e = error as { name?: unknown; message?: unknown; code?: unknown } | null | undefined;
  const info = {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(error),
    code: typeof e?.code === 'string' || typeof e?.code === 'number' ? e.code : undefined,
  };
  const text = Buffer.from(JSON.stringify(info));
  try {
    writeResult(load, RESULT_ERROR, text, 0, text.length);
  } catch {
    // Out of memory: waiters get a generic error (see failure()).
  }
  finish(load, LOAD_FAILED);
}

function writeResult(load: number, tag: number, bytes: Uint8Array, src: number, len: number): void {
  const r = alloc(KIND.LOAD, Math.ceil((RESULT.BYTES * 4 + len) / UNIT), load * 2 + LOAD.RESULT);
  const i32 = arena.i32;
  i32[r * 2 + RESULT.LEN] = len;
  i32[r * 2 + RESULT.TAG] = tag;
  const at = (r * 2 + RESULT.BYTES) * 4;
  arena.u8.set(bytes.subarray(src, src + len), at);
}

function finish(load: number, state: number): void {
  const i32 = arena.i32;
  Atomics.store(i32, load * 2 + LOAD.STATE, state);
  Atomics.notify(i32, load * 2 + LOAD.STATE);
}

/** A final load's value: its codec tag and a private copy of its bytes; null for `undefined`. */
export function resultBytes(load: number): { tag: number; bytes: Buffer } | null {
  arena.refresh();
  const i32 = arena.i32;
  const r = i32[load * 2 + LOAD.RESULT];
  if (r === 0) return null;
  const len = i32[r * 2 + RESULT.LEN];
  const at = (r * 2 + RESULT.BYTES) * 4;
  // A Buffer of its own (not a view of the arena): decoders may keep slices of it.
  return { tag: i32[r * 2 + RESULT.TAG], bytes: Buffer.from(arena.u8.subarray(at, at + len)) };
}

/** What a failed load carried: name, message and code of the loader's error. */
export function failure(load: number): { name: string; message: string; code: string | number | undefined } {
  const res = resultBytes(load);
  if (res === null || res.tag !== RESULT_ERROR) return { name: 'Error', message: 'the load failed (its error could not be kept: the arena is full)', code: undefined };
  return JSON.parse(res.bytes.toString('utf8')) as { name: string; message: string; code: string | number | undefined };
}

/** This thread stops holding `load`: its bit is cleared, and the last thread out frees the record. */
export function leave(load: number): void {
  lockTable();
  try {
    const i32 = arena.i32;
    Atomics.and(i32, load * 2 + LOAD.WAITERS + (mySlot >>> 5), ~(1 << (mySlot & 31)));
    if (noWaiters(i32, load)) dispose(load, myWord);
  } finally {
    unlockTable();
  }
}

/**
 * Frees record `load` and its RESULT (LOAD_LOCK held), recording it in LOAD_FREE of the slot at
 * word `w` until it is freed: a thread killed between the unlink and the free leaves it there.
 */
function dispose(load: number, w: number): void {
  const i32 = arena.i32;
  i32[w + THREAD.LOAD_FREE] = load;
  const res = i32[load * 2 + LOAD.RESULT];
  if (res !== 0) free(res, load * 2 + LOAD.RESULT);
  unlink(load);
  free(load, w + THREAD.LOAD_FREE);
}

/** Unlinks `load` from whichever chain holds it (LOAD_LOCK held); false if none does. */
function unlink(load: number): boolean {
  const t = arena.i32[HEADER.LOAD_TABLE];
  if (t === 0) return false;
  const i32 = arena.i32;
  for (let b = 0; b < LOAD_BUCKETS; b++) {
    let prev = t * 2 + LOADS.HEADS + b;
    for (let r = i32[prev]; r !== 0; prev = r * 2 + LOAD.NEXT, r = i32[prev]) {
      if (r !== load) continue;
      Atomics.store(i32, prev, i32[r * 2 + LOAD.NEXT]);
      return true;
    }
  }
  return false;
}

/** Every record in the table, in chain order. For recovery and verify (LOAD_LOCK or the allocator lock held). */
export function records(i32: Int32Array, limit = Infinity): number[] {
  const t = i32[HEADER.LOAD_TABLE];
  const out: number[] = [];
  if (t === 0) return out;
  for (let b = 0; b < LOAD_BUCKETS; b++) {
    for (let r = i32[t * 2 + LOADS.HEADS + b]; r !== 0 && out.length < limit; r = i32[r * 2 + LOAD.NEXT]) out.push(r);
  }
  return out;
}

/** The recovery hook (see the header): slot `slot` at word `w`, whose token was `token`. */
function recoverLoads(w: number, slot: number, token: number): void {
  let i32 = arena.i32;
  if (i32[HEADER.LOAD_TABLE] === 0 && i32[HEADER.LOAD_TABLE_NEW] === 0) return;
  lockTable();
  try {
    i32 = arena.i32;
    const fresh = i32[w + THREAD.LOAD_NEW];
    if (fresh !== 0) {
      if (records(i32).includes(fresh)) i32[w + THREAD.LOAD_NEW] = 0;
      else free(fresh, w + THREAD.LOAD_NEW);
    }
    const dying = i32[w + THREAD.LOAD_FREE];
    if (dying !== 0) dispose(dying, w);
    for (const r of records(arena.i32)) {
      i32 = arena.i32;
      Atomics.and(i32, r * 2 + LOAD.WAITERS + (slot >>> 5), ~(1 << (slot & 31)));
      if (Atomics.load(i32, r * 2 + LOAD.STATE) === token) finish(r, LOAD_ORPHAN);
      if (noWaiters(i32, r)) dispose(r, w);
    }
  } finally {
    unlockTable();
  }
}
setLoadRecoveryHook(recoverLoads);

/** Threads (slots) holding record `load`: for tests (a loader that waits until all callers joined). */
export function waiterCount(load: number): number {
  const i32 = arena.i32;
  let n = 0;
  for (let i = 0; i < WAITER_WORDS; i++) {
    let v = Atomics.load(i32, load * 2 + LOAD.WAITERS + i);
    while (v !== 0) {
      v &= v - 1;
      n++;
    }
  }
  return n;
}

/**
 * verify(): the blocks the table references (the LOADS block, records, results, and records
 * threads have recorded in LOAD_NEW / LOAD_FREE) and what is wrong with them. Allocator lock
 * held: no record is freed meanwhile, but one may be linked or change state.
 */
export function checkLoads(
  i32: Int32Array,
  isBlock: (r: number, kind: number) => boolean,
  problem: (ref: number, message: string) => void,
  referenced: Set<number>,
): void {
  const t = i32[HEADER.LOAD_TABLE];
  if (i32[HEADER.LOAD_TABLE_NEW] !== 0) referenced.add(i32[HEADER.LOAD_TABLE_NEW]);
  if (t === 0) return;
  if (!isBlock(t, KIND.LOAD)) {
    problem(t, `LOAD_TABLE names unit ${t}, which is not a LOAD block`);
    return;
  }
  referenced.add(t);
  const seen = new Set<number>();
  for (let b = 0; b < LOAD_BUCKETS; b++) {
    for (let r = i32[t * 2 + LOADS.HEADS + b]; r !== 0; r = i32[r * 2 + LOAD.NEXT]) {
      if (seen.has(r) || !isBlock(r, KIND.LOAD)) {
        problem(r, seen.has(r) ? `the loader table reaches record ${r} twice (a cycle)` : `the loader table names unit ${r}, which is not a LOAD block`);
        break;
      }
      seen.add(r);
      referenced.add(r);
      const state = i32[r * 2 + LOAD.STATE];
      const res = i32[r * 2 + LOAD.RESULT];
      if (res !== 0) {
        if (!isBlock(res, KIND.LOAD)) problem(r, `load record ${r} names result ${res}, which is not a LOAD block`);
        referenced.add(res);
      }
      if (state < LOAD_FAILED) problem(r, `load record ${r} has state ${state}`);
      if (noWaiters(i32, r) && !isFinal(state)) problem(r, `load record ${r} is in flight with no thread holding it`);
    }
  }
}
