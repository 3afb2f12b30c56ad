/**
 * The value codec: how a JS value becomes bytes in shared memory and back.
 *
 * Every stored value carries a one-byte {@link Tag} that says how its bytes were made, so values
 * written by msgpackr and by the `node:v8` serializer live side by side in one arena and any
 * thread can read what any other thread wrote, whichever encoder that thread prefers.
 *
 * Choice of encoding, per value:
 * - numbers, `true`, `false`, `null`, and top-level strings need no codec (fast tags);
 * - other values go to msgpackr when it is installed and can reproduce the value exactly;
 * - everything else goes to the `node:v8` serializer (structured clone), which is exact for more
 *   types but 5-10x slower on small values.
 *
 * What does not survive a round trip (on either path, so the result never depends on which
 * encoder a thread used):
 * - prototypes: class instances come back as plain objects holding their own enumerable string-keyed
 *   properties (methods, getters on the prototype, private fields and `toJSON` are not used);
 *   null-prototype objects come back with `Object.prototype`;
 * - symbol-keyed and non-enumerable properties, and extra non-index properties on arrays;
 * - object identity: a sub-object referenced twice comes back as two equal copies, except in
 *   values that went to v8 (cycles, see {@link encode}), where v8 keeps the references;
 * - typed-array subclasses come back as their base class (Buffer is kept).
 * Getters run when the value is encoded (twice on the msgpackr path: once by the scan).
 *
 * Re-entrancy: user code that runs during an encode (a getter, a Proxy trap, a `toJSON` that
 * msgpackr calls) may itself write to a store, which encodes again before the outer encode has
 * finished. msgpackr's pack() is not re-entrant: the buffer it writes into and the position in it
 * are module variables shared by every Packr of the process, and each Packr keeps the structure
 * bookkeeping of the pack in progress (new record ids, whether to save them) in per-instance
 * variables. A nested pack() therefore shifts or overwrites the outer value's bytes, and with
 * learned structures can give the outer value's new shape an id that the store's table then
 * assigns to another shape. So while an object is being scanned or packed in this thread
 * ({@link msgpackrBusy}), nested encodes go to v8, whose serializer is a new object per call
 * and shares nothing with msgpackr: nested values are stored exactly, only encoded the slower way
 * (except a Proxy, which v8 cannot serialize: writing one from there throws InvalidValueError,
 * as it does in a thread that encodes with v8). Records have the same hazard with their own
 * buffers; see encodeRecord in records.ts.
 * Decoding during an encode (a getter that reads a store) is safe as it is: msgpackr's unpack
 * state is separate from its pack state, and the store decodes from its own scratch memory.
 *
 * msgpackr is an optional peer dependency: it is looked up once at module load, and a process
 * without it encodes everything that needs a codec with v8. `NATIVE_KEYSHARE_CODEC=v8` makes this
 * thread encode with v8 even when msgpackr is installed; values that other threads wrote with
 * msgpackr stay readable as long as msgpackr can be loaded.
 */
import * as v8 from 'node:v8';
import { CodecError, InvalidValueError } from './errors';

/** How the bytes of a stored value were made. Stored as one byte next to the value. */
export const enum Tag {
  /** No value; encode() never returns it. */
  None = 0,
  /** float64, 8 bytes little endian: keeps -0 and NaN payloads. */
  Number = 1,
  True = 2,
  False = 3,
  Null = 4,
  Msgpack = 5,
  V8 = 6,
  /**
   * Top-level strings, stored raw (see {@link encodeString}): faster than msgpackr both ways at
   * every length measured, exact for lone surrogates, and no larger for ASCII text.
   */
  String = 7,
  /** msgpackr with the record structures of the store's schema (see {@link StructuredCodec}). */
  Structured = 8,
  /** A fixed-layout record (see records.ts): raw bytes at fixed offsets, decoded by the store. */
  Record = 9,
  /**
   * msgpackr with the store's learned structures (see structures.ts): objects of a shape the
   * store has seen are records (an id and the values), others plain maps. Decoded by the store.
   */
  Learned = 10,
}

/**
 * The {@link Tag} values at run time, for JavaScript callers and tests (a `const enum` exists only
 * at compile time; TypeScript code inside the package should use `Tag`, which is inlined).
 */
export const Tags = {
  None: Tag.None,
  Number: Tag.Number,
  True: Tag.True,
  False: Tag.False,
  Null: Tag.Null,
  Msgpack: Tag.Msgpack,
  V8: Tag.V8,
  String: Tag.String,
  Structured: Tag.Structured,
  Record: Tag.Record,
  Learned: Tag.Learned,
} as const;

// ---------------------------------------------------------------------------------------------
// msgpackr, optional

/** The part of msgpackr's API used here (declared locally so the package compiles without it). */
interface MsgpackPacker {
  pack(value: unknown, encodeOptions?: number): Uint8Array & { start?: number; end?: number };
  /** Read by every pack() call, so it can be chosen per value (see shouldBundle). */
  bundleStrings?: boolean;
}
/**
 * msgpackr's pack() flags: return its whole target buffer with `start`/`end` set instead of a
 * new subarray, and write the next value from the same position. Saves a Buffer allocation per
 * encode (and the garbage it makes); safe because the store copies the bytes into shared
 * memory before it encodes again.
 */
const REUSE_BUFFER_MODE = 512;
const RESET_BUFFER_MODE = 1024;
interface MsgpackUnpacker {
  unpack(source: Uint8Array, end: number): unknown;
}
interface MsgpackrModule {
  Packr: new (options: object) => MsgpackPacker;
  Unpackr: new (options: object) => MsgpackUnpacker;
}

/**
 * Why each option:
 * - `useRecords: false`: record definitions would have to be repeated inside every value (no
 *   structure table is shared between threads), which made small values 2x slower both ways;
 * - `moreTypes`: Set and typed arrays keep their class (without it a Set becomes an array and every
 *   typed array a Uint8Array);
 * - `useBigIntExtension`: bigints beyond 64 bits round-trip instead of throwing RangeError
 *   (msgpackr 1.12 already does this when `moreTypes` is on; stated so it does not hang on that);
 * - `copyBuffers`: decode reads from a scratch buffer that the store reuses, so binary data in a
 *   decoded value must not be a view of it.
 * int64 decodes as bigint (the default `int64AsType`), which is right because msgpackr writes
 * int64 only for bigints (large integral numbers are written as float64).
 * Nothing here touches msgpackr's global extension table (`addExtension`), which the application
 * may use for its own msgpackr calls.
 */
const MSGPACKR_OPTIONS = {
  useRecords: false,
  moreTypes: true,
  useBigIntExtension: true,
  copyBuffers: true,
} as const;

let msgpackr: MsgpackrModule | null = null;
let msgpackrLoadTried = false;

function loadMsgpackr(): MsgpackrModule | null {
  if (!msgpackrLoadTried) {
    msgpackrLoadTried = true;
    try {
      msgpackr = require('msgpackr') as MsgpackrModule;
    } catch {
      msgpackr = null;
    }
  }
  return msgpackr;
}

/** The error for a msgpackr-encoded value met in a process where msgpackr cannot be loaded. */
const MSGPACKR_MISSING = 'value was encoded with msgpackr, which is not installed in this process (npm install msgpackr)';

const forceV8 = process.env['NATIVE_KEYSHARE_CODEC']?.trim().toLowerCase() === 'v8';

/** null when this thread encodes objects with v8. */
const packr: MsgpackPacker | null = forceV8 ? null : createPackr();
/**
 * Loaded eagerly when this thread encodes with msgpackr; otherwise on the first msgpackr-tagged
 * value, so a v8-only process that never meets one does not load msgpackr at all.
 */
let unpackr: MsgpackUnpacker | null = packr === null ? null : new msgpackr!.Unpackr(MSGPACKR_OPTIONS);

function createPackr(): MsgpackPacker | null {
  const m = loadMsgpackr();
  return m === null ? null : new m.Packr(MSGPACKR_OPTIONS);
}

/** Which encoder this thread uses for objects: 'msgpackr' or 'v8'. */
export const codecName: 'msgpackr' | 'v8' = packr === null ? 'v8' : 'msgpackr';

// ---------------------------------------------------------------------------------------------
// Scratch space for the fast tags

// Buffers rather than Uint8Arrays so that `encoded.bytes` always has the same class as what
// msgpackr and v8 return (Buffer), which keeps the store's reads of it monomorphic.
const numberBytes = Buffer.allocUnsafeSlow(8);
const numberView = new DataView(numberBytes.buffer, numberBytes.byteOffset, 8);

/** Strings needing up to this many bytes reuse one growing scratch buffer; longer ones get their own. */
const MAX_RETAINED_STRING_SCRATCH = 256 * 1024;
let stringBytes: Buffer = Buffer.allocUnsafeSlow(1024);

// Node's own string codecs: the undocumented `ucs2Write`/`utf8Write`/`…Slice` methods skip the
// argument juggling of `buf.write(s, encoding)` / `buf.toString(encoding)` (~10 ns a call) and
// also work on a plain Uint8Array (msgpackr relies on the same family). The fallbacks keep the
// codec working should they go away.
type WriteString = (this: Buffer, s: string, offset: number, length: number) => number;
type SliceString = (this: Uint8Array, start: number, end: number) => string;
interface NodeStringMethods {
  ucs2Write?: WriteString;
  utf8Write?: WriteString;
  ucs2Slice?: SliceString;
  latin1Slice?: SliceString;
}
const nodeStrings = Buffer.prototype as unknown as NodeStringMethods;
const ucs2Write: WriteString =
  nodeStrings.ucs2Write ??
  function (this: Buffer, s: string, offset: number, length: number): number {
    return this.write(s, offset, length, 'utf16le');
  };
const utf8Write: WriteString =
  nodeStrings.utf8Write ??
  function (this: Buffer, s: string, offset: number, length: number): number {
    return this.write(s, offset, length, 'utf8');
  };
const ucs2Slice: SliceString =
  nodeStrings.ucs2Slice ??
  function (this: Uint8Array, start: number, end: number): string {
    return Buffer.from(this.buffer, this.byteOffset + start, end - start).toString('utf16le');
  };
const latin1Slice: SliceString =
  nodeStrings.latin1Slice ??
  function (this: Uint8Array, start: number, end: number): string {
    return Buffer.from(this.buffer, this.byteOffset + start, end - start).toString('latin1');
  };

/**
 * Result of the last encode() in this thread: bytes[offset, offset + length) — valid until the
 * next encode() call.
 */
export const encoded: { bytes: Uint8Array; offset: number; length: number } = { bytes: numberBytes, offset: 0, length: 0 };

// ---------------------------------------------------------------------------------------------
// encode

/**
 * Encodes value and returns its tag; throws InvalidValueError.
 *
 * The result is in {@link encoded} until the next call. Objects go to msgpackr unless a scan of
 * the value finds something msgpackr would not reproduce exactly; the scan stops at the first
 * such thing and the whole value then goes to v8:
 * - Map (msgpackr without records turns it into a plain object), Buffer (comes back as a
 *   Uint8Array), DataView, -0 (comes back as 0), array holes (come back as undefined), an own
 *   `__proto__` key (msgpackr renames it), objects with more than 65535 keys;
 * - anything that is not a plain object, array, Date, Set, typed array or class instance
 *   (RegExp, Error, boxed primitives, ArrayBuffer, …): v8 handles them or reports them;
 * - class instances with a `toJSON` member (msgpackr would call it, v8 does not);
 * - values nested more than 64 levels deep (which includes every cycle) and values with more
 *   than 50 000 objects (which bounds the scan on DAGs that share sub-objects).
 *
 * Strings nested in objects with a lone surrogate also go to v8; object keys are not checked
 * (see {@link CHECK_NESTED_STRINGS}).
 */
export function encode(value: unknown): Tag {
  switch (typeof value) {
    case 'number':
      numberView.setFloat64(0, value, true);
      encoded.bytes = numberBytes;
      encoded.offset = 0;
      encoded.length = 8;
      return Tag.Number;
    case 'string':
      return encodeString(value);
    case 'boolean':
      encoded.length = 0;
      return value ? Tag.True : Tag.False;
    case 'object':
      if (value === null) {
        encoded.length = 0;
        return Tag.Null;
      }
      return encodeObject(value);
    case 'bigint':
      return packr !== null && !msgpackrBusy ? encodeMsgpack(value, false) : encodeV8(value);
    case 'undefined':
      throw new InvalidValueError('value must not be undefined');
    default:
      throw new InvalidValueError(`value of type ${typeof value} cannot be stored`);
  }
}

/** The last byte of a String value: how the bytes before it hold the string. */
const enum StringForm {
  /** UTF-16LE code units: exact for any string, and decoded fastest when not ASCII. */
  Utf16 = 0,
  /** One byte per char, ASCII only: half the size, and decoded ~2x faster than msgpackr's UTF-8. */
  OneByte = 1,
}

/**
 * Below this length every string is stored as UTF-16, which had the lowest fixed cost; from here
 * on ASCII strings are stored one byte per char, where UTF-16 decoding was slower than msgpackr
 * (ucs2Slice 5.4 µs vs unpack 3.5 µs vs latin1Slice 1.9 µs for 40 000 ASCII chars).
 */
const ONE_BYTE_MIN_LENGTH = 64;

/**
 * Measured, this encode/decode against msgpackr pack/unpack (ns, Node 20, 2 shared cores):
 * 'Benchmark' 46/45 vs 99/62; 4 800 ASCII chars 296/292 vs 755/598; 40 000 ASCII chars
 * 1780/1710 vs 4190/3200; 4 000 Latin-1 chars 176/555 vs 2457/15699; 3 000 CJK chars 90/410 vs
 * 4700/31500 (Node 20's UTF-8 decoder is slow on non-ASCII text, and msgpackr uses it).
 */
function encodeString(s: string): Tag {
  const n = s.length;
  if (n < ONE_BYTE_MIN_LENGTH) {
    // stringBytes always holds 2 * ONE_BYTE_MIN_LENGTH + 1 bytes.
    const target = stringBytes;
    const end = ucs2Write.call(target, s, 0, 2 * n);
    target[end] = StringForm.Utf16;
    encoded.bytes = target;
    encoded.offset = 0;
    encoded.length = end + 1;
    return Tag.String;
  }
  return encodeLongString(s, n);
}

function encodeLongString(s: string, n: number): Tag {
  const probe = mayBeAscii(s, n);
  // The UTF-8 probe gets room for a non-ASCII string (up to 3 bytes per code unit), so that it
  // writes the whole string and "n bytes written" really means "ASCII".
  const needed = probe ? 3 * n + 1 : 2 * n + 1;
  const target = needed > stringBytes.length ? stringScratch(needed) : stringBytes;
  let end: number;
  let form: StringForm;
  if (probe && utf8Write.call(target, s, 0, 3 * n) === n) {
    end = n;
    form = StringForm.OneByte;
  } else {
    end = ucs2Write.call(target, s, 0, 2 * n);
    form = StringForm.Utf16;
  }
  target[end] = form;
  encoded.bytes = target;
  encoded.offset = 0;
  encoded.length = end + 1;
  return Tag.String;
}

/**
 * Looks at 32 code units spread over the string: most non-ASCII text shows itself here, which
 * spares it the UTF-8 probe (as slow on such text as msgpackr's pack, ~15x slower than ucs2Write).
 */
function mayBeAscii(s: string, n: number): boolean {
  const step = n >> 5 || 1;
  for (let i = 0; i < n; i += step) {
    if (s.charCodeAt(i) > 0x7f) return false;
  }
  return true;
}

function stringScratch(byteLength: number): Buffer {
  if (byteLength > MAX_RETAINED_STRING_SCRATCH) return Buffer.allocUnsafeSlow(byteLength);
  let size = stringBytes.length;
  while (size < byteLength) size *= 2;
  return (stringBytes = Buffer.allocUnsafeSlow(size));
}

/**
 * True while this thread encodes an object with a msgpackr-enabled codec (the scan, then the
 * pack or the v8 fallback the scan chose): user code that runs then (see Re-entrancy at the
 * top) must not start another scan or pack, so {@link encode} and the store codecs send what it
 * writes to v8. The flag covers the scan too because the scan's budget and bundling count are
 * module variables. A boolean, not a depth: only the outermost encode sets it (nested ones see
 * it set and go to v8), and it is reset in a finally, so a throwing getter cannot leave it set.
 */
let msgpackrBusy = false;

function encodeObject(value: object): Tag {
  if (packr === null || msgpackrBusy) return encodeV8(value);
  msgpackrBusy = true;
  try {
    startScan();
    const route = scanObject(value, 0);
    if (route === Route.Msgpack) return encodeMsgpack(value, shouldBundle());
    if (route === Route.Invalid) throwIfInvalid(value);
    return encodeV8(value);
  } finally {
    msgpackrBusy = false;
  }
}

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
    if (typeof value !== 'object' || value === null || packr === null || p === null || msgpackrBusy) return encode(value);
    msgpackrBusy = true;
    try {
      startScan();
      const route = scanObject(value, 0);
      if (route === Route.Invalid) throwIfInvalid(value);
      if (route !== Route.Msgpack) return encodeV8(value);
      p.bundleStrings = shouldBundle();
      const target = p.pack(value, REUSE_BUFFER_MODE | RESET_BUFFER_MODE);
      const start = target.start as number;
      encoded.bytes = target;
      encoded.offset = start;
      encoded.length = (target.end as number) - start;
      return Tag.Structured;
    } finally {
      msgpackrBusy = false;
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
    if (typeof value !== 'object' || value === null || p === null || msgpackrBusy) return encode(value);
    msgpackrBusy = true;
    try {
      startScan();
      const route = scanObject(value, 0);
      if (route === Route.Invalid) throwIfInvalid(value);
      if (route !== Route.Msgpack) return encodeV8(value);
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
      msgpackrBusy = false;
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

function encodeMsgpack(value: unknown, bundle: boolean): Tag {
  packr!.bundleStrings = bundle;
  // msgpackr's own buffer, not a copy (see REUSE_BUFFER_MODE).
  const target = packr!.pack(value, REUSE_BUFFER_MODE | RESET_BUFFER_MODE);
  const start = target.start as number;
  encoded.bytes = target;
  encoded.offset = start;
  encoded.length = (target.end as number) - start;
  return Tag.Msgpack;
}

function encodeV8(value: unknown): Tag {
  let bytes: Uint8Array;
  try {
    bytes = v8.serialize(value);
  } catch (error) {
    throw v8EncodeError(value, error);
  }
  encoded.bytes = bytes;
  encoded.offset = 0;
  encoded.length = bytes.length;
  return Tag.V8;
}

/** Turns v8's DataCloneError (and its stack overflow) into InvalidValueError; rethrows the rest (e.g. from getters). */
function v8EncodeError(value: unknown, error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  let result: InvalidValueError;
  if (error instanceof RangeError && /call stack/.test(error.message)) {
    result = new InvalidValueError(`value is nested too deeply to be stored (${error.message})`);
  } else if (/could not be cloned|Unserializable host object/.test(error.message)) {
    let found: InvalidFound | null = null;
    try {
      found = findInvalid(value);
    } catch {
      // A getter that throws, or a value too deep for the walk: the original message will do.
    }
    result = new InvalidValueError(
      found === null ? `value cannot be stored: ${error.message}` : `${invalidMessage(found)} (${error.message})`,
    );
  } else {
    return error;
  }
  Object.defineProperty(result, 'cause', { value: error, configurable: true, writable: true });
  return result;
}

// ---------------------------------------------------------------------------------------------
// The scan: can msgpackr reproduce this value exactly?

const enum Route {
  Msgpack = 0,
  V8 = 1,
  /** A function or symbol somewhere inside; {@link throwIfInvalid} finds where. */
  Invalid = 2,
}

/**
 * msgpackr writes a lone surrogate (e.g. half of an emoji cut off by `slice`) and its decoder turns
 * it into U+FFFD. Nested string *values* are checked with `isWellFormed()` and such values go to
 * v8, which keeps them: ~4 ns per string (~3% of encoding `{ value: 'Benchmark' }`, ~12% of a
 * 1 KB object). Object keys are checked the same way, so that what comes back never depends on
 * which encoder a thread used. Top-level strings are always exact (String tag).
 */
const CHECK_NESTED_STRINGS = true;

/** Deeper values go to v8: this is what catches cycles, without a visited set on the fast path. */
const MAX_SCAN_DEPTH = 64;
/**
 * Once the scan has visited this many objects the value goes to v8: bounds the scan of DAGs whose
 * shared sub-objects would be walked again and again (v8 writes each of them once).
 */
const MAX_SCAN_OBJECTS = 50_000;
/** msgpackr writes objects with a 16-bit key count when records are off. */
const MAX_MSGPACK_KEYS = 0xffff;

let objectBudget = 0;

/**
 * String bundling (msgpackr's `bundleStrings`): the strings of a value are written together
 * after it, and decoding makes each one a slice of one or two big strings instead of decoding
 * them one by one. Measured here (msgpackr 1.12 with its native string extractor, records on):
 * a document of 420 rows with a 180-character note each decodes in 56–62 µs instead of
 * 127–144 µs, 42 such rows in 4.2 instead of 7.6 µs, 5 rows in 0.77 instead of 1.0 µs; with
 * one long string and a few short ones it is 5–10% slower, and with short strings alone it
 * gains little. Encoding costs about the same to 40% more. Reads outnumber writes in the
 * stores this library is for, so values with at least BUNDLE_MIN_STRINGS strings of
 * BUNDLE_MIN_LENGTH code units or more are bundled; the scan (scanProps, scanArray) counts them.
 *
 * Decoders need nothing: msgpackr reads the bundle extension whatever its options. (A decoded
 * string that is a slice keeps its bundle alive while it lives, as with msgpackr's own option.)
 */
const BUNDLE_MIN_LENGTH = 32;
const BUNDLE_MIN_STRINGS = 4;
let bundleCandidates = 0;

/** Starts a scan: resets its budget and its count of strings worth bundling. */
function startScan(): void {
  objectBudget = MAX_SCAN_OBJECTS;
  bundleCandidates = 0;
}

/** Whether the value the last scan walked should have its strings bundled. */
function shouldBundle(): boolean {
  return bundleCandidates >= BUNDLE_MIN_STRINGS;
}

/** `String.prototype.isWellFormed` (ES2024, in Node 20) is missing from the ES2022 lib typings. */
interface WellFormed {
  isWellFormed(): boolean;
}

const DatePrototype = Date.prototype;
const SetPrototype = Set.prototype;
const objectToString = Object.prototype.toString;
const hasOwn = Object.prototype.hasOwnProperty;

function scanObject(o: object, depth: number): Route {
  if (depth > MAX_SCAN_DEPTH || --objectBudget < 0) return Route.V8;
  if (Array.isArray(o)) return scanArray(o, depth);
  // The same test msgpackr uses to pick its plain-object path; it measured ~30% cheaper over a
  // whole scan than comparing Object.getPrototypeOf(o) with Object.prototype.
  if ((o as { constructor?: unknown }).constructor === Object) return scanProps(o as Record<string, unknown>, depth, false);
  return scanOther(o, depth);
}

function scanProps(o: Record<string, unknown>, depth: number, ownOnly: boolean): Route {
  let count = 0;
  for (const key in o) {
    if (ownOnly && !hasOwn.call(o, key)) continue;
    if (++count > MAX_MSGPACK_KEYS || key === '__proto__') return Route.V8;
    if (CHECK_NESTED_STRINGS && !(key as unknown as WellFormed).isWellFormed()) return Route.V8;
    const v = o[key];
    if (typeof v === 'object') {
      if (v !== null) {
        const route = scanObject(v, depth + 1);
        if (route !== Route.Msgpack) return route;
      }
    } else if (typeof v === 'string') {
      if (CHECK_NESTED_STRINGS && !(v as unknown as WellFormed).isWellFormed()) return Route.V8;
      if (v.length >= BUNDLE_MIN_LENGTH) bundleCandidates++;
    } else if (typeof v === 'number') {
      if (v === 0 && 1 / v < 0) return Route.V8;
    } else if (typeof v === 'function' || typeof v === 'symbol') {
      return Route.Invalid;
    }
  }
  return Route.Msgpack;
}

function scanArray(a: unknown[], depth: number): Route {
  for (let i = 0, n = a.length; i < n; i++) {
    const v = a[i];
    if (typeof v === 'object') {
      if (v !== null) {
        const route = scanObject(v, depth + 1);
        if (route !== Route.Msgpack) return route;
      }
    } else if (typeof v === 'string') {
      if (CHECK_NESTED_STRINGS && !(v as unknown as WellFormed).isWellFormed()) return Route.V8;
      if (v.length >= BUNDLE_MIN_LENGTH) bundleCandidates++;
    } else if (typeof v === 'number') {
      if (v === 0 && 1 / v < 0) return Route.V8;
    } else if (v === undefined) {
      if (!(i in a)) return Route.V8;
    } else if (typeof v === 'function' || typeof v === 'symbol') {
      return Route.Invalid;
    }
  }
  return Route.Msgpack;
}

function scanOther(o: object, depth: number): Route {
  const proto: unknown = Object.getPrototypeOf(o);
  if (proto === DatePrototype || proto === FrozenDatePrototype) return Route.Msgpack;
  if (proto === SetPrototype || proto === FrozenSetPrototype) {
    for (const v of o as Set<unknown>) {
      const route = scanElement(v, depth);
      if (route !== Route.Msgpack) return route;
    }
    return Route.Msgpack;
  }
  if (ArrayBuffer.isView(o)) {
    return o instanceof Buffer || o instanceof DataView ? Route.V8 : Route.Msgpack;
  }
  if (objectToString.call(o) === '[object Object]') {
    // A class instance, a null-prototype object or one with an own `constructor` key: msgpackr
    // writes its own enumerable properties, as v8 would, but first calls `toJSON` if it has one.
    if ((o as { toJSON?: unknown }).toJSON !== undefined) return Route.V8;
    return scanProps(o as Record<string, unknown>, depth, true);
  }
  return Route.V8;
}

function scanElement(v: unknown, depth: number): Route {
  switch (typeof v) {
    case 'object':
      return v === null ? Route.Msgpack : scanObject(v, depth + 1);
    case 'string':
      return CHECK_NESTED_STRINGS && !(v as unknown as WellFormed).isWellFormed() ? Route.V8 : Route.Msgpack;
    case 'number':
      return v === 0 && 1 / v < 0 ? Route.V8 : Route.Msgpack;
    case 'function':
    case 'symbol':
      return Route.Invalid;
    default:
      return Route.Msgpack;
  }
}

// ---------------------------------------------------------------------------------------------
// Invalid values (slow path)

interface InvalidFound {
  type: string;
  path: string;
}

function invalidMessage(found: InvalidFound): string {
  return `value of type ${found.type} cannot be stored (found at ${found.path})`;
}

/** The scan saw a function or symbol: say where, or let v8 decide if this exact walk finds none. */
function throwIfInvalid(value: object): void {
  const found = findInvalid(value);
  if (found !== null) throw new InvalidValueError(invalidMessage(found));
}

/** Walks own enumerable properties, array elements, Map keys/values and Set values. */
function findInvalid(value: unknown): InvalidFound | null {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): InvalidFound | null => {
    const type = typeof v;
    if (type === 'function' || type === 'symbol') return { type, path };
    if (type !== 'object' || v === null || seen.has(v as object)) return null;
    seen.add(v as object);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const found = walk(v[i], `${path}[${i}]`);
        if (found !== null) return found;
      }
    } else if (v instanceof Map) {
      let i = 0;
      for (const [k, e] of v) {
        const found = walk(k, `${path}.<key ${i}>`) ?? walk(e, `${path}.get(${describeKey(k)})`);
        if (found !== null) return found;
        i++;
      }
    } else if (v instanceof Set) {
      let i = 0;
      for (const e of v) {
        const found = walk(e, `${path}.<element ${i++}>`);
        if (found !== null) return found;
      }
    } else if (!ArrayBuffer.isView(v)) {
      for (const key of Object.keys(v as object)) {
        const found = walk((v as Record<string, unknown>)[key], path + propertyPath(key));
        if (found !== null) return found;
      }
    }
    return null;
  };
  return walk(value, 'value');
}

function propertyPath(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function describeKey(key: unknown): string {
  return typeof key === 'string' ? JSON.stringify(key) : typeof key === 'object' && key !== null ? `<${typeof key}>` : String(key);
}

// ---------------------------------------------------------------------------------------------
// decode

/** The DataView over the last `src` that held a number; the store passes the same scratch each time. */
let numberSource: Uint8Array | null = null;
let numberSourceView: DataView = numberView;

/** Decodes length bytes of src (a private, non-shared Uint8Array the caller owns) written with tag. */
export function decode(tag: number, src: Uint8Array, length: number): unknown {
  switch (tag) {
    case Tag.Msgpack: {
      const u = unpackr;
      return u !== null ? u.unpack(src, length) : decodeMsgpackLazily(src, length);
    }
    case Tag.Number:
      if (length !== 8) throw badLength(tag, length);
      if (src !== numberSource) {
        numberSourceView = new DataView(src.buffer, src.byteOffset, 8);
        numberSource = src;
      }
      return numberSourceView.getFloat64(0, true);
    case Tag.String: {
      const end = length - 1;
      const form = src[end];
      if (form === StringForm.Utf16 && (end & 1) === 0) return ucs2Slice.call(src, 0, end);
      if (form === StringForm.OneByte) return latin1Slice.call(src, 0, end);
      throw badLength(tag, length);
    }
    case Tag.True:
      return true;
    case Tag.False:
      return false;
    case Tag.Null:
      return null;
    case Tag.V8:
      return decodeV8(src, length);
    default:
      throw new CodecError(`cannot decode a value with tag ${tag}`);
  }
}

function badLength(tag: number, length: number): CodecError {
  return new CodecError(`corrupt value: tag ${tag} cannot have ${length} bytes`);
}

function decodeMsgpackLazily(src: Uint8Array, length: number): unknown {
  const m = loadMsgpackr();
  if (m === null) throw new CodecError(MSGPACKR_MISSING);
  const u = (unpackr = new m.Unpackr(MSGPACKR_OPTIONS));
  return u.unpack(src, length);
}

/** The buffer being deserialized, so that host objects that are views of it can be copied. */
let v8Source: ArrayBufferLike | null = null;

interface NodeHostDeserializer {
  _readHostObject(this: v8.Deserializer): unknown;
}
const readNodeHostObject = (v8.DefaultDeserializer.prototype as unknown as NodeHostDeserializer)._readHostObject;

/**
 * Node's deserializer returns Buffers and typed arrays as views of the input (when aligned) or of
 * its shared Buffer pool; the input here is the store's reusable scratch, so each one is copied
 * into memory of its own.
 */
class PrivateDeserializer extends v8.DefaultDeserializer {
  _readHostObject(): unknown {
    const view = readNodeHostObject.call(this) as ArrayBufferView;
    return view.buffer === v8Source || view.byteLength !== view.buffer.byteLength ? copyView(view) : view;
  }
}

function copyView(view: ArrayBufferView): ArrayBufferView {
  if (view instanceof DataView) {
    return new DataView(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
  }
  if (Buffer.isBuffer(view)) {
    const copy = Buffer.allocUnsafeSlow(view.length);
    view.copy(copy);
    return copy;
  }
  return (view as Uint8Array).slice();
}

function decodeV8(src: Uint8Array, length: number): unknown {
  v8Source = src.buffer;
  try {
    const deserializer = new PrivateDeserializer(src.subarray(0, length));
    deserializer.readHeader();
    return deserializer.readValue();
  } finally {
    v8Source = null;
  }
}

// ---------------------------------------------------------------------------------------------
// deepFreeze

function rejectWrite(this: unknown): never {
  throw new TypeError('cannot modify a value returned by the store: it is frozen (copy it first)');
}

/** Prototype for frozen Maps/Sets/Dates: their mutators throw. Still `instanceof Map` etc. */
function readOnlyPrototype(base: object, mutators: readonly string[]): object {
  const descriptors: PropertyDescriptorMap = {};
  for (const name of mutators) descriptors[name] = { value: rejectWrite };
  return Object.freeze(Object.create(base, descriptors));
}
const FrozenMapPrototype = readOnlyPrototype(Map.prototype, ['set', 'delete', 'clear']);
const FrozenSetPrototype = readOnlyPrototype(Set.prototype, ['add', 'delete', 'clear']);
const FrozenDatePrototype = readOnlyPrototype(
  Date.prototype,
  Object.getOwnPropertyNames(Date.prototype).filter((name) => name.startsWith('set')),
);

/**
 * Deep-freezes a decoded value so that it can be handed out many times. Returns the value.
 *
 * - Plain objects, arrays, Errors, RegExps: `Object.freeze`, recursively. A frozen RegExp with
 *   the `g` or `y` flag throws on `exec`/`test`, because its `lastIndex` is read-only.
 * - Map, Set, Date: frozen, and given a prototype (inheriting from Map/Set/Date, so `instanceof`
 *   and `constructor` are unchanged) whose mutators (`set`/`add`/`delete`/`clear`, `setTime`
 *   and the other Date setters) throw TypeError. Calling the original method directly, e.g.
 *   `Map.prototype.set.call(map, k, v)`, still mutates: JS offers no way to lock internal slots.
 *   Map keys and values and Set values are frozen too.
 * - Typed arrays and Buffers: JS cannot freeze their elements; they only get
 *   `Object.preventExtensions`. Their contents stay writable. The same holds for the contents
 *   of ArrayBuffers and DataViews (which are frozen as objects).
 *
 * Objects that are already frozen are not entered again (this is what stops at cycles), so
 * deepFreeze is meant for freshly decoded values, not for values frozen elsewhere.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) freezeObject(value);
  return value;
}

function freezeObject(o: object): void {
  if (Object.isFrozen(o)) return;
  if (Array.isArray(o)) {
    Object.freeze(o);
    for (let i = 0; i < o.length; i++) {
      const v: unknown = o[i];
      if (typeof v === 'object' && v !== null) freezeObject(v);
    }
    return;
  }
  if (ArrayBuffer.isView(o) && !(o instanceof DataView)) {
    Object.preventExtensions(o);
    return;
  }
  if (o instanceof Map) {
    Object.setPrototypeOf(o, FrozenMapPrototype);
    Object.freeze(o);
    for (const [k, v] of o as Map<unknown, unknown>) {
      if (typeof k === 'object' && k !== null) freezeObject(k);
      if (typeof v === 'object' && v !== null) freezeObject(v);
    }
    return;
  }
  if (o instanceof Set) {
    Object.setPrototypeOf(o, FrozenSetPrototype);
    Object.freeze(o);
    for (const v of o as Set<unknown>) {
      if (typeof v === 'object' && v !== null) freezeObject(v);
    }
    return;
  }
  if (o instanceof Date) Object.setPrototypeOf(o, FrozenDatePrototype);
  Object.freeze(o);
  // Decoded objects carry only own properties, so for-in visits exactly those.
  for (const key in o) {
    const v = (o as Record<string, unknown>)[key];
    if (typeof v === 'object' && v !== null) freezeObject(v);
  }
}
