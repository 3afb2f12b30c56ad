/**
 * The store codecs that give msgpackr record structures: {@link StructuredCodec} (structures
 * declared by a schema, Tag.Structured) and {@link LearnedCodec} (structures learned from the
 * values written and shared through the store's {@link StructureTable}, Tag.Learned). Both
 * route values as the default encoder does and fall back to it.
 */
import { CodecError } from '../errors';
import { encode, encodeV8 } from './encode';
import {
  loadMsgpackr,
  type MsgpackPacker,
  MSGPACKR_MISSING,
  MSGPACKR_OPTIONS,
  type MsgpackUnpacker,
  packr,
  reentry,
  REUSE_BUFFER_MODE,
  RESET_BUFFER_MODE,
} from './msgpackr';
import { hasOwn, scanForMsgpack, shouldBundle } from './scan';
import { encoded, Tag } from './tag';

/**
 * msgpackr with record structures known in advance (from a schema), for one store: objects of
 * those shapes are written as a record id and the values, without their property names.
 *
 * Every thread builds its codec from the same list (the store keeps it in shared memory), so no
 * structure is ever negotiated between threads:
 * - `maxSharedStructures` is exactly the list's length, so msgpackr never adds a shared
 *   structure (it would exist in this thread only, and other threads could not decode it);
 * - `shouldShareStructure: () => false` makes every other shape an "own" structure, whose
 *   definition msgpackr writes inline into the value that uses it, so such values still decode
 *   anywhere (they are just as large as without structures).
 * Values the default codec would not give to msgpackr (Map, -0, `__proto__` keys, …; see
 * {@link encode}) are not given to it here either.
 */
export class StructuredCodec {
  /** null without msgpackr: see the constructor. */
  private readonly packr: MsgpackPacker | null = null;
  private readonly unpackr: MsgpackUnpacker | null = null;
  constructor(structures: readonly (readonly string[])[]) {
    // Without msgpackr the store still works: objects go to v8, as every store's objects do in
    // such a process. Declared structures are an encoding of objects, not part of what a store
    // holds, and each value is tagged with its encoding, so nothing about the store's shape in
    // shared memory depends on it. Threads of one process cannot disagree: they resolve msgpackr
    // from the same node_modules (and a thread forced to v8 with NATIVE_KEYSHARE_CODEC=v8 writes
    // v8 values here too, yet decodes structured ones).
    const m = loadMsgpackr();
    if (m === null) return;
    const options = () => ({
      ...MSGPACKR_OPTIONS,
      useRecords: true,
      // Each instance gets its own copy: msgpackr keeps per-call state in the array.
      structures: structures.map((keys) => [...keys]),
      maxSharedStructures: structures.length,
      shouldShareStructure: () => false,
    });
    this.packr = new m.Packr(options());
    this.unpackr = new m.Unpackr(options());
  }

  /** Like {@link encode}: the result is in {@link encoded} until the next call. */
  encode(value: unknown): Tag {
    const p = this.packr;
    if (typeof value !== 'object' || value === null || packr === null || p === null || reentry.msgpackrBusy) return encode(value);
    reentry.msgpackrBusy = true;
    try {
      if (!scanForMsgpack(value)) return encodeV8(value);
      p.bundleStrings = shouldBundle();
      const target = p.pack(value, REUSE_BUFFER_MODE | RESET_BUFFER_MODE);
      const start = target.start as number;
      encoded.bytes = target;
      encoded.offset = start;
      encoded.length = (target.end as number) - start;
      return Tag.Structured;
    } finally {
      reentry.msgpackrBusy = false;
    }
  }

  decode(src: Uint8Array, length: number): unknown {
    if (this.unpackr === null) throw new CodecError(MSGPACKR_MISSING);
    return this.unpackr.unpack(src, length);
  }
}

/**
 * Where a store keeps its learned structures (structures.ts implements it over shared memory).
 * `load` returns fresh arrays (msgpackr annotates the ones it is given).
 */
export interface StructureTable {
  load(): string[][];
  /**
   * Publishes `list` as the whole table if `isCompatible(published)` says the table is still
   * the one this thread extended (msgpackr merges it into the packer when not): 'saved',
   * 'conflict' (another thread saved first: pack again), or 'full' (over the table's bounds).
   */
  save(list: string[][], isCompatible: (published: string[][]) => boolean): 'saved' | 'conflict' | 'full';
}

/** At most this many learned shapes per store (ids 32 and up take a second byte). */
export const MAX_LEARNED_STRUCTURES = 128;

/** msgpackr's structure list as its packer passes it to saveStructures. */
type PackrStructures = string[][] & { sharedLength?: number };
/** A trie of the learned shapes: one node per property-name prefix. */
type ShapeNode = { [key: string]: ShapeNode } & { [SHAPE_END]?: true };
const SHAPE_END = Symbol('shape end');

/**
 * msgpackr with record structures learned from the values a store is given, shared with every
 * thread through the store's {@link StructureTable}: the first value of a new object shape adds
 * the shape to the table, and from then on objects of that shape are written without their
 * property names and decoded by a generated constructor (2.5x faster on ~1 KB objects).
 *
 * Once the table is full, objects of shapes it does not hold are written as plain msgpack maps
 * (`useRecords` answers from a trie of the known shapes), which is what the default codec
 * writes: a store of ever-changing shapes costs what it cost before, not more.
 *
 * Routing is the default codec's: values msgpackr cannot reproduce exactly go to v8 as usual.
 */
export class LearnedCodec {
  private readonly packr: MsgpackPacker | null = null;
  private unpackr: MsgpackUnpacker | null = null;
  private known: ShapeNode = Object.create(null) as ShapeNode;
  private full = false;

  constructor(private readonly table: StructureTable) {
    const m = packr === null ? null : loadMsgpackr();
    if (m !== null) {
      this.packr = new m.Packr({
        ...MSGPACKR_OPTIONS,
        useRecords: (o: object) => !this.full || this.isKnown(o),
        mapsAsObjects: true,
        maxSharedStructures: MAX_LEARNED_STRUCTURES,
        getStructures: () => this.learn(this.table.load()),
        saveStructures: (s: PackrStructures, isCompatible: (published: string[][]) => boolean) => this.save(s, isCompatible),
      });
    }
  }

  /** Like {@link encode}: the result is in {@link encoded} until the next call. */
  encode(value: unknown): Tag {
    const p = this.packr;
    if (typeof value !== 'object' || value === null || p === null || reentry.msgpackrBusy) return encode(value);
    reentry.msgpackrBusy = true;
    try {
      if (!scanForMsgpack(value)) return encodeV8(value);
      let target: ReturnType<MsgpackPacker['pack']>;
      p.bundleStrings = shouldBundle();
      try {
        target = p.pack(value, REUSE_BUFFER_MODE | RESET_BUFFER_MODE);
      } catch (error) {
        // A pack that throws (a getter, on msgpackr's second walk) keeps the shapes it had met
        // in the packer without saving them, and the next value of such a shape would name an id
        // the table does not hold — or that another thread then gives to another shape. Forget
        // them: the next pack reloads the published table.
        (p as MsgpackPacker & { structures?: { uninitialized?: boolean } }).structures!.uninitialized = true;
        throw error;
      }
      encoded.bytes = target;
      // A pack() that saved new structures returns a subarray of its buffer instead of the
      // buffer with start/end (msgpackr returns it from the finally block that saved).
      if (target.start === undefined || target.end === undefined || target.end > target.length) {
        encoded.offset = 0;
        encoded.length = target.length;
      } else {
        encoded.offset = target.start;
        encoded.length = target.end - target.start;
      }
      return Tag.Learned;
    } finally {
      reentry.msgpackrBusy = false;
    }
  }

  decode(src: Uint8Array, length: number): unknown {
    let u = this.unpackr;
    if (u === null) {
      const m = loadMsgpackr();
      if (m === null) throw new CodecError(MSGPACKR_MISSING);
      // Meeting an id it does not hold, the unpacker reloads the table: ids are published
      // before any value uses them, and never change meaning.
      u = this.unpackr = new m.Unpackr({
        ...MSGPACKR_OPTIONS,
        useRecords: true,
        mapsAsObjects: true,
        maxSharedStructures: MAX_LEARNED_STRUCTURES,
        getStructures: () => this.table.load(),
      });
    }
    return u.unpack(src, length);
  }

  /** Shapes this thread's packer now knows: what `useRecords` answers from once the table is full. */
  private learn(list: string[][]): string[][] {
    const root = Object.create(null) as ShapeNode;
    for (const keys of list) {
      let node = root;
      for (const k of keys) node = node[k] ?? (node[k] = Object.create(null) as ShapeNode);
      node[SHAPE_END] = true;
    }
    this.known = root;
    if (list.length >= MAX_LEARNED_STRUCTURES) this.full = true;
    return list;
  }

  private save(s: PackrStructures, isCompatible: (published: string[][]) => boolean): boolean {
    const list = s.slice(0, s.sharedLength ?? s.length).map((keys) => [...keys]);
    const r = this.table.save(list, isCompatible);
    if (r === 'saved') {
      this.learn(list);
      return true;
    }
    // msgpackr packs the value again after a refused save, reloading the table first. Once the
    // table is full, that second pack writes the new shape as a map (useRecords says no), so
    // it does not come back here.
    if (r === 'full') this.full = true;
    return false;
  }

  private isKnown(o: object): boolean {
    let node: ShapeNode | undefined = this.known;
    for (const k in o) {
      if (!hasOwn.call(o, k)) continue;
      node = node[k];
      if (node === undefined) return false;
    }
    return node[SHAPE_END] === true;
  }
}
