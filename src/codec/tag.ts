/**
 * The codec's shared vocabulary: the {@link Tag} byte stored next to every value, and
 * {@link encoded}, the slot every encoder of this thread writes its result into.
 *
 * Owns nothing else; see ../codec.ts for the codec as a whole.
 */

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

// Buffers rather than Uint8Arrays so that `encoded.bytes` always has the same class as what
// msgpackr and v8 return (Buffer), which keeps the store's reads of it monomorphic.
/** Scratch of the Number tag (see encode.ts); also what {@link encoded} holds before any encode. */
export const numberBytes = Buffer.allocUnsafeSlow(8);
export const numberView = new DataView(numberBytes.buffer, numberBytes.byteOffset, 8);

/**
 * Result of the last encode() in this thread: bytes[offset, offset + length) — valid until the
 * next encode() call.
 */
export const encoded: { bytes: Uint8Array; offset: number; length: number } = { bytes: numberBytes, offset: 0, length: 0 };
