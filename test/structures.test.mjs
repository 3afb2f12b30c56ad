// msgpackr record structures per store: objects of known shapes are stored without their
// property names, and every thread decodes them from the structures kept in shared memory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createStore, InvalidOptionError, verify } from 'native-keyshare';
import { Packr } from 'msgpackr';
import { runWorker } from './util.mjs';

const STRUCTURES = [['id', 'name', 'tags', 'address'], ['id', 'name', 'tags'], ['street', 'city']];
const user = (id) => ({ id, name: `user ${id}`, tags: ['a', 'b'], address: { street: 'Main St', city: 'Paris' } });

test('known shapes are stored smaller and read back equal', () => {
  const st = createStore('st-users', { structures: STRUCTURES });
  // What the same values take as msgpack maps, with their property names in every value.
  const names = new Packr({ useRecords: false, moreTypes: true });
  let a = 0;
  for (let i = 0; i < 10; i++) {
    st.set(`u${i}`, user(i));
    assert.equal(st.get(`u${i}`), user(i));
    a += names.pack(user(i)).length;
  }
  const b = st.stats().valueBytes;
  assert.ok(b < a * 0.75, `structures: ${b} bytes vs ${a} as maps`);
});

test('other shapes, Maps, -0 and primitives still round-trip exactly', () => {
  const st = createStore('st-users', { structures: STRUCTURES });
  const values = [
    { other: 1, nested: { x: [1, 2] } },
    { id: 1, name: 'n' },
    { id: 1, name: 'n', tags: [], address: { street: 's', city: 'c', zip: '1' } },
    new Map([['k', { street: 's', city: 'c' }]]),
    { v: -0 },
    'text', 42, null, true, [user(1), user(2)],
    { when: new Date(5), set: new Set([1]) },
  ];
  values.forEach((v, i) => {
    st.set(`v${i}`, v);
    assert.equal(st.get(`v${i}`), v, JSON.stringify(v));
  });
  assert.ok(Object.is(st.get('v4').v, -0));
  assert.ok(st.get('v3') instanceof Map);
});

test('workers decode and write with the structures from shared memory, with or without the option', async () => {
  const st = createStore('st-shared', { structures: STRUCTURES });
  st.set('main', user(1));
  const [a, b] = await Promise.all([
    runWorker('structures-worker.mjs', { store: 'st-shared', id: 2, withOptions: true, structures: STRUCTURES }),
    runWorker('structures-worker.mjs', { store: 'st-shared', id: 3, withOptions: false }),
  ]);
  assert.equal(a.main, user(1));
  assert.equal(b.main, user(1));
  assert.equal(st.get('from-worker-2'), { id: 2, name: 'w2', tags: ['x'], address: { street: 's', city: 'c' } });
  assert.equal(st.get('from-worker-3'), { id: 3, name: 'w3', tags: ['x'], address: { street: 's', city: 'c' } });
  // The worker without the option wrote with the structures too.
  assert.equal(createStore('st-shared').get('from-worker-3').address.city, 'c');
  assert.equal(verify().problems.filter((p) => p.severity === 'error'), []);
});

test('a different structures list for the same store is refused; bad lists are named', () => {
  createStore('st-agree', { structures: STRUCTURES });
  assert.throws(() => createStore('st-agree', { structures: [['id']] }), (e) => e instanceof InvalidOptionError && /different structures list/.test(e.message));
  assert.throws(() => createStore('st-bad', { structures: [[]] }), (e) => e instanceof InvalidOptionError && /structures\[0\]/.test(e.message));
  assert.throws(() => createStore('st-bad', { structures: [['a', 'a']] }), (e) => e instanceof InvalidOptionError);
  assert.throws(() => createStore('st-bad', { structures: 'x' }), (e) => e instanceof InvalidOptionError);
  // The same list gives the same handle.
  assert.is(createStore('st-agree', { structures: STRUCTURES }), createStore('st-agree', { structures: STRUCTURES.map((k) => [...k]) }));
});

test.run();
