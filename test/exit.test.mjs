import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('a program using stores, TTLs, locks and workers exits by itself', () => {
  const file = fileURLToPath(new URL('./fixtures/exits-by-itself.mjs', import.meta.url));
  const t = Date.now();
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20000 });
  assert.is(r.signal, null, `killed after ${Date.now() - t} ms: it did not exit by itself`);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), 'done');
  assert.ok(Date.now() - t < 10000);
});

test.run();
