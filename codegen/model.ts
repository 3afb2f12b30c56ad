/**
 * The model the generator works on: plain data, no ts-morph, no functions.
 *
 *   schema.ts ──parse.ts──► SchemaModel ──emit.ts──► stores.ts
 *
 * `parse.ts` decides everything that depends on the schema (what each type means, which key
 * parts a store has, what its parameters are called, its defaults); `emit.ts` only prints.
 * Tests can build or inspect a model without TypeScript loaded.
 *
 * Room to grow: encodings that need runtime support (fixed-layout records with offsets computed
 * here, msgpackr record structures) will be a `StoreModel.encoding` variant next to
 * `'structured-clone'`, with their layout computed in the model so the emitter still only
 * prints it.
 */

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
  | { kind: 'union'; members: TypeIR[] }
  | { kind: 'array'; element: TypeIR; readonly: boolean }
  | { kind: 'tuple'; elements: TupleElement[]; readonly: boolean }
  | ObjectIR
  /** `Record<string, V>` / `Record<number, V>`: any keys, every value a V. */
  | { kind: 'record'; key: 'string' | 'number'; value: TypeIR }
  | { kind: 'date' }
  | { kind: 'map'; key: TypeIR; value: TypeIR; readonly: boolean }
  | { kind: 'set'; element: TypeIR; readonly: boolean }
  /** A named type declared in the schema (or a file it imports). */
  | { kind: 'ref'; name: string };

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
  /** How values are encoded. Only the runtime's default for now (see the module comment). */
  encoding: 'structured-clone';
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
