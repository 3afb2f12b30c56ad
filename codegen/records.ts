/**
 * Record layouts, as the runtime computes them.
 *
 * This is a copy of the layout algorithm of `layoutRecord` in src/records.ts (the generator is
 * compiled on its own, with codegen/ as its root, and prints the offsets as literals into the
 * generated file, so it cannot call the runtime). test/codegen-records.test.mjs compares the
 * two on the fixtures: if you change one, change the other.
 *
 * The algorithm: fields sorted by alignment, largest first, declaration order within one
 * alignment (a stable sort); offsets assigned in that order from 0, so every field is naturally
 * aligned and there is no padding between fields; the size is rounded up to a multiple of 8
 * (at least 8). Sizes and alignments:
 *
 *   float64 8 · int32, uint32 4 · int16, uint16 2 · int8, uint8, boolean 1
 *   enum: 1 up to 256 members, else 2 · string N: 2 + N bytes (a uint16 length), aligned 2
 *   array: its element's alignment, element size × length
 */
import type { RecordFieldType, RecordScalar } from './model';

/** Largest record the runtime accepts, in bytes (MAX_RECORD_BYTES in src/records.ts). */
export const MAX_RECORD_BYTES = 65536;
/** Most members of an enum field. */
export const MAX_ENUM_MEMBERS = 65536;
/** Longest FixedString<N>: the length prefix is a uint16. */
export const MAX_STRING_BYTES = 65535;

const SCALAR_BYTES: Record<RecordScalar, number> = {
  float64: 8,
  int32: 4,
  uint32: 4,
  int16: 2,
  uint16: 2,
  int8: 1,
  uint8: 1,
  boolean: 1,
};

/** Size and alignment of a field type, in bytes. */
export function fieldSize(t: RecordFieldType): { size: number; align: number } {
  if (typeof t === 'string') return { size: SCALAR_BYTES[t], align: SCALAR_BYTES[t] };
  if ('enum' in t) return t.enum.length <= 256 ? { size: 1, align: 1 } : { size: 2, align: 2 };
  if ('string' in t) return { size: 2 + t.string, align: 2 };
  const el = SCALAR_BYTES[t.array];
  return { size: el * t.length, align: el };
}

/** Offsets (in the order of `types`) and the record's size. */
export function layoutRecord(types: readonly RecordFieldType[]): { size: number; offsets: number[] } {
  const sized = types.map((t, i) => ({ i, ...fieldSize(t) }));
  const order = [...sized].sort((a, b) => b.align - a.align || a.i - b.i);
  const offsets = new Array<number>(types.length).fill(0);
  let at = 0;
  for (const f of order) {
    offsets[f.i] = at;
    at += f.size;
  }
  return { size: Math.max(8, (at + 7) & ~7), offsets };
}
