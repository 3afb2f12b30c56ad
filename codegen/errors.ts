/**
 * Errors of the generator. Each one is reported as one line and makes the CLI exit with 2.
 *
 * A {@link SchemaError} points at the declaration it is about, compiler-style, and says what to
 * do: `schema.ts:12:3: User.onSave is a function: functions cannot be stored — remove the field`.
 */
import * as path from 'node:path';

/** One problem in a schema, at a position of a file. */
export interface SchemaProblem {
  /** Absolute path of the file. */
  file: string;
  /** 1-based. */
  line: number;
  column: number;
  /** What is wrong. */
  message: string;
  /** What to do about it. */
  hint: string;
}

/** The schema cannot be mapped; carries every problem found (at least one). */
export class SchemaError extends Error {
  readonly problems: SchemaProblem[];
  constructor(problems: SchemaProblem[]) {
    super(problems.map((p) => formatProblem(p)).join('\n'));
    this.name = 'SchemaError';
    this.problems = problems;
  }
}

/** Bad command line, unreadable file, or ts-morph missing: a message and exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** `file:line:col: message — hint`, with `file` relative to `cwd` when it is below it. */
export function formatProblem(p: SchemaProblem, cwd?: string): string {
  return `${displayPath(p.file, cwd)}:${p.line}:${p.column}: ${p.message} — ${p.hint}`;
}

function displayPath(file: string, cwd: string | undefined): string {
  if (cwd === undefined) return file;
  const rel = path.relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}
