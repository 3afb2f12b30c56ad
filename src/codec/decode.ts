/**
 * decode: the bytes of a value back into a value, by its tag (the default codec's tags; the
 * store decodes Structured, Learned and Record values itself). Owns the v8 deserializer that
 * copies host objects out of the caller's scratch memory.
 */
import * as v8 from 'node:v8';
import { CodecError } from '../errors';
import { defaultUnpackr, unpackr } from './msgpackr';
import { decodeString } from './strings';
import { numberView, Tag } from './tag';

/** The DataView over the last `src` that held a number; the store passes the same scratch each time. */
let numberSource: Uint8Array | null = null;
let numberSourceView: DataView = numberView;

/** Decodes length bytes of src (a private, non-shared Uint8Array the caller owns) written with tag. */
export function decode(tag: number, src: Uint8Array, length: number): unknown {
  switch (tag) {
    case Tag.Msgpack: {
      const u = unpackr;
      return (u !== null ? u : defaultUnpackr()).unpack(src, length);
    }
    case Tag.Number:
      if (length !== 8) throw badLength(tag, length);
      if (src !== numberSource) {
        numberSourceView = new DataView(src.buffer, src.byteOffset, 8);
        numberSource = src;
      }
      return numberSourceView.getFloat64(0, true);
    case Tag.String: {
      const s = decodeString(src, length);
      if (s === undefined) throw badLength(tag, length);
      return s;
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
