/**
 * The generator as a function: schema file → source text of the facades module.
 *
 *   parse (ts-morph) → SchemaModel (plain data) → emit (prints)
 *
 * Used by the CLI and by tests. ts-morph is loaded here, at generation time only: the generated
 * file imports nothing but native-keyshare.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as Morph from 'ts-morph';
import { emit } from './emit';
import { UsageError } from './errors';
import type { SchemaModel } from './model';
import { parseSchema } from './parse';

export interface GenerateOptions {
  /** The schema file (absolute, or relative to the current directory). */
  schemaPath: string;
  /** The file the output is meant for: paths in the output are relative to it. */
  outPath: string;
  /** For the header; default: this package's version. */
  version?: string;
  /** A loaded ts-morph module (default: `require('ts-morph')`). */
  morph?: typeof Morph;
}

export interface GenerateResult {
  /** The generated module's source text. */
  code: string;
  model: SchemaModel;
  /** Absolute paths of the schema and the files it imports. */
  files: string[];
}

/**
 * Generates the facades module for a schema. Throws SchemaError (with every problem found) when
 * the schema cannot be mapped, UsageError when the file cannot be read or ts-morph is missing.
 */
export function generate(options: GenerateOptions): GenerateResult {
  const schemaPath = path.resolve(options.schemaPath);
  const outPath = path.resolve(options.outPath);
  if (!fs.existsSync(schemaPath) || !fs.statSync(schemaPath).isFile()) throw new UsageError(`cannot read the schema file ${options.schemaPath}`);
  const morph = options.morph ?? loadTsMorph();
  const { model, files } = parseSchema(morph, { schemaPath, outPath, generatorVersion: options.version ?? packageVersion() });
  return { code: emit(model), model, files };
}

let cachedMorph: typeof Morph | undefined;

/** ts-morph, an optional peer dependency needed only to generate. */
export function loadTsMorph(): typeof Morph {
  if (cachedMorph !== undefined) return cachedMorph;
  try {
    cachedMorph = require('ts-morph') as typeof Morph;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') throw e;
    throw new UsageError(
      'native-keyshare codegen needs ts-morph to read the schema, and it is not installed — install it as a dev dependency: npm install --save-dev ts-morph',
    );
  }
  return cachedMorph;
}

let cachedVersion: string | undefined;

/** The version in this package's package.json (found by walking up from this file). */
export function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'native-keyshare' && typeof pkg.version === 'string') return (cachedVersion = pkg.version);
    }
    if (path.dirname(dir) === dir) return (cachedVersion = '0.0.0');
  }
}
