/**
 * msgpackr, an optional peer dependency: loading it once, the options every codec builds its
 * Packr/Unpackr from, this thread's default packer and unpacker, and the re-entrancy guard
 * ({@link reentry}) that keeps a write made during an encode away from msgpackr.
 *
 * The API used is declared here, so the package compiles without msgpackr installed.
 */
import { CodecError } from '../errors';

/** The part of msgpackr's API used here (declared locally so the package compiles without it). */
export interface MsgpackPacker {
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
export const REUSE_BUFFER_MODE = 512;
export const RESET_BUFFER_MODE = 1024;
export interface MsgpackUnpacker {
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
export const MSGPACKR_OPTIONS = {
  useRecords: false,
  moreTypes: true,
  useBigIntExtension: true,
  copyBuffers: true,
} as const;

let msgpackr: MsgpackrModule | null = null;
let msgpackrLoadTried = false;

export function loadMsgpackr(): MsgpackrModule | null {
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
export const MSGPACKR_MISSING = 'value was encoded with msgpackr, which is not installed in this process (npm install msgpackr)';

const forceV8 = process.env['NATIVE_KEYSHARE_CODEC']?.trim().toLowerCase() === 'v8';

/** null when this thread encodes objects with v8. */
export const packr: MsgpackPacker | null = forceV8 ? null : createPackr();
/**
 * Loaded eagerly when this thread encodes with msgpackr; otherwise on the first msgpackr-tagged
 * value, so a v8-only process that never meets one does not load msgpackr at all.
 */
export let unpackr: MsgpackUnpacker | null = packr === null ? null : new msgpackr!.Unpackr(MSGPACKR_OPTIONS);

function createPackr(): MsgpackPacker | null {
  const m = loadMsgpackr();
  return m === null ? null : new m.Packr(MSGPACKR_OPTIONS);
}

/** Which encoder this thread uses for objects: 'msgpackr' or 'v8'. */
export const codecName: 'msgpackr' | 'v8' = packr === null ? 'v8' : 'msgpackr';

/** This thread's default unpacker, made on the first msgpackr-tagged value when not at load. */
export function defaultUnpackr(): MsgpackUnpacker {
  if (unpackr !== null) return unpackr;
  const m = loadMsgpackr();
  if (m === null) throw new CodecError(MSGPACKR_MISSING);
  return (unpackr = new m.Unpackr(MSGPACKR_OPTIONS));
}

/**
 * True while this thread encodes an object with a msgpackr-enabled codec (the scan, then the
 * pack or the v8 fallback the scan chose): user code that runs then (see Re-entrancy in
 * ../codec.ts) must not start another scan or pack, so encode() and the store codecs send what it
 * writes to v8. The flag covers the scan too because the scan's budget and bundling count are
 * module variables. A boolean, not a depth: only the outermost encode sets it (nested ones see
 * it set and go to v8), and it is reset in a finally, so a throwing getter cannot leave it set.
 */
export const reentry = { msgpackrBusy: false };
