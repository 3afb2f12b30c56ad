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
 */
import * as path from 'node:path';
import type * as Morph from 'ts-morph';
import { SchemaError, type SchemaProblem } from './errors';
import type {
  FieldModel,
  KeyModel,
  KeyPart,
  KeyPartType,
  KeySegment,
  NamedType,
  ObjectIR,
  SchemaModel,
  SourceRef,
  StoreModel,
  TupleElement,
  TypeIR,
} from './model';
import { INT_BRANDS, isScalar, TYPED_ARRAY_NAMES, type TypedArrayName } from './model';
import { camelCase, isSafeIdentifier, member, pascalCase, Scope } from './names';
import { decideEncoding, decideTypeNames, type Encoding, type ParsedStore, type Site, type StoreSyntax } from './decide';
import { MAX_STRING_BYTES } from '../src/record-layout';

type TsMorph = typeof Morph;
type Node = Morph.Node;
type TypeNode = Morph.TypeNode;
type NamedDeclaration = Morph.InterfaceDeclaration | Morph.TypeAliasDeclaration;

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

/** The module the schema imports brand types (`Int32`, `FixedString<N>`) from. */
const RUNTIME_MODULE = 'native-keyshare';
const BRANDS = `${Object.keys(INT_BRANDS).join(', ')} and FixedString<N>`;

/** What record fields may be, for hints. */

const KEY_FORMS =
  'use string, number, a union of string literals, or a template literal type such as `user:${number}`';

/** Thrown inside the reader to abandon one field or store; collected into the SchemaError. */
class Problem {
  constructor(
    readonly node: Node,
    readonly message: string,
    readonly hint: string,
    /** Reported here instead of at the node's start. */
    readonly at?: { line: number; column: number },
  ) {}
}

/** Reads `options.schemaPath`. Throws SchemaError listing every problem found. */
export function parseSchema(morph: TsMorph, options: ParseOptions): ParseResult {
  return new SchemaReader(morph, options).read();
}

class SchemaReader {
  private readonly project: Morph.Project;
  private readonly problems: SchemaProblem[] = [];
  /** Named types by declaration; `undefined` while being converted (recursion). */
  private readonly named = new Map<Node, NamedType | undefined>();
  private readonly declByName = new Map<string, NamedDeclaration>();
  private readonly outDir: string;
  private schemaFile!: Morph.SourceFile;
  /** Directories of the runtime's declarations, if `import … from 'native-keyshare'` resolved. */
  private runtimeDirs: string[] = [];
  /** Declaration nodes of fields (name and type), for record problems. */
  private readonly fieldNodes = new WeakMap<FieldModel, { name: Node; type: Node }>();
  /** What each store's declaration said, for the encoding decision and its problems. */
  private readonly storeNodes = new WeakMap<ParsedStore, StoreNodes>();

  constructor(private readonly morph: TsMorph, private readonly options: ParseOptions) {
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

  private isUserFile(f: Morph.SourceFile): boolean {
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

  private source(node: Node, name: string): SourceRef {
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
  private attempt<T>(fn: () => T, fallback: T): T {
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

  /** The value of a literal type node (`60`, `-1`, `'a'`, `true`), else undefined. */
  private literalOf(t: TypeNode): string | number | boolean | undefined {
    const { Node, SyntaxKind } = this.morph;
    if (!Node.isLiteralTypeNode(t)) return undefined;
    const lit = t.getLiteral();
    if (Node.isStringLiteral(lit) || Node.isNoSubstitutionTemplateLiteral(lit)) return lit.getLiteralValue();
    if (Node.isNumericLiteral(lit)) return lit.getLiteralValue();
    if (lit.getKind() === SyntaxKind.TrueKeyword) return true;
    if (lit.getKind() === SyntaxKind.FalseKeyword) return false;
    if (Node.isPrefixUnaryExpression(lit) && lit.getOperatorToken() === SyntaxKind.MinusToken) {
      const operand = lit.getOperand();
      if (Node.isNumericLiteral(operand)) return -operand.getLiteralValue();
    }
    return undefined;
  }

  private propertyName(m: Morph.PropertySignature | Morph.MethodSignature): string {
    const { Node } = this.morph;
    const n = m.getNameNode();
    if (Node.isStringLiteral(n) || Node.isNoSubstitutionTemplateLiteral(n)) return n.getLiteralValue();
    if (Node.isNumericLiteral(n)) return String(n.getLiteralValue());
    if (Node.isIdentifier(n) || Node.isPrivateIdentifier(n)) return n.getText();
    throw new Problem(n, `computed property name ${n.getText()} cannot be read by the generator`, 'write the name itself');
  }

  private docOf(node: Node): string | undefined {
    const { Node } = this.morph;
    if (!Node.isJSDocable(node)) return undefined;
    // The comment right above the declaration (an earlier one may be the file's own comment).
    const text = node.getJsDocs().at(-1)?.getInnerText().trim() ?? '';
    return text === '' ? undefined : text;
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

  private flattenUnion(t: Morph.UnionTypeNode): TypeNode[] {
    const { Node } = this.morph;
    const out: TypeNode[] = [];
    for (const m of t.getTypeNodes()) {
      let n = m;
      while (Node.isParenthesizedTypeNode(n)) n = n.getTypeNode();
      if (Node.isUnionTypeNode(n)) out.push(...this.flattenUnion(n));
      else out.push(n);
    }
    return out;
  }

  // ───────────────────────────────────────────────────────────────────────── values

  private readStoreValue(t: TypeNode, store: string): TypeIR {
    const ir = this.convert(t, `${member('Stores', store)}.value`);
    const hasUndefined = (x: TypeIR): boolean => x.kind === 'undefined' || (x.kind === 'union' && x.members.some(hasUndefined));
    if (hasUndefined(ir)) {
      throw new Problem(t, `the value of store "${store}" may be undefined, which the store cannot hold (undefined means "absent")`, 'use null for "no value", or leave the key unset');
    }
    return ir;
  }

  /** Converts a type node to the IR. `where` names the spot for messages (`User.address`). */
  private convert(t: TypeNode, where: string): TypeIR {
    const { Node, SyntaxKind } = this.morph;
    switch (t.getKind()) {
      case SyntaxKind.StringKeyword:
        return { kind: 'string' };
      case SyntaxKind.NumberKeyword:
        return { kind: 'number' };
      case SyntaxKind.BooleanKeyword:
        return { kind: 'boolean' };
      case SyntaxKind.BigIntKeyword:
        return { kind: 'bigint' };
      case SyntaxKind.UndefinedKeyword:
        return { kind: 'undefined' };
      case SyntaxKind.UnknownKeyword:
        return { kind: 'unknown' };
      case SyntaxKind.AnyKeyword:
        throw new Problem(t, `${where} is any, which the generator cannot check`, 'use unknown to store anything unchecked, or write the type');
      case SyntaxKind.NeverKeyword:
      case SyntaxKind.VoidKeyword:
        throw new Problem(t, `${where} is ${t.getText()}, which no stored value can be`, 'remove it, or use undefined for an optional field');
      case SyntaxKind.SymbolKeyword:
        throw new Problem(t, `${where} is a symbol, which cannot be stored`, 'store a string instead');
      case SyntaxKind.ObjectKeyword:
        throw new Problem(t, `${where} is object, which says nothing to check`, 'write its fields, or use Record<string, unknown>');
    }
    if (Node.isParenthesizedTypeNode(t)) return this.convert(t.getTypeNode(), where);
    if (Node.isLiteralTypeNode(t)) {
      const lit = t.getLiteral();
      if (lit.getKind() === SyntaxKind.NullKeyword) return { kind: 'null' };
      const v = this.literalOf(t);
      if (v === undefined) throw new Problem(t, `${where}: literal type ${t.getText()} is not supported`, 'use a string, number or boolean literal');
      return { kind: 'literal', value: v };
    }
    if (Node.isUnionTypeNode(t)) return this.convertUnion(t, where);
    if (Node.isArrayTypeNode(t)) return { kind: 'array', element: this.convert(t.getElementTypeNode(), `${where}[]`), readonly: false };
    if (Node.isTypeOperatorTypeNode(t) && t.getOperator() === SyntaxKind.ReadonlyKeyword) {
      const inner = this.convert(t.getTypeNode(), where);
      if (inner.kind === 'array' || inner.kind === 'tuple') return { ...inner, readonly: true };
      return inner;
    }
    if (Node.isTupleTypeNode(t)) return this.convertTuple(t, where);
    if (Node.isTypeLiteral(t)) return this.convertMembers(t.getMembers(), where);
    if (Node.isFunctionTypeNode(t) || Node.isConstructorTypeNode(t)) {
      throw new Problem(t, `${where} is a function: functions cannot be stored`, 'remove the field, or store data that describes what to call');
    }
    if (Node.isTypeReference(t)) return this.convertReference(t, where);
    if (Node.isTemplateLiteralTypeNode(t)) {
      throw new Problem(t, `${where}: template literal types are supported in keys, not yet in values`, 'use string');
    }
    if (Node.isIntersectionTypeNode(t)) {
      throw new Problem(t, `${where}: intersection types are not supported`, 'declare an interface that extends the parts: interface X extends A, B {}');
    }
    throw new Problem(t, `${where}: type ${t.getText()} (${t.getKindName()}) is not supported`, 'write it out with interfaces, unions of literals, arrays, tuples, Date, Map, Set or Record');
  }

  private convertUnion(t: Morph.UnionTypeNode, where: string): TypeIR {
    const members: TypeIR[] = [];
    const seen = new Set<string>();
    for (const m of this.flattenUnion(t)) {
      const ir = this.convert(m, where);
      const list = ir.kind === 'union' ? ir.members : [ir];
      for (const x of list) {
        const k = JSON.stringify(x);
        if (seen.has(k)) continue;
        seen.add(k);
        members.push(x);
      }
    }
    if (members.length === 1) return members[0]!;
    const types = this.namedSoFar();
    const complex = members.filter((m) => !isScalar(m, types));
    if (complex.length > 1) {
      throw new Problem(
        t,
        `${where} is a union of ${complex.length} object, array or collection types (${t.getText()}), which the generator cannot tell apart yet`,
        'use one type with optional fields, or separate stores',
      );
    }
    return { kind: 'union', members };
  }

  private convertTuple(t: Morph.TupleTypeNode, where: string): TypeIR {
    const { Node } = this.morph;
    const elements: TupleElement[] = [];
    t.getElements().forEach((e, i) => {
      const at = `${where}[${i}]`;
      if (Node.isNamedTupleMember(e)) {
        const rest = e.getDotDotDotToken() !== undefined;
        const inner = this.convert(e.getTypeNode(), at);
        elements.push({ type: rest ? this.restElement(inner, e) : inner, name: e.getName(), optional: e.hasQuestionToken(), rest });
      } else if (Node.isOptionalTypeNode(e)) {
        elements.push({ type: this.convert(e.getTypeNode(), at), optional: true, rest: false });
      } else if (Node.isRestTypeNode(e)) {
        elements.push({ type: this.restElement(this.convert(e.getTypeNode(), at), e), optional: false, rest: true });
      } else {
        elements.push({ type: this.convert(e, at), optional: false, rest: false });
      }
    });
    return { kind: 'tuple', elements, readonly: false };
  }

  private restElement(ir: TypeIR, node: Node): TypeIR {
    if (ir.kind !== 'array') throw new Problem(node, 'a tuple rest element must be an array type', 'write ...rest: T[]');
    return ir.element;
  }

  /** An object type from interface or type-literal members. */
  private convertMembers(members: Node[], where: string): ObjectIR {
    const { Node } = this.morph;
    const fields: FieldModel[] = [];
    const obj: ObjectIR = { kind: 'object', fields };
    for (const m of members) {
      this.attempt(() => {
        if (Node.isPropertySignature(m)) {
          const name = this.propertyName(m);
          const at = member(where, name);
          const tn = m.getTypeNode();
          if (tn === undefined) throw new Problem(m.getNameNode(), `${at} has no type`, 'give the field a type');
          let fn: Node = tn;
          while (Node.isParenthesizedTypeNode(fn)) fn = fn.getTypeNode();
          if (Node.isFunctionTypeNode(fn) || Node.isConstructorTypeNode(fn)) {
            throw new Problem(m.getNameNode(), `${at} is a function: functions cannot be stored`, 'remove the field, or store data that describes what to call');
          }
          const field: FieldModel = {
            name,
            type: this.convert(tn, at),
            optional: m.hasQuestionToken(),
            readonly: m.isReadonly(),
            source: this.source(m.getNameNode(), at),
          };
          this.fieldNodes.set(field, { name: m.getNameNode(), type: tn });
          const doc = this.docOf(m);
          if (doc !== undefined) field.doc = doc;
          fields.push(field);
        } else if (Node.isMethodSignature(m)) {
          throw new Problem(m.getNameNode(), `${member(where, this.propertyName(m))} is a method: functions cannot be stored`, 'remove the method, or store data that describes what to call');
        } else if (Node.isIndexSignatureDeclaration(m)) {
          if (obj.index !== undefined) throw new Problem(m, `${where} has two index signatures`, 'keep one');
          const keyType = m.getKeyTypeNode().getText();
          if (keyType !== 'string' && keyType !== 'number') throw new Problem(m, `${where}: index signature keys must be string or number`, 'write [key: string]: V');
          const valueNode = m.getReturnTypeNode();
          if (valueNode === undefined) throw new Problem(m, `${where}: the index signature has no value type`, 'write [key: string]: V');
          obj.index = { keyName: m.getKeyName(), key: keyType, value: this.convert(valueNode, `${where}[${keyType}]`) };
        } else {
          throw new Problem(m, `${where}: ${m.getKindName()} members cannot be stored`, 'declare data fields only');
        }
      }, undefined);
    }
    return obj;
  }

  // ───────────────────────────────────────────────────────────────────────── references

  /** The user declaration a type reference names, or undefined (built-in or unknown). */
  private userDeclaration(t: Morph.TypeReferenceNode): Node | undefined {
    const { Node } = this.morph;
    const nameNode = t.getTypeName();
    if (!Node.isIdentifier(nameNode)) return undefined;
    let symbol = nameNode.getSymbol();
    if (symbol?.isAlias()) symbol = symbol.getAliasedSymbol() ?? symbol;
    return symbol?.getDeclarations().find((d) => this.isUserFile(d.getSourceFile()));
  }

  private convertReference(t: Morph.TypeReferenceNode, where: string): TypeIR {
    const { Node } = this.morph;
    const name = t.getTypeName().getText();
    const args = t.getTypeArguments();
    const imported = this.runtimeImport(t);
    if (imported !== undefined) {
      const brand = this.brand(imported, t, where);
      if (brand !== undefined) return brand;
      throw new Problem(t, `${where}: ${imported} of ${RUNTIME_MODULE} cannot be a stored type`, `of ${RUNTIME_MODULE}, a schema may use the types ${BRANDS}`);
    }
    const decl = this.userDeclaration(t);
    if (decl !== undefined) {
      if (Node.isTypeAliasDeclaration(decl) && this.isLocalBrand(decl)) return this.brand(decl.getName(), t, where)!;
      if (Node.isInterfaceDeclaration(decl) || Node.isTypeAliasDeclaration(decl)) {
        if (args.length > 0 || decl.getTypeParameters().length > 0) {
          throw new Problem(t, `${where}: generic type ${t.getText()} is not supported yet`, 'declare a concrete interface with the type arguments filled in');
        }
        return this.namedRef(decl);
      }
      if (Node.isEnumDeclaration(decl)) {
        throw new Problem(t, `${where}: enum ${name} is not supported`, "use a union of literals: type Role = 'admin' | 'member'");
      }
      if (Node.isClassDeclaration(decl)) {
        throw new Problem(t, `${where}: class ${name} cannot be stored as a class (values come back as plain objects, without their prototype)`, 'declare an interface with its data fields');
      }
      throw new Problem(t, `${where}: ${name} is not a type the generator can read`, 'use an interface or a type alias');
    }
    const arity = (n: number) => {
      if (args.length !== n) throw new Problem(t, `${where}: ${name} needs ${n} type argument${n === 1 ? '' : 's'}`, `write ${name}<…>`);
    };
    if ((TYPED_ARRAY_NAMES as readonly string[]).includes(name)) {
      // TypeScript 5.7+ gives typed arrays a buffer type argument (Uint8Array<ArrayBufferLike>);
      // any is accepted: what is stored is the elements, and a read returns a new array.
      return { kind: 'typedArray', name: name as TypedArrayName };
    }
    switch (name) {
      case 'Date':
        arity(0);
        return { kind: 'date' };
      case 'Array':
      case 'ReadonlyArray':
        arity(1);
        return { kind: 'array', element: this.convert(args[0]!, `${where}[]`), readonly: name === 'ReadonlyArray' };
      case 'Set':
      case 'ReadonlySet':
        arity(1);
        return { kind: 'set', element: this.convert(args[0]!, `${where}[]`), readonly: name === 'ReadonlySet' };
      case 'Map':
      case 'ReadonlyMap': {
        arity(2);
        const key = this.convert(args[0]!, `${where} key`);
        if (!isScalar(key, this.namedSoFar()) || key.kind === 'date' || key.kind === 'typedArray' || key.kind === 'unknown') {
          throw new Problem(args[0]!, `${where}: Map keys must be strings, numbers, bigints, booleans or literals`, 'use Map<string, V>, or a Record');
        }
        return { kind: 'map', key, value: this.convert(args[1]!, `${where} value`), readonly: name === 'ReadonlyMap' };
      }
      case 'Record':
        arity(2);
        return this.convertRecord(args[0]!, args[1]!, where);
    }
    const hints: Record<string, string> = {
      Partial: 'write the optional fields out in an interface',
      Pick: 'write the picked fields out in an interface',
      Omit: 'write the remaining fields out in an interface',
      Required: 'write the fields out in an interface',
      Readonly: 'mark the fields readonly in an interface',
      Promise: 'store the resolved value',
    };
    if (hints[name] !== undefined) throw new Problem(t, `${where}: ${name}<…> is not supported yet`, hints[name]!);
    throw new Problem(t, `${where}: cannot find type ${name}`, 'declare it in the schema, or import it from a relative file');
  }

  /**
   * The name a type reference imports from native-keyshare (`Int32`; also for
   * `import { Int32 as I32 }`), or undefined if it names something else.
   */
  private runtimeImport(t: Morph.TypeReferenceNode): string | undefined {
    const { Node } = this.morph;
    const nameNode = t.getTypeName();
    if (!Node.isIdentifier(nameNode)) return undefined;
    for (const d of nameNode.getSymbol()?.getDeclarations() ?? []) {
      if (Node.isImportSpecifier(d) && d.getImportDeclaration().getModuleSpecifierValue() === RUNTIME_MODULE) return d.getName();
    }
    return undefined;
  }

  /**
   * A local stand-in for a brand, for schemas that do not import native-keyshare: exactly
   * `type Int32 = number` (any of the integer brands' names) or
   * `type FixedString<N extends number> = string`.
   */
  private isLocalBrand(decl: Morph.TypeAliasDeclaration): boolean {
    const { SyntaxKind } = this.morph;
    const name = decl.getName();
    const body = decl.getTypeNode()?.getKind();
    if (INT_BRANDS[name] !== undefined) return decl.getTypeParameters().length === 0 && body === SyntaxKind.NumberKeyword;
    return name === 'FixedString' && decl.getTypeParameters().length === 1 && body === SyntaxKind.StringKeyword;
  }

  /** The IR of a brand type (`Int32`, `FixedString<16>`), or undefined if `name` is none. */
  private brand(name: string, t: Morph.TypeReferenceNode, where: string): TypeIR | undefined {
    const args = t.getTypeArguments();
    const int = INT_BRANDS[name];
    if (int !== undefined) {
      if (args.length > 0) throw new Problem(t, `${where}: ${name} takes no type arguments`, `write ${name}`);
      return { kind: 'int', int };
    }
    if (name !== 'FixedString') return undefined;
    const n = args.length === 1 ? this.literalOf(args[0]!) : undefined;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_STRING_BYTES) {
      throw new Problem(
        args[0] ?? t,
        `${where}: in ${t.getText()}, N must be an integer literal from 1 to ${MAX_STRING_BYTES} (the most UTF-8 bytes the string may take)`,
        'write the limit, such as FixedString<32>',
      );
    }
    return { kind: 'fixedString', maxBytes: n };
  }

  private convertRecord(keyNode: TypeNode, valueNode: TypeNode, where: string): TypeIR {
    const { SyntaxKind } = this.morph;
    const value = this.convert(valueNode, `${where}[key]`);
    const kind = keyNode.getKind();
    if (kind === SyntaxKind.StringKeyword || this.morph.Node.isTemplateLiteralTypeNode(keyNode)) return { kind: 'record', key: 'string', value };
    if (kind === SyntaxKind.NumberKeyword) return { kind: 'record', key: 'number', value };
    // Record<'a' | 'b', V>: an object with exactly those (required) fields.
    const keys = this.recordKeys(keyNode);
    if (keys === 'string' || keys === 'number') return { kind: 'record', key: keys, value };
    if (keys === undefined) {
      throw new Problem(keyNode, `${where}: Record keys must be string, number or a union of literals`, 'write Record<string, V>');
    }
    const fields = keys.map((v): FieldModel => {
      const field: FieldModel = { name: String(v), type: value, optional: false, readonly: false, source: this.source(keyNode, member(where, String(v))) };
      this.fieldNodes.set(field, { name: keyNode, type: valueNode });
      return field;
    });
    return { kind: 'object', fields };
  }

  /** What the keys of `Record<K, V>` are: any string, any number, or the listed literals. */
  private recordKeys(t: TypeNode): 'string' | 'number' | (string | number)[] | undefined {
    const { Node, SyntaxKind } = this.morph;
    if (Node.isParenthesizedTypeNode(t)) return this.recordKeys(t.getTypeNode());
    if (t.getKind() === SyntaxKind.StringKeyword || Node.isTemplateLiteralTypeNode(t)) return 'string';
    if (t.getKind() === SyntaxKind.NumberKeyword) return 'number';
    const lit = this.literalOf(t);
    if (typeof lit === 'string' || typeof lit === 'number') return [lit];
    if (Node.isUnionTypeNode(t)) {
      const values: (string | number)[] = [];
      for (const m of this.flattenUnion(t)) {
        const v = this.recordKeys(m);
        if (v === undefined) return undefined;
        if (typeof v === 'string') return v; // a union with string (or number) is all strings
        values.push(...v);
      }
      return [...new Set(values)];
    }
    if (Node.isTypeReference(t)) {
      const decl = this.userDeclaration(t);
      if (Node.isTypeAliasDeclaration(decl) && decl.getTypeParameters().length === 0) return this.recordKeys(decl.getTypeNodeOrThrow());
    }
    return undefined;
  }

  /** A reference to a named type, converting its declaration the first time. */
  private namedRef(decl: NamedDeclaration): TypeIR {
    const name = decl.getName();
    const ref: TypeIR = { kind: 'ref', name };
    if (this.named.has(decl)) return ref;
    if ((decl.getSymbol()?.getDeclarations().length ?? 1) > 1) {
      throw new Problem(decl.getNameNode(), `${name} is declared more than once (TypeScript merges the declarations)`, 'declare it once');
    }
    const other = this.declByName.get(name);
    if (other !== undefined && other !== decl) {
      const at = this.source(other, name);
      throw new Problem(decl.getNameNode(), `two types are named ${name} (the other is at ${at.file}:${at.line})`, 'the generated file declares both in one scope: rename one');
    }
    this.declByName.set(name, decl);
    this.named.set(decl, undefined); // in progress: a recursive reference returns the ref
    const { Node } = this.morph;
    const named: NamedType = {
      name,
      declaration: Node.isInterfaceDeclaration(decl) ? 'interface' : 'alias',
      type: { kind: 'unknown' },
      extends: [],
      source: this.source(decl.getNameNode(), name),
    };
    const doc = this.docOf(decl);
    if (doc !== undefined) named.doc = doc;
    if (decl.getTypeParameters().length > 0) {
      throw new Problem(decl.getNameNode(), `generic type ${name} is not supported yet`, 'declare a concrete interface with the type arguments filled in');
    }
    if (Node.isInterfaceDeclaration(decl)) {
      for (const h of decl.getExtends()) {
        const expr = h.getExpression();
        const base = Node.isIdentifier(expr) ? this.declarationOfIdentifier(expr) : undefined;
        if (base === undefined || h.getTypeArguments().length > 0) {
          throw new Problem(h, `${name} extends ${h.getText()}, which is not an interface or object type of the schema`, 'extend interfaces declared in the schema or imported from relative files');
        }
        const baseRef = this.namedRef(base);
        const baseType = this.named.get(base);
        if (baseType !== undefined && baseType.declaration === 'alias' && baseType.type.kind !== 'object') {
          throw new Problem(h, `${name} extends ${base.getName()}, which is not an object type`, 'extend interfaces or object type aliases');
        }
        if (baseRef.kind === 'ref') named.extends.push(baseRef.name);
      }
      named.type = this.convertMembers(decl.getMembers(), name);
    } else {
      named.type = this.convert(decl.getTypeNodeOrThrow(), name);
    }
    this.named.set(decl, named);
    return ref;
  }

  private declarationOfIdentifier(id: Morph.Identifier): NamedDeclaration | undefined {
    const { Node } = this.morph;
    let symbol = id.getSymbol();
    if (symbol?.isAlias()) symbol = symbol.getAliasedSymbol() ?? symbol;
    const d = symbol?.getDeclarations().find((x) => this.isUserFile(x.getSourceFile()));
    return Node.isInterfaceDeclaration(d) || Node.isTypeAliasDeclaration(d) ? d : undefined;
  }

  private namedSoFar(): Map<string, NamedType> {
    const m = new Map<string, NamedType>();
    for (const t of this.named.values()) if (t !== undefined) m.set(t.name, t);
    return m;
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
