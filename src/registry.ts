/**
 * The store directory: the arena's list of STORE blocks, found by name without a lock
 * (findStore, listStores) and grown under the directory lock (openStore), the recovery of a
 * creation cut short (recoverCreation), and createStore, which opens a store and returns this
 * thread's handle of it.
 */
import { arena } from './arena';
import { alloc, free } from './allocator';
import { spin } from './faults';
import { instanceKey, instances } from './handles';
import { newIndex } from './keyindex';
import { HEADER, KIND, MAX_STORE_NAME_LENGTH, MIN_INDEX_CAPACITY, STORE, THREAD, UNIT, readArenaText } from './layout';
import { acquire, release } from './locks';
import { cacheLimitFor } from './lookup-cache';
import { parseStoreOptions, type StoreOptions } from './options';
import { type Ref, wordOf } from './ref';
import { CREATE_DELAY_SPINS, openSchema, schemaText } from './schema';
import { Store } from './store';
import { RedisStore } from './near-cache';
import { parseRedisOptions } from './redis-link';
import type { RedisOptions } from './options';
import { myToken, myWord, setRecoveryHooks } from './threads';
import { recoverLimboEntry } from './write';
import { InvalidOptionError } from './errors';

// Recovery of a dead thread frees the blocks its interrupted write leaves behind.
setRecoveryHooks({ free, limbo: recoverLimboEntry, creation: recoverCreation });

function nameMatches(store: Ref, name: string): boolean {
  const i32 = arena.i32;
  if (i32[wordOf(store) + STORE.NAME_LEN] !== name.length) return false;
  const u16 = arena.u16;
  const base = (wordOf(store) + STORE.NAME) * 2;
  for (let i = 0; i < name.length; i++) if (u16[base + i] !== name.charCodeAt(i)) return false;
  return true;
}

/** Finds a store by name in the directory list. Lock-free: STORE blocks are never freed. */
function findStore(name: string): Ref {
  for (let s = Atomics.load(arena.i32, HEADER.STORE_HEAD); s !== 0; s = Atomics.load(arena.i32, wordOf(s) + STORE.NEXT)) {
    arena.covers((wordOf(s) + STORE.NAME) * 4 + name.length * 2);
    if (nameMatches(s, name)) return s;
  }
  return 0;
}

/**
 * Creates store `name` under the directory lock, unless some thread has. Kill-safe like every
 * allocation: each block is recorded in this thread's slot (THREAD.CREATE_BLOCK, CREATE_STORE)
 * by the allocator as it hands it out, until something published holds it; a thread killed
 * anywhere in here leaves either a published store or blocks its recovery frees (see
 * recoverCreation).
 */
function openStore(name: string): Ref {
  const found = findStore(name);
  if (found !== 0) return found;
  acquire(arena.i32, HEADER.DIR_LOCK, myToken, Infinity);
  arena.refresh();
  try {
    const again = findStore(name);
    if (again !== 0) return again;
    const blockWord = myWord + THREAD.CREATE_BLOCK;
    const storeWord = myWord + THREAD.CREATE_STORE;
    const idx = newIndex(MIN_INDEX_CAPACITY, true, blockWord);
    let s: number;
    try {
      s = alloc(KIND.STORE, Math.ceil((STORE.NAME * 4 + name.length * 2) / UNIT), storeWord);
    } catch (err) {
      free(idx, blockWord);
      throw err;
    }
    spin(CREATE_DELAY_SPINS);
    const i32 = arena.i32;
    const w = wordOf(s);
    i32.fill(0, w + 1, w + STORE.NAME);
    i32[w + STORE.INDEX] = idx;
    i32[w + STORE.NAME_LEN] = name.length;
    const u16 = arena.u16;
    for (let i = 0; i < name.length; i++) u16[(w + STORE.NAME) * 2 + i] = name.charCodeAt(i);
    i32[w + STORE.NEXT] = i32[HEADER.STORE_HEAD];
    // The STORE block names the index now: recovery finds it there. Atomic, so that the
    // stores above are not moved past it: a cleared CREATE_BLOCK vouches for STORE.INDEX.
    Atomics.store(i32, blockWord, 0);
    spin(CREATE_DELAY_SPINS);
    // Publication point: the store is complete before any thread can find it.
    Atomics.store(i32, HEADER.STORE_HEAD, s);
    spin(CREATE_DELAY_SPINS);
    Atomics.store(i32, storeWord, 0);
    return s;
  } finally {
    release(arena.i32, HEADER.DIR_LOCK);
  }
}

/** Whether the store directory holds STORE block `store` (lock-free: the list only grows). */
function inDirectory(store: Ref): boolean {
  for (let s = Atomics.load(arena.i32, HEADER.STORE_HEAD); s !== 0; s = Atomics.load(arena.i32, wordOf(s) + STORE.NEXT)) {
    if (s === store) return true;
  }
  return false;
}

/**
 * Recovery of a store creation or schema install cut short by the death of its thread (slot
 * word `w`; see THREAD.CREATE_STORE). Nothing but the dead thread's record names an unpublished
 * block, so freeing it races with no one; a published one is left to its store. A store's
 * index is freed here only if the store never reached the directory: once it has, the index is
 * the store's (a resize may already have replaced and freed it), and CREATE_BLOCK no longer
 * names it.
 */
function recoverCreation(w: number): void {
  const i32 = arena.i32;
  const store = i32[w + THREAD.CREATE_STORE];
  const block = i32[w + THREAD.CREATE_BLOCK];
  if (store !== 0 && inDirectory(store)) {
    // A schema install (a creation records nothing in CREATE_BLOCK past its publication).
    if (block !== 0 && Atomics.load(i32, wordOf(store) + STORE.SCHEMA) !== block) free(block, w + THREAD.CREATE_BLOCK);
  } else {
    // A creation killed before its publication. While CREATE_BLOCK is set it names the index
    // (and the STORE block's INDEX word may not yet); once cleared, INDEX names it.
    if (block !== 0) free(block, w + THREAD.CREATE_BLOCK);
    else if (store !== 0 && i32[wordOf(store) + STORE.INDEX] !== 0) free(i32[wordOf(store) + STORE.INDEX]);
    if (store !== 0) free(store, w + THREAD.CREATE_STORE);
  }
  arena.i32[w + THREAD.CREATE_BLOCK] = 0;
  arena.i32[w + THREAD.CREATE_STORE] = 0;
}

/**
 * Opens the store called `name` (default: "default"), creating it on first use in any thread.
 * In one thread, the same name (and options) always gives the same instance.
 *
 * Without a type argument the values are `any`, as in `new Map()`: an untyped store holds
 * whatever JavaScript code puts in it, and code written for the untyped API (the README's
 * examples: `store.get('counter') + 1`) compiles as it runs. `createStore<User>()` checks.
 *
 * With `options.redis` the store is a {@link RedisStore}: a near cache of a Redis key prefix.
 */
export function createStore<T = any>(name: string, options: StoreOptions & { redis: RedisOptions }): RedisStore<T>;
export function createStore<T = any>(name?: string, options?: StoreOptions): Store<T>;
export function createStore<T = any>(name: string = 'default', options?: StoreOptions): Store<T> {
  parseStoreOptions(name, options);
  return openHandle<T>(name, options);
}

/**
 * @internal A handle of one of the library's own stores (names starting with "\u0000", which
 * createStore refuses), such as the Redis tier's epochs and tracker locks (invalidation.ts).
 */
export function openInternalStore<T = unknown>(name: string, options?: StoreOptions): Store<T> {
  if (name.charCodeAt(0) !== 0) throw new InvalidOptionError(`internal store names start with "\\u0000", got ${JSON.stringify(name)}`);
  return openHandle<T>(name, options);
}

function openHandle<T>(name: string, options: StoreOptions | undefined): Store<T> {
  const { hot, maxKeys } = parseStoreOptions(name.charCodeAt(0) === 0 ? name.slice(1) || '_' : name, options);
  const cacheLimit = cacheLimitFor(hot, maxKeys);
  const text = options === undefined ? null : schemaText(options);
  const redis = options?.redis === undefined ? null : parseRedisOptions(name, options.redis, text);
  const k = instanceKey(name, hot, text, cacheLimit) + (redis === null ? '' : `\u0000${redis.text}`);
  const existing = instances.get(k);
  if (existing !== undefined) return existing as Store<T>;
  const ref = openStore(name);
  const schema = openSchema(ref, name, text);
  if (hot && schema !== null && schema.layout !== null) throw new InvalidOptionError(`store "${name}" holds fixed-layout records, which cannot be read with hotReads (atomic ops change a record without republishing it)`);
  const store = redis === null ? new Store<T>(name, ref, hot, schema, cacheLimit) : new RedisStore<T>(name, ref, hot, schema, cacheLimit, redis);
  instances.set(k, store as Store<unknown>);
  return store;
}

/** Names of every store in the process. */
export function listStores(): string[] {
  const names: string[] = [];
  for (let s = Atomics.load(arena.i32, HEADER.STORE_HEAD); s !== 0; s = Atomics.load(arena.i32, wordOf(s) + STORE.NEXT)) {
    arena.covers((wordOf(s) + STORE.NAME) * 4 + MAX_STORE_NAME_LENGTH * 2);
    const len = arena.i32[wordOf(s) + STORE.NAME_LEN];
    // The library's own stores (openInternalStore) are not the caller's.
    if (arena.u16[(wordOf(s) + STORE.NAME) * 2] === 0) continue;
    names.push(readArenaText(arena.u16, (wordOf(s) + STORE.NAME) * 2, len));
  }
  return names;
}
