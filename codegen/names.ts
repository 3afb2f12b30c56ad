/**
 * Identifiers and string literals for generated code: case conversion, quoting, and scopes that
 * hand out names which shadow nothing.
 */

/** Words that cannot name a variable or parameter in strict-mode ES modules (plus globals we use). */
const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends ' +
    'false finally for function if import in instanceof new null return super switch this throw ' +
    'true try typeof var void while with yield let static implements interface package private ' +
    'protected public await arguments eval undefined NaN Infinity ' +
    // globals the generated code uses
    'Array Date Map Set JSON Number BigInt String Object RegExp'
  ).split(' '),
);

const IDENTIFIER_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Whether `s` can be written as a property name without quotes (`a.b`, `{ b: … }`). */
export function isIdentifierName(s: string): boolean {
  return IDENTIFIER_NAME.test(s);
}

/** Whether `s` can name a variable, parameter or function. */
export function isSafeIdentifier(s: string): boolean {
  return IDENTIFIER_NAME.test(s) && !RESERVED.has(s);
}

function words(s: string): string[] {
  return s.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
}

/** `user-sessions` → `userSessions`, `UserId` → `userId`, `URLCache` → `urlCache`. */
export function camelCase(s: string): string {
  const ws = words(s);
  if (ws.length === 0) return '';
  const first = ws[0]!;
  const run = /^[A-Z]+/.exec(first)?.[0] ?? '';
  const head =
    run.length <= 1 || run.length === first.length
      ? first.slice(0, Math.max(run.length, 1)).toLowerCase() + first.slice(Math.max(run.length, 1))
      : run.slice(0, -1).toLowerCase() + first.slice(run.length - 1);
  const rest = ws.slice(1).map((w) => w[0]!.toUpperCase() + w.slice(1));
  const out = head + rest.join('');
  return /^[0-9]/.test(out) ? `_${out}` : out;
}

/** `users` → `Users`, `user-sessions` → `UserSessions`. */
export function pascalCase(s: string): string {
  const out = words(s)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
  return /^[0-9]/.test(out) ? `_${out}` : out;
}

/** A single-quoted JavaScript string literal. */
export function quote(s: string): string {
  const body = JSON.stringify(s).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'");
  return `'${body}'`;
}

/** A property name for a type or object literal: `name` or `'first-name'`. */
export function propertyName(s: string): string {
  return isIdentifierName(s) ? s : quote(s);
}

/** How a member is named in docs and messages: `User.name`, `Stores["rate-limits"]`. */
export function member(base: string, name: string): string {
  return isIdentifierName(name) ? `${base}.${name}` : `${base}[${JSON.stringify(name)}]`;
}

/** Escapes text for the inside of a template literal (code or type). */
export function escapeTemplate(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\$\{/g, '\\${');
}

/**
 * Hands out identifiers that are unique in this scope and every scope above it, so that a name
 * declared in a nested block never shadows one the code around it still uses.
 */
export class Scope {
  private readonly taken = new Set<string>();
  constructor(private readonly parent?: Scope) {}

  /** Marks a name as used (e.g. a parameter, an import, a module-level function). */
  reserve(name: string): void {
    this.taken.add(name);
  }

  has(name: string): boolean {
    return this.taken.has(name) || (this.parent?.has(name) ?? false);
  }

  /** `base` if it is free, else `base2`, `base3`, … (a reserved word gets a trailing `_`). */
  claim(base: string): string {
    let stem = base === '' ? 'v' : base;
    if (!isSafeIdentifier(stem)) stem = isIdentifierName(stem) ? `${stem}_` : camelCase(stem) || 'v';
    let name = stem;
    for (let n = 2; this.has(name); n++) name = `${stem}${n}`;
    this.taken.add(name);
    return name;
  }

  child(): Scope {
    return new Scope(this);
  }
}
