#!/usr/bin/env node
/**
 * `native-keyshare codegen <schema.ts> --out <file.ts> [--check] [--watch]`
 *
 * Exit codes: 0 done (or, with --check, the output is up to date); 1 (--check only) the output is
 * missing or stale; 2 an error: bad arguments, unreadable file, ts-morph missing, or a schema the
 * generator cannot map (one `file:line:col: message — what to do` line per problem).
 */
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { formatProblem, SchemaError, UsageError } from './errors';
import { generate, loadTsMorph, packageVersion } from './generate';

const USAGE = `Usage: native-keyshare codegen <schema.ts> --out <file.ts> [--check] [--watch]

Generates typed store facades from a TypeScript schema (see the codegen README).

  --out <file.ts>  where to write the generated module
  --check          write nothing; exit 1 if <file.ts> is missing or differs from a fresh generation
  --watch          regenerate whenever the schema (or a file it imports) changes
  --help           this text
  --version        the generator's version`;

interface Args {
  schema: string;
  out: string;
  check: boolean;
  watch: boolean;
}

/** Where the command reads relative paths from and writes its messages (tests pass their own). */
export interface Io {
  cwd: string;
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: Io = {
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

function parseCommandLine(argv: string[], cwd: string): Args | 'help' | 'version' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: 'string', short: 'o' },
        check: { type: 'boolean' },
        watch: { type: 'boolean', short: 'w' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (values.version) return 'version';
  const [command, schema, ...extra] = positionals;
  if (command !== 'codegen') throw new UsageError(command === undefined ? USAGE : `unknown command "${command}"\n\n${USAGE}`);
  if (schema === undefined) throw new UsageError(`missing the schema file\n\n${USAGE}`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"\n\n${USAGE}`);
  if (values.out === undefined || values.out === '') throw new UsageError(`missing --out <file.ts>\n\n${USAGE}`);
  if (values.check && values.watch) throw new UsageError('--check and --watch cannot be used together');
  if (path.resolve(cwd, values.out) === path.resolve(cwd, schema)) throw new UsageError('--out must not be the schema file');
  return { schema, out: values.out, check: values.check === true, watch: values.watch === true };
}

/** `file` relative to the working directory when it is below it. */
const rel = (io: Io, file: string) => {
  const r = path.relative(io.cwd, file);
  return r === '' || r.startsWith('..') || path.isAbsolute(r) ? file : r;
};

function generateFor(io: Io, args: Args): ReturnType<typeof generate> {
  const schemaPath = path.resolve(io.cwd, args.schema);
  if (!fs.existsSync(schemaPath) || !fs.statSync(schemaPath).isFile()) throw new UsageError(`cannot read the schema file ${args.schema}`);
  return generate({ schemaPath, outPath: path.resolve(io.cwd, args.out) });
}

/** The command that regenerates, for messages. */
const command = (args: Args) => `native-keyshare codegen ${args.schema} --out ${args.out}`;

/** Generates and writes (only when the text changed). Returns the watched files. */
function writeOnce(io: Io, args: Args): string[] {
  const started = performance.now();
  const { code, model, files } = generateFor(io, args);
  const out = path.resolve(io.cwd, args.out);
  const current = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : undefined;
  const ms = Math.round(performance.now() - started);
  const what = `${model.stores.length} store${model.stores.length === 1 ? '' : 's'}, ${model.types.length} type${model.types.length === 1 ? '' : 's'}`;
  if (current === code) {
    io.stdout(`${rel(io, out)} is up to date (${what}, ${ms} ms)\n`);
  } else {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, code);
    io.stdout(`wrote ${rel(io, out)} (${what}, ${ms} ms)\n`);
  }
  return files;
}

/** --check: exit 0 when the file on disk is what would be generated, else 1. */
function check(io: Io, args: Args): number {
  const { code } = generateFor(io, args);
  const out = path.resolve(io.cwd, args.out);
  if (!fs.existsSync(out)) {
    io.stderr(`${rel(io, out)} does not exist — generate it: ${command(args)}\n`);
    return 1;
  }
  const current = fs.readFileSync(out, 'utf8');
  if (current === code) {
    io.stdout(`${rel(io, out)} is up to date\n`);
    return 0;
  }
  const a = current.split('\n');
  const b = code.split('\n');
  let line = 0;
  while (line < a.length && line < b.length && a[line] === b[line]) line++;
  io.stderr(`${rel(io, out)} is stale: it differs from what ${args.schema} generates (first difference at line ${line + 1}) — regenerate it: ${command(args)}\n`);
  return 1;
}

function report(io: Io, e: unknown): void {
  if (e instanceof SchemaError) {
    for (const p of e.problems) io.stderr(`${formatProblem(p, io.cwd)}\n`);
  } else if (e instanceof UsageError) {
    io.stderr(`native-keyshare: ${e.message}\n`);
  } else {
    io.stderr(`native-keyshare: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  }
}

/** --watch: generate now, then again after every change (debounced); errors do not stop it. */
function watch(io: Io, args: Args): void {
  let files: string[] = [path.resolve(io.cwd, args.schema)];
  const watchers = new Map<string, fs.FSWatcher>();
  let timer: NodeJS.Timeout | undefined;

  const run = () => {
    try {
      files = writeOnce(io, args);
    } catch (e) {
      report(io, e);
      if (e instanceof UsageError && /ts-morph/.test(e.message)) process.exit(2);
    }
    updateWatchers();
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(run, 100);
  };
  // Directories are watched, not files: editors often save by replacing the file.
  const updateWatchers = () => {
    const dirs = new Set(files.map((f) => path.dirname(f)));
    for (const [dir, w] of watchers) {
      if (!dirs.has(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue;
      try {
        const w = fs.watch(dir, (_event, name) => {
          if (name === null || files.some((f) => path.dirname(f) === dir && path.basename(f) === name.toString())) schedule();
        });
        watchers.set(dir, w);
      } catch (e) {
        io.stderr(`native-keyshare: cannot watch ${dir}: ${(e as Error).message}\n`);
      }
    }
  };

  run();
  io.stdout(`watching ${files.length} file${files.length === 1 ? '' : 's'} (Ctrl-C to stop)\n`);
}

/**
 * Runs the command. Returns the exit code, or undefined for --watch (which keeps running).
 * Relative paths are resolved against `io.cwd`.
 */
export function main(argv: string[], io: Io = processIo): number | undefined {
  let args: Args | 'help' | 'version';
  try {
    args = parseCommandLine(argv, io.cwd);
    if (args === 'help') {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    if (args === 'version') {
      io.stdout(`${packageVersion()}\n`);
      return 0;
    }
    // Node >= 22.1 can cache compiled code across runs: loading TypeScript is most of our time.
    (Module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
    loadTsMorph(); // fail early, before anything else, with the install hint
    if (args.watch) {
      watch(io, args);
      return undefined;
    }
    if (args.check) return check(io, args);
    writeOnce(io, args);
    return 0;
  } catch (e) {
    report(io, e);
    return 2;
  }
}

if (require.main === module) {
  const code = main(process.argv.slice(2));
  if (code !== undefined) process.exitCode = code;
}
