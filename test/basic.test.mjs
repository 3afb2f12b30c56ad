import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createStore, listStores, Store, StoreClosedError } from 'native-keyshare';

test('seed README basic operations', () => {
  const store = createStore('mystore');
  assert.ok(store.set('user:1', { name: 'John' }));
  assert.equal(store.get('user:1'), { name: 'John' });
  assert.ok(store.delete('user:1'));
  assert.is(store.get('user:1'), undefined);
  assert.is(store.delete('user:1'), false, 'deleting an absent key reports false');
});

test('named stores are isolated, and a name gives the same instance', () => {
  const cacheStore = createStore('cache');
  const userStore = createStore('users');
  cacheStore.set('k', 'cache');
  userStore.set('k', 'users');
  assert.is(cacheStore.get('k'), 'cache');
  assert.is(userStore.get('k'), 'users');
  assert.is(createStore('cache'), cacheStore);
  assert.ok(cacheStore instanceof Store);
  assert.ok(listStores().includes('cache') && listStores().includes('users'));
});

test('createStore() is the "default" store', () => {
  const d = createStore();
  assert.is(d, createStore('default'));
  d.set('x', 1);
  assert.is(createStore('default').get('x'), 1);
});

test('overwrite with larger and smaller values', () => {
  const s = createStore('overwrite');
  for (const n of [1, 10, 1000, 100000, 3, 50000, 0]) {
    const v = { n, s: 'x'.repeat(n) };
    s.set('k', v);
    assert.equal(s.get('k'), v);
  }
});

test('has, size, getMany, setMany, deleteMany', () => {
  const s = createStore('batch');
  assert.is(s.size, 0);
  assert.is(s.setMany([['a', 1], ['b', 2], ['c', 3]]), 3);
  assert.is(s.setMany({ d: 4, e: 5 }), 2);
  assert.is(s.size, 5);
  assert.ok(s.has('a'));
  assert.not.ok(s.has('zzz'));
  assert.equal(s.getMany(['a', 'zzz', 'e']), [1, undefined, 5]);
  assert.is(s.deleteMany(['a', 'b', 'zzz']), 2);
  assert.is(s.size, 3);
  assert.equal(s.listKeys().sort(), ['c', 'd', 'e']);
});

test('update() is read-modify-write and returns the new value', () => {
  const s = createStore('update');
  assert.is(s.update('n', (v) => (v ?? 0) + 1), 1);
  assert.is(s.update('n', (v) => v + 1), 2);
  assert.is(s.get('n'), 2);
  assert.throws(() => s.update('n', () => { throw new Error('boom'); }), /boom/);
  assert.is(s.get('n'), 2, 'a throwing updater writes nothing');
  assert.ok(s.lock('n', 0), 'the lock was released after the throw');
  s.release('n');
  assert.is(s.update('fresh', (v) => { assert.is(v, undefined); return 'x'; }), 'x');
});

test('listKeys and delete with the seed README patterns', () => {
  const s = createStore('patterns');
  const keys = ['users:123', 'users:abc', 'user:1', 'session:1', 'session:a', 'session:12', 'cache:12', 'cache:ab',
    'cache:1', 'user_1', 'user_123', 'user_x', 'test_abc', 'test_123', 'log_1', 'log_x'];
  for (const k of keys) s.set(k, k);
  assert.equal(s.listKeys('users:*').sort(), ['users:123', 'users:abc']);
  assert.equal(s.listKeys('session:?').sort(), ['session:1', 'session:a']);
  assert.equal(s.listKeys('cache:??').sort(), ['cache:12', 'cache:ab']);
  assert.equal(s.listKeys('/^user_\\d+$/').sort(), ['user_1', 'user_123']);
  assert.equal(s.listKeys('/test_.+/').sort(), ['test_123', 'test_abc']);
  assert.equal(s.listKeys('/log_\\d+/'), ['log_1']);
  assert.equal(s.listKeys('user:1'), ['user:1'], 'a plain key is a literal pattern');
  assert.equal(s.listKeys('nope'), []);
  assert.ok(s.delete('users:*'));
  assert.ok(s.delete('session:?'));
  assert.ok(s.delete('cache:??'));
  assert.ok(s.delete('/^user_\\d+$/'));
  assert.ok(s.delete('/test_.+/'));
  assert.not.ok(s.delete('users:*'), 'nothing left to delete');
  assert.equal(s.listKeys().sort(), ['cache:1', 'log_1', 'log_x', 'session:12', 'user:1', 'user_x']);
});

test('keys holding pattern characters can be deleted literally', () => {
  const s = createStore('literal');
  for (const k of ['a*', 'a*b', 'q?', '/x/', '/home/user', 'a\\b']) s.set(k, 1);
  s.set('abc', 2);
  assert.ok(s.delete('a*', { literal: true }));
  assert.ok(s.has('a*b') && s.has('abc'), 'literal delete touched only the literal key');
  assert.ok(s.delete('/x/', { literal: true }));
  assert.ok(s.delete('a\\*b'), 'a backslash escapes a glob character');
  assert.ok(s.delete('/home/user'), 'slash-shaped keys that are not regexes are literal');
  assert.ok(s.delete('a\\b'), 'backslashes in a literal are literal');
  assert.equal(s.listKeys().sort(), ['abc', 'q?']);
});

test('unicode keys and values', () => {
  const s = createStore('unicode');
  const key = 'ключ:😀:键';
  s.set(key, { v: 'värde 😀 值' });
  assert.equal(s.get(key), { v: 'värde 😀 值' });
  assert.equal(s.listKeys('ключ:?:*'), [key], '? matches one code point, even a surrogate pair');
});

test('clear() empties the store; other stores keep their data', () => {
  const a = createStore('clear-a');
  const b = createStore('clear-b');
  for (let i = 0; i < 1000; i++) a.set(`k${i}`, i);
  b.set('keep', 1);
  a.clear();
  assert.is(a.size, 0);
  assert.equal(a.listKeys(), []);
  assert.is(a.get('k1'), undefined);
  assert.is(b.get('keep'), 1);
  a.set('again', 2);
  assert.is(a.get('again'), 2);
});

test('close() ends the handle; createStore opens a new one on the same data', () => {
  const s = createStore('closing');
  s.set('k', 1);
  s.close();
  assert.throws(() => s.get('k'), (e) => e instanceof StoreClosedError && e.code === 'ERR_KEYSHARE_STORE_CLOSED');
  assert.throws(() => s.set('k', 2), (e) => e instanceof StoreClosedError);
  s.close(); // idempotent
  const again = createStore('closing');
  assert.is.not(again, s);
  assert.is(again.get('k'), 1);
});

test('many keys: index growth keeps every key', () => {
  const s = createStore('many');
  const N = 200_000;
  for (let i = 0; i < N; i++) s.set(`key:${i}`, i);
  assert.is(s.size, N);
  for (let i = 0; i < N; i += 997) assert.is(s.get(`key:${i}`), i);
  for (let i = 0; i < N; i += 2) s.delete(`key:${i}`);
  assert.is(s.size, N / 2);
  for (let i = 1; i < N; i += 2000) assert.is(s.get(`key:${i}`), i);
  assert.is(s.get('key:0'), undefined);
  assert.is(s.listKeys('key:*').length, N / 2);
});

test('hotReads: the same frozen object while unchanged; maxKeys bounds what is kept', () => {
  const w = createStore('hot-basic');
  const h = createStore('hot-basic', { hotReads: { maxKeys: 2 } });
  for (const k of ['a', 'b', 'c']) w.set(k, { k });
  const a = h.get('a');
  assert.ok(Object.isFrozen(a));
  assert.is(h.get('a'), a, 'cached: the same object');
  const b = h.get('b');
  // Full: a key beyond maxKeys is decoded again on each get until it takes a place (one miss in
  // 32 does, evicting by CLOCK: b, not read since it was cached, goes; a, read again, stays).
  const c = h.get('c');
  assert.equal(c, { k: 'c' });
  assert.ok(Object.isFrozen(c));
  assert.is.not(h.get('c'), c, 'beyond maxKeys: decoded again');
  let reads = 2;
  while (h.get('c') !== h.get('c') && reads < 100) reads += 2;
  assert.ok(reads < 100, 'a key read again and again takes a place');
  assert.is(h.get('a'), a, 'a key read since it was cached is kept');
  const b2 = h.get('b');
  assert.equal(b2, { k: 'b' });
  assert.is.not(b2, b, 'the evicted key is decoded again');
  w.set('a', { k: 'a2' });
  assert.equal(h.get('a'), { k: 'a2' });
  assert.is(createStore('hot-basic', { hotReads: true }), createStore('hot-basic', { hotReads: {} }));
  assert.throws(() => createStore('hot-basic', { hotReads: { maxKeys: -1 } }), /maxKeys must be an integer/);
  assert.throws(() => createStore('hot-basic', { hotReads: { max: 1 } }), /hotReads must be a boolean or \{ maxKeys \}/);
});

test('hotReads: a full cache follows the working set when it moves', () => {
  const w = createStore('hot-shift');
  const h = createStore('hot-shift', { hotReads: { maxKeys: 64 } });
  for (let i = 0; i < 1000; i++) w.set(`k${i}`, { i });
  // The first working set fills the cache, and is read often enough to earn second chances.
  for (let r = 0; r < 3; r++) for (let i = 0; i < 64; i++) h.get(`k${i}`);
  // Then the hot keys change: they take places as they miss, until every one of them is served
  // from the cache (it would never be if the cache kept its first keys for good).
  const hot = Array.from({ length: 32 }, (_, j) => `k${500 + j * 7}`);
  for (let r = 0; r < 400; r++) for (const k of hot) h.get(k);
  for (const k of hot) {
    const v = h.get(k);
    assert.is(h.get(k), v, `${k}: cached`);
  }
});

test('a full cache under churn: reads agree with a model, and the CLOCK ring stays whole', () => {
  // Internal state: with hotReads, `cached` (key -> CacheEntry) and `ring` (the entries in CLOCK
  // order, each knowing its place, with their keys in `ringKeys`) must hold the same entries after
  // evictions, stale drops and re-creations (see LookupCache.cache in lookup-cache.ts).
  for (const hotReads of [{ maxKeys: 64 }, false]) {
    const name = `churn-${hotReads ? 'hot' : 'plain'}`;
    const s = createStore(name, { hotReads });
    const other = createStore(name, { hotReads: hotReads ? false : { maxKeys: 8 } });
    const model = new Map();
    let x = 99;
    const rnd = (n) => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % n;
    for (let op = 0; op < 60_000; op++) {
      // Skewed: half the ops on 40 keys, half on 600.
      const key = `c${rnd(2) === 0 ? rnd(40) : rnd(600)}`;
      const r = rnd(100);
      if (r < 70) assert.equal(s.get(key), model.get(key), key);
      else if (r < 85) {
        (r < 80 ? s : other).set(key, { op });
        model.set(key, { op });
      } else {
        (r < 95 ? s : other).delete(key);
        model.delete(key);
      }
    }
    if (!hotReads) continue; // a plain handle's cache never evicts and keeps no ring
    assert.is(s.ring.length, s.cached.size, 'one ring place per cached entry');
    assert.is(s.ringKeys.length, s.ring.length);
    s.ring.forEach((entry, i) => {
      assert.is(entry.mark >>> 2, i, 'its place');
      assert.is(s.cached.get(s.ringKeys[i]), entry, 'its key');
    });
    assert.is(s.cached.size, 64, 'bounded, and full');
  }
});

test('stats() reports entries and bytes', () => {
  const s = createStore('stats');
  s.set('a', 'x'.repeat(100));
  s.set('b', 1);
  const st = s.stats();
  assert.is(st.name, 'stats');
  assert.is(st.entries, 2);
  assert.ok(st.valueBytes >= 100, `valueBytes ${st.valueBytes}`);
  assert.ok(st.arena.bytesInUse > 0 && st.arena.bytesReserved >= st.arena.bytesInUse);
  assert.ok(st.arena.threads >= 1);
});

test.run();
