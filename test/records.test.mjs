// Fixed-layout records: raw fields in shared memory, read one at a time inside the sequence
// check, written in place under the entry lock, and changed by lock-free atomic ops.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import {
  createStore, layoutRecord, RecordView, verify, arenaStats,
  InvalidValueError, InvalidOptionError, KeyNotFoundError,
} from 'native-keyshare';
import { fixture, runWorker, exited, prng, sleep } from './util.mjs';
import { LAYOUT, recordOf, checkRecord } from './fixtures/records-layout.mjs';

const full = (k) => ({ ...recordOf(k), hits: 0, small: 0 });
const rounds = (n) => Array.from({ length: n }, (_, i) => i);
const errorsOf = (r) => r.problems.filter((p) => p.severity === 'error');

test('layoutRecord aligns every field and packs them by alignment', () => {
  const byName = Object.fromEntries(LAYOUT.fields.map((f) => [f.name, f.offset]));
  assert.is(LAYOUT.size % 8, 0);
  for (const f of ['a', 'b', 'g']) assert.is(byName[f] % 8, 0, `${f} is 8-byte aligned`);
  for (const f of ['c', 'd', 'hits']) assert.is(byName[f] % 4, 0, `${f} is 4-byte aligned`);
  // Declaration order within an alignment, and the decoded object keeps declaration order.
  assert.ok(byName.a < byName.b && byName.b < byName.g);
  const s = createStore('rec-basic', { record: LAYOUT });
  s.set('k', full(5));
  assert.equal(Object.keys(s.get('k')), LAYOUT.fields.map((f) => f.name));
});

test('a record round-trips every field type, through any handle of the store', () => {
  const s = createStore('rec-types', { record: LAYOUT });
  const v = { a: -0.5, b: 1e300, c: -(2 ** 31), d: 2 ** 32 - 1, e: -32768, f: 255, flag: true, kind: 'odd', g: [Math.PI, -1, 0], name: 'héllo 😀', hits: 2 ** 31 - 1, small: 65535 };
  assert.ok(s.set('k', v));
  assert.equal(s.get('k'), v);
  // A handle opened without the layout reads it from shared memory.
  assert.equal(createStore('rec-types').get('k'), v);
  assert.equal(new RecordView(s, 'k').snapshot(), v);
  const view = new RecordView(s, 'k');
  for (const f of Object.keys(v)) assert.equal(view.field(f), v[f], `field ${f}`);
  assert.is(s.stats().valueBytes, LAYOUT.size);
});

test('bad records are refused with the field named, and nothing is written', () => {
  const s = createStore('rec-bad', { record: LAYOUT });
  s.set('k', full(1));
  const cases = [
    [{ ...full(2), c: 2 ** 31 }, /value\.c must be int32 integer/],
    [{ ...full(2), d: -1 }, /value\.d must be uint32/],
    [{ ...full(2), e: 1.5 }, /value\.e must be int16/],
    [{ ...full(2), kind: 'other' }, /value\.kind must be one of "even", "odd"/],
    [{ ...full(2), name: 'x'.repeat(13) }, /value\.name must be a string of at most 12 UTF-8 bytes, got 13 bytes/],
    [{ ...full(2), name: 'a\ud800' }, /value\.name must be a well-formed string/],
    [{ ...full(2), g: [1, 2] }, /value\.g must be an array of 3 number, got an array of length 2/],
    [{ ...full(2), g: [1, 2, 'x'] }, /value\.g\[2\] must be number/],
    [{ ...full(2), extra: 1 }, /property "extra" that the record has no field for/],
    [(() => { const o = full(2); delete o.flag; return o; })(), /value\.flag is missing/],
    ['text', /must be an object/],
  ];
  for (const [value, re] of cases) {
    const err = (() => { try { s.set('k', value); } catch (e) { return e; } })();
    assert.instance(err, InvalidValueError, `${JSON.stringify(value)?.slice(0, 60)} throws InvalidValueError`);
    assert.match(err.message, re);
    assert.equal(s.get('k'), full(1), 'nothing written');
  }
  assert.throws(() => s.setFields('k', { c: 'x' }), (e) => e instanceof InvalidValueError && /fields\.c/.test(e.message));
  assert.throws(() => s.setFields('k', { nope: 1 }), (e) => e instanceof InvalidValueError);
  assert.throws(() => s.set('k', full(1), { ttl: 5 }), (e) => e instanceof InvalidOptionError && /TTL/.test(e.message));
  assert.throws(() => s.update('k', (r) => r, { ttl: 5 }), (e) => e instanceof InvalidOptionError && /TTL/.test(e.message));
  assert.throws(() => s.setMany([['k', full(9)]], { ttl: 5 }), (e) => e instanceof InvalidOptionError && /TTL/.test(e.message));
  assert.equal(s.get('k'), full(1));
  assert.throws(() => s.add('k', 'a', 1), (e) => e instanceof InvalidOptionError && /integer fields: c, d, e, f, hits, small/.test(e.message));
  assert.throws(() => s.add('k', 'hits', 0.5), (e) => e instanceof InvalidValueError);
  assert.throws(() => s.compareExchange('k', 'small', 0, 70000), (e) => e instanceof InvalidValueError);
  assert.throws(() => s.add('absent', 'hits', 1), (e) => e instanceof KeyNotFoundError && e.code === 'ERR_KEYSHARE_KEY_NOT_FOUND');
  assert.throws(() => s.setFields('absent', { a: 1 }), (e) => e instanceof KeyNotFoundError);
  assert.throws(() => new RecordView(s, 'absent'), (e) => e instanceof KeyNotFoundError);
});

test('every handle of a store must agree on its layout; records exclude hotReads and TTLs', () => {
  createStore('rec-agree', { record: LAYOUT });
  const other = layoutRecord([{ name: 'a', type: 'float64' }]);
  assert.throws(() => createStore('rec-agree', { record: other }), (e) => e instanceof InvalidOptionError && /different record layout/.test(e.message));
  assert.throws(() => createStore('rec-hot', { record: LAYOUT, hotReads: true }), (e) => e instanceof InvalidOptionError);
  assert.throws(() => createStore('rec-agree', { hotReads: true }), (e) => e instanceof InvalidOptionError && /hotReads/.test(e.message));
  const plain = createStore('rec-late');
  plain.set('x', 1);
  assert.throws(() => createStore('rec-late', { record: LAYOUT }), (e) => e instanceof InvalidOptionError && /already holds 1 values/.test(e.message));
  assert.throws(() => layoutRecord([{ name: 'a', type: 'float32' }]), (e) => e instanceof InvalidOptionError);
  assert.throws(() => createStore('rec-x', { record: { size: 8, fields: [{ name: 'a', type: 'float64', offset: 4 }] } }), (e) => e instanceof InvalidOptionError && /multiple of 8/.test(e.message));
  assert.throws(() => createStore('rec-x', { record: { size: 16, fields: [{ name: 'a', type: 'float64', offset: 0 }, { name: 'b', type: 'int32', offset: 4 }] } }), (e) => e instanceof InvalidOptionError && /overlap/.test(e.message));
  // A plain handle writes records too: the layout lives in shared memory.
  const p = createStore('rec-agree');
  assert.throws(() => p.set('k', 'not a record'), (e) => e instanceof InvalidValueError);
  p.set('k', full(3));
  assert.equal(createStore('rec-agree', { record: LAYOUT }).get('k'), full(3));
});

test('update writes only changed fields; setFields changes only the named ones', () => {
  const s = createStore('rec-update', { record: LAYOUT });
  s.set('k', full(1));
  s.add('k', 'hits', 10);
  const next = s.update('k', (r) => ({ ...r, a: 2, b: 2 }));
  assert.is(next.a, 2);
  assert.is(s.get('k').hits, 10);
  assert.ok(s.setFields('k', { name: 'zz', flag: false }));
  assert.equal(s.get('k'), { ...full(1), a: 2, b: 2, hits: 10, name: 'zz', flag: false });
  // update of an absent key writes the whole record.
  assert.equal(s.update('new', () => full(4)), full(4));
  assert.equal(s.get('new'), full(4));
});

test('a view follows its key through delete and set, and throws once the key is gone', () => {
  const s = createStore('rec-view', { record: LAYOUT });
  s.set('k', full(1));
  const v = new RecordView(s, 'k');
  assert.is(v.field('c'), 1);
  s.delete('k');
  assert.not.ok(v.exists);
  assert.throws(() => v.field('c'), (e) => e instanceof KeyNotFoundError);
  s.set('k', full(2));
  assert.is(v.field('c'), 2);
  assert.is(v.add('hits', 3), 0);
  assert.is(v.compareExchange('hits', 3, 9), 3);
  assert.is(s.get('k').hits, 9);
  assert.ok(v.set({ a: 7 }));
  assert.is(v.field('a'), 7);
});

test('a subclass reads fields at constant offsets and adds without a field lookup', () => {
  const s = createStore('rec-sub', { record: LAYOUT });
  const off = Object.fromEntries(LAYOUT.fields.map((f) => [f.name, f.offset]));
  class V extends RecordView {
    get a() { return this.float64(off.a); }
    get d() { return this.uint32(off.d); }
    get e() { return this.int16(off.e); }
    get f() { return this.uint8(off.f); }
    get flag() { return this.boolean(off.flag); }
    get kind() { return this.enumOf(off.kind, ['even', 'odd']); }
    get name() { return this.string(off.name, 12); }
    get g() { return this.array(off.g, 'float64', 3); }
    addHits(n) { return this.addAt(off.hits, 'int32', n); }
    addSmall(n) { return this.addAt(off.small, 'uint16', n); }
  }
  s.set('k', { ...full(3), d: 2 ** 32 - 1, e: -5 });
  const v = new V(s, 'k');
  assert.equal([v.a, v.d, v.e, v.f, v.flag, v.kind, v.name, v.g], [3, 2 ** 32 - 1, -5, 3, true, 'odd', '3', [3, 3, 3]]);
  assert.is(v.addHits(4), 0);
  assert.is(v.addSmall(-1), 0);
  assert.equal([s.get('k').hits, s.get('k').small], [4, 65535]);
  assert.throws(() => v.addHits(1.5), (e) => e instanceof InvalidValueError);
  s.delete('k');
  assert.throws(() => v.addHits(1), (e) => e instanceof KeyNotFoundError);
});

test('atomic add wraps like Atomics.add', () => {
  const s = createStore('rec-wrap', { record: LAYOUT });
  s.set('k', { ...full(1), small: 65535, hits: 2 ** 31 - 1 });
  assert.is(s.add('k', 'small', 1), 65535);
  assert.is(s.get('k').small, 0);
  s.add('k', 'hits', 1);
  assert.is(s.get('k').hits, -(2 ** 31));
});

test('4 threads x 20,000 lock-free adds (store and view) and CAS increments sum exactly', async () => {
  const s = createStore('rec-add', { record: LAYOUT });
  s.set('k', full(1));
  const N = 20000;
  const jobs = [
    ...rounds(2).map(() => runWorker('records-worker.mjs', { mode: 'add', store: 'rec-add', key: 'k', n: N })),
    ...rounds(2).map(() => runWorker('records-worker.mjs', { mode: 'view-add', store: 'rec-add', key: 'k', n: N })),
    ...rounds(3).map(() => runWorker('records-worker.mjs', { mode: 'cas', store: 'rec-add', key: 'k', n: N })),
  ];
  for (let i = 0; i < N; i++) s.add('k', 'hits', 1);
  await Promise.all(jobs);
  const r = s.get('k');
  assert.is(r.hits, 5 * N, 'every add counted once');
  assert.is(r.small, (3 * N) & 0xffff, 'every CAS increment counted once');
  assert.equal({ ...r, hits: 0, small: 0 }, full(1), 'other fields untouched');
});

test('no torn reads: readers never see part of a set or setFields, while adds run too', async () => {
  const s = createStore('rec-torn', { record: LAYOUT });
  s.set('k', full(1));
  const ms = 1500;
  const jobs = [
    runWorker('records-worker.mjs', { mode: 'writer', store: 'rec-torn', key: 'k', ms }),
    ...rounds(2).map(() => runWorker('records-worker.mjs', { mode: 'reader', store: 'rec-torn', key: 'k', ms })),
    runWorker('records-worker.mjs', { mode: 'add', store: 'rec-torn', key: 'k', n: 200000 }),
  ];
  const results = await Promise.all(jobs);
  const writer = results[0];
  assert.ok(writer.ops > 1000, `writer made ${writer.ops} writes`);
  for (const r of results.slice(1, 3)) {
    assert.equal(r.bad, [], 'reader saw only whole records');
    assert.ok(r.ops > 1000, `reader made ${r.ops} checks`);
  }
  assert.is(checkRecord(s.get('k')), '');
});

test('adds racing deletes and re-creates never land in another key', async () => {
  const s = createStore('rec-churn', { record: LAYOUT });
  const keys = rounds(4).map((i) => `c${i}`);
  for (const k of keys) s.set(k, full(7));
  // Bystanders share the store and its size class: a misdirected add would show up in them.
  const bystanders = rounds(50).map((i) => `b${i}`);
  for (const k of bystanders) s.set(k, full(3));
  const ms = 1500;
  // The adders stall ~1 µs between loading DATA and adding (a test-only knob), so that without
  // the hazard protocol some of their adds would land after the block was freed and reused.
  const env = { ...process.env, NATIVE_KEYSHARE_TEST_ATOMIC_DELAY: '2000' };
  const results = await Promise.all([
    runWorker('records-worker.mjs', { mode: 'churn', store: 'rec-churn', keys, ms }),
    ...rounds(2).map(() => runWorker('records-worker.mjs', { mode: 'churn-add', store: 'rec-churn', keys, ms }, { env })),
  ]);
  assert.equal(results[0].bad, [], 'no add reached a reused block');
  assert.ok(results[0].ops > 100, `churn made ${results[0].ops} delete/set pairs`);
  assert.ok(results[1].ops + results[2].ops > 1000, 'adds ran');
  for (const k of bystanders) assert.equal(s.get(k), full(3), `${k} untouched`);
  for (const k of keys) assert.is(checkRecord(s.get(k)), '');
  assert.equal(errorsOf(verify()), []);
});

test('a writer terminated mid in-place write is finished by recovery (25 kills)', async () => {
  const s = createStore('rec-kill', { record: LAYOUT });
  s.set('k', full(1));
  const rand = prng(0xfeed);
  for (let round = 0; round < 25; round++) {
    // The writer stalls half-way through each in-place write (a test-only knob), so most kills
    // land with SEQ odd and part of the record written: recovery must finish it from the redo
    // buffer, or the next read sees a torn record.
    const env = { ...process.env, NATIVE_KEYSHARE_TEST_INPLACE_DELAY: '200000' };
    const w = new Worker(fixture('records-worker.mjs'), { env, workerData: { mode: 'busy-write', store: 'rec-kill', key: 'k', start: 2 + Math.floor(rand() * 1000) } });
    await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    await sleep(2 + rand() * 20);
    await w.terminate();
    await sleep(0);
    const r = s.get('k');
    assert.is(checkRecord(r), '', `round ${round}: ${JSON.stringify(r)}`);
    assert.ok(s.setFields('k', recordOf(round + 5000), { timeout: 200 }), `round ${round}: writable after recovery`);
    assert.is(s.add('k', 'hits', 1) >= 0, true);
  }
  const r = verify();
  assert.equal(errorsOf(r), []);
  assert.is(r.leakedBytes, 0, 'no redo buffer or record block leaked');
});

test('deleting records frees their blocks: bytes in use return to where they were', () => {
  const s = createStore('rec-free', { record: LAYOUT });
  for (const i of rounds(200)) s.set(`w${i}`, full(i));
  for (const i of rounds(200)) s.delete(`w${i}`);
  const before = arenaStats().bytesInUse;
  for (const i of rounds(200)) s.set(`w${i}`, full(i));
  for (const i of rounds(200)) s.add(`w${i}`, 'hits', i);
  for (const i of rounds(200)) s.delete(`w${i}`);
  assert.is(arenaStats().bytesInUse, before);
});

test.run();
