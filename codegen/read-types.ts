/**
 * Schema types → type IR: the part of the schema reader (parse.ts) that turns the TypeScript
 * type of a store's value, and every type it refers to, into the plain type IR of model.ts —
 * unions, tuples, object members, references to the schema's own named types (recursion
 * included), built-in names (`Date`, `Map`, `Record`…), typed arrays and the runtime's brand
 * types (`Int32`, `FixedString<N>`). It only reads syntax; where a type cannot be stored it throws
 * a Problem, which the reader collects (SchemaReader.attempt).
 */
import type * as Morph from 'ts-morph';
import type { FieldModel, NamedType, ObjectIR, SourceRef, TupleElement, TypeIR } from './model';
import { INT_BRANDS, isScalar, TYPED_ARRAY_NAMES, type TypedArrayName } from './model';
import { member } from './names';
import { MAX_STRING_BYTES } from '../src/record-layout';

export type TsMorph = typeof Morph;
type Node = Morph.Node;
type TypeNode = Morph.TypeNode;
export type NamedDeclaration = Morph.InterfaceDeclaration | Morph.TypeAliasDeclaration;

/** The module the schema imports brand types (`Int32`, `FixedString<N>`) from. */
export const RUNTIME_MODULE = 'native-keyshare';
export const BRANDS = `${Object.keys(INT_BRANDS).join(', ')} and FixedString<N>`;

/** Thrown inside the reader to abandon one field or store; collected into the SchemaError. */
export class Problem {
  constructor(
    readonly node: Node,
    readonly message: string,
    readonly hint: string,
    /** Reported here instead of at the node's start. */
    readonly at?: { line: number; column: number },
  ) {}
}

/** The type-reading half of the schema reader; parse.ts's SchemaReader extends it. */
export abstract class TypeReader {
  /** Named types by declaration; `undefined` while being converted (recursion). */
  protected readonly named = new Map<Node, NamedType | undefined>();
  protected readonly declByName = new Map<string, NamedDeclaration>();
  /** Declaration nodes of fields (name and type), for record problems. */
  protected readonly fieldNodes = new WeakMap<FieldModel, { name: Node; type: Node }>();

  constructor(protected readonly morph: TsMorph) {}

  /** Whether `f` is the schema or a file it imports (not the runtime's or a library's). */
  protected abstract isUserFile(f: Morph.SourceFile): boolean;
  /** Where a node is, for the model and for problems. */
  protected abstract source(node: Node, name: string): SourceRef;
  /** Runs `fn`; a Problem it throws is recorded and `fallback` returned. */
  protected abstract attempt<T>(fn: () => T, fallback: T): T;

  /** The value of a literal type node (`60`, `-1`, `'a'`, `true`), else undefined. */
  protected literalOf(t: TypeNode): string | number | boolean | undefined {
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

  protected propertyName(m: Morph.PropertySignature | Morph.MethodSignature): string {
    const { Node } = this.morph;
    const n = m.getNameNode();
    if (Node.isStringLiteral(n) || Node.isNoSubstitutionTemplateLiteral(n)) return n.getLiteralValue();
    if (Node.isNumericLiteral(n)) return String(n.getLiteralValue());
    if (Node.isIdentifier(n) || Node.isPrivateIdentifier(n)) return n.getText();
    throw new Problem(n, `computed property name ${n.getText()} cannot be read by the generator`, 'write the name itself');
  }

  protected docOf(node: Node): string | undefined {
    const { Node } = this.morph;
    if (!Node.isJSDocable(node)) return undefined;
    // The comment right above the declaration (an earlier one may be the file's own comment).
    const text = node.getJsDocs().at(-1)?.getInnerText().trim() ?? '';
    return text === '' ? undefined : text;
  }

  protected flattenUnion(t: Morph.UnionTypeNode): TypeNode[] {
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

  protected readStoreValue(t: TypeNode, store: string): TypeIR {
    const ir = this.convert(t, `${member('Stores', store)}.value`);
    const hasUndefined = (x: TypeIR): boolean => x.kind === 'undefined' || (x.kind === 'union' && x.members.some(hasUndefined));
    if (hasUndefined(ir)) {
      throw new Problem(t, `the value of store "${store}" may be undefined, which the store cannot hold (undefined means "absent")`, 'use null for "no value", or leave the key unset');
    }
    return ir;
  }

  /** Converts a type node to the IR. `where` names the spot for messages (`User.address`). */
  protected convert(t: TypeNode, where: string): TypeIR {
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

  protected convertUnion(t: Morph.UnionTypeNode, where: string): TypeIR {
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

  protected convertTuple(t: Morph.TupleTypeNode, where: string): TypeIR {
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

  protected restElement(ir: TypeIR, node: Node): TypeIR {
    if (ir.kind !== 'array') throw new Problem(node, 'a tuple rest element must be an array type', 'write ...rest: T[]');
    return ir.element;
  }

  /** An object type from interface or type-literal members. */
  protected convertMembers(members: Node[], where: string): ObjectIR {
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
  protected userDeclaration(t: Morph.TypeReferenceNode): Node | undefined {
    const { Node } = this.morph;
    const nameNode = t.getTypeName();
    if (!Node.isIdentifier(nameNode)) return undefined;
    let symbol = nameNode.getSymbol();
    if (symbol?.isAlias()) symbol = symbol.getAliasedSymbol() ?? symbol;
    return symbol?.getDeclarations().find((d) => this.isUserFile(d.getSourceFile()));
  }

  protected convertReference(t: Morph.TypeReferenceNode, where: string): TypeIR {
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
  protected runtimeImport(t: Morph.TypeReferenceNode): string | undefined {
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
  protected isLocalBrand(decl: Morph.TypeAliasDeclaration): boolean {
    const { SyntaxKind } = this.morph;
    const name = decl.getName();
    const body = decl.getTypeNode()?.getKind();
    if (INT_BRANDS[name] !== undefined) return decl.getTypeParameters().length === 0 && body === SyntaxKind.NumberKeyword;
    return name === 'FixedString' && decl.getTypeParameters().length === 1 && body === SyntaxKind.StringKeyword;
  }

  /** The IR of a brand type (`Int32`, `FixedString<16>`), or undefined if `name` is none. */
  protected brand(name: string, t: Morph.TypeReferenceNode, where: string): TypeIR | undefined {
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

  protected convertRecord(keyNode: TypeNode, valueNode: TypeNode, where: string): TypeIR {
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
  protected recordKeys(t: TypeNode): 'string' | 'number' | (string | number)[] | undefined {
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
  protected namedRef(decl: NamedDeclaration): TypeIR {
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

  protected declarationOfIdentifier(id: Morph.Identifier): NamedDeclaration | undefined {
    const { Node } = this.morph;
    let symbol = id.getSymbol();
    if (symbol?.isAlias()) symbol = symbol.getAliasedSymbol() ?? symbol;
    const d = symbol?.getDeclarations().find((x) => this.isUserFile(x.getSourceFile()));
    return Node.isInterfaceDeclaration(d) || Node.isTypeAliasDeclaration(d) ? d : undefined;
  }

  protected namedSoFar(): Map<string, NamedType> {
    const m = new Map<string, NamedType>();
    for (const t of this.named.values()) if (t !== undefined) m.set(t.name, t);
    return m;
  }
}
