/**
 * A line printer with indentation, and the import list of the generated file.
 */

const INDENT = '  ';

/** Splits `text` at spaces into lines of at most `width` characters (longer words stay whole). */
function wrap(text: string, width: number): string[] {
  if (text.length <= width || /^\s/.test(text)) return [text];
  // Words, with a `code span` kept in one piece.
  const words: string[] = [];
  for (const w of text.split(' ')) {
    const last = words[words.length - 1];
    if (last !== undefined && (last.match(/`/g)?.length ?? 0) % 2 === 1) words[words.length - 1] = `${last} ${w}`;
    else words.push(w);
  }
  const out: string[] = [];
  let line = '';
  for (const word of words) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') out.push(line);
  return out;
}

export class Writer {
  private readonly out: string[] = [];
  private depth = 0;

  /** Writes one line (or several: every line of `text` gets the current indentation). */
  line(text = ''): void {
    for (const l of text.split('\n')) this.out.push(l === '' ? '' : INDENT.repeat(this.depth) + l);
  }

  /** Writes lines already indented relative to the current depth (from {@link capture}). */
  lines(lines: readonly string[]): void {
    for (const l of lines) this.out.push(l === '' ? '' : INDENT.repeat(this.depth) + l);
  }

  /** `head {`, the body one level deeper, then `tail`. */
  block(head: string, body: () => void, tail = '}'): void {
    this.line(`${head} {`);
    this.depth++;
    body();
    this.depth--;
    this.line(tail);
  }

  /** `head` as given (e.g. `const x = [`), the body one level deeper, then `tail`. */
  nested(head: string, body: () => void, tail: string): void {
    this.line(head);
    this.depth++;
    body();
    this.depth--;
    this.line(tail);
  }

  /** Runs `body` against a fresh writer and returns its lines (indentation relative to it). */
  static capture(body: (w: Writer) => void): string[] {
    const w = new Writer();
    body(w);
    return w.out;
  }

  /** `if (cond) stmt;` when the body is one short line, else `if (cond) { … }`. */
  ifThen(cond: string, body: readonly string[]): void {
    if (body.length === 0) return;
    const single = `if (${cond}) ${body[0]}`;
    if (body.length === 1 && INDENT.length * this.depth + single.length <= 110) {
      this.line(single);
      return;
    }
    this.block(`if (${cond})`, () => this.lines(body));
  }

  /** A JSDoc comment: one line when it fits, else wrapped at 100 columns. */
  doc(text: string | undefined): void {
    if (text === undefined || text.trim() === '') return;
    const safe = text.replace(/\*\//g, '*\\/').trimEnd();
    const width = 100 - INDENT.length * this.depth;
    if (!safe.includes('\n') && safe.length + 7 <= width) {
      this.line(`/** ${safe} */`);
      return;
    }
    this.line('/**');
    for (const l of safe.split('\n')) {
      if (l.trim() === '') this.line(' *');
      else for (const piece of wrap(l, width - 3)) this.line(` * ${piece}`);
    }
    this.line(' */');
  }

  toString(): string {
    return `${this.out.join('\n')}\n`;
  }
}

/**
 * What the generated file imports from native-keyshare. A name the schema also declares is
 * imported under an alias (`type SetOptions as KeyshareSetOptions`), so no schema is refused
 * because of the generator's own names. Only the names used are printed: the printer collects
 * them from the parts of the file (see emit.ts, Needs) and passes them to print().
 */
export class Imports {
  private readonly locals = new Map<string, { local: string; type: boolean }>();

  /** `names`: everything the file may import; `taken`: names the schema already uses. */
  constructor(names: readonly { name: string; type: boolean }[], taken: (name: string) => boolean) {
    const locals = new Set<string>();
    for (const { name, type } of names) {
      const prefix = /^[a-z]/.test(name) ? 'keyshare' : 'Keyshare';
      let local = name;
      if (taken(local)) local = prefix + name[0]!.toUpperCase() + name.slice(1);
      for (let n = 2; taken(local) || locals.has(local); n++) local = `${prefix}${name[0]!.toUpperCase()}${name.slice(1)}${n}`;
      locals.add(local);
      this.locals.set(name, { local, type });
    }
  }

  /** Every local name an import may take (to keep generated names away from them). */
  localNames(): string[] {
    return [...this.locals.values()].map((l) => l.local);
  }

  /** The local name of `name`. */
  local(name: string): string {
    const entry = this.locals.get(name);
    if (entry === undefined) throw new Error(`internal: ${name} is not an import`);
    return entry.local;
  }

  /** The import declaration of the names `used`: values first, then types, each alphabetical. */
  print(module: string, used: Iterable<string>): string {
    const specs = [...used]
      .map((name) => ({ name, ...this.locals.get(name)! }))
      .sort((a, b) => Number(a.type) - Number(b.type) || (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1))
      .map(({ name, local, type }) => `${type ? 'type ' : ''}${name}${local === name ? '' : ` as ${local}`}`);
    return `import { ${specs.join(', ')} } from '${module}';`;
  }
}
