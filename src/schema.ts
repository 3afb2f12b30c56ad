/**
 * Store schemas and codecs: a store's record layout and msgpackr structures, kept as JSON in its
 * SCHEMA block (StoreSchema, schemaText, openSchema), and the per-handle codec that encodes
 * values for the store and decodes the tags whose meaning is the store's (StoreCodec: records,
 * declared structures, learned structures).
 */
import { arena } from './arena';
import { alloc } from './allocator';
import { LearnedCodec, StructuredCodec, Tag } from './codec';
import { CodecError, InvalidOptionError } from './errors';
import { spin, testKnob } from './faults';
import { KIND, SCHEMA, STORE, THREAD, UNIT, readArenaText } from './layout';
import { type AtomicField, FIELD_KINDS } from './record-protocol';
import { checkLayout, decodeRecord, encodeRecord, isAtomicType, layoutText, type RecordField, type RecordLayout } from './records';
import { type SchemaDecoder } from './read';
import { type Ref, type Word, wordOf } from './ref';
import { CACHE_OPTIONS, type CacheOptions, type CacheShape, isBounded, parseCacheOptions } from './cache-options';
import { initPolicy, policyWords } from './policy';
import { sharedTable } from './structures';
import { myWord } from './threads';
import { withStoreLock } from './write';

/**
 * Test-only (NATIVE_KEYSHARE_TEST_CREATE_DELAY, see faults.ts): spins in a store creation (once
 * its blocks are allocated, once the STORE block names its index, once it is published) and in
 * a schema install (before and after its publication), so that a test that kills the thread
 * lands in each stage of their records.
 */
export const CREATE_DELAY_SPINS = testKnob('CREATE_DELAY');

const EMPTY = new Uint8Array(0);

/**
 * What this thread built from a store's schema text: the codec of its structures, or its record
 * layout with the private buffers records are encoded in (one store's writes never interleave
 * in one thread, so one pair of buffers per store is enough).
 */
export class StoreSchema {
  readonly layout: RecordLayout | null = null;
  readonly structured: StructuredCodec | null = null;
  /** The store's cache options (bounds, default ttl, staleWhileRevalidate), or null. */
  readonly cache: CacheShape | null = null;
  readonly atomic = new Map<string, AtomicField>();
  readonly rec: Uint8Array = EMPTY;
  readonly recView: DataView = new DataView(new ArrayBuffer(0));
  readonly old: Uint8Array = EMPTY;
  readonly oldView: DataView = this.recView;
  /** (offset, length) of the whole record: what a set() writes. */
  readonly allRanges: readonly number[] = [];

  constructor(readonly text: string) {
    const parsed = JSON.parse(text) as { record: { size: number; fields: [string, RecordField['type'], number][] } | null; structures: string[][] | null; cache?: CacheShape | null };
    if (parsed.structures !== null) this.structured = new StructuredCodec(parsed.structures);
    this.cache = parsed.cache ?? null;
    if (parsed.record !== null) {
      const layout: RecordLayout = { size: parsed.record.size, fields: parsed.record.fields.map(([name, type, offset]) => ({ name, type, offset })) };
      this.layout = layout;
      this.rec = Buffer.alloc(layout.size);
      this.recView = new DataView(this.rec.buffer, this.rec.byteOffset, layout.size);
      this.old = Buffer.alloc(layout.size);
      this.oldView = new DataView(this.old.buffer, this.old.byteOffset, layout.size);
      this.allRanges = [0, layout.size];
      for (const f of layout.fields) if (isAtomicType(f.type)) this.atomic.set(f.name, { offset: f.offset, kind: FIELD_KINDS[f.type], type: f.type });
    }
  }
}

/** Schemas this thread has built, by STORE ref (a store's SCHEMA block never changes once set). */
const schemas = new Map<number, StoreSchema>();

function schemaAt(store: Ref, block: Ref): StoreSchema {
  let sc = schemas.get(store);
  if (sc === undefined) schemas.set(store, (sc = new StoreSchema(readSchemaText(block))));
  return sc;
}

function readSchemaText(block: Ref): string {
  const w = wordOf(block);
  arena.covers((w + SCHEMA.TEXT) * 4);
  const len = arena.i32[w + SCHEMA.LEN];
  arena.covers((w + SCHEMA.TEXT) * 4 + len * 2);
  return readArenaText(arena.u16, (w + SCHEMA.TEXT) * 2, len);
}

/** The canonical schema text of createStore options, or null when they set none. */
export function schemaText(options: ({ record?: RecordLayout; structures?: readonly (readonly string[])[] } & CacheOptions) | undefined): string | null {
  const record = options?.record;
  const structures = options?.structures;
  const cache = options === undefined ? null : parseCacheOptions(options);
  if (record === undefined && structures === undefined && cache === null) return null;
  if (cache !== null && record !== undefined && cache.ttl !== 0) throw new InvalidOptionError('options.ttl cannot be combined with options.record: records have no TTL');
  if (record !== undefined) checkLayout(record);
  if (structures !== undefined) {
    if (!Array.isArray(structures) || structures.length > 1000) throw new InvalidOptionError('options.structures must be an array of at most 1000 structures');
    structures.forEach((keys, i) => {
      if (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => typeof k !== 'string') || new Set(keys).size !== keys.length) {
        throw new InvalidOptionError(`options.structures[${i}] must be a non-empty array of distinct property names`);
      }
    });
  }
  return JSON.stringify({
    record: record === undefined ? null : JSON.parse(layoutText(record)),
    structures: structures === undefined ? null : structures.map((keys) => [...keys]),
    // Only when set, so that the text of a schema without cache options reads as it always has.
    ...(cache === null ? {} : { cache }),
  });
}

/**
 * Installs the schema of a handle's options in store `store`, or checks it against the one
 * there. Every handle must agree: bytes written under one layout or structure list mean
 * something else under another.
 */
export function openSchema(store: Ref, name: string, text: string | null): StoreSchema | null {
  const i32 = arena.i32;
  const cur = Atomics.load(i32, wordOf(store) + STORE.SCHEMA);
  if (text === null) return cur === 0 ? null : schemaAt(store, cur);
  if (cur === 0) {
    const installed = withStoreLock(store, () => {
      const s = wordOf(store);
      if (Atomics.load(arena.i32, s + STORE.SCHEMA) !== 0) return null;
      const sc = new StoreSchema(text);
      const values = Atomics.load(arena.i32, s + STORE.VALUES);
      if (sc.layout !== null && values > 0) {
        throw new InvalidOptionError(`store "${name}" already holds ${values} values written without a record layout; a store of records must be created with options.record before its first write`);
      }
      // A bound counts the bytes of every value from the first write: a count begun now would
      // race the writes in flight that saw no policy (they change a value's size without the
      // store lock), so a bound comes before the first value, as a record layout does.
      if (isBounded(sc.cache) && values > 0) {
        throw new InvalidOptionError(`store "${name}" already holds ${values} values written without a bound; a bounded store (max, maxSize) must be created with its options before its first write: pass them to createStore in every thread, or open it with them before any thread writes`);
      }
      // Recorded until published, as a store creation records its blocks (see recoverCreation).
      const storeWord = myWord + THREAD.CREATE_STORE;
      const blockWord = myWord + THREAD.CREATE_BLOCK;
      Atomics.store(arena.i32, storeWord, store);
      try {
        // A bounded store's policy area follows the text, 64-byte aligned (up to 15 words of slack).
        const textWords = SCHEMA.TEXT + Math.ceil(text.length / 2);
        const policy = isBounded(sc.cache) ? policyWords(sc.cache!) : 0;
        const block = alloc(KIND.VALUE, Math.ceil(((policy === 0 ? textWords : textWords + 15 + policy) * 4) / UNIT), blockWord);
        const w = wordOf(block);
        arena.i32[w + SCHEMA.LEN] = text.length;
        const at = policy === 0 ? 0 : ((w + textWords + 15) & ~15) - w;
        if (policy !== 0) initPolicy((w + at) as Word, sc.cache!);
        arena.i32[w + SCHEMA.POLICY] = at;
        const u16 = arena.u16;
        for (let i = 0; i < text.length; i++) u16[(w + SCHEMA.TEXT) * 2 + i] = text.charCodeAt(i);
        spin(CREATE_DELAY_SPINS);
        Atomics.store(arena.i32, s + STORE.SCHEMA, block);
        spin(CREATE_DELAY_SPINS);
      } finally {
        // Published, or never allocated (alloc threw): either way nothing is left to record.
        Atomics.store(arena.i32, blockWord, 0);
        Atomics.store(arena.i32, storeWord, 0);
      }
      schemas.set(store, sc);
      return sc;
    });
    if (installed !== null) return installed;
  }
  const sc = schemaAt(store, Atomics.load(arena.i32, wordOf(store) + STORE.SCHEMA));
  if (sc.text !== text) {
    throw new InvalidOptionError(`store "${name}" was opened with a different ${describeSchema(sc.text, text)} in this process; every handle of a store must pass the same one (regenerate the code that opens it?)`);
  }
  return sc;
}

function describeSchema(a: string, b: string): string {
  const x = JSON.parse(a) as { record: unknown; structures: unknown; cache?: CacheShape };
  const y = JSON.parse(b) as { record: unknown; structures: unknown; cache?: CacheShape };
  if (JSON.stringify(x.record) !== JSON.stringify(y.record)) return 'record layout';
  if (JSON.stringify(x.structures) !== JSON.stringify(y.structures)) return 'structures list';
  const show = (c: CacheShape | undefined) => (c === undefined ? 'none' : CACHE_OPTIONS.filter((k) => c[k] !== 0).map((k) => `${k}: ${c[k]}`).join(', '));
  return `set of cache options (${show(x.cache)} there, ${show(y.cache)} here)`;
}

/** This thread's codec of each store's learned structures, by STORE ref (stores are never freed). */
const learnedCodecs = new Map<number, LearnedCodec>();

function learnedCodec(store: Ref): LearnedCodec {
  let c = learnedCodecs.get(store);
  if (c === undefined) learnedCodecs.set(store, (c = new LearnedCodec(sharedTable(store, withStoreLock))));
  return c;
}

/** One handle's codec of its store's values: by its schema, else by learned structures. */
export class StoreCodec implements SchemaDecoder {
  /** This thread's codec of the store's learned structures, once it has needed it. */
  private learned: LearnedCodec | null = null;

  constructor(
    private readonly name: string,
    private readonly store: Ref,
    /** The store's schema (record layout, structures) once this thread has seen one. */
    private schema: StoreSchema | null,
  ) {}

  /** The schema as last seen, without a load from shared memory (null: none seen yet). */
  get known(): StoreSchema | null {
    return this.schema;
  }

  /**
   * The schema in shared memory, which another thread may have installed after this handle was
   * opened: a plain load of one word while there is none.
   */
  current(): StoreSchema | null {
    if (this.schema !== null) return this.schema;
    const r = arena.i32[wordOf(this.store) + STORE.SCHEMA];
    if (r === 0) return null;
    return (this.schema = schemaAt(this.store, r));
  }

  /** @internal Decodes the tags that need the store's schema (called by readEntry). */
  decodeSchemaValue(tag: number, bytes: Uint8Array, view: DataView, len: number): unknown {
    if (tag === Tag.Learned) return (this.learned ??= learnedCodec(this.store)).decode(bytes, len);
    const sc = this.current();
    if (tag === Tag.Record && sc !== null && sc.layout !== null && len === sc.layout.size) return decodeRecord(sc.layout, bytes, view);
    if (tag === Tag.Structured && sc !== null && sc.structured !== null) return sc.structured.decode(bytes, len);
    throw new CodecError(`store "${this.name}": a value with tag ${tag} (${len} bytes) does not match the store's schema`);
  }

  /** Encodes a value for this store (records into the schema's buffer); returns its tag. */
  encode(value: unknown, sc: StoreSchema | null, path: string): number {
    if (sc === null || (sc.layout === null && sc.structured === null)) return (this.learned ??= learnedCodec(this.store)).encode(value);
    if (sc.layout !== null) {
      encodeRecord(sc.layout, value, sc.rec, sc.recView, path);
      return Tag.Record;
    }
    return sc.structured!.encode(value);
  }
}
