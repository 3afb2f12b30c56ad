/**
 * Schema → model: reads the schema with ts-morph into plain data (the type IR, keys, options),
 * then has decide.ts choose each store's encoding and the facades' type names, and assembles
 * the model from both.
 *
 * The schema is read by its *syntax*, with the type checker used only to find the declaration a
 * name refers to (in the schema or a relative file it imports). So the model keeps the names the
 * user wrote (`User`, `Role`), every problem has a line and column, and no lib files are loaded
 * (a 50-type schema parses in tens of milliseconds). Built-in names (`Date`, `Map`, `Record`…)
 * are recognised by name when nothing in the schema declares them.
 *
 * Problems are collected (one per field or store at most) and thrown together as a SchemaError.
 * The types of values (and every type they refer to) are read by the TypeReader this class
 * extends (read-types.ts); this module reads the stores, their options and their keys.
 */
import * as path from 'node:path';
import type * as Morph from 'ts-morph';
import { SchemaError, type SchemaProblem } from './errors';
import type {
  KeyModel,
  KeyPart,
  KeyPartType,
  KeySegment,
  NamedType,
  SchemaModel,
  SourceRef,
  StoreModel,
  TypeIR,
} from './model';
import { INT_BRANDS } from './model';
import { camelCase, isSafeIdentifier, member, pascalCase, Scope } from './names';
import { decideEncoding, decideTypeNames, type Encoding, type ParsedStore, type Site, type StoreSyntax } from './decide';
import { Problem, RUNTIME_MODULE, TypeReader, type TsMorph } from './read-types';

type Node = Morph.Node;
type TypeNode = Morph.TypeNode;

export interface ParseOptions {
  /** Absolute path of the schema file. */
  schemaPath: string;
  /** Absolute path of the file that will be generated (paths in the output are relative to it). */
  outPath: string;
  /** Written into the header of the output. */
  generatorVersion: string;
}

export interface ParseResult {
  model: SchemaModel;
  /** Absolute paths of the schema and of every file it imports (what `--watch` watches). */
  files: string[];
}

/** Store properties the schema understands. */
const STORE_PROPERTIES = ['key', 'value', 'ttl', 'minBufferSize', 'hotReads', 'record'];


/** What record fields may be, for hints. */

const KEY_FORMS =
  'use string, number, a union of string literals, or a template literal type such as `user:${number}`';


/** Reads `options.schemaPath`. Throws SchemaError listing every problem found. */
export function parseSchema(morph: TsMorph, options: ParseOptions): ParseResult {
  return new SchemaReader(morph, options).read();
}

class SchemaReader extends TypeReader {
  private readonly project: Morph.Project;
  private readonly problems: SchemaProblem[] = [];
  private readonly outDir: string;
  private schemaFile!: Morph.SourceFile;
  /** Directories of the runtime's declarations, if `import … from 'native-keyshare'` resolved. */
  private runtimeDirs: string[] = [];
  /** What each store's declaration said, for the encoding decision and its problems. */
  private readonly storeNodes = new WeakMap<ParsedStore, StoreNodes>();

  constructor(morph: TsMorph, private readonly options: ParseOptions) {
    super(morph);
    const ts = morph.ts;
    this.project = new morph.Project({
      compilerOptions: {
        noLib: true,
        types: [],
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        allowImportingTsExtensions: true,
        noEmit: true,
        strict: true,
      },
      skipAddingFilesFromTsConfig: true,
      skipLoadingLibFiles: true,
    });
    this.outDir = path.dirname(options.outPath);
  }

  read(): ParseResult {
    this.schemaFile = this.project.addSourceFileAtPath(this.options.schemaPath);
    this.project.resolveSourceFileDependencies();
    this.runtimeDirs = this.findRuntimeDirs();
    const files = this.userFiles().map((f) => f.getFilePath() as string);

    this.checkSyntax();
    const stores = this.readStores();
    const types = [...this.named.values()].filter((t): t is NamedType => t !== undefined);
    const order = (t: NamedType) => this.declByName.get(t.name)!;
    types.sort((a, b) => this.compareDeclarations(order(a), order(b)));
    // Decided also with problems already found, so that record problems are listed with the others.
    const byName = new Map(types.map((t) => [t.name, t]));
    const encodings = stores.map((s) => {
      const nodes = this.storeNodes.get(s)!;
      const syntax: StoreSyntax = { valueText: nodes.value.getText(), fieldTypeText: (f) => this.fieldNodes.get(f)?.type.getText() };
      if (nodes.record !== undefined) syntax.record = nodes.record;
      const { encoding, problems } = decideEncoding(s, byName, syntax);
      for (const p of problems) this.record(new Problem(this.siteNode(p.site, nodes), p.message, p.hint));
      return encoding;
    });
    if (this.problems.length > 0) throw new SchemaError(this.sortedProblems());
    const named = decideTypeNames(stores, types);
    const model: SchemaModel = {
      schemaFile: this.relative(this.options.schemaPath),
      generatorVersion: this.options.generatorVersion,
      types: named.types,
      stores: stores.map((s, i) => storeModel(s, named.stores[i]!, encodings[i]!)),
    };
    return { model, files };
  }

  /** The node a decision problem is reported at. */
  private siteNode(site: Site, nodes: StoreNodes): Node {
    switch (site.kind) {
      case 'value':
        return nodes.value;
      case 'ttl':
        return nodes.ttlNode!;
      case 'hotReads':
        return nodes.hotReadsNode!;
      case 'fieldName':
        return this.fieldNodes.get(site.field)?.name ?? nodes.value;
      case 'fieldType':
        return this.fieldNodes.get(site.field)?.type ?? nodes.value;
    }
  }

  // ───────────────────────────────────────────────────────────────────────── files, positions

  private userFiles(): Morph.SourceFile[] {
    return this.project.getSourceFiles().filter((f) => this.isUserFile(f));
  }

  protected isUserFile(f: Morph.SourceFile): boolean {
    const file = f.getFilePath() as string;
    return !file.split('/').includes('node_modules') && !this.runtimeDirs.some((d) => file.startsWith(d));
  }

  /**
   * Where `native-keyshare` resolved to, if it did (the schema imports brand types from it): its
   * files are not the user's (in this package's own repository they are not under node_modules).
   */
  private findRuntimeDirs(): string[] {
    const dirs = new Set<string>();
    for (const f of this.project.getSourceFiles()) {
      for (const d of f.getImportDeclarations()) {
        if (d.getModuleSpecifierValue() !== RUNTIME_MODULE) continue;
        const target = d.getModuleSpecifierSourceFile();
        if (target !== undefined) dirs.add(`${path.dirname(target.getFilePath())}/`);
      }
    }
    return [...dirs];
  }

  private checkSyntax(): void {
    for (const f of this.userFiles()) {
      const program = this.project.getProgram().compilerObject;
      for (const d of program.getSyntacticDiagnostics(f.compilerNode)) {
        const at = f.getLineAndColumnAtPos(d.start ?? 0);
        const text = this.morph.ts.flattenDiagnosticMessageText(d.messageText, ' ');
        this.problems.push({ file: f.getFilePath(), line: at.line, column: at.column, message: `syntax error: ${text}`, hint: 'fix the TypeScript syntax' });
      }
    }
    if (this.problems.length > 0) throw new SchemaError(this.sortedProblems());
  }

  private sortedProblems(): SchemaProblem[] {
    const seen = new Set<string>();
    return this.problems
      .filter((p) => {
        const k = `${p.file}:${p.line}:${p.column}:${p.message}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      })
      .sort((a, b) => (a.file === b.file ? a.line - b.line || a.column - b.column : a.file < b.file ? -1 : 1));
  }

  private relative(file: string): string {
    const rel = path.relative(this.outDir, file).split(path.sep).join('/');
    return rel === '' ? path.basename(file) : rel;
  }

  protected source(node: Node, name: string): SourceRef {
    const at = this.position(node);
    return { file: this.relative(node.getSourceFile().getFilePath()), line: at.line, column: at.column, path: name };
  }

  private position(node: Node): { line: number; column: number } {
    return node.getSourceFile().getLineAndColumnAtPos(node.getStart());
  }

  private record(p: Problem): void {
    const at = p.at ?? this.position(p.node);
    this.problems.push({ file: p.node.getSourceFile().getFilePath(), line: at.line, column: at.column, message: p.message, hint: p.hint });
  }

  /** Runs `fn`; a Problem it throws is recorded and `fallback` returned instead. */
  protected attempt<T>(fn: () => T, fallback: T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof Problem) {
        this.record(e);
        return fallback;
      }
      throw e;
    }
  }

  private compareDeclarations(a: Node, b: Node): number {
    const fa = a.getSourceFile();
    const fb = b.getSourceFile();
    if (fa !== fb) {
      if (fa === this.schemaFile) return -1;
      if (fb === this.schemaFile) return 1;
      return fa.getFilePath() < fb.getFilePath() ? -1 : 1;
    }
    return a.getStart() - b.getStart();
  }

  // ───────────────────────────────────────────────────────────────────────── stores

  private readStores(): ParsedStore[] {
    const morph = this.morph;
    const { Node } = morph;
    const decl = this.schemaFile.getInterface('Stores') ?? this.schemaFile.getTypeAlias('Stores');
    if (decl === undefined) {
      const hint = 'declare the stores: export interface Stores { users: { key: `user:${number}`; value: User } }';
      this.record(new Problem(this.schemaFile, 'no interface named Stores', hint, { line: 1, column: 1 }));
      return [];
    }
    if (!decl.isExported()) {
      const kind = Node.isInterfaceDeclaration(decl) ? 'interface' : 'type';
      this.record(new Problem(decl.getNameNode(), `${kind} Stores is not exported`, `write export ${kind} Stores …`));
      return [];
    }
    let members: Node[];
    if (Node.isInterfaceDeclaration(decl)) {
      if (decl.getExtends().length > 0 || decl.getTypeParameters().length > 0) {
        this.record(new Problem(decl.getNameNode(), 'interface Stores must not extend other types or be generic', 'list every store as a property of Stores'));
        return [];
      }
      members = decl.getMembers();
    } else {
      const body = decl.getTypeNode();
      if (!Node.isTypeLiteral(body)) {
        this.record(new Problem(decl.getNameNode(), 'type Stores must be an object type', 'write export interface Stores { users: { key: string; value: User } }'));
        return [];
      }
      members = body.getMembers();
    }
    if (members.length === 0) {
      this.record(new Problem(decl.getNameNode(), 'Stores declares no store', 'add a property per store: users: { key: `user:${number}`; value: User }'));
      return [];
    }

    const stores: ParsedStore[] = [];
    const exports = new Map<string, string>();
    for (const member of members) {
      const store = this.attempt(() => this.readStore(member), undefined);
      if (store === undefined) continue;
      const clash = exports.get(store.exportName);
      if (clash !== undefined) {
        this.record(new Problem(member, `stores "${clash}" and "${store.name}" both become the export ${store.exportName}`, 'rename one of them'));
        continue;
      }
      exports.set(store.exportName, store.name);
      stores.push(store);
    }
    return stores;
  }

  private readStore(prop: Node): ParsedStore | undefined {
    const { Node } = this.morph;
    if (!Node.isPropertySignature(prop)) {
      throw new Problem(prop, 'Stores may only contain properties, one per store', 'write storeName: { key: …; value: … }');
    }
    const name = this.propertyName(prop);
    const exportName = camelCase(name);
    if (name.length > 256) throw new Problem(prop.getNameNode(), `store name "${name.slice(0, 20)}…" is longer than 256 characters`, 'use a shorter name');
    if (!isSafeIdentifier(exportName)) {
      throw new Problem(prop.getNameNode(), `store name "${name}" does not make a usable identifier (${exportName || 'empty'})`, 'use a name made of letters, digits, - or _ that does not start with a digit');
    }
    const where = member('Stores', name);
    const typeNode = prop.getTypeNode();
    if (typeNode === undefined) throw new Problem(prop.getNameNode(), `store "${name}" has no type`, 'write { key: …; value: … }');
    const props = this.storeProperties(typeNode, name);

    const keyProp = props.get('key');
    const valueProp = props.get('value');
    if (keyProp === undefined) {
      throw new Problem(prop.getNameNode(), `store "${name}" has no key`, `add key: <the key type> (${KEY_FORMS})`);
    }
    if (valueProp === undefined) {
      throw new Problem(prop.getNameNode(), `store "${name}" has no value`, 'add value: <the type of its values>, such as value: User');
    }

    let key: KeyModel | undefined;
    let value: TypeIR | undefined;
    this.attempt(() => (key = this.readKey(this.typeOf(keyProp), name)), undefined);
    this.attempt(() => (value = this.readStoreValue(this.typeOf(valueProp), name)), undefined);
    const ttl = this.attempt(() => this.numberOption(props.get('ttl'), name, 'ttl', 'seconds, such as ttl: 3600', false), undefined);
    const minBufferSize = this.attempt(
      () => this.numberOption(props.get('minBufferSize'), name, 'minBufferSize', 'bytes, such as minBufferSize: 256', true),
      undefined,
    );
    const hotReads = this.attempt(() => this.booleanOption(props.get('hotReads'), name, 'hotReads'), false);
    const record = this.attempt(() => (props.has('record') ? this.booleanOption(props.get('record'), name, 'record') : undefined), undefined);
    if (key === undefined || value === undefined) return undefined;

    const store: ParsedStore = {
      name,
      exportName,
      typeStem: pascalCase(name) || 'Store',
      key,
      value,
      hotReads,
      source: this.source(prop.getNameNode(), where),
    };
    const nodes: StoreNodes = { value: this.typeOf(valueProp) };
    if (record !== undefined) nodes.record = record;
    for (const option of ['ttl', 'hotReads'] as const) {
      const p = props.get(option);
      if (p !== undefined) nodes[`${option}Node`] = p;
    }
    this.storeNodes.set(store, nodes);
    if (ttl !== undefined && ttl > 0) store.ttl = ttl;
    if (minBufferSize !== undefined) store.minBufferSize = minBufferSize;
    const doc = this.docOf(prop);
    if (doc !== undefined) store.doc = doc;
    return store;
  }

  /** The properties of a store's object type (inline, or a named interface / type alias). */
  private storeProperties(typeNode: TypeNode, name: string): Map<string, Morph.PropertySignature> {
    const { Node } = this.morph;
    let body: Node = typeNode;
    while (Node.isParenthesizedTypeNode(body)) body = body.getTypeNode();
    if (Node.isTypeReference(body)) {
      const decl = this.userDeclaration(body);
      if (Node.isInterfaceDeclaration(decl)) body = decl;
      else if (Node.isTypeAliasDeclaration(decl) && Node.isTypeLiteral(decl.getTypeNode())) body = decl.getTypeNode()!;
    }
    if (!Node.isTypeLiteral(body) && !Node.isInterfaceDeclaration(body)) {
      throw new Problem(typeNode, `store "${name}" must be an object type with key and value`, 'write { key: …; value: … }');
    }
    const props = new Map<string, Morph.PropertySignature>();
    for (const m of body.getMembers()) {
      if (!Node.isPropertySignature(m)) {
        throw new Problem(m, `store "${name}" may only have the properties ${STORE_PROPERTIES.join(', ')}`, 'remove this member');
      }
      const prop = this.propertyName(m);
      if (!STORE_PROPERTIES.includes(prop)) {
        throw new Problem(m.getNameNode(), `store "${name}" has an unknown property "${prop}"`, `the known properties are ${STORE_PROPERTIES.join(', ')}`);
      }
      props.set(prop, m);
    }
    return props;
  }

  private typeOf(prop: Morph.PropertySignature): TypeNode {
    const t = prop.getTypeNode();
    if (t === undefined) throw new Problem(prop.getNameNode(), `${prop.getName()} has no type`, 'give it a type');
    return t;
  }

  private numberOption(prop: Morph.PropertySignature | undefined, store: string, option: string, unit: string, integer: boolean): number | undefined {
    if (prop === undefined) return undefined;
    const t = this.typeOf(prop);
    const n = this.literalOf(t);
    const ok = typeof n === 'number' && Number.isFinite(n) && n >= 0 && (!integer || (Number.isSafeInteger(n) && n <= 2 ** 31));
    if (!ok) {
      throw new Problem(t, `store "${store}": ${option} must be a ${integer ? 'non-negative integer' : 'non-negative number'} literal, got ${t.getText()}`, `write the number of ${unit}`);
    }
    return n;
  }

  private booleanOption(prop: Morph.PropertySignature | undefined, store: string, option: string): boolean {
    if (prop === undefined) return false;
    const t = this.typeOf(prop);
    const v = this.literalOf(t);
    if (typeof v !== 'boolean') throw new Problem(t, `store "${store}": ${option} must be true or false, got ${t.getText()}`, `write ${option}: true`);
    return v;
  }




  // ───────────────────────────────────────────────────────────────────────── keys

  private readKey(typeNode: TypeNode, store: string): KeyModel {
    const raw: RawSegment[] = [];
    this.keyInto(typeNode, raw, store);
    const segments: KeySegment[] = [];
    const parts: KeyPart[] = [];
    const holes = raw.filter((s): s is RawHole => s.kind === 'part');
    const params = new Scope();
    // Names the facade's methods use for their other parameters and locals.
    for (const reserved of ['value', 'options', 'fn', 'timeout', 'current', 'next', 'entries', 'keys', 'pattern', 'key', 'parts', 'list', 'match', 'fields', 'field', 'delta', 'expected', 'replacement']) {
      params.reserve(reserved);
    }
    // The whole key is one part (`string`, `number`, `'a' | 'b'`, `${string}`): no literal text.
    const wholeKey = holes.length === 1 && raw.every((s) => s.kind === 'part' || s.text === '');
    for (const s of raw) {
      if (s.kind === 'text') {
        // adjacent texts are merged (an alias of a template may sit next to literal text)
        const last = segments[segments.length - 1];
        if (last !== undefined && last.kind === 'text') last.text += s.text;
        else segments.push({ kind: 'text', text: s.text });
        continue;
      }
      let param: string;
      if (s.alias !== undefined) param = params.claim(camelCase(s.alias));
      else if (wholeKey) param = s.type.kind === 'number' || s.type.kind === 'bigint' ? 'id' : s.type.kind === 'boolean' ? 'flag' : 'key';
      else if (holes.length === 1) param = 'id';
      else param = params.claim(`part${parts.length + 1}`);
      const part: KeyPart = { param, type: s.type };
      if (s.alias !== undefined) part.alias = s.alias;
      segments.push({ kind: 'part', index: parts.length });
      parts.push(part);
    }
    if (parts.length === 0 && segments.every((s) => s.kind === 'text' && s.text === '')) {
      throw new Problem(typeNode, `the key of store "${store}" is always the empty string`, `the runtime rejects empty keys; ${KEY_FORMS}`);
    }
    return { segments: segments.filter((s) => s.kind === 'part' || s.text !== ''), parts };
  }

  /** Appends the segments of key type `t` to `out`. */
  private keyInto(t: TypeNode, out: RawSegment[], store: string): void {
    const { Node, SyntaxKind } = this.morph;
    if (Node.isParenthesizedTypeNode(t)) return this.keyInto(t.getTypeNode(), out, store);
    if (Node.isTemplateLiteralTypeNode(t)) {
      out.push({ kind: 'text', text: t.compilerNode.head.text });
      for (const span of t.getTemplateSpans()) {
        const hole = span.getChildAtIndex(0) as TypeNode;
        out.push(this.keyHole(hole, store));
        out.push({ kind: 'text', text: (span.compilerNode as Morph.ts.TemplateLiteralTypeSpan).literal.text });
      }
      return;
    }
    const lit = this.literalOf(t);
    if (typeof lit === 'string' || typeof lit === 'number' || typeof lit === 'boolean') {
      out.push({ kind: 'text', text: String(lit) });
      return;
    }
    if (Node.isTypeReference(t)) {
      const decl = this.userDeclaration(t);
      if (Node.isTypeAliasDeclaration(decl) && decl.getTypeParameters().length === 0) {
        const body = decl.getTypeNodeOrThrow();
        if (Node.isTemplateLiteralTypeNode(body) || this.literalOf(body) !== undefined) return this.keyInto(body, out, store);
      }
    }
    if (Node.isUnionTypeNode(t) || t.getKind() === SyntaxKind.StringKeyword || t.getKind() === SyntaxKind.NumberKeyword || t.getKind() === SyntaxKind.BigIntKeyword || t.getKind() === SyntaxKind.BooleanKeyword || Node.isTypeReference(t)) {
      out.push(this.keyHole(t, store));
      return;
    }
    throw this.noStringForm(t, store);
  }

  /** One `${…}` of a key: string, number, bigint, a union of literals, or an alias of one. */
  private keyHole(t: TypeNode, store: string, alias?: string): RawHole {
    const { Node, SyntaxKind } = this.morph;
    const hole = (type: KeyPartType): RawHole => (alias === undefined ? { kind: 'part', type } : { kind: 'part', type, alias });
    if (Node.isParenthesizedTypeNode(t)) return this.keyHole(t.getTypeNode(), store, alias);
    switch (t.getKind()) {
      case SyntaxKind.StringKeyword:
        return hole({ kind: 'string' });
      case SyntaxKind.NumberKeyword:
        return hole({ kind: 'number' });
      case SyntaxKind.BigIntKeyword:
        return hole({ kind: 'bigint' });
      case SyntaxKind.BooleanKeyword:
        // A finite union (true | false), as TypeScript reads `${boolean}`: "true" or "false".
        return hole({ kind: 'boolean' });
    }
    const lit = this.literalOf(t);
    if (typeof lit === 'string' || typeof lit === 'number') return hole({ kind: 'literals', values: [lit] });
    if (Node.isUnionTypeNode(t)) {
      const values: (string | number)[] = [];
      const kinds = new Set<string>();
      for (const m of this.flattenUnion(t)) {
        const v = this.recordKeys(m); // literals, also through aliases (`Role | Locale`)
        if (Array.isArray(v)) values.push(...v);
        else kinds.add(m.getText());
      }
      if (kinds.size > 0) {
        throw new Problem(
          t,
          `the key of store "${store}" has an unsupported union: ${t.getText()}`,
          'a key part must be string, number, or a union of literals only: pick one kind (e.g. `${string}`), or use one store per kind',
        );
      }
      return hole({ kind: 'literals', values: [...new Set(values)] });
    }
    if (Node.isTypeReference(t)) {
      const imported = this.runtimeImport(t);
      if (imported !== undefined && INT_BRANDS[imported] !== undefined) return hole({ kind: 'number' });
      const decl = this.userDeclaration(t);
      if (Node.isTypeAliasDeclaration(decl) && this.isLocalBrand(decl) && INT_BRANDS[decl.getName()] !== undefined) return hole({ kind: 'number' });
      if (Node.isTypeAliasDeclaration(decl) && decl.getTypeParameters().length === 0) {
        const name = decl.getName();
        const inner = this.keyHole(decl.getTypeNodeOrThrow(), store, alias ?? name);
        // The alias becomes a named type of the output, so the facade's parameters can use it.
        this.namedRef(decl);
        return inner;
      }
    }
    throw this.noStringForm(t, store);
  }

  private noStringForm(t: TypeNode, store: string): Problem {
    return new Problem(t, `the key of store "${store}" has type ${t.getText()}, which has no string form the facade can build`, KEY_FORMS);
  }


}

/** The parts of a store's declaration the encoding decision needs. */
interface StoreNodes {
  value: TypeNode;
  /** `record: true` / `record: false`; absent: decided by the value. */
  record?: boolean;
  ttlNode?: Morph.PropertySignature;
  hotReadsNode?: Morph.PropertySignature;
}

/** The model of a store: what parse.ts read, with what decide.ts chose (fields in a fixed order). */
function storeModel(s: ParsedStore, names: { keyTypeName: string; value: TypeIR }, e: Encoding): StoreModel {
  const { name, exportName, typeStem, key, hotReads, source, ttl, minBufferSize, doc } = s;
  const store: StoreModel = { name, exportName, typeStem, keyTypeName: names.keyTypeName, key, value: names.value, hotReads, encoding: e.encoding, structures: e.encoding === 'record' ? [] : e.structures, source };
  if (ttl !== undefined) store.ttl = ttl;
  if (minBufferSize !== undefined) store.minBufferSize = minBufferSize;
  if (doc !== undefined) store.doc = doc;
  if (e.encoding === 'record') store.record = e.record;
  return store;
}

interface RawText {
  kind: 'text';
  text: string;
}
interface RawHole {
  kind: 'part';
  type: KeyPartType;
  alias?: string;
}
type RawSegment = RawText | RawHole;
