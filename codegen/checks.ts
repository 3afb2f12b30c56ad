/**
 * The checks of a generated file: the statements that throw InvalidValueError unless a value
 * matches its schema type, the check functions' bodies, the helpers they call (`isRecord`,
 * `fail`, `isInteger`), and the type texts they name in messages. Each printer records the
 * runtime imports and helpers it used in its {@link Needs}; emit.ts unions them.
 */
import type { FieldModel, NamedType, ObjectIR, SourceRef, TypeIR } from './model';
import { intBrand, intRange, isScalar } from './model';
import { escapeTemplate, isIdentifierName, propertyName, quote, Scope } from './names';
import type { EmitPlan, Helper, RecordNames } from './plan';
import { Writer } from './printer';


/**
 * What one part of the file refers to: runtime imports and check helpers. Each part is printed
 * with a Needs of its own and returned with it (a {@link Part}); the file's import list and its
 * helpers are the union of its parts' needs, so no part depends on another being printed first.
 */
export class Needs {
  readonly imports = new Set<string>();
  readonly helpers = new Set<Helper>();

  static union(all: readonly Needs[]): Needs {
    const u = new Needs();
    for (const n of all) {
      for (const i of n.imports) u.imports.add(i);
      for (const h of n.helpers) u.helpers.add(h);
    }
    return u;
  }
}

/** Where a checked value is, as a path expression built at run time only when needed. */
type PathPart = { text: string } | { expr: string };

export class Path {
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

/**
 * Prints the checks of a generated file, and the type texts they and the facades use. One
 * instance prints one part of the file and collects what that part needs (emit.ts, Part).
 */
export class CheckPrinter {
  /** What the part printed by this instance refers to. */
  readonly needs = new Needs();
  protected readonly types: Map<string, NamedType>;
  protected readonly root: Scope;
  protected readonly checkNames: Map<string, string>;
  protected readonly recordNames: Map<string, RecordNames>;

  constructor(protected readonly plan: EmitPlan) {
    this.types = plan.types;
    this.root = plan.root;
    this.checkNames = plan.checkNames;
    this.recordNames = plan.recordNames;
  }

  /** The local name of a runtime import, which this part now uses. */
  protected use(name: string): string {
    this.needs.imports.add(name);
    return this.plan.imports.local(name);
  }

  /** A scope for the locals of a function that declares `params`. */
  functionScope(...params: string[]): Scope {
    const scope = new Scope();
    for (const n of this.plan.moduleNames) scope.reserve(n);
    for (const p of params) scope.reserve(p);
    return scope;
  }


  /** TypeScript text of a type; object types span several lines (relative indentation). */
  protected typeText(t: TypeIR): string {
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
        return this.use(intBrand(t.int));
      case 'fixedString':
        return `${this.use('FixedString')}<${t.maxBytes}>`;
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

  protected elementText(t: TypeIR): string {
    return t.kind === 'union' ? `(${this.typeText(t)})` : this.typeText(t);
  }

  protected objectText(o: ObjectIR): string {
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
  protected expectedText(t: TypeIR): string {
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
  protected hasLiterals(t: TypeIR): boolean {
    if (t.kind === 'literal' || t.kind === 'int') return true;
    if (t.kind === 'union') return t.members.some((m) => this.hasLiterals(m));
    if (t.kind === 'ref' && isScalar(t, this.types)) return this.hasLiterals(this.types.get(t.name)!.type);
    return false;
  }

  // ───────────────────────────────────────────────────────────────────────── checks

  /** The checks section: the helpers the file's checks call, then the check functions. */
  printChecks(w: Writer, bodies: readonly { name: string; doc: string; lines: string[] }[], helpers: ReadonlySet<Helper>): void {
    if (!helpers.has('fail') && bodies.length === 0) return;
    section(w, 'Checks: run by set, setMany and update before anything is written');
    const names = this.plan.helpers;
    if (helpers.has('isRecord')) {
      w.line();
      w.doc('Whether `value` is an object whose fields can be read (not null, not an array).');
      w.block(`function ${names.isRecord}(value: unknown): value is Record<string, unknown>`, () => {
        w.line("return typeof value === 'object' && value !== null && !Array.isArray(value);");
      });
    }
    if (helpers.has('fail')) {
      w.line();
      w.doc('How a mismatching value is named in messages: its kind, or (`exact`) a primitive\'s value.');
      w.block(`function ${names.describe}(value: unknown, exact: boolean): string`, () => {
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
      w.block(`function ${names.fail}(path: string, expected: string, got: unknown, exact = false): never`, () => {
        w.line(`throw new ${this.use('InvalidValueError')}(\`\${path} must be \${expected}, got \${${names.describe}(got, exact)}\`);`);
      });
    }
    if (helpers.has('isInteger')) {
      w.line();
      w.doc('Whether `value` is an integer from `min` to `max` (an Int32, Uint8, … of native-keyshare).');
      w.block(`function ${names.isInteger}(value: unknown, min: number, max: number): value is number`, () => {
        w.line('return Number.isInteger(value) && (value as number) >= min && (value as number) <= max;');
      });
    }
    for (const { name, doc, lines } of bodies) {
      w.line();
      w.doc(doc);
      w.block(`function ${name}(value: unknown, path: string): void`, () => w.lines(lines));
    }
  }

  checkBody(w: Writer, t: NamedType): void {
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

  protected isRecord(): string {
    this.needs.helpers.add('isRecord');
    return this.plan.helpers.isRecord;
  }

  /** `fail(path, 'expected', expr)`. */
  protected fail(path: Path, expected: string, expr: string, exact: boolean): string {
    this.needs.helpers.add('fail');
    return `${this.plan.helpers.fail}(${path.code()}, ${quote(expected)}, ${expr}${exact ? ', true' : ''})`;
  }

  /**
   * The condition under which `expr` does NOT match a scalar type: a chain of `&&`-joined
   * tests, or '' when anything matches (unknown). undefined: the type is not scalar.
   */
  protected mismatch(t: TypeIR, expr: string): string | undefined {
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
        this.needs.helpers.add('isInteger');
        const [min, max] = intRange(t.int);
        return `!${this.plan.helpers.isInteger}(${expr}, ${min}, ${max})`;
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
  protected checks(t: TypeIR): boolean {
    return this.mismatch(t, 'x') !== '';
  }

  /**
   * Statements that throw unless `expr` matches `t`. `expr` must be side-effect free and cheap
   * (a name, or `name[i]`); `expected` overrides how the type is named at the top level.
   */
  check(w: Writer, t: TypeIR, expr: string, path: Path, scope: Scope, expected?: string): void {
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

  protected mayBeBigint(t: TypeIR): boolean {
    if (t.kind === 'bigint') return true;
    if (t.kind === 'union') return t.members.some((m) => this.mayBeBigint(m));
    if (t.kind === 'ref' && isScalar(t, this.types)) return this.mayBeBigint(this.types.get(t.name)!.type);
    return false;
  }

  /**
   * Checks `expr` (an element access, which TypeScript does not narrow): scalars and named types
   * are checked in place, anything else through a `const` first.
   */
  protected checkBound(w: Writer, t: TypeIR, expr: string, path: Path, scope: Scope): void {
    if (this.mismatch(t, expr) !== undefined || t.kind === 'ref') {
      this.check(w, t, expr, path, scope);
      return;
    }
    const item = scope.claim('item');
    w.line(`const ${item} = ${expr};`);
    this.check(w, t, item, path, scope);
  }

  protected elementLoop(w: Writer, expr: string, from: string, element: TypeIR, path: Path, scope: Scope): void {
    const inner = scope.child();
    const i = inner.claim('i');
    w.block(`for (let ${i} = ${from}; ${i} < ${expr}.length; ${i}++)`, () => {
      this.checkBound(w, element, `${expr}[${i}]`, path.with({ text: '[' }, { expr: i }, { text: ']' }), inner);
    });
  }

  /** The field checks of an object already known to be a record: destructure, then check each. */
  protected fieldChecks(w: Writer, o: ObjectIR, expr: string, path: Path, scope: Scope): void {
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

  protected fieldCheck(w: Writer, f: FieldModel, local: string, path: Path, scope: Scope): void {
    const cond = this.mismatch(f.type, local);
    if (f.optional && cond !== undefined) {
      w.line(`if (${local} !== undefined && ${cond}) ${this.fail(path, this.expectedText(f.type), local, this.hasLiterals(f.type))};`);
      return;
    }
    const body = Writer.capture((b) => this.check(b, f.type, local, path, f.optional ? scope.child() : scope));
    if (f.optional) w.ifThen(`${local} !== undefined`, body);
    else w.lines(body);
  }
}

/** A comment line that starts a part of the file. */
export function section(w: Writer, title: string): void {
  w.line();
  w.line(`// ── ${title} ${'─'.repeat(Math.max(3, 93 - title.length))}`);
}

/** JSDoc text: the schema's own doc (if any), then where the declaration comes from. */
export function withSource(doc: string | undefined, source: SourceRef, lead?: string): string {
  const from = `From \`${source.path}\` in ${source.file}.`;
  return [doc, lead, from].filter((x): x is string => x !== undefined && x !== '').join('\n\n');
}
