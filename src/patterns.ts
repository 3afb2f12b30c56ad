/**
 * Key patterns for `store.delete(pattern)` and `store.listKeys(pattern)`.
 *
 * A pattern is read in this order:
 * 1. a `RegExp` object is a regular expression, with its flags;
 * 2. a string enclosed in slashes, `/body/`, is a regular expression without flags, when it is
 *    written as a JavaScript regex literal would be: a non-empty body, and every `/` inside the
 *    body escaped (`\/`) or inside a character class (`[/]`), so that the last slash really
 *    closes it;
 * 3. otherwise a string containing `*` or `?` is a glob, matched against the whole key;
 * 4. anything else is one literal key.
 *
 * Regexes are unanchored, like `RegExp.prototype.test`. Strings never carry flags: keys are
 * often URL paths (`/api/v`, `/img/s`), and reading a trailing letter as a flag turned such a
 * key into a regex that matched (and deleted) other keys. Flags come with a RegExp object.
 *
 * A pattern is compiled once and then tested against every key of a store scan, so all the work
 * (classifying, escaping, building a RegExp) happens in {@link compilePattern} and each `test` is
 * a single comparison, `startsWith` or RegExp call.
 */
import { InvalidPatternError, describeValue } from './errors';

export type PatternKind = 'literal' | 'glob' | 'regex';

/** What delete() and listKeys() accept as a pattern. */
export type Pattern = string | RegExp;

export interface KeyPattern {
  readonly kind: PatternKind;
  /** The pattern as given (a RegExp as its `/source/flags` text). */
  readonly source: string;
  /**
   * The one key the pattern can match, when there is exactly one: a literal, or a glob whose
   * wildcards are all escaped (`what\?` is the key `what?`); otherwise undefined. Lets a store
   * answer such a pattern with one lookup instead of a scan.
   */
  readonly literal: string | undefined;
  /**
   * Whether `key` matches. Does not use `this`, so it may be passed around detached
   * (`keys.filter(pattern.test)`).
   */
  test(key: string): boolean;
}

/**
 * `g` and `y` make `RegExp.prototype.test` read and advance `lastIndex`, so one compiled regex
 * would answer differently for the same key on successive calls (and depend on the previous key).
 * Neither changes which strings match, so they are dropped.
 */
const STATEFUL_FLAGS = /[gy]/g;

/**
 * The characters that must be escaped to be literal in a `u`-mode RegExp. Only these can be
 * escaped: in `u` mode an escape such as `\-` or `\:` is a syntax error.
 */
const REGEX_SYNTAX = /[\\^$.*+?()[\]{}|/]/g;

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const OPEN_CLASS = 0x5b; // [
const CLOSE_CLASS = 0x5d; // ]

/**
 * The body of a string written as a flagless regex literal, `/body/`, or undefined if the string
 * is not one. The body must be non-empty (`//` matches every key: a key, never a pattern that
 * deletes everything) and must not contain an unescaped `/` outside a character class, which is
 * what keeps path keys with a trailing slash, such as `/api/v1/`, from being read as regexes.
 * The closing slash must not be escaped (`/a\/` is not closed) nor inside an open class (`/[/`).
 */
export function regexLiteralBody(s: string): string | undefined {
  const n = s.length;
  if (n < 3 || s.charCodeAt(0) !== SLASH || s.charCodeAt(n - 1) !== SLASH) return undefined;
  let inClass = false;
  let i = 1;
  for (; i < n - 1; i++) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH) i++; // skips the escaped character; skipping the closing slash ends at n
    else if (inClass) inClass = c !== CLOSE_CLASS;
    else if (c === OPEN_CLASS) inClass = true;
    else if (c === SLASH) return undefined;
  }
  return i === n - 1 && !inClass ? s.slice(1, n - 1) : undefined;
}

class CompiledPattern implements KeyPattern {
  constructor(
    readonly kind: PatternKind,
    readonly source: string,
    readonly literal: string | undefined,
    readonly test: (key: string) => boolean,
  ) {
    // Frozen so that a pattern shared between callers cannot have its `test` replaced.
    Object.freeze(this);
  }
}

/**
 * Compiles a pattern (see the module comment for the rules); throws InvalidPatternError for
 * something that is neither a string nor a RegExp, or for a regex that does not compile.
 */
export function compilePattern(pattern: Pattern): KeyPattern {
  if (typeof pattern !== 'string') {
    if (pattern instanceof RegExp) return compileRegex(String(pattern), pattern.source, pattern.flags);
    throw new InvalidPatternError(`pattern must be a string or a RegExp, got ${describeValue(pattern)}`);
  }
  // Only a string that starts with a slash is scanned, so a literal delete pays one char test.
  const body = pattern.charCodeAt(0) === SLASH ? regexLiteralBody(pattern) : undefined;
  if (body !== undefined) return compileRegex(pattern, body, '');
  if (pattern.includes('*') || pattern.includes('?')) {
    return compileGlob(pattern);
  }
  return literalPattern(pattern);
}

/**
 * The literal pattern for a key, whatever characters it holds. Use it when the key is data
 * (for example supplied by a user), so that a key like `/a/` or `a*` is not read as a pattern.
 */
export function literalPattern(key: string): KeyPattern {
  if (typeof key !== 'string') {
    throw new InvalidPatternError(`a literal key must be a string, got ${describeValue(key)}`);
  }
  return new CompiledPattern('literal', key, key, (candidate) => candidate === key);
}

function compileRegex(pattern: string, body: string, flags: string): KeyPattern {
  let regex: RegExp;
  try {
    regex = new RegExp(body, flags.replace(STATEFUL_FLAGS, ''));
  } catch (error) {
    // The engine's message says what is wrong (unterminated class, bad group, `u` with `v`...).
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidPatternError(
      `invalid regular expression pattern "${pattern}": ${reason}. A string enclosed in slashes is read as a regex; ` +
        'to delete it as one key, call delete(key, { literal: true }) (or has(key) instead of listKeys)',
    );
  }
  return new CompiledPattern('regex', pattern, undefined, (key) => regex.test(key));
}

/**
 * Compiles a glob, picking the cheapest test that gives the same answers:
 * - no unescaped wildcard (only `\*`, `\?`): string equality;
 * - one trailing `*` and no other wildcard (`users:*`, the common case): `startsWith`;
 * - anything else: an anchored RegExp (see {@link globRegexSource}).
 */
function compileGlob(pattern: string): KeyPattern {
  // Split on unescaped `*`: a glob is literal-or-`?` segments separated by stars. A run of
  // stars is one star. Escapes are resolved here, so segments hold plain text plus ONE markers.
  const segments: Segment[] = [[]];
  let hasOne = false;
  let afterStar = false;
  for (let i = 0; i < pattern.length; i++) {
    let ch = pattern[i]!;
    const current = segments[segments.length - 1]!;
    if (ch === '*') {
      if (!afterStar) segments.push([]);
      afterStar = true;
      continue;
    }
    afterStar = false;
    if (ch === '\\' && i + 1 < pattern.length) {
      // Escape the next code point; a trailing backslash has nothing to escape and is literal.
      ch = String.fromCodePoint(pattern.codePointAt(++i)!);
      i += ch.length - 1;
      current.push(ch);
    } else if (ch === '?') {
      current.push(ONE);
      hasOne = true;
    } else {
      current.push(ch);
    }
  }

  const starCount = segments.length - 1;
  const first = segments[0]!;
  if (!hasOne && starCount === 0) {
    // Every wildcard is escaped: the glob names one key, which a store finds with one lookup.
    const text = first.join('');
    return new CompiledPattern('glob', pattern, text, (key) => key === text);
  }
  if (!hasOne && starCount === 1 && segments[1]!.length === 0) {
    const prefix = first.join('');
    // A prefix ending in a lone high surrogate would let startsWith match half of a surrogate
    // pair, which the code-point-based RegExp path does not; such prefixes take that path.
    if (!endsWithHighSurrogate(prefix)) {
      return new CompiledPattern('glob', pattern, undefined, (key) => key.startsWith(prefix));
    }
  }
  const regex = new RegExp(globRegexSource(segments), 'su');
  return new CompiledPattern('glob', pattern, undefined, (key) => regex.test(key));
}

/** Marks a `?` inside a segment; every other segment entry is literal text. */
const ONE: unique symbol = Symbol('?');
type Segment = Array<string | typeof ONE>;

/**
 * RegExp source for glob segments `s0 * s1 * ... * sN`.
 *
 * The naive translation `^s0[^]*s1[^]*...sN$` backtracks through every way of splitting the key
 * between the stars: `*a*a*a*a*b` against a few hundred `a`s takes seconds, and a scan would
 * pay that per key. For globs, taking the leftmost occurrence of each middle segment is always
 * enough (it leaves the most room for the rest), so each middle segment is matched inside a
 * lookahead, `(?=([^]*?s))\k`: JavaScript lookaheads are atomic, so once the leftmost
 * occurrence is found the engine never backtracks into it. The cost is then linear in the key
 * for each segment.
 *
 * Flags: `u` makes `.` (one `?`) consume a whole code point, so a surrogate pair counts as one
 * character; `s` lets `.` match line terminators, which keys may contain.
 */
function globRegexSource(segments: Segment[]): string {
  const last = segments.length - 1;
  let source = '^' + segmentSource(segments[0]!);
  for (let i = 1; i < last; i++) {
    // The backreference is always followed by `(` or `[`, never by a digit that would change
    // which group it names.
    source += `(?=([^]*?${segmentSource(segments[i]!)}))\\${i}`;
  }
  if (last > 0) source += '[^]*' + segmentSource(segments[last]!);
  return source + '$';
}

function segmentSource(segment: Segment): string {
  let source = '';
  for (const part of segment) {
    source += part === ONE ? '.' : part.replace(REGEX_SYNTAX, '\\$&');
  }
  return source;
}

function endsWithHighSurrogate(text: string): boolean {
  const last = text.charCodeAt(text.length - 1);
  return last >= 0xd800 && last <= 0xdbff;
}
