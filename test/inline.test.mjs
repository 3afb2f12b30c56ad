// Inline values (layout.ts): a small value lives in its entry's two slots, and each write fills
// the slot DATA does not name. These tests look at the words themselves, so that they fail if
// values silently stop being inline, or if a write lands in the slot readers are copying.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createStore, verify } from 'native-keyshare';
import { fixture } from './util.mjs';

const { arena } = await import('../dist/cjs/arena.js');
const L = await import('../dist/cjs/layout.js');
const { lookup, hashKey } = await import('../dist/cjs/keyindex.js');

const s = createStore('inline');
const entryOf = (key) => lookup(s.ref, key, hashKey(key));
const data = (key) => arena.i32[entryOf(key) * 2 + L.ENTRY.DATA];
const slotOf = (key) => data(key) & L.INLINE_OFFSET_MASK;

function clean() {
  const r = verify();
  assert.equal(r.problems.filter((p) => p.severity === 'error'), []);
  assert.is(r.leakedBytes, 0);
}

test('a number is stored in the entry, and rewrites alternate between its two slots', () => {
  s.set('n', 1);
  assert.ok(data('n') < 0, 'DATA is an inline descriptor');
  const lenWord = arena.i32[entryOf('n') * 2 + L.ENTRY.KEY_LEN];
  assert.is(L.inlineWords(lenWord), 2, 'slots sized for the first value: 8 bytes');
  const a = L.inlineSlotA(lenWord);
  const seen = [];
  for (let i = 2; i < 6; i++) {
    s.set('n', i);
    seen.push(slotOf('n'));
    assert.is(s.get('n'), i);
  }
  assert.equal(seen, [a + 2, a, a + 2, a]);
  assert.is(s.stats().valueBytes, 8);
  clean();
});

test('a value that outgrows the slots moves to a block, and back into the entry', () => {
  s.set('m', 'abc'); // 7 bytes: UTF-16 and a form byte
  assert.ok(data('m') < 0);
  s.set('m', 'a longer string than the slots hold');
  assert.ok(data('m') > 0, 'a VALUE block');
  assert.is(s.get('m'), 'a longer string than the slots hold');
  s.set('m', 'xyz');
  assert.ok(data('m') < 0, 'inline again: the block was freed');
  assert.is(s.get('m'), 'xyz');
  clean();
});

test('values with a TTL, minBufferSize beyond a slot, and values above the inline limit use blocks', () => {
  s.set('t', 4);
  assert.ok(data('t') < 0);
  s.set('t', 5, { ttl: 60_000 });
  assert.ok(data('t') > 0, 'the deadline is in the block');
  assert.is(s.stats().ttlEntries, 1);
  s.set('t', 6);
  assert.ok(data('t') < 0, 'no TTL: inline again');
  assert.is(s.stats().ttlEntries, 0);
  s.set('t-first', 1, { ttl: 60_000 });
  assert.is(L.inlineWords(arena.i32[entryOf('t-first') * 2 + L.ENTRY.KEY_LEN]), 0, 'an entry made for a TTL value has no slots');
  s.set('hint', 1, { minBufferSize: 64 });
  assert.ok(data('hint') > 0);
  s.set('hint', 2);
  assert.ok(data('hint') > 0, 'the hint lasts');
  s.set('big', 'x'.repeat(12)); // 25 bytes
  assert.ok(data('big') > 0);
  assert.is(L.inlineWords(arena.i32[entryOf('big') * 2 + L.ENTRY.KEY_LEN]), 0, 'an entry made for a block value has no slots');
  clean();
});

test('delete, re-create, update() of a new key, true/false/null and objects', () => {
  s.set('d', 1);
  assert.ok(s.delete('d'));
  assert.is(s.get('d'), undefined);
  assert.not.ok(s.has('d'));
  s.update('counter', (v) => (v ?? 0) + 1);
  s.update('counter', (v) => v + 1);
  assert.ok(data('counter') < 0, 'lock() placeholders get room for a number');
  assert.is(s.get('counter'), 2);
  const values = [true, false, null, { a: 1 }, [1, 2, 3], '', -0, 'ten chars!', { x: 'Benchmark' }];
  values.forEach((v, i) => s.set(`v${i}`, v));
  values.forEach((v, i) => {
    assert.ok(data(`v${i}`) < 0, `${i}: inline`);
    assert.equal(s.get(`v${i}`), v);
    if (typeof v === 'number') assert.ok(Object.is(s.get(`v${i}`), v), '-0 stays -0');
  });
  s.clear();
  assert.is(s.size, 0);
  clean();
});

test('hot reads see every inline rewrite', () => {
  const h = createStore('inline', { hotReads: true });
  s.set('h', 1);
  assert.is(h.get('h'), 1);
  for (let i = 2; i < 50; i++) {
    s.set('h', i);
    assert.is(h.get('h'), i);
  }
  s.delete('h');
  assert.is(h.get('h'), undefined);
});

test('a worker killed while rewriting inline values leaves a whole value and a clean arena', async () => {
  s.set('busy', -1);
  for (let round = 0; round < 6; round++) {
    const w = new Worker(fixture('busy.mjs'), { workerData: { store: 'inline', key: 'busy', mode: 'small', start: round * 1000 + 1 } });
    await new Promise((resolve) => w.once('message', resolve));
    await new Promise((r) => setTimeout(r, 3 + round * 4));
    await w.terminate();
    // A whole value: the one this thread wrote (the kill may land before the worker's first
    // write completes) or one the worker wrote.
    const v = s.get('busy');
    assert.ok(v === -1 || (typeof v === 'number' && v > round * 1000), `read ${v}`);
    // The key stays writable: its lock was recovered.
    assert.ok(s.set('busy', -1, { timeout: 2000 }));
  }
  assert.ok(data('busy') < 0);
  clean();
});

test.run();
