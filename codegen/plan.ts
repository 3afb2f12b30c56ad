/**
 * The emit plan: every name the generated file declares, and every choice about its layout,
 * decided from the finished model before anything is printed. emit.ts reads the plan and only
 * prints; no part of the printing changes what another part prints.
 *
 *   SchemaModel ──planEmit──► EmitPlan ──emit.ts──► stores.ts
 *
 * Names are claimed here in one fixed order (public names, parameters, imports, helpers, checks,
 * records, then per store its handle, key builder, key parser and structures constant), so the
 * names a generated file uses do not depend on which part of it is printed first.
 */
import type { NamedType, RecordFieldModel, RecordModel, SchemaModel, StoreModel } from './model';
import { INT_BRANDS, isScalar } from './model';
import { camelCase, pascalCase, Scope } from './names';
import { Imports } from './printer';

/**
 * Members of the runtime's RecordView (and of Object.prototype): a record field with one of
 * these names gets no getter in its view class (it is read with `snapshot()`).
 * test/codegen-view-members.test.mjs checks the list against src/view.ts's RecordView.
 */
export const RECORD_VIEW_MEMBERS: ReadonlySet<string> = new Set([
  // src/view.ts
  'constructor', 'store', 'key', 'ref', 'gen', 'epoch', 'layout', 'rebind', 'exists', 'snapshot', 'set', 'add', 'compareExchange', 'field', 'read',
  'float64', 'int32', 'uint32', 'int16', 'uint16', 'int8', 'uint8', 'boolean', 'enumOf', 'string', 'array',
  'addAt', 'compareExchangeAt', 'atomic',
  'toString', 'toLocaleString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable',
  '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__', '__proto__',
]);

/** The check helpers a generated file may declare (each only if some check calls it). */
export type Helper = 'isRecord' | 'fail' | 'isInteger';

/** The generated names of one record type (shared by every store of that type). */
export interface RecordNames {
  layout: string;
  view: string;
  /** The type of the integer field names; undefined when the record has none. */
  intField?: string;
  /** The check of `setFields`' partial values. */
  checkFields: string;
  /** The constant of each enum field's values, by field name. */
  enums: Map<string, string>;
  /** The fields that get a getter in the view class (not those named like a RecordView member). */
  getters: RecordFieldModel[];
  /** The others, read with `snapshot()`. */
  withoutGetter: RecordFieldModel[];
}

/** The module-level names of one store. */
export interface StoreNames {
  handle: string;
  /** The key builder function, when the key is more than one part or literal text. */
  builder?: string;
  /** The key parser, when there is a builder and the key has parts. */
  parser?: string;
  /** The structures constant, when the store has structures. */
  structures?: string;
}

export interface EmitPlan {
  model: SchemaModel;
  /** Named types by name. */
  types: Map<string, NamedType>;
  /**
   * Module-level names, plus every facade parameter name so that no module-level name a method
   * uses can be shadowed by one of its parameters.
   */
  root: Scope;
  /** Just the module-level names: what a function's locals must not shadow. */
  moduleNames: ReadonlySet<string>;
  imports: Imports;
  helpers: { isRecord: string; describe: string; fail: string; isInteger: string };
  /** The check function of each named type that needs one. */
  checkNames: Map<string, string>;
  /** Record types in the order of their first store. */
  records: Map<string, RecordModel>;
  recordNames: Map<string, RecordNames>;
  stores: Map<StoreModel, StoreNames>;
  /** The store whose section declares each record type's layout and view: its first store. */
  recordOwners: Map<string, StoreModel>;
}

export function planEmit(model: SchemaModel): EmitPlan {
  const types = new Map(model.types.map((t) => [t.name, t]));
  const root = new Scope();
  const moduleNames = new Set<string>();
  const typeNames = new Set([...model.types.map((t) => t.name), ...model.stores.map((s) => s.keyTypeName)]);
  const moduleName = (base: string): string => {
    const name = root.claim(base);
    moduleNames.add(name);
    return name;
  };
  /** A type-level name (a class or type the file exports) that collides with nothing. */
  const typeName = (base: string): string => {
    let name = base;
    for (let n = 2; typeNames.has(name) || root.has(name); n++) name = `${base}${n}`;
    typeNames.add(name);
    root.reserve(name);
    moduleNames.add(name);
    return name;
  };

  // Public names first: the facades, then every parameter name (so no module-level name a
  // method uses can be shadowed by one of its parameters).
  for (const s of model.stores) root.reserve(s.exportName);
  for (const s of model.stores) moduleNames.add(s.exportName);
  for (const s of model.stores) for (const p of s.key.parts) root.reserve(p.param);
  const locals = ['value', 'path', 'key', 'id', 'options', 'fn', 'timeout', 'current', 'next', 'entries', 'keys', 'pattern', 'parts', 'list', 'match'];
  for (const reserved of [...locals, 'fields', 'field', 'delta', 'expected', 'replacement']) root.reserve(reserved);
  const imports = new Imports(
    [
      { name: 'createStore', type: false },
      { name: 'InvalidValueError', type: false },
      { name: 'KeyNotFoundError', type: false },
      { name: 'RecordView', type: false },
      { name: 'DeleteOptions', type: true },
      { name: 'RecordLayout', type: true },
      { name: 'SetOptions', type: true },
      ...[...Object.keys(INT_BRANDS), 'FixedString'].map((name) => ({ name, type: true })),
    ],
    (n) => typeNames.has(n) || root.has(n),
  );
  for (const n of imports.localNames()) root.reserve(n);
  for (const n of imports.localNames()) moduleNames.add(n);
  const isRecord = moduleName('isRecord');
  const describe = moduleName('describe');
  const fail = moduleName('fail');
  const isInteger = moduleName('isInteger');
  const checkNames = new Map<string, string>();
  for (const t of model.types) if (!isScalar({ kind: 'ref', name: t.name }, types)) checkNames.set(t.name, moduleName(`check${t.name}`));

  const records = new Map<string, RecordModel>();
  const recordNames = new Map<string, RecordNames>();
  const recordOwners = new Map<string, StoreModel>();
  for (const s of model.stores) {
    const r = s.record;
    if (r === undefined || records.has(r.type)) continue;
    records.set(r.type, r);
    recordOwners.set(r.type, s);
    const stem = camelCase(r.type);
    const names: RecordNames = {
      layout: moduleName(`${stem}Layout`),
      view: typeName(`${r.type}View`),
      checkFields: moduleName(`check${r.type}Fields`),
      enums: new Map(),
      getters: r.fields.filter((f) => !RECORD_VIEW_MEMBERS.has(f.name)),
      withoutGetter: r.fields.filter((f) => RECORD_VIEW_MEMBERS.has(f.name)),
    };
    if (r.fields.some((f) => isIntField(f.type))) names.intField = typeName(`${r.type}IntField`);
    for (const f of r.fields) if (typeof f.type === 'object' && 'enum' in f.type) names.enums.set(f.name, moduleName(`${stem}${pascalCase(f.name) || 'Field'}Values`));
    recordNames.set(r.type, names);
  }

  const stores = new Map<StoreModel, StoreNames>();
  for (const s of model.stores) {
    const names: StoreNames = { handle: moduleName(`${s.exportName}Store`) };
    if (needsBuilder(s)) {
      names.builder = moduleName(`${s.exportName}Key`);
      if (s.key.parts.length > 0) names.parser = moduleName(`parse${s.typeStem}Key`);
    }
    if (s.structures.length > 0) names.structures = moduleName(`${s.exportName}Structures`);
    stores.set(s, names);
  }

  return { model, types, root, moduleNames, imports, helpers: { isRecord, describe, fail, isInteger }, checkNames, records, recordNames, stores, recordOwners };
}

/** Whether a record field is an integer (what `add` and `compareExchange` work on). */
export function isIntField(t: RecordFieldModel['type']): t is Exclude<RecordFieldModel['type'] & string, 'float64' | 'boolean'> {
  return typeof t === 'string' && t !== 'float64' && t !== 'boolean';
}

/** Whether the key needs a builder function (it is more than one part or literal text). */
function needsBuilder(s: StoreModel): boolean {
  const segs = s.key.segments;
  return !(segs.length === 1 && (segs[0]!.kind === 'text' || s.key.parts[0]!.type.kind === 'string' || s.key.parts[0]!.type.kind === 'literals'));
}
