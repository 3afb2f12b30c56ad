/**
 * Learned structures: the object shapes (property-name lists) a store's values use, found as
 * values are written and shared by every thread through one block of the store.
 *
 * msgpackr writes an object whose shape is in its structure table as a record: an id and the
 * values, without the names. It decodes records with a generated constructor, 2.5x faster than
 * a map on ~1 KB objects and on 100 KB documents of repeated rows (measured, bench/peers). The
 * price is that writer and reader need the same id → names table. lmdb keeps it in the
 * database; here it is the store's STRUCTS block:
 *
 * ```
 *   STORE.STRUCTS ─► [HDR][LEN][COUNT][ JSON text of COUNT property-name arrays, UTF-16 … ]
 * ```
 *
 * Invariants:
 * - Append-only: an id, once published, names the same property list for the store's life, so
 *   a thread's copy of the table is never wrong, only short.
 * - Published before use: msgpackr calls saveStructures at the end of the pack() that met a new
 *   shape, and the store writes the value only after the save returned (and its publication is
 *   an Atomics.store, ordered before the value's). A reader that meets an id it does not hold
 *   therefore finds it by reloading the table (msgpackr's getStructures).
 * - A STRUCTS block never changes once published. A save writes a whole new block, publishes
 *   it, bumps STORE.SEQ and frees the old one: the protocol of an index resize, so the lock-free
 *   read below validates with the same SEQ check.
 * - Bounded: at most MAX_LEARNED_STRUCTURES shapes and MAX_TABLE_CHARS of JSON. Past that,
 *   objects of other shapes are written as plain maps (see codec/structured.ts, LearnedCodec).
 * - Kill safety: a save runs under the store lock and names the block it builds and the block
 *   it replaces in STORE.STRUCTS_NEW / STRUCTS_OLD (STRUCTS_NEW is set inside the allocator's
 *   critical section). A thread that takes the lock over from a dead holder calls
 *   repairStructures, which frees whichever of the two the dead thread left behind.
 */
import { alloc, finishReplacement, free } from './allocator';
import { arena } from './arena';
import { NEEDS_FENCE, readFence } from './ordering';
import { MAX_LEARNED_STRUCTURES, type StructureTable } from './codec';
import { CodecError } from './errors';
import { spin, testKnob } from './faults';
import { KIND, readArenaText, STORE, STRUCTS, UNIT } from './layout';

/** Module-local, so that V8 folds it: the validating loads below need a fence off x64 (ordering.ts). */
const FENCE = NEEDS_FENCE;

/**
 * Test-only (NATIVE_KEYSHARE_TEST_STRUCTS_DELAY, see faults.ts): spins inside a save, before its
 * publication and before freeing the old block, so that a test that kills the writer lands there.
 */
const SAVE_DELAY_SPINS = testKnob('STRUCTS_DELAY');

/** Bound on a table's JSON text (UTF-16 code units): 256 KB of shared memory per store at most. */
export const MAX_TABLE_CHARS = 1 << 17;

/**
 * The table of store `store`, read without a lock. Runs when a thread's codec starts and when
 * a decoder meets an id it does not hold: rarely, and never in the steady state.
 */
export function loadStructures(store: number): string[][] {
  const s = store * 2;
  for (;;) {
    const seq = Atomics.load(arena.i32, s + STORE.SEQ);
    const block = Atomics.load(arena.i32, s + STORE.STRUCTS);
    if (block === 0) return [];
    // The block may be freed and reused under us: bound every read by the views, and let the
    // SEQ check decide whether what we read was the table.
    const text = readText(block);
    if (FENCE) readFence();
    if (Atomics.load(arena.i32, s + STORE.SEQ) !== seq) continue;
    if (text === null) throw new CodecError(`store structure table at unit ${block} is corrupt (its length does not fit the arena)`);
    return parseTable(text, block);
  }
}

function readText(block: number): string | null {
  const w = block * 2;
  if (!arena.covers((w + STRUCTS.TEXT) * 4)) return null;
  const len = arena.i32[w + STRUCTS.LEN];
  if (len < 0 || len > MAX_TABLE_CHARS || !arena.covers((w + STRUCTS.TEXT) * 4 + len * 2)) return null;
  return readArenaText(arena.u16, (w + STRUCTS.TEXT) * 2, len);
}

function parseTable(text: string, block: number): string[][] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    list = null;
  }
  if (!isTable(list)) throw new CodecError(`store structure table at unit ${block} is corrupt (not a JSON array of property-name arrays)`);
  return list;
}

/** A JSON-parsed table: an array of arrays of strings. (Also used by verify.) */
export function isTable(list: unknown): list is string[][] {
  return Array.isArray(list) && list.every((keys) => Array.isArray(keys) && keys.every((k) => typeof k === 'string'));
}

/**
 * Publishes `list` as the table of `store`, if the published one is what the caller extended.
 * The caller holds the store lock (see {@link sharedTable}).
 */
function saveLocked(store: number, list: string[][], isCompatible: (published: string[][]) => boolean): 'saved' | 'conflict' | 'full' {
  const s = store * 2;
  const old = arena.i32[s + STORE.STRUCTS];
  const published = old === 0 ? [] : parseTable(readText(old) ?? '', old);
  if (!isCompatible(published)) return 'conflict';
  const text = JSON.stringify(list);
  if (list.length > MAX_LEARNED_STRUCTURES || text.length > MAX_TABLE_CHARS) return 'full';
  const block = alloc(KIND.VALUE, Math.ceil(((STRUCTS.TEXT + 1) * 4 + text.length * 2) / UNIT), s + STORE.STRUCTS_NEW);
  const i32 = arena.i32;
  const w = block * 2;
  i32[w + STRUCTS.LEN] = text.length;
  i32[w + STRUCTS.COUNT] = list.length;
  const u16 = arena.u16;
  const base = (w + STRUCTS.TEXT) * 2;
  for (let i = 0; i < text.length; i++) u16[base + i] = text.charCodeAt(i);
  i32[s + STORE.STRUCTS_OLD] = old;
  spin(SAVE_DELAY_SPINS);
  // Publication point; then readers that began before it retry, and only then may the old
  // block be reused.
  Atomics.store(i32, s + STORE.STRUCTS, block);
  Atomics.add(i32, s + STORE.SEQ, 2);
  spin(SAVE_DELAY_SPINS);
  if (old !== 0) free(old, s + STORE.STRUCTS_OLD);
  Atomics.store(arena.i32, s + STORE.STRUCTS_NEW, 0);
  return 'saved';
}

/**
 * Finishes a save whose thread died holding the store lock (the caller has just taken it
 * over): frees the new block if it was never published, or the old one if the new one was.
 */
export function repairStructures(store: number): void {
  const s = store * 2;
  finishReplacement(s + STORE.STRUCTS, s + STORE.STRUCTS_NEW, s + STORE.STRUCTS_OLD, s + STORE.SEQ);
}

/** How many shapes store `store` has learned (a plain read: for stats). */
export function learnedCount(store: number): number {
  const block = Atomics.load(arena.i32, store * 2 + STORE.STRUCTS);
  return block === 0 || !arena.covers((block * 2 + STRUCTS.TEXT) * 4) ? 0 : arena.i32[block * 2 + STRUCTS.COUNT];
}

/** The {@link StructureTable} of `store`, saving under the store lock through `withStoreLock`. */
export function sharedTable(store: number, withStoreLock: <R>(store: number, fn: () => R) => R): StructureTable {
  return {
    load: () => loadStructures(store),
    save: (list, isCompatible) => withStoreLock(store, () => saveLocked(store, list, isCompatible)),
  };
}
