#!/usr/bin/env node
/**
 * `native-keyshare codegen <schema.ts> --out <file.ts> [--check] [--watch]` (placeholder until
 * the generator lands: it reports that the command is not available yet).
 */
process.stderr.write('native-keyshare: the codegen command is not available in this version\n');
process.exitCode = 2;
