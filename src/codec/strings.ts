/**
 * Top-level strings (the String tag): stored raw, as UTF-16 or, for long ASCII strings, one
 * byte per char, with Node's own string codecs. Owns the string scratch buffer, encodeString
 * and decodeString.
 */
import { encoded, Tag } from './tag';

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
export function encodeString(s: string): Tag {
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

/** Decodes a String value of `length` bytes, or returns undefined when its bytes are corrupt. */
export function decodeString(src: Uint8Array, length: number): string | undefined {
  const end = length - 1;
  const form = src[end];
  if (form === StringForm.Utf16 && (end & 1) === 0) return ucs2Slice.call(src, 0, end);
  if (form === StringForm.OneByte) return latin1Slice.call(src, 0, end);
  return undefined;
}
