// Learned structures: a store learns the object shapes of the values written to it and shares
// them through shared memory, so objects are stored without their property names and decoded
// by msgpackr's generated constructors. What must hold, whatever the threads do:
//  - a value written with a shape another thread has just learned decodes in every thread;
//  - an id never names two shapes, and no shape gets two ids;
//  - the table stops at its bound, after which other shapes are still stored (as maps);
//  - a thread killed in the middle of a table save leaves nothing leaked or half-written.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { Packr } from 'msgpackr';
import { createStore, verify } from 'native-keyshare';
import { fixture, prng, runWorker, sleep } from './util.mjs';
import { shaped, shapesOf, single } from './fixtures/learned-values.mjs';

function clean(where) {
  const r = verify();
  const errors = r.problems.filter((p) => p.severity === 'error');
  assert.equal(errors, [], `${where}: ${JSON.stringify(errors.slice(0, 3))}`);
  assert.is(r.leakedBytes, 0, `${where}: leaked ${r.leakedBytes} bytes`);
  return r;
}

test('objects are stored without their names, and read back equal', () => {
  const s = createStore('learned-basic');
  const names = new Packr({ useRecords: false, moreTypes: true });
  let asMaps = 0;
  const values = [];
  for (let i = 0; i < 200; i++) {
    const v = { id: i, name: `user ${i}`, email: `u${i}@example.com`, tags: ['a', 'b'], address: { street: `${i} Main St`, city: 'Paris' }, when: new Date(i) };
    values.push(v);
    s.set(`u${i}`, v);
    asMaps += names.pack(v).length;
  }
  for (let i = 0; i < 200; i++) assert.equal(s.get(`u${i}`), values[i]);
  const st = s.stats();
  assert.is(st.learnedStructures, 2); // the user, its address
  assert.ok(st.valueBytes < asMaps * 0.75, `${st.valueBytes} bytes vs ${asMaps} as maps`);
  // Values msgpackr cannot reproduce exactly still go to v8, unchanged.
  const odd = { m: new Map([['k', { x: 1 }]]), z: -0 };
  s.set('odd', odd);
  assert.ok(s.get('odd').m instanceof Map);
  assert.ok(Object.is(s.get('odd').z, -0));
  clean('after basic use');
});

test('documents with many long strings (stored with bundled strings) read back equal here and in another thread', async () => {
  const s = createStore('learned-bundled');
  const doc = (i) => ({
    id: i,
    rows: Array.from({ length: 40 }, (_, j) => ({ line: j, note: `order ${i} line ${j}: ${'lorem ipsum dolor sit amet '.repeat(3)}`, price: j * 1.25 })),
    memo: `${'ü日本😀'.repeat(20)}`,
  });
  for (let i = 0; i < 20; i++) s.set(`doc${i}`, doc(i));
  for (let i = 0; i < 20; i++) assert.equal(s.get(`doc${i}`), doc(i));
  const read = await runWorker('ops.mjs', { ops: Array.from({ length: 20 }, (_, i) => ['get', 'learned-bundled', `doc${i}`]) });
  for (let i = 0; i < 20; i++) assert.equal(read[i], doc(i), `doc${i} in the worker`);
  clean('after bundled documents');
});

test('shapes learned by one thread decode in every other while they are being learned', async () => {
  const store = 'learned-race';
  const shapes = 90;
  const rounds = 2;
  let checks = 0;
  let sets = 0;
  const wrote = new Set();
  for (let round = 0; round < rounds; round++) {
    // A fresh store per round, so that each round learns its shapes under contention.
    const name = `${store}-${round}`;
    createStore(name);
    const results = await Promise.all([0, 1, 2].map((t) => runWorker('learned-worker.mjs', { mode: 'race', store: name, keys: 400, shapes, ops: 6400, seed: 1000 * round + t + 1 })));
    const mine = new Set();
    for (const r of results) {
      assert.equal(r.errors, [], r.errors.join('\n'));
      checks += r.checks;
      sets += r.sets;
      for (const j of r.wrote) {
        mine.add(j);
        wrote.add(j);
      }
    }
    // Every shape written was learned exactly once: no duplicate ids, none lost.
    assert.is(createStore(name).stats().learnedStructures, shapesOf([...mine]), `round ${round}`);
    for (let x = 0; x < 400; x++) {
      const got = createStore(name).get(`k${x}`);
      if (got !== undefined) assert.equal(got, shaped(got.i, got.v, shapes));
    }
  }
  console.log(`  ${sets} sets and ${checks} checked reads across 3 threads, ${wrote.size} shapes`);
  assert.ok(checks > 10_000 && wrote.size === shapes, `${checks} checks, ${wrote.size} shapes`);
  clean('after the race');
});

test('the table stops at its bound; other shapes are still stored, and read in other threads', async () => {
  const s = createStore('learned-full');
  for (let n = 0; n < 300; n++) s.set(`n${n}`, single(n));
  assert.is(s.stats().learnedStructures, 128);
  for (let n = 0; n < 300; n++) assert.equal(s.get(`n${n}`), single(n));
  const { bad } = await runWorker('learned-worker.mjs', { mode: 'check', store: 'learned-full', count: 300 });
  assert.equal(bad, []);
  // A learned shape is still written as a record, smaller than a map of the same size.
  const sizeOf = (v) => {
    const before = s.stats().valueBytes;
    s.set('probe', v);
    const bytes = s.stats().valueBytes - before;
    s.delete('probe');
    return bytes;
  };
  const learned = sizeOf(single(5));
  const map = sizeOf(single(250));
  assert.ok(learned < map, `${learned} bytes as a record, ${map} as a map`);
  assert.is(s.stats().learnedStructures, 128);
  clean('with a full table');
});

test('a write that throws half-way through encoding leaves no unsaved shape behind', async () => {
  const s = createStore('learned-throw');
  let calls = 0;
  // The codec reads `boom` twice (its scan, then msgpackr): the second read throws after
  // msgpackr has met two new shapes, the object's and `first`'s.
  const bad = { first: { inner: 1 }, get boom() { if (++calls === 2) throw new Error('getter failed'); return 1; } };
  assert.throws(() => s.set('bad', bad), /getter failed/);
  assert.is(s.stats().learnedStructures, 0);
  // Another thread publishes shapes of its own, which take the first ids.
  await runWorker('learned-worker.mjs', { mode: 'apply', store: 'learned-throw', writes: [['w1', { w1: 1 }], ['w2', { w2: { w3: 1 } }]], reads: [] });
  assert.is(s.stats().learnedStructures, 3);
  // The same shapes as the failed write must now get ids of their own, not the ones it had met.
  const good = { first: { inner: 2 }, boom: 3 };
  s.set('good', good);
  assert.is(s.stats().learnedStructures, 5);
  const seen = await runWorker('learned-worker.mjs', { mode: 'apply', store: 'learned-throw', writes: [], reads: ['good', 'w1', 'w2'] });
  assert.equal(seen, { good, w1: { w1: 1 }, w2: { w2: { w3: 1 } } });
  assert.equal(s.get('good'), good);
});

test('a thread killed in the middle of a table save leaves nothing leaked or half-written', async () => {
  const rnd = prng(7);
  const ROUNDS = 25;
  let cutShort = 0;
  let written = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const name = `learned-kill-${round}`;
    const s = createStore(name);
    const w = new Worker(fixture('learned-worker.mjs'), {
      workerData: { mode: 'kill', store: name, start: 0 },
      env: { ...process.env, NATIVE_KEYSHARE_TEST_STRUCTS_DELAY: '30000' },
    });
    await new Promise((resolve) => w.once('message', resolve));
    await sleep(5 + rnd() * 40);
    await w.terminate();
    await sleep(1);
    const r = verify();
    if (r.problems.some((p) => p.severity === 'warning' && /structure table save was cut short/.test(p.message))) cutShort++;
    assert.equal(r.problems.filter((p) => p.severity === 'error'), [], `round ${round}: ${JSON.stringify(r.problems.slice(0, 3))}`);
    assert.is(r.leakedBytes, 0, `round ${round}`);
    // A save from this thread takes the lock over and finishes what the dead thread left.
    s.set('after', { after: round, fresh: true });
    const after = clean(`round ${round}, after the take-over`);
    assert.not.ok(after.problems.some((p) => /structure table/.test(p.message)), JSON.stringify(after.problems));
    let n = 0;
    for (; s.get(`n${n}`) !== undefined; n++) assert.equal(s.get(`n${n}`), single(n));
    written += n;
    assert.equal(s.get('after'), { after: round, fresh: true });
    // Each value present, and 'after', needed its shape; the killed set may have published one more.
    const learned = s.stats().learnedStructures;
    assert.ok(learned >= Math.min(n + 1, 128) && learned <= Math.min(n + 2, 128), `${learned} shapes for ${n} values`);
  }
  console.log(`  ${ROUNDS} kills, ${cutShort} inside a table save, ${written} values written before them`);
  assert.ok(cutShort >= 5, `only ${cutShort} of ${ROUNDS} kills landed inside a table save`);
});

test.run();
