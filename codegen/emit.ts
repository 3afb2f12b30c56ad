/**
 * Model → TypeScript source. Only prints: every decision about the schema was made by parse.ts.
 * The names this module picks are local to the generated file (helpers, check functions,
 * loop variables) and are chosen so that they never shadow a name the schema brought in.
 *
 * The file has four parts, in this order: value types, checks, and per store its key type and
 * facade — so a reader meets every name before it is used.
 */
import type { FieldModel, IntType, KeyPart, NamedType, ObjectIR, RecordFieldModel, RecordFieldType, RecordModel, SchemaModel, SourceRef, StoreModel, TypeIR } from './model';
import { INT_BRANDS, intBrand, intRange, isScalar } from './model';
import { camelCase, escapeTemplate, isIdentifierName, pascalCase, propertyName, quote, Scope } from './names';
import { Imports, Writer } from './printer';

/** The module the generated file imports the runtime from. */
export const RUNTIME_MODULE = 'native-keyshare';

export function emit(model: SchemaModel): string {
  return new Emitter(model).print();
}

/**
 * Members of the runtime's RecordView (and of Object.prototype): a record field with one of
 * these names gets no getter in its view class (it is read with `snapshot()`).
 */
const RECORD_VIEW_MEMBERS = new Set([
  // src/view.ts
  'constructor', 'store', 'key', 'ref', 'gen', 'layout', 'rebind', 'exists', 'snapshot', 'set', 'add', 'compareExchange', 'field', 'read',
  'float64', 'int32', 'uint32', 'int16', 'uint16', 'int8', 'uint8', 'boolean', 'enumOf', 'string', 'array',
  'addAt', 'compareExchangeAt', 'atomic',
  'toString', 'toLocaleString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable',
  '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__', '__proto__',
]);

/** The generated names of one record type (shared by every store of that type). */
interface RecordNames {
  layout: string;
  view: string;
  /** The type of the integer field names; undefined when the record has none. */
  intField?: string;
  /** The check of `setFields`' partial values. */
  checkFields: string;
  /** The constant of each enum field's values, by field name. */
  enums: Map<string, string>;
  /** Printed already (in the section of the first store of this type). */
  printed: boolean;
}

/** Where a checked value is, as a path expression built at run time only when needed. */
type PathPart = { text: string } | { expr: string };

class Path {
  constructor(readonly parts: readonly PathPart[]) {}

  static literal(text: string): Path {
    return new Path([{ text }]);
  }

  static variable(name: string): Path {
    return new Path([{ expr: name }]);
  }

  field(name: string): Path {
    return this.with({ text: isIdentifierName(name) ? `.${name}` : `[${JSON.stringify(name)}]` });
  }

  with(...parts: PathPart[]): Path {
    return new Path([...this.parts, ...parts]);
  }

  /** A string literal when the path is fixed, else a template literal. */
  code(): string {
    const merged: PathPart[] = [];
    for (const p of this.parts) {
      const last = merged[merged.length - 1];
      if ('text' in p && last !== undefined && 'text' in last) merged[merged.length - 1] = { text: last.text + p.text };
      else merged.push(p);
    }
    if (merged.length === 1 && 'expr' in merged[0]!) return merged[0].expr;
    if (merged.every((p) => 'text' in p)) return quote(merged.map((p) => (p as { text: string }).text).join(''));
    return `\`${merged.map((p) => ('text' in p ? escapeTemplate(p.text) : `\${${p.expr}}`)).join('')}\``;
  }
}

class Emitter {
  private readonly types: Map<string, NamedType>;
  /**
   * Module-level names, plus every facade parameter name so that no module-level name a method
   * uses can be shadowed by one of its parameters.
   */
  private readonly root = new Scope();
  /** Just the module-level names: what a check function's locals must not shadow. */
  private readonly moduleNames = new Set<string>();
  private readonly imports: Imports;
  private readonly checkNames = new Map<string, string>();
  private isRecordName = '';
  private failName = '';
  private describeName = '';
  private isIntegerName = '';
  private usesIsRecord = false;
  private usesFail = false;
  private usesIsInteger = false;
  /** Type-level names of the file (schema types, key types, imports, generated classes). */
  private readonly typeNames: Set<string>;
  private readonly recordNames = new Map<string, RecordNames>();
  /** Records by type, for the partial checks (in the order of their first store). */
  private readonly records = new Map<string, RecordModel>();

  constructor(private readonly model: SchemaModel) {
    this.types = new Map(model.types.map((t) => [t.name, t]));
    const typeNames = new Set([...model.types.map((t) => t.name), ...model.stores.map((s) => s.keyTypeName)]);
    this.typeNames = typeNames;
    // Public names first: the facades, then every parameter name (so no module-level name a
    // method uses can be shadowed by one of its parameters).
    for (const s of model.stores) this.root.reserve(s.exportName);
    for (const s of model.stores) this.moduleNames.add(s.exportName);
    for (const s of model.stores) for (const p of s.key.parts) this.root.reserve(p.param);
    const locals = ['value', 'path', 'key', 'id', 'options', 'fn', 'timeout', 'current', 'next', 'entries', 'keys', 'pattern', 'parts', 'list', 'match'];
    for (const reserved of [...locals, 'fields', 'field', 'delta', 'expected', 'replacement']) {
      this.root.reserve(reserved);
    }
    this.imports = new Imports(
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
      (n) => typeNames.has(n) || this.root.has(n),
    );
    for (const n of this.imports.localNames()) this.root.reserve(n);
    for (const n of this.imports.localNames()) this.moduleNames.add(n);
    this.isRecordName = this.moduleName('isRecord');
    this.describeName = this.moduleName('describe');
    this.failName = this.moduleName('fail');
    this.isIntegerName = this.moduleName('isInteger');
    for (const t of model.types) if (!isScalar({ kind: 'ref', name: t.name }, this.types)) this.checkNames.set(t.name, this.moduleName(`check${t.name}`));
    for (const s of model.stores) {
      const r = s.record;
      if (r === undefined || this.records.has(r.type)) continue;
      this.records.set(r.type, r);
      const stem = camelCase(r.type);
      const names: RecordNames = {
        layout: this.moduleName(`${stem}Layout`),
        view: this.typeName(`${r.type}View`),
        checkFields: this.moduleName(`check${r.type}Fields`),
        enums: new Map(),
        printed: false,
      };
      if (r.fields.some((f) => isIntField(f.type))) names.intField = this.typeName(`${r.type}IntField`);
      for (const f of r.fields) if (typeof f.type === 'object' && 'enum' in f.type) names.enums.set(f.name, this.moduleName(`${stem}${pascalCase(f.name) || 'Field'}Values`));
      this.recordNames.set(r.type, names);
    }
  }

  /** A type-level name (a class or type the file exports) that collides with nothing. */
  private typeName(base: string): string {
    let name = base;
    for (let n = 2; this.typeNames.has(name) || this.root.has(name); n++) name = `${base}${n}`;
    this.typeNames.add(name);
    this.root.reserve(name);
    this.moduleNames.add(name);
    return name;
  }

  private moduleName(base: string): string {
    const name = this.root.claim(base);
    this.moduleNames.add(name);
    return name;
  }

  /** A scope for the locals of a function that declares `params`. */
  private functionScope(...params: string[]): Scope {
    const scope = new Scope();
    for (const n of this.moduleNames) scope.reserve(n);
    for (const p of params) scope.reserve(p);
    return scope;
  }

  print(): string {
    const m = this.model;
    const typesPart = Writer.capture((w) => this.printTypes(w));
    const storesPart = Writer.capture((w) => m.stores.forEach((s) => this.printStore(w, s)));
    const checksPart = Writer.capture((w) => this.printChecks(w));

    const w = new Writer();
    w.line(`// @generated by native-keyshare codegen ${m.generatorVersion} from ${m.schemaFile} — do not edit`);
    w.line('//');
    w.line(`// Typed facades over the native-keyshare stores declared in ${m.schemaFile}: one object per store,`);
    w.line('// whose methods take the key\'s typed parts and check every value written against the schema.');
    w.line(this.imports.print(RUNTIME_MODULE));
    w.lines(typesPart);
    w.lines(checksPart);
    w.lines(storesPart);
    return w.toString();
  }

  // ───────────────────────────────────────────────────────────────────────── types

  private printTypes(w: Writer): void {
    if (this.model.types.length === 0) return;
    section(w, 'Value types');
    for (const t of this.model.types) {
      w.line();
      w.doc(withSource(t.doc, t.source));
      if (t.declaration === 'interface') {
        const heritage = t.extends.length > 0 ? ` extends ${t.extends.join(', ')}` : '';
        w.line(`export interface ${t.name}${heritage} ${this.objectText(t.type as ObjectIR)}`);
      } else {
        w.line(`export type ${t.name} = ${this.typeText(t.type)};`);
      }
    }
  }

  /** TypeScript text of a type; object types span several lines (relative indentation). */
  private typeText(t: TypeIR): string {
    switch (t.kind) {
      case 'string':
      case 'number':
      case 'boolean':
      case 'bigint':
      case 'null':
      case 'undefined':
      case 'unknown':
        return t.kind;
      case 'literal':
        return typeof t.value === 'string' ? quote(t.value) : String(t.value);
      case 'int':
        return this.imports.use(intBrand(t.int));
      case 'fixedString':
        return `${this.imports.use('FixedString')}<${t.maxBytes}>`;
      case 'union':
        return t.members.map((m) => this.typeText(m)).join(' | ');
      case 'array':
        return `${t.readonly ? 'readonly ' : ''}${this.elementText(t.element)}[]`;
      case 'tuple': {
        const items = t.elements.map((e) => {
          const type = e.rest ? `${this.elementText(e.type)}[]` : this.typeText(e.type);
          if (e.name !== undefined) return `${e.rest ? '...' : ''}${e.name}${e.optional ? '?' : ''}: ${type}`;
          return `${e.rest ? '...' : ''}${type}${e.optional ? '?' : ''}`;
        });
        return `${t.readonly ? 'readonly ' : ''}[${items.join(', ')}]`;
      }
      case 'object':
        return this.objectText(t);
      case 'record':
        return `Record<${t.key}, ${this.typeText(t.value)}>`;
      case 'date':
        return 'Date';
      case 'typedArray':
        return t.name;
      case 'map':
        return `${t.readonly ? 'ReadonlyMap' : 'Map'}<${this.typeText(t.key)}, ${this.typeText(t.value)}>`;
      case 'set':
        return `${t.readonly ? 'ReadonlySet' : 'Set'}<${this.typeText(t.element)}>`;
      case 'ref':
        return t.name;
    }
  }

  private elementText(t: TypeIR): string {
    return t.kind === 'union' ? `(${this.typeText(t)})` : this.typeText(t);
  }

  private objectText(o: ObjectIR): string {
    if (o.fields.length === 0 && o.index === undefined) return '{}';
    const body = Writer.capture((w) => {
      for (const f of o.fields) {
        w.doc(withSource(f.doc, f.source));
        w.line(`${f.readonly ? 'readonly ' : ''}${propertyName(f.name)}${f.optional ? '?' : ''}: ${this.typeText(f.type)};`);
      }
      if (o.index !== undefined) w.line(`[${o.index.keyName}: ${o.index.key}]: ${this.typeText(o.index.value)};`);
    });
    return `{\n${body.map((l) => (l === '' ? '' : `  ${l}`)).join('\n')}\n}`;
  }

  /** Compact, one-line text of a type for messages: `string`, `"a" | "b"`, `User`, `number[]`. */
  private expectedText(t: TypeIR): string {
    switch (t.kind) {
      case 'literal':
        return typeof t.value === 'string' ? JSON.stringify(t.value) : String(t.value);
      case 'int': {
        const [min, max] = intRange(t.int);
        return `${intBrand(t.int)} (an integer from ${min} to ${max})`;
      }
      case 'fixedString':
        return `FixedString<${t.maxBytes}>`;
      case 'union':
        return t.members.map((m) => this.expectedText(m)).join(' | ');
      case 'array':
        return `${t.element.kind === 'union' ? `(${this.expectedText(t.element)})` : this.expectedText(t.element)}[]`;
      case 'tuple':
        return `[${t.elements.map((e) => `${e.rest ? '...' : ''}${this.expectedText(e.type)}${e.rest ? '[]' : ''}${e.optional ? '?' : ''}`).join(', ')}]`;
      case 'object':
        return 'object';
      case 'record':
        return `Record<${t.key}, ${this.expectedText(t.value)}>`;
      case 'map':
        return `Map<${this.expectedText(t.key)}, ${this.expectedText(t.value)}>`;
      case 'set':
        return `Set<${this.expectedText(t.element)}>`;
      case 'ref': {
        const named = this.types.get(t.name)!;
        return isScalar(t, this.types) ? this.expectedText(named.type) : t.name;
      }
      default:
        return this.typeText(t);
    }
  }

  /** Whether a mismatch message should show the value itself (the type allows only some). */
  private hasLiterals(t: TypeIR): boolean {
    if (t.kind === 'literal' || t.kind === 'int') return true;
    if (t.kind === 'union') return t.members.some((m) => this.hasLiterals(m));
    if (t.kind === 'ref' && isScalar(t, this.types)) return this.hasLiterals(this.types.get(t.name)!.type);
    return false;
  }

  // ───────────────────────────────────────────────────────────────────────── checks

  private printChecks(w: Writer): void {
    const bodies = this.model.types
      .filter((t) => this.checkNames.has(t.name))
      .map((t) => ({
        name: this.checkNames.get(t.name)!,
        doc: `Throws InvalidValueError unless \`value\` matches ${t.name} (\`path\` names it in messages).`,
        body: Writer.capture((b) => this.checkBody(b, t)),
      }));
    for (const [type, r] of this.records) {
      // setFields: the fields given, each checked like in a whole value.
      const partial: ObjectIR = { kind: 'object', fields: r.fields.map((f) => ({ name: f.name, type: f.declared, optional: true, readonly: false, source: f.source })) };
      bodies.push({
        name: this.recordNames.get(type)!.checkFields,
        doc: `Throws InvalidValueError unless \`value\` holds some fields of ${type}, each matching (for setFields).`,
        body: Writer.capture((b) => this.check(b, partial, 'value', Path.variable('path'), this.functionScope('value', 'path'), `Partial<${type}>`)),
      });
    }
    if (!this.usesFail && bodies.length === 0) return;
    section(w, 'Checks: run by set, setMany and update before anything is written');
    if (this.usesIsRecord) {
      w.line();
      w.doc('Whether `value` is an object whose fields can be read (not null, not an array).');
      w.block(`function ${this.isRecordName}(value: unknown): value is Record<string, unknown>`, () => {
        w.line("return typeof value === 'object' && value !== null && !Array.isArray(value);");
      });
    }
    if (this.usesFail) {
      w.line();
      w.doc('How a mismatching value is named in messages: its kind, or (`exact`) a primitive\'s value.');
      w.block(`function ${this.describeName}(value: unknown, exact: boolean): string`, () => {
        w.line("if (value === null) return 'null';");
        w.line('if (Array.isArray(value)) return `array (length ${value.length})`;');
        w.line("if (value instanceof Date) return 'Date';");
        w.line("if (ArrayBuffer.isView(value)) return value.constructor.name;");
        w.line("if (value instanceof Map) return 'Map';");
        w.line("if (value instanceof Set) return 'Set';");
        w.line("if (exact && typeof value === 'string') return JSON.stringify(value);");
        w.line("if (exact && (typeof value === 'number' || typeof value === 'boolean')) return String(value);");
        w.line('return typeof value;');
      });
      w.line();
      w.doc('Throws the error of a mismatch, e.g. `users: value.name must be string, got number`.');
      w.block(`function ${this.failName}(path: string, expected: string, got: unknown, exact = false): never`, () => {
        w.line(`throw new ${this.imports.use('InvalidValueError')}(\`\${path} must be \${expected}, got \${${this.describeName}(got, exact)}\`);`);
      });
    }
    if (this.usesIsInteger) {
      w.line();
      w.doc('Whether `value` is an integer from `min` to `max` (an Int32, Uint8, … of native-keyshare).');
      w.block(`function ${this.isIntegerName}(value: unknown, min: number, max: number): value is number`, () => {
        w.line('return Number.isInteger(value) && (value as number) >= min && (value as number) <= max;');
      });
    }
    for (const { name, doc, body } of bodies) {
      w.line();
      w.doc(doc);
      w.block(`function ${name}(value: unknown, path: string): void`, () => w.lines(body));
    }
  }

  private checkBody(w: Writer, t: NamedType): void {
    const scope = this.functionScope('value', 'path');
    const path = Path.variable('path');
    if (t.declaration === 'interface') {
      w.line(`if (!${this.isRecord()}(value)) ${this.fail(path, t.name, 'value', false)};`);
      for (const base of t.extends) w.line(`${this.checkNames.get(base)!}(value, path);`);
      this.fieldChecks(w, t.type as ObjectIR, 'value', path, scope);
    } else {
      // An object type is named by its alias (`Point`); anything else by its structure.
      this.check(w, t.type, 'value', path, scope, t.type.kind === 'object' ? t.name : undefined);
    }
  }

  private isRecord(): string {
    this.usesIsRecord = true;
    return this.isRecordName;
  }

  /** `fail(path, 'expected', expr)`. */
  private fail(path: Path, expected: string, expr: string, exact: boolean): string {
    this.usesFail = true;
    return `${this.failName}(${path.code()}, ${quote(expected)}, ${expr}${exact ? ', true' : ''})`;
  }

  /**
   * The condition under which `expr` does NOT match a scalar type: a chain of `&&`-joined
   * tests, or '' when anything matches (unknown). undefined: the type is not scalar.
   */
  private mismatch(t: TypeIR, expr: string): string | undefined {
    switch (t.kind) {
      case 'string':
      case 'number':
      case 'boolean':
      case 'bigint':
        return `typeof ${expr} !== '${t.kind}'`;
      case 'null':
        return `${expr} !== null`;
      case 'undefined':
        return `${expr} !== undefined`;
      case 'unknown':
        return '';
      case 'literal':
        return `${expr} !== ${typeof t.value === 'string' ? quote(t.value) : String(t.value)}`;
      case 'int': {
        this.usesIsInteger = true;
        const [min, max] = intRange(t.int);
        return `!${this.isIntegerName}(${expr}, ${min}, ${max})`;
      }
      case 'fixedString':
        // The byte length is checked by the runtime (records), not here: see codegen/README.md.
        return `typeof ${expr} !== 'string'`;
      case 'date':
        return `!(${expr} instanceof Date)`;
      case 'typedArray':
        return `!(${expr} instanceof ${t.name})`;
      case 'union': {
        const parts: string[] = [];
        for (const m of t.members) {
          const c = this.mismatch(m, expr);
          if (c === undefined) return undefined;
          if (c === '') return '';
          parts.push(c);
        }
        return parts.join(' && ');
      }
      case 'ref':
        return isScalar(t, this.types) ? this.mismatch(this.types.get(t.name)!.type, expr) : undefined;
      default:
        return undefined;
    }
  }

  /** Whether checking `t` emits anything at all. */
  private checks(t: TypeIR): boolean {
    return this.mismatch(t, 'x') !== '';
  }

  /**
   * Statements that throw unless `expr` matches `t`. `expr` must be side-effect free and cheap
   * (a name, or `name[i]`); `expected` overrides how the type is named at the top level.
   */
  private check(w: Writer, t: TypeIR, expr: string, path: Path, scope: Scope, expected?: string): void {
    const named = expected ?? this.expectedText(t);
    const cond = this.mismatch(t, expr);
    if (cond === '') return;
    if (cond !== undefined) {
      w.line(`if (${cond}) ${this.fail(path, named, expr, this.hasLiterals(t))};`);
      return;
    }
    switch (t.kind) {
      case 'union': {
        // parse.ts guarantees one non-scalar member: check it unless a scalar member matches.
        const scalars = t.members.filter((m) => isScalar(m, this.types));
        const complex = t.members.find((m) => !isScalar(m, this.types))!;
        const guard = this.mismatch({ kind: 'union', members: scalars }, expr)!;
        if (guard === '') return;
        w.ifThen(guard, Writer.capture((b) => this.check(b, complex, expr, path, scope.child(), named)));
        return;
      }
      case 'ref':
        w.line(`${this.checkNames.get(t.name)!}(${expr}, ${path.code()});`);
        return;
      case 'array': {
        w.line(`if (!Array.isArray(${expr})) ${this.fail(path, named, expr, false)};`);
        if (!this.checks(t.element)) return;
        this.elementLoop(w, expr, `0`, t.element, path, scope);
        return;
      }
      case 'tuple': {
        const fixed = t.elements.filter((e) => !e.rest);
        const min = fixed.filter((e) => !e.optional).length;
        const hasRest = t.elements.some((e) => e.rest);
        const tests = [`!Array.isArray(${expr})`];
        if (!hasRest && min === fixed.length) tests.push(`${expr}.length !== ${min}`);
        else {
          if (min > 0) tests.push(`${expr}.length < ${min}`);
          if (!hasRest) tests.push(`${expr}.length > ${fixed.length}`);
        }
        w.line(`if (${tests.join(' || ')}) ${this.fail(path, named, expr, false)};`);
        fixed.forEach((e, i) => {
          if (!this.checks(e.type)) return;
          const item = `${expr}[${i}]`;
          const at = path.with({ text: `[${i}]` });
          const cond = this.mismatch(e.type, item);
          if (e.optional && cond !== undefined) {
            w.line(`if (${item} !== undefined && ${cond}) ${this.fail(at, this.expectedText(e.type), item, this.hasLiterals(e.type))};`);
            return;
          }
          const body = Writer.capture((b) => this.checkBound(b, e.type, item, at, scope.child()));
          if (e.optional) w.ifThen(`${item} !== undefined`, body);
          else w.lines(body);
        });
        const rest = t.elements.find((e) => e.rest);
        if (rest !== undefined && this.checks(rest.type)) this.elementLoop(w, expr, String(fixed.length), rest.type, path, scope);
        return;
      }
      case 'object':
        w.line(`if (!${this.isRecord()}(${expr})) ${this.fail(path, named, expr, false)};`);
        this.fieldChecks(w, t, expr, path, scope);
        return;
      case 'record': {
        w.line(`if (!${this.isRecord()}(${expr})) ${this.fail(path, named, expr, false)};`);
        if (!this.checks(t.value)) return;
        const inner = scope.child();
        const key = inner.claim('key');
        w.block(`for (const ${key} in ${expr})`, () => {
          this.checkBound(w, t.value, `${expr}[${key}]`, path.with({ text: '[' }, { expr: `JSON.stringify(${key})` }, { text: ']' }), inner);
        });
        return;
      }
      case 'map': {
        w.line(`if (!(${expr} instanceof Map)) ${this.fail(path, named, expr, false)};`);
        if (!this.checks(t.key) && !this.checks(t.value)) return;
        const inner = scope.child();
        const key = inner.claim('key');
        const item = inner.claim('item');
        const shown = this.mayBeBigint(t.key) ? `String(${key})` : `JSON.stringify(${key})`;
        w.block(`for (const [${key}, ${item}] of ${expr})`, () => {
          this.check(w, t.key, key, path.with({ text: ' key' }), inner);
          this.check(w, t.value, item, path.with({ text: '.get(' }, { expr: shown }, { text: ')' }), inner);
        });
        return;
      }
      case 'set': {
        w.line(`if (!(${expr} instanceof Set)) ${this.fail(path, named, expr, false)};`);
        if (!this.checks(t.element)) return;
        const inner = scope.child();
        const item = inner.claim('item');
        w.block(`for (const ${item} of ${expr})`, () => this.check(w, t.element, item, path.with({ text: ' element' }), inner));
        return;
      }
      default:
        throw new Error(`internal: no check for ${t.kind}`);
    }
  }

  private mayBeBigint(t: TypeIR): boolean {
    if (t.kind === 'bigint') return true;
    if (t.kind === 'union') return t.members.some((m) => this.mayBeBigint(m));
    if (t.kind === 'ref' && isScalar(t, this.types)) return this.mayBeBigint(this.types.get(t.name)!.type);
    return false;
  }

  /**
   * Checks `expr` (an element access, which TypeScript does not narrow): scalars and named types
   * are checked in place, anything else through a `const` first.
   */
  private checkBound(w: Writer, t: TypeIR, expr: string, path: Path, scope: Scope): void {
    if (this.mismatch(t, expr) !== undefined || t.kind === 'ref') {
      this.check(w, t, expr, path, scope);
      return;
    }
    const item = scope.claim('item');
    w.line(`const ${item} = ${expr};`);
    this.check(w, t, item, path, scope);
  }

  private elementLoop(w: Writer, expr: string, from: string, element: TypeIR, path: Path, scope: Scope): void {
    const inner = scope.child();
    const i = inner.claim('i');
    w.block(`for (let ${i} = ${from}; ${i} < ${expr}.length; ${i}++)`, () => {
      this.checkBound(w, element, `${expr}[${i}]`, path.with({ text: '[' }, { expr: i }, { text: ']' }), inner);
    });
  }

  /** The field checks of an object already known to be a record: destructure, then check each. */
  private fieldChecks(w: Writer, o: ObjectIR, expr: string, path: Path, scope: Scope): void {
    const checked = o.fields.filter((f) => this.checks(f.type));
    if (checked.length > 0) {
      const locals = checked.map((f) => ({ f, local: scope.claim(f.name) }));
      const specs = locals.map(({ f, local }) => (local === f.name ? local : `${propertyName(f.name)}: ${local}`));
      const one = `const { ${specs.join(', ')} } = ${expr};`;
      if (one.length <= 100) w.line(one);
      else w.block('const', () => specs.forEach((s) => w.line(`${s},`)), `} = ${expr};`);
      for (const { f, local } of locals) this.fieldCheck(w, f, local, path.field(f.name), scope);
    }
    if (o.index !== undefined && this.checks(o.index.value)) {
      const inner = scope.child();
      const key = inner.claim('key');
      w.block(`for (const ${key} in ${expr})`, () => {
        this.checkBound(w, o.index!.value, `${expr}[${key}]`, path.with({ text: '[' }, { expr: `JSON.stringify(${key})` }, { text: ']' }), inner);
      });
    }
  }

  private fieldCheck(w: Writer, f: FieldModel, local: string, path: Path, scope: Scope): void {
    const cond = this.mismatch(f.type, local);
    if (f.optional && cond !== undefined) {
      w.line(`if (${local} !== undefined && ${cond}) ${this.fail(path, this.expectedText(f.type), local, this.hasLiterals(f.type))};`);
      return;
    }
    const body = Writer.capture((b) => this.check(b, f.type, local, path, f.optional ? scope.child() : scope));
    if (f.optional) w.ifThen(`${local} !== undefined`, body);
    else w.lines(body);
  }

  // ───────────────────────────────────────────────────────────────────────── stores

  private printStore(w: Writer, s: StoreModel): void {
    const parts = s.key.parts;
    const handle = this.moduleName(`${s.exportName}Store`);
    const builder = this.needsBuilder(s) ? this.moduleName(`${s.exportName}Key`) : undefined;
    const parser = builder !== undefined && parts.length > 0 ? this.moduleName(`parse${s.typeStem}Key`) : undefined;
    const valueType = this.typeText(s.value);
    const keyType = s.keyTypeName;
    const params = parts.map((p) => `${p.param}: ${this.partTypeText(p)}`).join(', ');
    const args = parts.map((p) => p.param).join(', ');
    // Without a builder the key is the parameter itself, or a literal.
    const keyOf = (argList: string) => (builder !== undefined ? `${builder}(${argList})` : this.keyExpression(s));
    const key = keyOf(args);
    const withParams = (rest: string) => [params, rest].filter((x) => x !== '').join(', ');
    const defaults = [s.ttl !== undefined ? `ttl: ${s.ttl}` : '', s.minBufferSize !== undefined ? `minBufferSize: ${s.minBufferSize}` : ''].filter((x) => x !== '');
    const setOptions = defaults.length > 0 ? `{ ${defaults.join(', ')}, ...options }` : 'options';
    const SetOptions = this.imports.use('SetOptions');
    // Records never expire: the runtime refuses a ttl, so the facade's types leave it out.
    const writeOptions = s.record !== undefined ? `Omit<${SetOptions}, 'ttl'>` : SetOptions;
    const DeleteOptions = this.imports.use('DeleteOptions');
    const deleteOptions = `Omit<${DeleteOptions}, 'literal'>`;
    const batchArg = parts.length === 1 ? parts[0]!.param : 'parts';
    const batchType = parts.length === 1 ? this.partTypeText(parts[0]!) : `readonly [${params}]`;
    const batchKey = parts.length === 1 ? keyOf(batchArg) : `${builder}(...parts)`;
    const keysMapped = batchKey === batchArg ? 'keys' : `keys.map((${batchArg}) => ${batchKey})`;
    const whereKey = parts.length === 0 ? 'the key' : parts.length === 1 ? `\`${parts[0]!.param}\`` : `(${args})`;
    const checked = this.checks(s.value);

    section(w, `Store "${s.name}"`);
    w.line();
    w.doc(`Keys of store \`${s.name}\`.`);
    w.line(`export type ${keyType} = ${this.keyTypeText(s)};`);
    const options: string[] = [];
    if (s.hotReads) options.push('hotReads: true');
    if (s.structures.length > 0) options.push(`structures: ${this.printStructures(w, s)}`);
    const record = s.record !== undefined ? this.printRecord(w, s.record) : undefined;
    if (record !== undefined) options.push(`record: ${record.layout}`);
    w.line();
    const storeOptions = options.length > 0 ? `, { ${options.join(', ')} }` : '';
    w.line(`const ${handle} = ${this.imports.use('createStore')}<${valueType}>(${quote(s.name)}${storeOptions});`);
    if (builder !== undefined) {
      w.line();
      w.doc(`The key of an entry of store \`${s.name}\`.`);
      w.block(`function ${builder}(${params}): ${keyType}`, () => w.line(`return ${this.keyExpression(s)};`));
    }
    if (parser !== undefined) this.printParser(w, s, parser);

    w.line();
    const facts = [`Store \`${s.name}\`: keys \`${this.keyTypeText(s).replace(/`/g, '')}\`, values ${s.value.kind === 'ref' ? `{@link ${s.value.name}}` : `\`${valueType}\``}.`];
    if (defaults.length > 0) facts.push(`Writes default to \`{ ${defaults.join(', ')} }\` (a caller's options override).`);
    if (s.hotReads) facts.push('Opened with hotReads: `get` returns shared, deep-frozen values.');
    if (s.record !== undefined) {
      facts.push(
        `Stored as fixed-layout records (${s.record.size} bytes): \`at\` reads single fields in place` +
          (record?.intField !== undefined ? ', `add` and `compareExchange` change integer fields without a lock.' : '.'),
      );
    }
    w.doc(withSource(s.doc, s.source, facts.join(' ')));
    w.block(`export const ${s.exportName} =`, () => {
      const method = (doc: string, head: string, body: () => void) => {
        w.doc(doc);
        w.block(head, body, '},');
        w.line();
      };
      w.doc('The store underneath: string keys, no checks, the same data.');
      w.line(`store: ${handle},`);
      w.line();
      if (builder !== undefined) {
        w.doc('The key string of an entry.');
        w.line(`key: ${builder},`);
        w.line();
      }
      if (parser !== undefined) {
        w.doc('The typed parts of a key of this store, or undefined if the key has another form.');
        w.line(`parseKey: ${parser},`);
        w.line();
      }
      method(`The value of ${whereKey}, or undefined. Never locks, never waits for writers.`, `get(${params}): ${valueType} | undefined`, () => {
        w.line(`return ${handle}.get(${key});`);
      });
      method(`Whether ${whereKey} holds a value.`, `has(${params}): boolean`, () => w.line(`return ${handle}.has(${key});`));
      method(
        (checked
          ? `Checks \`value\` against ${this.expectedText(s.value)}, then stores it; a mismatch throws InvalidValueError naming the field, and nothing is stored. `
          : 'Stores `value`. ') + "False if another thread holds the key's lock past the timeout.",
        `set(${withParams(`value: ${valueType}, options?: ${writeOptions}`)}): boolean`,
        () => {
          this.valueCheck(w, s, 'value', Path.literal(`${s.name}: value`));
          w.line(`return ${handle}.set(${key}, value, ${setOptions});`);
        },
      );
      method(
        'Atomically replaces the value with `fn(current)`: lock, read, call, check, write, release.\nReturns the new value; if `fn` throws or its result fails the check, nothing is written.',
        `update(${withParams(`fn: (current: ${valueType} | undefined) => ${valueType}, options?: ${writeOptions}`)}): ${valueType}`,
        () => {
          const checkNext = Writer.capture((b) => this.valueCheck(b, s, 'next', Path.literal(`${s.name}: value`)));
          if (checkNext.length === 0) {
            w.line(`return ${handle}.update(${key}, fn, ${setOptions});`);
            return;
          }
          w.block(`return ${handle}.update(${key}, (current) =>`, () => {
            w.line('const next = fn(current);');
            w.lines(checkNext);
            w.line('return next;');
          }, `}, ${setOptions});`);
        },
      );
      if (s.record !== undefined) this.printRecordMethods(w, s, s.record, record!, { params, key, handle, method, withParams, SetOptions });
      method(`Deletes the value of ${whereKey}; true if there was one.`, `delete(${withParams(`options?: ${deleteOptions}`)}): boolean`, () => {
        w.line(`return ${handle}.delete(${key}, { ...options, literal: true });`);
      });
      if (parts.length > 0) {
        method('The values of several keys, in order (undefined for absent ones).', `getMany(keys: readonly ${this.arrayElement(batchType)}[]): (${valueType} | undefined)[]`, () => {
          w.line(`return ${handle}.getMany(${keysMapped});`);
        });
        method(
          'Checks every value, then stores them all (none if one fails). Returns how many were written.',
          `setMany(entries: Iterable<readonly [${parts.length === 1 ? `${batchArg}: ${batchType}` : `parts: ${batchType}`}, value: ${valueType}]>, options?: ${writeOptions}): number`,
          () => {
            const wholeKey = batchKey === batchArg;
            w.line(`const list: [${keyType}, ${valueType}][] = [];`);
            w.block(`for (const [${batchArg}, value] of entries)`, () => {
              const keyVar = wholeKey ? batchArg : 'key';
              if (!wholeKey) w.line(`const key = ${batchKey};`);
              this.valueCheck(w, s, 'value', new Path([{ text: `${s.name} (key ` }, { expr: `JSON.stringify(${keyVar})` }, { text: '): value' }]));
              w.line(`list.push([${keyVar}, value]);`);
            });
            w.line(`return ${handle}.setMany(list, ${setOptions});`);
          },
        );
        method('Deletes several keys; returns how many held a value.', `deleteMany(keys: readonly ${this.arrayElement(batchType)}[], options?: ${deleteOptions}): number`, () => {
          w.line(`return ${handle}.deleteMany(${keysMapped}, options);`);
        });
        method('Keys holding a value, optionally filtered by a glob, a `/regex/` string or a RegExp.', `listKeys(pattern?: string | RegExp): ${keyType}[]`, () => {
          w.line(`return ${handle}.listKeys(pattern) as ${keyType}[];`);
        });
      }
      method(`Takes the owner lock of ${whereKey} (waits up to \`timeout\` ms, default 1000); false on timeout.`, `lock(${withParams('timeout?: number')}): boolean`, () => {
        w.line(`return ${handle}.lock(${key}, timeout);`);
      });
      method(`Releases a lock this thread holds on ${whereKey}; false if it does not hold it.`, `release(${params}): boolean`, () => {
        w.line(`return ${handle}.release(${key});`);
      });
      w.doc('Number of keys holding a value.');
      w.block('get size(): number', () => w.line(`return ${handle}.size;`), '},');
    }, '};');
  }

  /**
   * The structures constant of a store (printed before its handle); returns its name.
   */
  private printStructures(w: Writer, s: StoreModel): string {
    const name = this.moduleName(`${s.exportName}Structures`);
    w.line();
    w.doc(
      `msgpackr record structures of store \`${s.name}\`: the property names of the object shapes in its values, from the schema (a type with optional fields twice: all fields, and the required ones). ` +
        'Objects of these shapes are encoded without their property names. Every thread opens the store with this same list (the runtime refuses another).',
    );
    w.nested(`const ${name} = [`, () => {
      for (const names of s.structures) {
        const items = names.map((n) => quote(n));
        const one = `[${items.join(', ')}],`;
        if (one.length + 4 <= 100) {
          w.line(one);
          continue;
        }
        // Long shapes: several names per line.
        const lines: string[] = [];
        let line = '';
        for (const item of items) {
          if (line !== '' && line.length + item.length + 2 > 90) {
            lines.push(`${line},`);
            line = item;
          } else line = line === '' ? item : `${line}, ${item}`;
        }
        lines.push(`${line},`);
        w.nested('[', () => lines.forEach((l) => w.line(l)), '],');
      }
    }, '] as const;');
    return name;
  }

  /**
   * The layout, enum values, integer field names and view class of a record type, the first
   * time a store of that type is printed. Returns the record's names.
   */
  private printRecord(w: Writer, r: RecordModel): RecordNames {
    const names = this.recordNames.get(r.type)!;
    if (names.printed) return names;
    names.printed = true;
    const RecordLayout = this.imports.use('RecordLayout');
    for (const f of r.fields) {
      if (typeof f.type !== 'object' || !('enum' in f.type)) continue;
      w.line();
      w.doc(`The values of \`${r.type}.${f.name}\`, in declaration order: a record stores a value's index.`);
      w.line(`const ${names.enums.get(f.name)!} = [${f.type.enum.map((v) => quote(v)).join(', ')}] as const;`);
    }
    w.line();
    w.doc(
      `Where each field of a ${r.type} record lives: byte offsets in its ${r.size} bytes, from the runtime's layoutRecord (fields by alignment, largest first). ` +
        'Every thread opens the store with this layout; the runtime refuses a handle with another one.',
    );
    w.block(`const ${names.layout}: ${RecordLayout} =`, () => {
      w.line(`size: ${r.size},`);
      w.nested('fields: [', () => {
        for (const f of r.fields) w.line(`{ name: ${quote(f.name)}, type: ${fieldTypeText(f.type, names.enums.get(f.name))}, offset: ${f.offset} },`);
      }, '],');
    }, '};');
    if (names.intField !== undefined) {
      w.line();
      w.doc(`The integer fields of ${r.type}: what \`add\` and \`compareExchange\` change.`);
      const ints = r.fields.filter((f) => isIntField(f.type)).map((f) => quote(f.name));
      w.line(`export type ${names.intField} = ${ints.join(' | ')};`);
    }
    const skipped = r.fields.filter((f) => RECORD_VIEW_MEMBERS.has(f.name)).map((f) => `\`${f.name}\``);
    w.line();
    w.doc(
      [
        `The fields of one ${r.type} record, read straight from shared memory: each getter reads one field (no copy of the others, no decoding), consistent for that field; \`snapshot()\` reads every field at once, consistently, like \`get\`. A view follows its key: each read sees the record the key holds then.`,
        skipped.length > 0 ? `${skipped.join(', ')} ${skipped.length === 1 ? 'has' : 'have'} no getter (RecordView uses the name): read ${skipped.length === 1 ? 'it' : 'them'} with \`snapshot()\`.` : undefined,
      ]
        .filter((x) => x !== undefined)
        .join('\n\n'),
    );
    w.block(`export class ${names.view} extends ${this.imports.use('RecordView')}<${r.type}>`, () => {
      let first = true;
      for (const f of r.fields) {
        if (RECORD_VIEW_MEMBERS.has(f.name)) continue;
        if (!first) w.line();
        first = false;
        const where = typeof f.type === 'string' ? f.type : 'enum' in f.type ? 'enum' : 'string' in f.type ? `string of at most ${f.type.string} UTF-8 bytes` : `${f.type.length} × ${f.type.array}`;
        w.doc(withSource(f.doc, f.source, `Reads \`${f.name}\` alone: ${where} at byte ${f.offset}.`));
        w.block(`get ${propertyName(f.name)}(): ${this.typeText(f.declared)}`, () => w.line(`return ${this.fieldRead(f.type, f.offset, names.enums.get(f.name))};`));
      }
      if (names.intField === undefined) return;
      // The atomic ops by field name, dispatched to constant offsets: no lookup of the field.
      const ints = r.fields.filter((f) => isIntField(f.type));
      const dispatch = (call: (f: RecordFieldModel) => string, fallback: string): void => {
        w.nested('switch (field) {', () => {
          for (const f of ints) w.line(`case ${quote(f.name)}: return ${call(f)};`);
          w.line(`default: return ${fallback};`);
        }, '}');
      };
      w.line();
      w.doc('Adds `delta` to an integer field atomically, without a lock; returns the value before (like Atomics.add).');
      w.block(`override add(field: ${names.intField}, delta: number): number`, () =>
        dispatch((f) => `this.addAt(${f.offset}, ${quote(f.type as string)}, delta)`, 'super.add(field, delta)'),
      );
      w.line();
      w.doc('Sets an integer field to `replacement` if it holds `expected`, atomically, without a lock; returns the value before.');
      w.block(`override compareExchange(field: ${names.intField}, expected: number, replacement: number): number`, () =>
        dispatch((f) => `this.compareExchangeAt(${f.offset}, ${quote(f.type as string)}, expected, replacement)`, 'super.compareExchange(field, expected, replacement)'),
      );
    });
    return names;
  }

  /** The RecordView call that reads one field. */
  private fieldRead(t: RecordFieldType, offset: number, enumName: string | undefined): string {
    if (typeof t === 'string') return `this.${t}(${offset})`;
    if ('enum' in t) return `this.enumOf(${offset}, ${enumName!})`;
    if ('string' in t) return `this.string(${offset}, ${t.string})`;
    // The runtime returns number[] / boolean[]: as a tuple of that length (which the declared
    // tuple type, readonly or labelled, accepts).
    const element = t.array === 'boolean' ? 'boolean' : 'number';
    return `this.array(${offset}, ${quote(t.array)}, ${t.length}) as [${new Array<string>(t.length).fill(element).join(', ')}]`;
  }

  /** at, setFields, add, compareExchange of a record store's facade. */
  private printRecordMethods(
    w: Writer,
    s: StoreModel,
    r: RecordModel,
    names: RecordNames,
    c: {
      params: string;
      key: string;
      handle: string;
      method: (doc: string, head: string, body: () => void) => void;
      withParams: (rest: string) => string;
      SetOptions: string;
    },
  ): void {
    const paramNames = s.key.parts.map((p) => p.param);
    c.method(
      `A view of the record of ${this.whereKey(s)} whose getters read single fields straight from shared memory, or undefined if the key holds no value now. ` +
        '(Once the key holds no record, the getters throw KeyNotFoundError.)',
      `at(${c.params}): ${names.view} | undefined`,
      () => {
        const scope = this.functionScope(...paramNames);
        const e = scope.claim('e');
        w.nested('try {', () => w.line(`return new ${names.view}(${c.handle}, ${c.key});`), `} catch (${e}) {`);
        w.lines([`  if (${e} instanceof ${this.imports.use('KeyNotFoundError')}) return undefined;`, `  throw ${e};`, '}']);
      },
    );
    c.method(
      `Checks the given fields against ${r.type}, then writes only them, in place, under the key's lock: a reader sees all of them or none. ` +
        "False if another thread holds the key's lock past the timeout.",
      `setFields(${c.withParams(`fields: Partial<${r.type}>, options?: Pick<${c.SetOptions}, 'timeout'>`)}): boolean`,
      () => {
        w.line(`${names.checkFields}(fields, ${quote(`${s.name}: fields`)});`);
        w.line(`return ${c.handle}.setFields(${c.key}, fields, options);`);
      },
    );
    if (names.intField === undefined) return;
    c.method(
      "Adds `delta` to an integer field atomically, without a lock (reads of the other fields do not wait); returns the value before, like Atomics.add.",
      `add(${c.withParams(`field: ${names.intField}, delta: number`)}): number`,
      () => w.line(`return ${c.handle}.add(${c.key}, field, delta);`),
    );
    c.method(
      'Sets an integer field to `replacement` if it holds `expected`, atomically, without a lock; returns the value before (equal to `expected` if it was replaced), like Atomics.compareExchange.',
      `compareExchange(${c.withParams(`field: ${names.intField}, expected: number, replacement: number`)}): number`,
      () => w.line(`return ${c.handle}.compareExchange(${c.key}, field, expected, replacement);`),
    );
  }

  private whereKey(s: StoreModel): string {
    const parts = s.key.parts;
    return parts.length === 0 ? 'the key' : parts.length === 1 ? `\`${parts[0]!.param}\`` : `(${parts.map((p) => p.param).join(', ')})`;
  }

  /** `T` as the element type of an array: parenthesised when it is a union or a readonly tuple. */
  private arrayElement(type: string): string {
    return / /.test(type) ? `(${type})` : type;
  }

  /** Statements checking a store's value held in `expr` (a scalar or a named type: no locals). */
  private valueCheck(w: Writer, s: StoreModel, expr: string, path: Path): void {
    this.check(w, s.value, expr, path, this.root.child());
  }

  /** Whether the key needs a builder function (it is more than one part or literal text). */
  private needsBuilder(s: StoreModel): boolean {
    const segs = s.key.segments;
    return !(segs.length === 1 && (segs[0]!.kind === 'text' || s.key.parts[0]!.type.kind === 'string' || s.key.parts[0]!.type.kind === 'literals'));
  }

  /** The expression that builds the key string from the parameters. */
  private keyExpression(s: StoreModel): string {
    const segs = s.key.segments;
    if (segs.length === 1) {
      const only = segs[0]!;
      if (only.kind === 'text') return quote(only.text);
      const part = s.key.parts[only.index]!;
      if (part.type.kind === 'string' || (part.type.kind === 'literals' && part.type.values.every((v) => typeof v === 'string'))) return part.param;
    }
    return `\`${segs.map((g) => (g.kind === 'text' ? escapeTemplate(g.text) : `\${${s.key.parts[g.index]!.param}}`)).join('')}\``;
  }

  private keyTypeText(s: StoreModel): string {
    const segs = s.key.segments;
    if (segs.length === 1) {
      const only = segs[0]!;
      if (only.kind === 'text') return quote(only.text);
      const part = s.key.parts[only.index]!;
      if (part.type.kind === 'string' || (part.type.kind === 'literals' && part.type.values.every((v) => typeof v === 'string'))) return this.partTypeText(part);
    }
    return `\`${segs.map((g) => (g.kind === 'text' ? escapeTemplate(g.text) : `\${${this.partTypeText(s.key.parts[g.index]!)}}`)).join('')}\``;
  }

  private partTypeText(p: KeyPart): string {
    if (p.alias !== undefined) return p.alias;
    if (p.type.kind === 'literals') return p.type.values.map((v) => (typeof v === 'string' ? quote(v) : String(v))).join(' | ');
    return p.type.kind;
  }

  private printParser(w: Writer, s: StoreModel, name: string): void {
    const parts = s.key.parts;
    const regex = s.key.segments.map((g) => (g.kind === 'text' ? escapeRegex(g.text) : `(${partPattern(parts[g.index]!)})`)).join('');
    const tuple = `[${parts.map((p) => `${p.param}: ${this.partTypeText(p)}`).join(', ')}]`;
    w.line();
    w.doc(`The parts of a key of store \`${s.name}\`; undefined if it does not have the key's form.`);
    w.block(`function ${name}(key: string): ${tuple} | undefined`, () => {
      w.line(`const match = /^${regex}$/s.exec(key);`);
      w.line('if (match === null) return undefined;');
      w.line(`const [, ${parts.map((p) => `${p.param} = ''`).join(', ')}] = match;`);
      const values = parts.map((p) => {
        switch (p.type.kind) {
          case 'string':
            return p.param;
          case 'number':
            return `Number(${p.param})`;
          case 'bigint':
            return `BigInt(${p.param})`;
          case 'boolean':
            return `${p.param} === 'true'`;
          case 'literals': {
            const numeric = p.type.values.every((v) => typeof v === 'number');
            return `${numeric ? `Number(${p.param})` : p.param} as ${this.partTypeText(p)}`;
          }
        }
      });
      w.line(`return [${values.join(', ')}];`);
    });
  }
}

/** Whether a record field is an integer (what `add` and `compareExchange` work on). */
function isIntField(t: RecordFieldType): t is IntType {
  return typeof t === 'string' && t !== 'float64' && t !== 'boolean';
}

/** The runtime's text of a record field type: `'int32'`, `{ string: 16 }`, … */
function fieldTypeText(t: RecordFieldType, enumName: string | undefined): string {
  if (typeof t === 'string') return quote(t);
  if ('enum' in t) return `{ enum: ${enumName!} }`;
  if ('string' in t) return `{ string: ${t.string} }`;
  return `{ array: ${quote(t.array)}, length: ${t.length} }`;
}

/** A comment line that starts a part of the file. */
function section(w: Writer, title: string): void {
  w.line();
  w.line(`// ── ${title} ${'─'.repeat(Math.max(3, 93 - title.length))}`);
}

/** JSDoc text: the schema's own doc (if any), then where the declaration comes from. */
function withSource(doc: string | undefined, source: SourceRef, lead?: string): string {
  const from = `From \`${source.path}\` in ${source.file}.`;
  return [doc, lead, from].filter((x): x is string => x !== undefined && x !== '').join('\n\n');
}

const NUMBER_PATTERN = String.raw`-?(?:\d+(?:\.\d+)?(?:e[+-]\d+)?|Infinity)|NaN`;

function partPattern(p: KeyPart): string {
  switch (p.type.kind) {
    case 'string':
      return '.*';
    case 'number':
      return NUMBER_PATTERN;
    case 'bigint':
      return String.raw`-?\d+`;
    case 'boolean':
      return 'true|false';
    case 'literals':
      return p.type.values.map((v) => escapeRegex(String(v))).join('|');
  }
}

function escapeRegex(text: string): string {
  return text
    .replace(/[.*+?^${}()|[\]\\/]/g, (c) => `\\${c}`)
    .replace(/[\u0000-\u001f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
