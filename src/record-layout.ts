/**
 * The record layout: field types, their byte sizes and alignments, integer ranges, and the
 * algorithm that places fields in a record. The one source of this knowledge for the runtime
 * (records.ts checks and lays out records with it, store.ts reads fields with its sizes) and for
 * the generator (codegen/ compiles this file too, into dist/src/, and prints the offsets it
 * computes as literals into the generated module).
 *
 * Pure and without imports, so that the generator can compile it on its own: it does not check
 * what it is given (records.ts does, for the runtime; the generator builds only valid types).
 *
 * The algorithm: fields sorted by alignment, largest first, declaration order within one
 * alignment (a stable sort); offsets assigned in that order from 0, so every field is naturally
 * aligned (float64 reads go through a Float64Array) and there is no padding between fields; the
 * size is rounded up to a multiple of 8 (at least 8). Sizes and alignments:
 *
 *   float64 8 · int32, uint32 4 · int16, uint16 2 · int8, uint8, boolean 1
 *   enum: 1 up to 256 members, else 2 · string N: 2 + N bytes (a uint16 length), aligned 2
 *   array: its element's alignment, element size × length
 */

/** Field types whose values fit a fixed number of bytes. */
export type ScalarType = 'float64' | 'int32' | 'uint32' | 'int16' | 'uint16' | 'int8' | 'uint8' | 'boolean';
/** Integer types on which `add` and `compareExchange` work without a lock. */
export type AtomicType = 'int32' | 'uint32' | 'int16' | 'uint16' | 'int8' | 'uint8';
export type FieldType =
  | ScalarType
  /** One of these strings, stored as its index (uint8 up to 256 members, else uint16). */
  | { readonly enum: readonly string[] }
  /** A string of at most `string` UTF-8 bytes, stored as a uint16 length and the bytes. */
  | { readonly string: number }
  /** `length` values of a scalar type (a tuple such as `[x: number, y: number]`). */
  | { readonly array: ScalarType; readonly length: number };

/** Largest record, in bytes: records are copied whole on snapshot reads. */
export const MAX_RECORD_BYTES = 65536;
/** Most members of an enum field. */
export const MAX_ENUM_MEMBERS = 65536;
/** Longest string field (`FixedString<N>`): its length prefix is a uint16. */
export const MAX_STRING_BYTES = 65535;

/** Bytes (and alignment) of each scalar type. */
export const SCALAR_BYTES: Readonly<Record<ScalarType, number>> = {
  float64: 8, int32: 4, uint32: 4, int16: 2, uint16: 2, int8: 1, uint8: 1, boolean: 1,
};

/** The range of each integer type, inclusive. */
export const INT_RANGE: Readonly<Record<AtomicType, readonly [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int16: [-(2 ** 15), 2 ** 15 - 1],
  uint16: [0, 2 ** 16 - 1],
  int8: [-128, 127],
  uint8: [0, 255],
};

/**
 * The numeric field types in the order of record-protocol.ts's `FieldKind` (Float64, Int32, … Uint8), and
 * their sizes by kind: `FIELD_KIND_BYTES[FieldKind.Int16]` is 2.
 */
export const FIELD_KIND_TYPES = ['float64', 'int32', 'uint32', 'int16', 'uint16', 'int8', 'uint8'] as const;
export const FIELD_KIND_BYTES: readonly number[] = FIELD_KIND_TYPES.map((t) => SCALAR_BYTES[t]);

/** Size and alignment of a (valid) field type, in bytes. */
export function fieldSizeOf(t: FieldType): { size: number; align: number } {
  if (typeof t === 'string') return { size: SCALAR_BYTES[t], align: SCALAR_BYTES[t] };
  if ('enum' in t) return t.enum.length <= 256 ? { size: 1, align: 1 } : { size: 2, align: 2 };
  if ('string' in t) return { size: 2 + t.string, align: 2 };
  const el = SCALAR_BYTES[t.array];
  return { size: el * t.length, align: el };
}

/** Places fields of these sizes and alignments: their offsets (in the order given) and the record's size. */
export function placeFields(sized: readonly { size: number; align: number }[]): { size: number; offsets: number[] } {
  const order = sized.map((f, i) => ({ i, size: f.size, align: f.align })).sort((a, b) => b.align - a.align || a.i - b.i);
  const offsets = new Array<number>(sized.length).fill(0);
  let at = 0;
  for (const f of order) {
    offsets[f.i] = at;
    at += f.size;
  }
  return { size: Math.max(8, (at + 7) & ~7), offsets };
}

/** Offsets (in the order of `types`) and the size of a record of fields of these (valid) types. */
export function layoutFields(types: readonly FieldType[]): { size: number; offsets: number[] } {
  return placeFields(types.map(fieldSizeOf));
}
