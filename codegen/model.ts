/**
 * The model the generator works on: plain data, no ts-morph, no functions.
 *
 *   schema.ts ──parse.ts──► stores, types ──decide.ts──► SchemaModel ──plan.ts──► EmitPlan ──emit.ts──► stores.ts
 *
 * `parse.ts` reads what the schema says (what each type means, which key parts a store has,
 * what its parameters are called, its defaults); `decide.ts` chooses each store's encoding
 * and the facades' type names; `plan.ts` names everything the file declares; `emit.ts` (with
 * `checks.ts`) only prints. Tests can build or inspect a model without TypeScript loaded.
 *
 * Encodings: a store's values are either encoded by the runtime's codec (`'structured-clone'`,
 * with msgpackr record structures derived from the schema: {@link StoreModel.structures}) or
 * laid out as a fixed-layout record (`'record'`, {@link RecordModel}), whose offsets decide.ts
 * computes with src/record-layout.ts (the runtime's own algorithm), so the emitter only prints them.
 */
import { type AtomicType, type FieldType, INT_RANGE, type ScalarType } from '../src/record-layout';

/** Where something was declared: for per-field JSDoc and for error messages. */
export interface SourceRef {
  /** The declaring file, relative to the output file's directory, with `/` separators. */
  file: string;
  /** 1-based line and column of the declaration. */
  line: number;
  column: number;
  /** The declaration's name as a user reads it: `User`, `User.address.city`, `Stores.users`. */
  path: string;
}

// ─────────────────────────────────────────────────────────────────────────── value types (IR)

/**
 * The type IR: what a value may be, in the terms the validator checks.
 *
 * Invariants parse.ts guarantees (emit.ts relies on them):
 * - a `union` has at least two members, none of them a union, and at most one member that is
 *   not {@link isScalar} (so `Address | null` and `'a' | 'b' | number` are unions, but
 *   `Address | Person` is rejected until discriminated unions are supported);
 * - a `ref` names an entry of {@link SchemaModel.types};
 * - `literal` values are strings, finite numbers or booleans.
 */
export type TypeIR =
  | { kind: 'string' }
  | { kind: 'number' }
  | { kind: 'boolean' }
  | { kind: 'bigint' }
  | { kind: 'null' }
  | { kind: 'undefined' }
  /** Anything the runtime can store; not checked. */
  | { kind: 'unknown' }
  | { kind: 'literal'; value: string | number | boolean }
  /**
   * An integer brand of native-keyshare (`Int32`, `Uint8`, …: `number` for TypeScript): an
   * integer in the type's range.
   */
  | { kind: 'int'; int: IntType }
  /** `FixedString<N>` of native-keyshare: a string of at most `maxBytes` UTF-8 bytes. */
  | { kind: 'fixedString'; maxBytes: number }
  | { kind: 'union'; members: TypeIR[] }
  | { kind: 'array'; element: TypeIR; readonly: boolean }
  | { kind: 'tuple'; elements: TupleElement[]; readonly: boolean }
  | ObjectIR
  /** `Record<string, V>` / `Record<number, V>`: any keys, every value a V. */
  | { kind: 'record'; key: 'string' | 'number'; value: TypeIR }
  | { kind: 'date' }
  /** A typed array or Buffer-free binary view (`Uint8Array`, `Float64Array`, …): checked with instanceof, stored by the codec (same class back). */
  | { kind: 'typedArray'; name: TypedArrayName }
  | { kind: 'map'; key: TypeIR; value: TypeIR; readonly: boolean }
  | { kind: 'set'; element: TypeIR; readonly: boolean }
  /** A named type declared in the schema (or a file it imports). */
  | { kind: 'ref'; name: string };

/** The typed-array classes a schema may use as value types (the runtime round-trips each as the same class). */
export const TYPED_ARRAY_NAMES = [
  'Uint8Array', 'Uint8ClampedArray', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array',
  'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
] as const;
export type TypedArrayName = (typeof TYPED_ARRAY_NAMES)[number];

/** The integer types of fixed-layout records, named like the runtime's field types. */
export type IntType = AtomicType;

/** The brand type of native-keyshare that stands for each integer type. */
export const INT_BRANDS: Readonly<Record<string, IntType>> = {
  Int32: 'int32',
  Uint32: 'uint32',
  Int16: 'int16',
  Uint16: 'uint16',
  Int8: 'int8',
  Uint8: 'uint8',
};

/** The brand type's name of an integer type: `int32` → `Int32`. */
export function intBrand(t: IntType): string {
  return t[0] === 'u' ? `Uint${t.slice(4)}` : `Int${t.slice(3)}`;
}

/** Smallest and largest value of an integer type. */
export function intRange(t: IntType): readonly [number, number] {
  return INT_RANGE[t];
}

export interface TupleElement {
  type: TypeIR;
  /** The label of a named tuple member (`[x: number]`), if the schema gave one. */
  name?: string;
  optional: boolean;
  /** `...rest: T[]`: `type` is the element type of the rest. At most one, and last. */
  rest: boolean;
}

/** An object type: an interface body or a type literal. */
export interface ObjectIR {
  kind: 'object';
  fields: FieldModel[];
  /** An index signature `[key: string]: V`: every property, declared or not, must be a V. */
  index?: { keyName: string; key: 'string' | 'number'; value: TypeIR };
}

export interface FieldModel {
  /** The property name as written in the schema (may need quoting). */
  name: string;
  type: TypeIR;
  optional: boolean;
  readonly: boolean;
  /** The schema's JSDoc text for the field, if any. */
  doc?: string;
  source: SourceRef;
}

/** A named type: emitted as `export interface` / `export type`, checked by one function. */
export interface NamedType {
  name: string;
  /** `interface X extends A, B { … }` or `type X = …`. */
  declaration: 'interface' | 'alias';
  /** For interfaces: the object body (own fields only). For aliases: the aliased type. */
  type: TypeIR;
  /** Interfaces only: named object types it extends, checked before its own fields. */
  extends: string[];
  doc?: string;
  source: SourceRef;
}

/** Whether a type is checked by one boolean expression (no statements, no loops). */
export function isScalar(t: TypeIR, types: ReadonlyMap<string, NamedType>): boolean {
  switch (t.kind) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'null':
    case 'undefined':
    case 'unknown':
    case 'literal':
    case 'date':
    case 'typedArray':
    case 'int':
    case 'fixedString':
      return true;
    case 'union':
      return t.members.every((m) => isScalar(m, types));
    case 'ref': {
      const named = types.get(t.name);
      return named !== undefined && named.declaration === 'alias' && isScalar(named.type, types);
    }
    default:
      return false;
  }
}

// ─────────────────────────────────────────────────────────────────────────── keys

/**
 * What one `${…}` hole of a key holds. A key part always has a string form: the facade builds
 * the key string with a template literal.
 */
export type KeyPartType =
  | { kind: 'string' }
  | { kind: 'number' }
  | { kind: 'bigint' }
  /** `${boolean}`: the finite union `true | false`, written as the text "true" or "false". */
  | { kind: 'boolean' }
  | { kind: 'literals'; values: (string | number)[] };

export interface KeyPart {
  /** The facade parameter's name (`userId`, `key`, `part2`). Unique within the store. */
  param: string;
  type: KeyPartType;
  /** The named type the schema used for this part (`type UserId = number`), if any. */
  alias?: string;
}

/** A key as a sequence: literal text and holes, e.g. `session:` hole `:` hole. */
export type KeySegment = { kind: 'text'; text: string } | { kind: 'part'; index: number };

export interface KeyModel {
  segments: KeySegment[];
  parts: KeyPart[];
}

// ─────────────────────────────────────────────────────────────────────────── stores

export interface StoreModel {
  /** The store's name, as passed to `createStore`. */
  name: string;
  /** The facade's exported identifier (`users`, `userSessions` for "user-sessions"). */
  exportName: string;
  /** PascalCase stem for the generated names of this store (`Users`). */
  typeStem: string;
  /** The exported type of this store's key strings (`UsersKey`). */
  keyTypeName: string;
  key: KeyModel;
  /** A scalar type, or a `ref` (parse.ts names any other value type `<Stem>Value`). */
  value: TypeIR;
  /** Default `set` options from the schema; a caller's options override them. */
  ttl?: number;
  minBufferSize?: number;
  /** `createStore(name, { hotReads: true })`: `get` returns shared, deep-frozen values. */
  hotReads: boolean;
  /**
   * How values are stored: encoded by the runtime's codec, or as a fixed-layout record
   * (`record` then holds the layout). See {@link RecordModel} for when a store is a record.
   */
  encoding: 'structured-clone' | 'record';
  /**
   * msgpackr record structures, for `'structured-clone'` stores whose value contains object
   * types: per object type reachable from the value, its property names in declaration order,
   * then (if some are optional) its required ones only. Deduplicated, in the order the types
   * are met (depth first, fields in order). Empty: no structures option.
   */
  structures: string[][];
  /** The layout of a `'record'` store. */
  record?: RecordModel;
  doc?: string;
  source: SourceRef;
}

// ─────────────────────────────────────────────────────────────────────────── records

/** Fixed-size field types of a record: the runtime's own `FieldType` (src/record-layout.ts). */
export type RecordScalar = ScalarType;
export type RecordFieldType = FieldType;

/**
 * A fixed-layout record: a store whose value is a named object type (interface, or alias of an
 * object literal) whose fields are all required and of a fixed size, with no `ttl` and no
 * `hotReads` (or `record: true`, which turns a mismatch into an error; `record: false` opts out).
 */
export interface RecordModel {
  /** The named object type (`PlayerStats`). */
  type: string;
  /** Bytes per record: a multiple of 8, at least 8. */
  size: number;
  /** Every field (inherited ones first), in declaration order, with its offset. */
  fields: RecordFieldModel[];
}

export interface RecordFieldModel {
  name: string;
  type: RecordFieldType;
  /** Byte offset in the record, from the runtime's algorithm (fields by alignment). */
  offset: number;
  /** The field's type as the schema wrote it (what its getter returns). */
  declared: TypeIR;
  doc?: string;
  source: SourceRef;
}

export interface SchemaModel {
  /** The schema file, relative to the output file's directory, with `/` separators. */
  schemaFile: string;
  /** Version of native-keyshare that generated the file (for the header). */
  generatorVersion: string;
  /** Named types used by the stores, in declaration order (schema file first). */
  types: NamedType[];
  stores: StoreModel[];
}
