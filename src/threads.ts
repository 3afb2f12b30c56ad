/**
 * The thread registry: which threads use the arena, and what happens when one dies.
 *
 * Each thread that loads the library claims a slot in the thread table and gets a *token*,
 * `incarnation << THREAD_SLOT_BITS | slot`. Locks record their holder's token, so a waiter can
 * tell whether the holder still runs: a token is alive while its slot is in use *with that
 * token*. Incarnations make a token unique even after its slot is reused by a new thread.
 *
 * Death: `worker.terminate()` stops a worker at any JS instruction without running its exit
 * handlers. The thread that created the worker sees it (`process.on('worker')`, then the
 * worker's `'exit'` event) and recovers for it: it finishes or rolls back the one value write
 * the dead thread may have had in flight (the PENDING_* words of its slot), frees the block it
 * had retired but not yet freed, and frees the slot. From then on the dead token is not alive,
 * and any thread waiting for a lock it held takes the lock over (see `locks.ts`). A worker that
 * exits cleanly frees its own slot on the way out; the workers it started die with it either
 * way, and are recovered with it by the same `'exit'` event (see `recoverThread`). The creating
 * thread must have loaded the library for this to happen; the main thread always has, if any
 * thread has, when workers are started after the library is loaded.
 *
 * Not covered: workers started by a thread that had not loaded the library when it started
 * them (a pool whose main thread never loads it, or loads it only later). No thread sees their
 * `'exit'`, and Node 20 gives a sibling no liveness signal for another thread: a heartbeat word
 * would not do, since a thread busy in synchronous code (or parked in a pool's `Atomics.wait`)
 * beats no more than a dead one, and taking its locks over would corrupt what they guard. So a
 * worker terminated there keeps its slot, and a lock it held stays held: other threads' writes
 * of that key time out (LockTimeoutError, or `false`). Such workers still recover the workers
 * *they* start. The remedy is documented: load the library in the main thread before starting
 * the pool.
 */
import { getEnvironmentData, isMainThread, setEnvironmentData, threadId } from 'node:worker_threads';
import { answerPeers, arena } from './arena';
import {
  ENTRY,
  HEADER,
  RECORD_BYTES_OFFSET,
  REDO,
  UNIT,
  HEADER_BYTES,
  MAX_THREADS,
  THREAD,
  THREAD_SLOT_BITS,
  THREAD_SLOT_WORDS,
  THREAD_STATE,
} from './layout';
import { TooManyThreadsError } from './errors';

/** Word index of a thread slot's first field. */
export function slotWord(slot: number): number {
  return (HEADER_BYTES >>> 2) + slot * THREAD_SLOT_WORDS;
}

/** True while the thread that owns `token` runs (its death, if any, is not being recovered yet). */
export function isAlive(token: number): boolean {
  // Called between the slices of every lock wait: a thread blocked in the library still answers
  // threads that ask for the arena (see arena.ts, `handshake`). Rate-limited, cheap when idle.
  answerPeers();
  const w = slotWord(token & (MAX_THREADS - 1));
  const i32 = arena.i32;
  return Atomics.load(i32, w + THREAD.TOKEN) === token && Atomics.load(i32, w + THREAD.STATE) === THREAD_STATE.ALIVE;
}

function claimSlot(): { slot: number; token: number } {
  const i32 = arena.i32;
  const parent = isMainThread ? -1 : readParentId();
  for (let slot = 0; slot < MAX_THREADS; slot++) {
    const w = slotWord(slot);
    if (Atomics.compareExchange(i32, w + THREAD.STATE, THREAD_STATE.FREE, THREAD_STATE.ALIVE) !== THREAD_STATE.FREE) continue;
    // Incarnation 0 is skipped so that a token is never 0 ("no holder") and never 1.
    let inc = Atomics.add(i32, HEADER.INCARNATION, 1) & ((1 << (30 - THREAD_SLOT_BITS)) - 1);
    if (inc === 0) inc = 1;
    const token = (inc << THREAD_SLOT_BITS) | slot;
    i32[w + THREAD.THREAD_ID] = threadId;
    i32[w + THREAD.PARENT_ID] = parent;
    i32[w + THREAD.PENDING_ENTRY] = 0;
    i32[w + THREAD.PENDING_OLD] = 0;
    i32[w + THREAD.PENDING_NEW] = 0;
    i32[w + THREAD.DEFERRED_FREE] = 0;
    i32[w + THREAD.PENDING_LIMBO] = 0;
    i32[w + THREAD.PENDING_STORE] = 0;
    i32[w + THREAD.REDO_BLOCK] = 0;
    i32[w + THREAD.REDO_ENTRY] = 0;
    i32[w + THREAD.REDO_DATA] = 0;
    i32[w + THREAD.HAZARD] = 0;
    i32[w + THREAD.CREATE_STORE] = 0;
    i32[w + THREAD.CREATE_BLOCK] = 0;
    i32[w + THREAD.LOCK_HAZARD] = 0;
    i32[w + THREAD.LOAD_NEW] = 0;
    i32[w + THREAD.LOAD_FREE] = 0;
    Atomics.store(i32, w + THREAD.TOKEN, token);
    return { slot, token };
  }
  throw new TooManyThreadsError(MAX_THREADS);
}

/** The parent's threadId, passed by the parent through environment data (see `watchWorkers`). */
function readParentId(): number {
  const v = getEnvironmentData(PARENT_KEY);
  return typeof v === 'number' ? v : -1;
}
const PARENT_KEY = 'native-keyshare:parent-thread';

const claimed = claimSlot();
/** This thread's slot index and token. */
export const mySlot = claimed.slot;
export const myToken = claimed.token;
/** Word index of this thread's slot. */
export const myWord = slotWord(mySlot);

/**
 * Hooks the store layer installs (recovery needs the allocator and the store lock, whose
 * modules depend on this one): free a block; recover an entry left in limbo (see
 * THREAD.PENDING_LIMBO) in a store, given the block the dead thread's last value write used.
 */
let freeBlock: (ref: number, recordWord?: number) => void = () => {};
let recoverLimbo: (store: number, entry: number, lastNew: number, deadToken: number) => void = () => {};
let recoverCreation: (slotWord: number) => void = () => {};
let recoverLoads: (slotWord: number, slot: number, token: number) => void = () => {};
/**
 * The hook of fetch's loader table (loader.ts): drops the thread of slot `slot` (token `token`)
 * from every load it waits for, hands over the loads it was running, and frees what it was
 * linking or unlinking. Called by recovery once the slot is RECOVERING, and by a thread
 * that exits cleanly for itself.
 */
export function setLoadRecoveryHook(hook: (slotWord: number, slot: number, token: number) => void): void {
  recoverLoads = hook;
}
export function setRecoveryHooks(hooks: {
  /** Frees `ref`; with `recordWord`, clears that word in the same allocator critical section. */
  free(ref: number, recordWord?: number): void;
  limbo(store: number, entry: number, lastNew: number, deadToken: number): void;
  /** Frees what the store creation recorded in slot `slotWord` (THREAD.CREATE_*) left unpublished. */
  creation(slotWord: number): void;
}): void {
  freeBlock = hooks.free;
  recoverLimbo = hooks.limbo;
  recoverCreation = hooks.creation;
}

/**
 * Recovers for thread `deadThreadId`, whose `'exit'` event this thread has just seen: its slot,
 * if it died holding one, and the slots of every thread it started, at any depth. Safe to call
 * for a thread that exited cleanly (its slot is already free) or twice (the second call finds
 * nothing).
 *
 * The descendants are recovered whether or not the dead thread still held a slot. Node stops a
 * worker's own workers when it exits, however it exits, without running their exit handlers,
 * and the dead thread cannot report them: a worker that exits cleanly frees its slot in its
 * `process` 'exit' handler, while its workers still run (Node stops them only after that), so
 * it can neither recover them itself nor leave its slot for its parent to find them through.
 * Their PARENT_ID still names it, and that is how they are found here.
 *
 * Never a live thread: the `'exit'` event is emitted once the worker's thread has been joined,
 * and a worker's thread is joined only after the workers it started have been stopped and
 * joined in turn, so every thread whose PARENT_ID names `deadThreadId` (its children, and
 * workers started by threads of it that did not load the library, which inherit its id) is
 * gone. A threadId is never reused within a process.
 */
export function recoverThread(deadThreadId: number): number {
  const i32 = arena.i32;
  let recovered = 0;
  for (let slot = 0; slot < MAX_THREADS; slot++) {
    const w = slotWord(slot);
    if (Atomics.load(i32, w + THREAD.STATE) !== THREAD_STATE.ALIVE) continue;
    if (i32[w + THREAD.THREAD_ID] !== deadThreadId || slot === mySlot) continue;
    recoverSlot(w);
    recovered++;
  }
  return recovered + recoverChildren(deadThreadId);
}

/** Recovers every registered thread whose parent was `parentThreadId`, and theirs, recursively. */
function recoverChildren(parentThreadId: number): number {
  const i32 = arena.i32;
  let n = 0;
  for (let slot = 0; slot < MAX_THREADS; slot++) {
    const w = slotWord(slot);
    if (Atomics.load(i32, w + THREAD.STATE) !== THREAD_STATE.ALIVE) continue;
    if (i32[w + THREAD.PARENT_ID] !== parentThreadId || slot === mySlot) continue;
    const child = i32[w + THREAD.THREAD_ID];
    recoverSlot(w);
    n += 1 + recoverChildren(child);
  }
  return n;
}

/**
 * Finishes the dead thread's write and frees its slot.
 *
 * Order matters. The entry named in PENDING_ENTRY must not change while we decide which block
 * to free, so we first take its lock over from the dead token ourselves (while the slot is still
 * ALIVE nobody else can). Only then do we mark the slot RECOVERING, which lets any thread take
 * over the other locks the dead thread held — including the allocator's, which freeing the
 * blocks below needs: keeping the slot ALIVE until the end would deadlock on it.
 */
function recoverSlot(w: number): void {
  arena.refresh();
  const i32 = arena.i32;
  const dead = i32[w + THREAD.TOKEN];
  const entry = i32[w + THREAD.PENDING_ENTRY];
  let entryLock = -1;
  if (entry !== 0) {
    const lw = entry * 2 + ENTRY.LOCK;
    for (;;) {
      const cur = Atomics.load(i32, lw);
      if (cur >>> 1 !== dead) break;
      if (Atomics.compareExchange(i32, lw, cur, (myToken << 1) | (cur & 1)) === cur) {
        entryLock = lw;
        break;
      }
    }
  }
  // A dead thread's lock-free atomic op never completes: stop writers from waiting for it.
  i32[w + THREAD.HAZARD] = 0;
  i32[w + THREAD.LOCK_HAZARD] = 0;
  Atomics.store(i32, w + THREAD.STATE, THREAD_STATE.RECOVERING);
  // An in-place record write that died with SEQ odd is finished from the redo buffer, before
  // SEQ moves on below (which would leave it odd). We hold the entry's lock (taken over above).
  const redoEntry = i32[w + THREAD.REDO_ENTRY];
  if (redoEntry !== 0 && redoEntry === entry) {
    const e = entry * 2;
    const d = i32[w + THREAD.REDO_DATA];
    if ((Atomics.load(i32, e + ENTRY.SEQ) & 1) !== 0 && i32[e + ENTRY.DATA] === d) {
      replayRedo(i32[w + THREAD.REDO_BLOCK], d);
      Atomics.add(i32, e + ENTRY.SEQ, 1);
    }
  }
  const oldRef = i32[w + THREAD.PENDING_OLD];
  const newRef = i32[w + THREAD.PENDING_NEW];
  const deferred = i32[w + THREAD.DEFERRED_FREE];
  if (entry !== 0) {
    const e = entry * 2;
    // The write committed iff the entry publishes the block the dead thread was writing
    // (0 for a delete). Bump SEQ either way: a reader that began before the publication
    // and has not validated yet must retry.
    // Only positive words name blocks: an inline value's descriptor (< 0, see layout.ts) has
    // nothing to free, and an inline write that did not commit left only an unused slot.
    const committed = Atomics.load(i32, e + ENTRY.DATA) === newRef;
    Atomics.add(i32, e + ENTRY.SEQ, 2);
    if (committed) {
      if (oldRef > 0 && oldRef !== deferred) freeBlock(oldRef);
    } else if (newRef > 0) {
      freeBlock(newRef);
    }
  }
  if (deferred !== 0) freeBlock(deferred);
  const redo = i32[w + THREAD.REDO_BLOCK];
  if (redo !== 0) freeBlock(redo);
  const limbo = i32[w + THREAD.PENDING_LIMBO];
  const limboStore = i32[w + THREAD.PENDING_STORE];
  if (limbo !== 0 && limboStore !== 0) recoverLimbo(limboStore, limbo, newRef, dead);
  if (i32[w + THREAD.CREATE_STORE] !== 0 || i32[w + THREAD.CREATE_BLOCK] !== 0) recoverCreation(w);
  // Release as locks.release does (not imported: locks.ts depends on this module).
  if (entryLock >= 0 && (Atomics.exchange(arena.i32, entryLock, 0) & 1) !== 0) Atomics.notify(arena.i32, entryLock, 1);
  // After the entry lock is released: the loader table's lock comes before entry locks.
  recoverLoads(w, (w - slotWord(0)) / THREAD_SLOT_WORDS, dead);
  i32[w + THREAD.PENDING_ENTRY] = 0;
  i32[w + THREAD.PENDING_OLD] = 0;
  i32[w + THREAD.PENDING_NEW] = 0;
  i32[w + THREAD.DEFERRED_FREE] = 0;
  i32[w + THREAD.PENDING_LIMBO] = 0;
  i32[w + THREAD.REDO_BLOCK] = 0;
  i32[w + THREAD.REDO_ENTRY] = 0;
  i32[w + THREAD.CREATE_STORE] = 0;
  i32[w + THREAD.CREATE_BLOCK] = 0;
  Atomics.store(i32, w + THREAD.TOKEN, 0);
  Atomics.store(i32, w + THREAD.STATE, THREAD_STATE.FREE);
  Atomics.add(i32, HEADER.THREADS_RECOVERED, 1);
}

/** Copies the ranges of redo block `redo` into record block `d` (see store.ts, writeRecordInPlace). */
function replayRedo(redo: number, d: number): void {
  const i32 = arena.i32;
  const u8 = arena.u8;
  const r = redo * 2;
  const count = i32[r + REDO.COUNT];
  let at = (r + REDO.RANGES + 2 * count) * 4;
  const base = d * UNIT + RECORD_BYTES_OFFSET;
  for (let i = 0; i < count; i++) {
    const off = i32[r + REDO.RANGES + 2 * i];
    const len = i32[r + REDO.RANGES + 2 * i + 1];
    u8.copyWithin(base + off, at, at + len);
    at += len;
  }
}

/**
 * Frees this thread's slot at a clean exit. The parent may already have its answer and be
 * verifying, or may terminate it here: each block leaves its slot word in the same critical
 * section that frees it, so it is always either recorded or free, never leaked or freed twice.
 */
function releaseOwnSlot(): void {
  recoverLoads(myWord, mySlot, myToken);
  const i32 = arena.i32;
  const deferred = i32[myWord + THREAD.DEFERRED_FREE];
  if (deferred !== 0) freeBlock(deferred, myWord + THREAD.DEFERRED_FREE);
  const redo = i32[myWord + THREAD.REDO_BLOCK];
  if (redo !== 0) freeBlock(redo, myWord + THREAD.REDO_BLOCK);
  Atomics.store(i32, myWord + THREAD.TOKEN, 0);
  Atomics.store(i32, myWord + THREAD.STATE, THREAD_STATE.FREE);
}

/** Watches the workers this thread starts, so that their deaths are recovered. */
function watchWorkers(): void {
  setEnvironmentData(PARENT_KEY, threadId);
  process.on('worker', (worker) => {
    // threadId reads -1 once the worker has exited: capture it now.
    const id = worker.threadId;
    worker.once('exit', () => recoverThread(id));
  });
  if (!isMainThread) process.once('exit', releaseOwnSlot);
}
watchWorkers();

/** Threads currently registered (slots in use). */
export function liveThreadCount(): number {
  const i32 = arena.i32;
  let n = 0;
  for (let slot = 0; slot < MAX_THREADS; slot++) {
    if (Atomics.load(i32, slotWord(slot) + THREAD.STATE) !== THREAD_STATE.FREE) n++;
  }
  return n;
}
