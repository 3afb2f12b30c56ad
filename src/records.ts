/**
 * Fixed-layout records: values whose fields all have a fixed size, stored as raw bytes at fixed
 * offsets so that one field can be read — or, for integers, changed atomically — straight in
 * shared memory, without decoding the rest.
 *
 * This module is pure: it describes layouts, checks them, and converts between a JavaScript
 * object and the record's bytes in *private* memory. The protocols that touch shared memory
 * (field reads inside the sequence check, in-place writes, lock-free add) are in
 * `record-protocol.ts`, and the store methods that use them in `store.ts`.
 *
 * A layout is data, so every thread — and the generator, which prints the same offsets as
 * constants into the typed accessors it emits — agrees on it; the store keeps a copy in shared
 * memory and refuses a handle whose layout differs.
 *
 * ```
 *  record bytes (size is a multiple of 8; fields sorted by alignment, so there is no padding
 *  except at the end):
 *  ┌──────────┬──────────┬───────┬───────┬──────────────────────┬───┬───┬─────┐
 *  │ float64  │ float64  │ int32 │ int32 │ u16 length │ UTF-8 … │u8 │u8 │ pad │
 *  └──────────┴──────────┴───────┴───────┴──────────────────────┴───┴───┴─────┘
 * ```
 */
import { InvalidOptionError, InvalidValueError, describeValue } from './errors';

import {
  type AtomicType,
  type FieldType,
  fieldSizeOf,
  INT_RANGE,
  MAX_ENUM_MEMBERS,
  MAX_RECORD_BYTES,
  MAX_STRING_BYTES,
  placeFields,
  SCALAR_BYTES,
  type ScalarType,
} from './record-layout';

// The layout itself (types, sizes, the algorithm) is record-layout.ts's; re-exported for the
// modules that take them from here.
export { type AtomicType, type FieldType, MAX_RECORD_BYTES, SCALAR_BYTES, type ScalarType };

export interface RecordFieldSpec {
  readonly name: string;
  readonly type: FieldType;
}
export interface RecordField extends RecordFieldSpec {
  /** Byte offset within the record. */
  readonly offset: number;
}
/** Where each field of a record lives. Make one with {@link layoutRecord}. */
export interface RecordLayout {
  /** Bytes per record, a multiple of 8. */
  readonly size: number;
  /** In declaration order (which is the order of a decoded object's properties). */
  readonly fields: readonly RecordField[];
}

export function isAtomicType(t: FieldType): t is AtomicType {
  return typeof t === 'string' && t in INT_RANGE;
}

/** Size and alignment of a field type, in bytes; throws InvalidOptionError for a bad type. */
export function fieldSize(t: FieldType, where: string): { size: number; align: number } {
  if (typeof t === 'string') {
    const n = SCALAR_BYTES[t];
    if (n === undefined) throw new InvalidOptionError(`${where}: unknown field type ${JSON.stringify(t)} (known: ${Object.keys(SCALAR_BYTES).join(', ')}, {enum}, {string}, {array})`);
    return fieldSizeOf(t);
  }
  if (t === null || typeof t !== 'object') throw new InvalidOptionError(`${where}: a field type must be a string or an object, got ${t === null ? 'null' : typeof t}`);
  if ('enum' in t) {
    const v = t.enum;
    if (!Array.isArray(v) || v.length === 0 || v.length > MAX_ENUM_MEMBERS || v.some((m) => typeof m !== 'string') || new Set(v).size !== v.length) {
      throw new InvalidOptionError(`${where}: enum must be a non-empty array of at most ${MAX_ENUM_MEMBERS} distinct strings`);
    }
    return fieldSizeOf(t);
  }
  if ('string' in t) {
    if (!Number.isInteger(t.string) || t.string < 1 || t.string > MAX_STRING_BYTES) throw new InvalidOptionError(`${where}: string must be a byte length from 1 to ${MAX_STRING_BYTES}, got ${describe(t.string)}`);
    return fieldSizeOf(t);
  }
  if ('array' in t) {
    const el = SCALAR_BYTES[t.array];
    if (el === undefined) throw new InvalidOptionError(`${where}: array elements must be of a scalar type, got ${JSON.stringify(t.array)}`);
    if (!Number.isInteger(t.length) || t.length < 1 || t.length * el > MAX_RECORD_BYTES) throw new InvalidOptionError(`${where}: array length must be a positive integer, got ${describe(t.length)}`);
    return fieldSizeOf(t);
  }
  throw new InvalidOptionError(`${where}: unknown field type ${JSON.stringify(t)}`);
}

/**
 * Lays out fields with record-layout.ts's algorithm (largest alignment first, declaration order
 * within an alignment), after checking them. The generator lays out with the same module, so
 * the offsets it prints are these.
 */
export function layoutRecord(specs: readonly RecordFieldSpec[]): RecordLayout {
  if (!Array.isArray(specs) || specs.length === 0) throw new InvalidOptionError('a record needs at least one field');
  const sized = specs.map((f, i) => {
    if (f === null || typeof f !== 'object' || typeof f.name !== 'string' || f.name.length === 0) throw new InvalidOptionError(`record field ${i} needs a non-empty name`);
    return fieldSize(f.type, `record field "${f.name}"`);
  });
  const { size, offsets } = placeFields(sized);
  const layout: RecordLayout = {
    size,
    fields: specs.map((f, i) => ({ name: f.name, type: f.type, offset: offsets[i] })),
  };
  checkLayout(layout);
  return layout;
}

/**
 * Checks a layout given by a caller (generated code passes one): names unique, every field
 * aligned, inside the record and overlapping no other. Throws InvalidOptionError.
 */
export function checkLayout(layout: RecordLayout): void {
  if (layout === null || typeof layout !== 'object' || !Array.isArray(layout.fields) || layout.fields.length === 0) {
    throw new InvalidOptionError('options.record must be a layout { size, fields } (see layoutRecord)');
  }
  const { size } = layout;
  if (!Number.isInteger(size) || size < 8 || size > MAX_RECORD_BYTES || size % 8 !== 0) {
    throw new InvalidOptionError(`record size must be a multiple of 8 from 8 to ${MAX_RECORD_BYTES}, got ${describe(size)}`);
  }
  const names = new Set<string>();
  const spans: [number, number, string][] = [];
  for (const f of layout.fields) {
    if (f === null || typeof f !== 'object' || typeof f.name !== 'string' || f.name.length === 0) throw new InvalidOptionError('every record field needs a non-empty name');
    if (names.has(f.name)) throw new InvalidOptionError(`record field "${f.name}" appears twice`);
    if (f.name === '__proto__') throw new InvalidOptionError('a record field cannot be named "__proto__"');
    names.add(f.name);
    const { size: n, align } = fieldSize(f.type, `record field "${f.name}"`);
    if (!Number.isInteger(f.offset) || f.offset < 0 || f.offset % align !== 0 || f.offset + n > size) {
      throw new InvalidOptionError(`record field "${f.name}": offset ${String(f.offset)} must be a multiple of ${align} with the field inside the ${size}-byte record`);
    }
    spans.push([f.offset, f.offset + n, f.name]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) throw new InvalidOptionError(`record fields "${spans[i - 1][2]}" and "${spans[i][2]}" overlap`);
  }
}

/** A canonical text of a layout: equal texts mean the same bytes mean the same values. */
export function layoutText(layout: RecordLayout): string {
  return JSON.stringify({ size: layout.size, fields: layout.fields.map((f) => [f.name, f.type, f.offset]) });
}

// ── Private-memory conversions ──────────────────────────────────────────────────────────────

/** The received value with its type, for error messages (`the string "7"`). */
const describe = describeValue;

function typeName(t: FieldType): string {
  if (typeof t === 'string') return t === 'float64' ? 'number' : t === 'boolean' ? 'boolean' : `${t} integer`;
  if ('enum' in t) return `one of ${t.enum.map((m) => JSON.stringify(m)).join(', ')}`;
  if ('string' in t) return `string of at most ${t.string} UTF-8 bytes`;
  return `array of ${t.length} ${typeName(t.array)}`;
}

function writeScalar(dv: DataView, at: number, t: ScalarType, v: unknown, path: string): void {
  switch (t) {
    case 'float64':
      if (typeof v !== 'number') break;
      dv.setFloat64(at, v, true);
      return;
    case 'boolean':
      if (typeof v !== 'boolean') break;
      dv.setUint8(at, v ? 1 : 0);
      return;
    default: {
      const [lo, hi] = INT_RANGE[t];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) break;
      if (t === 'int32') dv.setInt32(at, v, true);
      else if (t === 'uint32') dv.setUint32(at, v, true);
      else if (t === 'int16') dv.setInt16(at, v, true);
      else if (t === 'uint16') dv.setUint16(at, v, true);
      else if (t === 'int8') dv.setInt8(at, v);
      else dv.setUint8(at, v);
      return;
    }
  }
  throw new InvalidValueError(`${path} must be ${typeName(t)}, got ${describe(v)}`);
}

function readScalar(dv: DataView, at: number, t: ScalarType): number | boolean {
  switch (t) {
    case 'float64': return dv.getFloat64(at, true);
    case 'int32': return dv.getInt32(at, true);
    case 'uint32': return dv.getUint32(at, true);
    case 'int16': return dv.getInt16(at, true);
    case 'uint16': return dv.getUint16(at, true);
    case 'int8': return dv.getInt8(at);
    case 'uint8': return dv.getUint8(at);
    case 'boolean': return dv.getUint8(at) !== 0;
  }
}

/** Writes field `f` of a value into `bytes` (private memory), or throws InvalidValueError. */
export function writeField(bytes: Uint8Array, dv: DataView, f: RecordField, v: unknown, path: string): void {
  const t = f.type;
  const at = f.offset;
  if (typeof t === 'string') return writeScalar(dv, at, t, v, path);
  if ('enum' in t) {
    const i = typeof v === 'string' ? t.enum.indexOf(v) : -1;
    if (i < 0) throw new InvalidValueError(`${path} must be ${typeName(t)}, got ${describe(v)}`);
    if (t.enum.length <= 256) dv.setUint8(at, i);
    else dv.setUint16(at, i, true);
    return;
  }
  if ('string' in t) {
    // Lone surrogates have no UTF-8 form; storing U+FFFD instead would lose data silently.
    if (typeof v !== 'string' || !v.isWellFormed()) throw new InvalidValueError(`${path} must be a well-formed string, got ${describe(v)}`);
    const n = Buffer.byteLength(v, 'utf8');
    if (n > t.string) throw new InvalidValueError(`${path} must be a ${typeName(t)}, got ${n} bytes`);
    dv.setUint16(at, n, true);
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).write(v, at + 2, n, 'utf8');
    return;
  }
  if (!Array.isArray(v) || v.length !== t.length) throw new InvalidValueError(`${path} must be an ${typeName(t)}, got ${Array.isArray(v) ? `an array of length ${v.length}` : describe(v)}`);
  const el = SCALAR_BYTES[t.array];
  for (let i = 0; i < t.length; i++) writeScalar(dv, at + i * el, t.array, v[i], `${path}[${i}]`);
}

/** Reads field `f` from record bytes in private memory. */
export function readField(bytes: Uint8Array, dv: DataView, f: RecordField): unknown {
  const t = f.type;
  const at = f.offset;
  if (typeof t === 'string') return readScalar(dv, at, t);
  if ('enum' in t) {
    const i = t.enum.length <= 256 ? dv.getUint8(at) : dv.getUint16(at, true);
    return t.enum[i];
  }
  if ('string' in t) {
    const n = Math.min(dv.getUint16(at, true), t.string);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8', at + 2, at + 2 + n);
  }
  const el = SCALAR_BYTES[t.array];
  const out = new Array<number | boolean>(t.length);
  for (let i = 0; i < t.length; i++) out[i] = readScalar(dv, at + i * el, t.array);
  return out;
}

/** Every own enumerable key of `value` must be a field: a record has nowhere to keep others. */
function checkKeys(layout: RecordLayout, value: object, path: string, partial: boolean): void {
  for (const k of Object.keys(value)) {
    if (!layout.fields.some((f) => f.name === k)) {
      throw new InvalidValueError(`${path} has a property "${k}" that the record has no field for (fields: ${layout.fields.map((f) => f.name).join(', ')})`);
    }
  }
  if (!partial) {
    for (const f of layout.fields) {
      if (!Object.prototype.hasOwnProperty.call(value, f.name)) throw new InvalidValueError(`${path}.${f.name} is missing`);
    }
  }
}

function checkObject(value: unknown, path: string): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidValueError(`${path} must be an object, got ${describe(value)}`);
}

/**
 * Encodes a whole record into `out` (private, `layout.size` bytes, zeroed first so that the
 * padding and the unused tail of strings are deterministic). Throws InvalidValueError naming the
 * field; `out` may then hold part of the value, but nothing shared was touched.
 */
export function encodeRecord(layout: RecordLayout, value: unknown, out: Uint8Array, dv: DataView, path = 'value'): void {
  checkObject(value, path);
  checkKeys(layout, value, path, false);
  const fields = layout.fields;
  // Every field is read before the first byte is written: see readFieldValue.
  const values = new Array<unknown>(fields.length);
  for (let i = 0; i < fields.length; i++) values[i] = readFieldValue(value, fields[i]);
  out.fill(0, 0, layout.size);
  for (let i = 0; i < fields.length; i++) writeField(out, dv, fields[i], values[i], `${path}.${fields[i].name}`);
}

/**
 * Field `f` of `value`, read once, as data no user code can change: an array field's elements
 * are copied. Reading may run user code (a getter, a Proxy trap) that writes another record,
 * of this very store too, whose encode fills the same private buffer (`out`, one per store and
 * thread): reading all of a value before writing any of it lets that write finish first.
 */
function readFieldValue(value: Record<string, unknown>, f: RecordField): unknown {
  const v = value[f.name];
  if (!Array.isArray(v)) return v;
  const t = f.type;
  if (typeof t !== 'object' || !('array' in t)) return v;
  const n = v.length;
  // A wrong length is reported by writeField, which then reads no element.
  if (n !== t.length) return v;
  const copy = new Array<unknown>(n);
  for (let i = 0; i < n; i++) copy[i] = v[i];
  return copy;
}

/**
 * The fields present in `fields` (checked as encodeFields checks them), each read once into a
 * plain object: what setFields encodes under the key's lock, so that no user code runs there
 * (a getter that wrote or deleted the locked key would change the record block under it).
 */
export function readFields(layout: RecordLayout, fields: unknown, path = 'fields'): Record<string, unknown> {
  checkObject(fields, path);
  checkKeys(layout, fields, path, true);
  const plain = Object.create(null) as Record<string, unknown>;
  for (const f of layout.fields) {
    if (Object.prototype.hasOwnProperty.call(fields, f.name)) plain[f.name] = readFieldValue(fields, f);
  }
  return plain;
}

/**
 * Encodes the fields present in `fields` over the record bytes already in `out`, and returns
 * the indices of the fields written (the ranges an in-place write must copy). Reads `fields`
 * between writes to `out`: pass what {@link readFields} returns when it may run user code.
 */
export function encodeFields(layout: RecordLayout, fields: unknown, out: Uint8Array, dv: DataView, path = 'fields'): number[] {
  checkObject(fields, path);
  checkKeys(layout, fields, path, true);
  const written: number[] = [];
  layout.fields.forEach((f, i) => {
    if (!Object.prototype.hasOwnProperty.call(fields, f.name)) return;
    const v = fields[f.name];
    if (v === undefined) throw new InvalidValueError(`${path}.${f.name} must be ${typeName(f.type)}, got undefined`);
    writeField(out, dv, f, v, `${path}.${f.name}`);
    written.push(i);
  });
  return written;
}

/** Decodes record bytes (private memory) into a plain object with the fields in layout order. */
export function decodeRecord(layout: RecordLayout, bytes: Uint8Array, dv: DataView): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of layout.fields) o[f.name] = readField(bytes, dv, f);
  return o;
}

/** Byte span of field `f`. */
export function fieldSpan(f: RecordField): number {
  return fieldSize(f.type, f.name).size;
}

/** The values an integer field type holds. */
export function intRange(t: AtomicType): readonly [number, number] {
  return INT_RANGE[t];
}

/** Checks an add's delta for a field of type `t`: an integer no larger than the type's span. */
export function checkDelta(t: AtomicType, field: string, delta: number): void {
  const [lo, hi] = INT_RANGE[t];
  if (!Number.isInteger(delta) || delta > hi - lo || delta < lo - hi) {
    throw new InvalidValueError(`delta must be an integer of at most ${hi - lo} in magnitude for ${t} field ${field}, got ${describe(delta)}`);
  }
}

/** Checks a compareExchange operand (`what`) for a field of type `t`: a value of the type. */
export function checkOperand(t: AtomicType, field: string, what: string, v: number): void {
  const [lo, hi] = INT_RANGE[t];
  if (!Number.isInteger(v) || v < lo || v > hi) throw new InvalidValueError(`${what} must be a ${t} integer for field ${field}, got ${describe(v)}`);
}
