// Codegen: the emitted modules compile with `tsc --strict --noEmit` — importing 'native-keyshare',
// which resolves to this package's build through its "exports" (run `npm run build` first) — and
// under every strictness flag a project may add. test/fixtures/codegen/usage.ts uses the example
// facades as a user would; its @ts-expect-error lines check that misuse does not compile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const root = fileURLToPath(new URL('..', import.meta.url));

function runTsc(project) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: root });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (status) => resolve({ status, out }));
  });
}

// Both compilations start at once (each takes a few seconds).
const strict = runTsc('test/fixtures/codegen/tsconfig.strict.json');
const strictest = runTsc('test/fixtures/codegen/tsconfig.strictest.json');

test('tsc --strict: the example and golden outputs, their schemas, and usage.ts (misuse lines are errors)', async () => {
  const r = await strict;
  assert.is(r.status, 0, r.out);
});

test('tsc with noUncheckedIndexedAccess, exactOptionalPropertyTypes, noPropertyAccessFromIndexSignature, noUnused*, verbatimModuleSyntax', async () => {
  const r = await strictest;
  assert.is(r.status, 0, r.out);
});

test.run();
