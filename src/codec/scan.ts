/**
 * The scan: can msgpackr reproduce this value exactly? Walks a value before it is packed and
 * routes it to msgpackr, to v8, or to the invalid-value diagnosis; also counts the strings
 * worth bundling. Owns the invalid-value diagnosis too: where in a value the function or symbol
 * is ({@link throwIfInvalid}), and turning v8's clone errors into InvalidValueError
 * ({@link v8EncodeError}).
 */
import { InvalidValueError } from '../errors';
import { FrozenDatePrototype, FrozenSetPrototype } from './freeze';

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

/**
 * Scans `value` from the start (a new budget and bundling count): true when msgpackr can
 * reproduce it exactly, false when it goes to v8. Throws InvalidValueError when it holds a
 * function or symbol that {@link throwIfInvalid} can place (else false: v8 decides).
 */
export function scanForMsgpack(value: object): boolean {
  startScan();
  const route = scanObject(value, 0);
  if (route === Route.Invalid) throwIfInvalid(value);
  return route === Route.Msgpack;
}

/** Whether the value the last scan walked should have its strings bundled. */
export function shouldBundle(): boolean {
  return bundleCandidates >= BUNDLE_MIN_STRINGS;
}

/** `String.prototype.isWellFormed` (ES2024, in Node 20) is missing from the ES2022 lib typings. */
interface WellFormed {
  isWellFormed(): boolean;
}

const DatePrototype = Date.prototype;
const SetPrototype = Set.prototype;
const objectToString = Object.prototype.toString;
export const hasOwn = Object.prototype.hasOwnProperty;

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

/** Turns v8's DataCloneError (and its stack overflow) into InvalidValueError; rethrows the rest (e.g. from getters). */
export function v8EncodeError(value: unknown, error: unknown): unknown {
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

