/**
 * The default encoder: {@link encode} picks the fast tags for numbers, booleans, null and
 * strings, and sends objects through the scan to msgpackr or to v8. Sets the re-entrancy guard
 * (msgpackr.ts, {@link reentry}) around an object's scan and pack.
 */
import * as v8 from 'node:v8';
import { InvalidValueError } from '../errors';
import { packr, reentry, REUSE_BUFFER_MODE, RESET_BUFFER_MODE } from './msgpackr';
import { scanForMsgpack, shouldBundle, v8EncodeError } from './scan';
import { encodeString } from './strings';
import { encoded, numberBytes, numberView, Tag } from './tag';

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
      return packr !== null && !reentry.msgpackrBusy ? encodeMsgpack(value, false) : encodeV8(value);
    case 'undefined':
      throw new InvalidValueError('value must not be undefined');
    default:
      throw new InvalidValueError(`value of type ${typeof value} cannot be stored`);
  }
}

function encodeObject(value: object): Tag {
  if (packr === null || reentry.msgpackrBusy) return encodeV8(value);
  reentry.msgpackrBusy = true;
  try {
    return scanForMsgpack(value) ? encodeMsgpack(value, shouldBundle()) : encodeV8(value);
  } finally {
    reentry.msgpackrBusy = false;
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

export function encodeV8(value: unknown): Tag {
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
