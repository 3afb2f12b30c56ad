/**
 * Decide: from what parse.ts read (stores and named types, as plain data) to the choices the
 * generated file depends on, without ts-morph:
 * - each store's encoding: a fixed-layout record (its layout, from src/record-layout.ts, the
 *   runtime's own algorithm) or the codec with msgpackr structures derived from the schema;
 * - the names of the types the facades need (`UsersKey`, and `UsersValue` for a store whose
 *   value is neither named nor scalar).
 * Problems are returned with a {@link Site} that parse.ts turns into a line and column.
 *
 *   schema.ts ──parse.ts──► ParsedSchema ──decide.ts──► SchemaModel ──plan.ts, emit.ts──► stores.ts
 */
import type { FieldModel, NamedType, ObjectIR, RecordFieldModel, RecordFieldType, RecordModel, RecordScalar, StoreModel, TypeIR } from './model';
import { intBrand, isScalar } from './model';
import { member, Scope } from './names';
import { layoutFields, MAX_ENUM_MEMBERS, MAX_RECORD_BYTES } from '../src/record-layout';

/** The record field types, named in problems. */
const RECORD_FIELD_TYPES = 'number, boolean, Int32…Uint8, FixedString<N>, a union of string literals, or a tuple of one of the number types';

/** A store as parse.ts read it: everything but what this module decides. */
export type ParsedStore = Omit<StoreModel, 'keyTypeName' | 'encoding' | 'structures' | 'record'>;

/** What a store's declaration said that the decision needs, besides the store itself. */
export interface StoreSyntax {
  /** `record: true` / `record: false`; absent: decided by the value. */
  record?: boolean;
  /** The value type as written (`PlayerStats`), for messages. */
  valueText: string;
  /** A field's type as written, for messages; undefined if unknown. */
  fieldTypeText(f: FieldModel): string | undefined;
}

/** Where a problem is: parse.ts maps it to the node of the store's declaration. */
export type Site =
  | { kind: 'value' }
  | { kind: 'ttl' }
  | { kind: 'hotReads' }
  | { kind: 'fieldName'; field: FieldModel }
  | { kind: 'fieldType'; field: FieldModel };

export interface DecisionProblem {
  site: Site;
  message: string;
  hint: string;
}

export type Encoding = { encoding: 'record'; record: RecordModel } | { encoding: 'structured-clone'; structures: string[][] };

/**
 * Record or codec, and the structures of a codec store. A store is a record when its value is
 * a named object type whose fields all have a fixed size and are required, and it has no ttl
 * and no hotReads — unless it says `record: false`. With `record: true`, every reason it
 * cannot be one is a problem.
 */
export function decideEncoding(s: ParsedStore, types: ReadonlyMap<string, NamedType>, syntax: StoreSyntax): { encoding: Encoding; problems: DecisionProblem[] } {
  const problems: DecisionProblem[] = [];
  if (syntax.record !== false) {
    const refusals: DecisionProblem[] = [];
    const why = `store "${s.name}" cannot be a record`;
    if (s.ttl !== undefined) refusals.push({ site: { kind: 'ttl' }, message: `${why}: it has a ttl, and records do not expire`, hint: 'remove ttl, or remove record: true' });
    if (s.hotReads) {
      refusals.push({ site: { kind: 'hotReads' }, message: `${why}: it has hotReads (a record's fields are read in place instead)`, hint: 'remove hotReads, or remove record: true' });
    }
    const record = recordOf(s, types, syntax, why, refusals);
    if (refusals.length === 0 && record !== undefined) return { encoding: { encoding: 'record', record }, problems };
    if (syntax.record === true) problems.push(...refusals);
  }
  return { encoding: { encoding: 'structured-clone', structures: structuresOf(s.value, types) }, problems };
}

/** The record layout of a store's value, or undefined with `refusals` saying why not. */
function recordOf(s: ParsedStore, types: ReadonlyMap<string, NamedType>, syntax: StoreSyntax, why: string, refusals: DecisionProblem[]): RecordModel | undefined {
  const value: Site = { kind: 'value' };
  const named = s.value.kind === 'ref' ? types.get(s.value.name) : undefined;
  if (s.value.kind === 'object') {
    refusals.push({
      site: value,
      message: `${why}: its value is an inline object type, and a record's type needs a name (its view class is named after it)`,
      hint: 'declare it as an interface and write value: ThatInterface, or remove record: true',
    });
    return undefined;
  }
  if (named === undefined || (named.declaration === 'alias' && named.type.kind !== 'object')) {
    refusals.push({
      site: value,
      message: `${why}: its value ${syntax.valueText} is not an interface or a type alias of an object type`,
      hint: 'declare the value as an interface whose fields all have a fixed size, or remove record: true',
    });
    return undefined;
  }
  const fields = flattenFields(named, types);
  const objects = [named, ...allBases(named, types)];
  if (objects.some((o) => (o.type as ObjectIR).index !== undefined)) {
    refusals.push({ site: value, message: `${why}: ${named.name} has an index signature, so its fields are not known`, hint: 'declare every field, or remove record: true' });
  }
  if (fields.length === 0) refusals.push({ site: value, message: `${why}: ${named.name} has no fields`, hint: 'declare its fields, or remove record: true' });
  const out: Omit<RecordFieldModel, 'offset'>[] = [];
  for (const f of fields) {
    const where = f.source.path;
    if (f.optional) {
      refusals.push({ site: { kind: 'fieldName', field: f }, message: `${why}: ${where} is optional, and a record stores every field`, hint: 'make it required, or remove record: true' });
      continue;
    }
    if (f.name === '__proto__') {
      refusals.push({ site: { kind: 'fieldName', field: f }, message: `${why}: a record field cannot be named __proto__`, hint: 'rename the field, or remove record: true' });
      continue;
    }
    const type = fixedType(f.type, types);
    if (typeof type === 'object' && 'why' in type) {
      refusals.push({ site: { kind: 'fieldType', field: f }, message: `${why}: ${where} is ${syntax.fieldTypeText(f) ?? 'a type'}, ${type.why}`, hint: `${type.hint}, or remove record: true` });
      continue;
    }
    const field: Omit<RecordFieldModel, 'offset'> = { name: f.name, type, declared: f.type, source: f.source };
    if (f.doc !== undefined) field.doc = f.doc;
    out.push(field);
  }
  if (refusals.length > 0) return undefined;
  const layout = layoutFields(out.map((f) => f.type));
  if (layout.size > MAX_RECORD_BYTES) {
    refusals.push({
      site: value,
      message: `${why}: ${named.name} takes ${layout.size} bytes as a record, more than the ${MAX_RECORD_BYTES} a record may take`,
      hint: 'shorten its strings or tuples, or remove record: true',
    });
    return undefined;
  }
  return { type: named.name, size: layout.size, fields: out.map((f, i) => ({ ...f, offset: layout.offsets[i]! })) };
}

/**
 * Each store's key type gets a name (`UsersKey`), and a store whose value is neither a named
 * type nor a scalar gets one (`UsersValue`), so that the facade's signatures and the value
 * check have a name to use. Returns per store its key type name and value (a ref to the new
 * type, or its own), and the named types with the new ones at the end.
 */
export function decideTypeNames(stores: readonly ParsedStore[], types: readonly NamedType[]): { stores: { keyTypeName: string; value: TypeIR }[]; types: NamedType[] } {
  const taken = new Scope();
  for (const t of types) taken.reserve(t.name);
  const all = [...types];
  const byName = new Map(types.map((t) => [t.name, t]));
  const out = stores.map((s) => {
    const keyTypeName = taken.claim(`${s.typeStem}Key`);
    if (s.value.kind === 'ref' || isScalar(s.value, byName)) return { keyTypeName, value: s.value };
    const name = taken.claim(`${s.typeStem}Value`);
    const named: NamedType = { name, declaration: 'alias', type: s.value, extends: [], source: { ...s.source, path: `${member('Stores', s.name)}.value` } };
    all.push(named);
    byName.set(name, named);
    return { keyTypeName, value: { kind: 'ref', name } as TypeIR };
  });
  return { stores: out, types: all };
}

/** The named object types an interface extends, transitively (each once). */
function allBases(t: NamedType, types: ReadonlyMap<string, NamedType>, seen = new Set<string>()): NamedType[] {
  const out: NamedType[] = [];
  for (const b of t.extends) {
    if (seen.has(b)) continue;
    seen.add(b);
    const base = types.get(b);
    if (base === undefined) continue;
    out.push(base, ...allBases(base, types, seen));
  }
  return out;
}

/**
 * The fields of a named object type as a value has them: those of its bases first (in the
 * order of `extends`), then its own; a field declared again keeps its first place.
 */
function flattenFields(t: NamedType, types: ReadonlyMap<string, NamedType>, seen = new Set<string>()): FieldModel[] {
  const out: FieldModel[] = [];
  const put = (f: FieldModel) => {
    const i = out.findIndex((x) => x.name === f.name);
    if (i >= 0) out[i] = f;
    else out.push(f);
  };
  seen.add(t.name);
  for (const b of t.extends) {
    const base = types.get(b);
    if (base !== undefined && !seen.has(b)) flattenFields(base, types, seen).forEach(put);
  }
  if (t.type.kind === 'object') t.type.fields.forEach(put);
  return out;
}

/** The strings of a union of string literals (through aliases), or undefined if it is not one. */
function stringLiterals(t: TypeIR, types: ReadonlyMap<string, NamedType>, seen = new Set<string>()): string[] | undefined {
  if (t.kind === 'literal') return typeof t.value === 'string' ? [t.value] : undefined;
  if (t.kind === 'union') {
    const out: string[] = [];
    for (const m of t.members) {
      const v = stringLiterals(m, types, seen);
      if (v === undefined) return undefined;
      out.push(...v);
    }
    return [...new Set(out)];
  }
  if (t.kind === 'ref' && !seen.has(t.name)) {
    const named = types.get(t.name);
    seen.add(t.name);
    return named?.declaration === 'alias' ? stringLiterals(named.type, types, seen) : undefined;
  }
  return undefined;
}

/** The scalar record type of `t`, if it has one. */
function scalarType(t: TypeIR, types: ReadonlyMap<string, NamedType>): RecordScalar | undefined {
  if (t.kind === 'number') return 'float64';
  if (t.kind === 'boolean') return 'boolean';
  if (t.kind === 'int') return t.int;
  if (t.kind === 'ref') {
    const named = types.get(t.name);
    return named?.declaration === 'alias' ? scalarType(named.type, types) : undefined;
  }
  return undefined;
}

/** The record field type of a field's type, or why it has none (and what to do). */
function fixedType(t: TypeIR, types: ReadonlyMap<string, NamedType>, depth = 0): RecordFieldType | { why: string; hint: string } {
  const scalar = scalarType(t, types);
  if (scalar !== undefined) return scalar;
  if (t.kind === 'fixedString') return { string: t.maxBytes };
  const strings = stringLiterals(t, types);
  if (strings !== undefined) {
    if (strings.length > MAX_ENUM_MEMBERS) return { why: `a union of ${strings.length} strings, more than the ${MAX_ENUM_MEMBERS} a record field may have`, hint: 'use FixedString<N>' };
    return { enum: strings };
  }
  switch (t.kind) {
    case 'ref': {
      const named = types.get(t.name);
      if (named !== undefined && named.declaration === 'alias' && depth < 32) return fixedType(named.type, types, depth + 1);
      return { why: 'an object, which a record cannot nest', hint: `move its fields into the record's type` };
    }
    case 'object':
    case 'record':
      return { why: 'an object, which a record cannot nest', hint: `move its fields into the record's type` };
    case 'string':
      return { why: 'which has no fixed size', hint: 'use FixedString<N> (from native-keyshare) for a string of at most N UTF-8 bytes' };
    case 'array':
      return { why: 'an array, which has no fixed length', hint: 'use a tuple of one number type, such as [x: number, y: number]' };
    case 'tuple': {
      if (t.elements.length === 0) return { why: 'an empty tuple', hint: 'remove the field' };
      if (t.elements.some((e) => e.optional || e.rest)) return { why: 'a tuple with optional or rest elements, which has no fixed length', hint: 'declare every element' };
      const kinds = t.elements.map((e) => scalarType(e.type, types));
      const names = [...new Set(kinds.map((k) => k ?? 'other'))];
      if (kinds.some((k) => k === undefined) || names.length > 1) {
        const shown = names.map((k) => (k === 'float64' || k === 'boolean' ? (k === 'float64' ? 'number' : k) : k === 'other' ? 'other' : intBrand(k))).join(' and ');
        return {
          why: `a tuple of ${shown} elements, but the elements of a record's tuple all have one type (number, boolean or one integer type)`,
          hint: 'give every element the same type',
        };
      }
      if (MAX_RECORD_BYTES < t.elements.length) return { why: 'a tuple too long for a record', hint: 'shorten it' };
      return { array: kinds[0]!, length: t.elements.length };
    }
    default:
      return { why: 'which has no fixed-size form in a record', hint: `use ${RECORD_FIELD_TYPES}` };
  }
}

/**
 * msgpackr record structures of a value type: for each object type reachable from it (depth
 * first, fields in order), its property names in declaration order, then, if some are
 * optional, its required ones. Each list once; empty objects have none.
 */
function structuresOf(value: TypeIR, types: ReadonlyMap<string, NamedType>): string[][] {
  const out: string[][] = [];
  const seen = new Set<string>();
  const visited = new Set<string>();
  const add = (names: string[]) => {
    const k = JSON.stringify(names);
    if (names.length === 0 || seen.has(k)) return;
    seen.add(k);
    out.push(names);
  };
  const shape = (fields: FieldModel[]) => {
    add(fields.map((f) => f.name));
    if (fields.some((f) => f.optional)) add(fields.filter((f) => !f.optional).map((f) => f.name));
  };
  const visit = (t: TypeIR): void => {
    switch (t.kind) {
      case 'union':
        t.members.forEach(visit);
        return;
      case 'array':
      case 'set':
        visit(t.element);
        return;
      case 'tuple':
        t.elements.forEach((e) => visit(e.type));
        return;
      case 'record':
        visit(t.value);
        return;
      case 'map':
        visit(t.key);
        visit(t.value);
        return;
      case 'object':
        shape(t.fields);
        t.fields.forEach((f) => visit(f.type));
        if (t.index !== undefined) visit(t.index.value);
        return;
      case 'ref': {
        if (visited.has(t.name)) return;
        visited.add(t.name);
        const named = types.get(t.name);
        if (named === undefined) return;
        if (named.declaration === 'alias') return visit(named.type);
        const fields = flattenFields(named, types);
        shape(fields);
        fields.forEach((f) => visit(f.type));
        for (const o of [named, ...allBases(named, types)]) {
          const index = (o.type as ObjectIR).index;
          if (index !== undefined) visit(index.value);
        }
        return;
      }
      default:
        return;
    }
  };
  visit(value);
  return out;
}

