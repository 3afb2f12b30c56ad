// Bounded stores: `max` and `maxSize` hold under concurrent writers, eviction keeps what threads
// read (W-TinyLFU admission, src/policy.ts), never hands a reader a torn or foreign value, passes
// over locked keys, reuses memory, and composes with TTLs, records and verify(); the store-level
// `ttl`; the use counters of stats().
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { arenaStats, createStore, layoutRecord, verify, InvalidOptionError, InvalidValueError } from 'native-keyshare';
import { fixture, exited, until } from './util.mjs';

function start(data) {
  const w = new Worker(fixture('cache-worker.mjs'), { workerData: data });
  const exit = exited(w);
  const messages = [];
  const waiters = [];
  w.on('message', (m) => {
    messages.push(m);
    waiters.splice(0).forEach((f) => f());
  });
  w.on('error', (e) => {
    throw e;
  });
  return {
    w,
    exit,
    messages,
    next: async (i) => {
      while (messages.length <= i) await new Promise((r) => waiters.push(r));
      return messages[i];
    },
  };
}

function checkVerify() {
  const r = verify();
  assert.ok(r.ok, JSON.stringify(r.problems.slice(0, 5)));
}

test('max: a write of a new key into a full store evicts one key; stats count it', () => {
  const s = createStore('cache-max', { max: 100 });
  for (let i = 0; i < 1000; i++) assert.is(s.set(`k${i}`, { i }), true);
  assert.is(s.size, 100);
  assert.is(s.stats().evictions, 900);
  // The key just written is there to be read (it waits in the admission window).
  assert.equal(s.get('k999'), { i: 999 });
  checkVerify();
});

test('options: checked, part of the store shape, inherited by a handle that passes none', () => {
  assert.throws(() => createStore('cache-bad', { max: 0 }), (e) => e instanceof InvalidOptionError && /options\.max/.test(e.message));
  assert.throws(() => createStore('cache-bad', { max: 1.5 }), (e) => e instanceof InvalidOptionError);
  assert.throws(() => createStore('cache-bad', { maxSize: 'lots' }), (e) => e instanceof InvalidOptionError && /maxSize/.test(e.message));
  assert.throws(() => createStore('cache-bad', { ttl: -1 }), (e) => e instanceof InvalidOptionError && /seconds/.test(e.message));
  assert.throws(() => createStore('cache-bad', { staleWhileRevalidate: 'soon' }), (e) => e instanceof InvalidOptionError);
  assert.throws(() => createStore('cache-bad', { maxx: 3 }), (e) => e instanceof InvalidOptionError && /unknown option "maxx"/.test(e.message));
  const a = createStore('cache-shape', { max: 10, ttl: 60 });
  assert.throws(() => createStore('cache-shape', { max: 20, ttl: 60 }), (e) => e instanceof InvalidOptionError && /max: 10, ttl: 60 there, max: 20, ttl: 60 here/.test(e.message));
  const b = createStore('cache-shape', { hotReads: true });
  for (let i = 0; i < 50; i++) b.set(`k${i}`, i);
  assert.is(a.size, 10, 'a handle without cache options bounds the store as its shape says');
});

test('maxSize: values fit in their encoded bytes; a value larger than maxSize is refused and stores nothing', () => {
  const s = createStore('cache-bytes', { maxSize: '4kb' });
  for (let i = 0; i < 500; i++) s.set(`k${i}`, 'x'.repeat(100 + (i % 50)));
  const st = s.stats();
  assert.ok(st.valueBytes <= 4096, `${st.valueBytes} bytes stored`);
  assert.ok(st.valueBytes > 4096 - 300, `${st.valueBytes} bytes stored: eviction went further than the bound needs`);
  s.set('small', 1);
  assert.throws(() => s.set('small', 'y'.repeat(5000)), (e) => e instanceof InvalidValueError && /maxSize of 4096/.test(e.message) && /"small"/.test(e.message));
  assert.is(s.get('small'), 1, 'the refused write left the old value');
  // A value that grows in place of a smaller one evicts others to fit.
  s.set('small', 'z'.repeat(3000));
  assert.ok(s.stats().valueBytes <= 4096);
  assert.is(s.get('small'), 'z'.repeat(3000));
  checkVerify();
});

test('ttl: the store default applies to set(); a per-call ttl overrides it, ttl: 0 stores without one', () => {
  const s = createStore('cache-ttl', { ttl: 60 });
  s.set('a', 1);
  s.set('b', 2, { ttl: 0 });
  s.set('c', 3, { ttl: 1 });
  const st = s.stats();
  assert.is(st.ttlEntries, 2);
  assert.throws(() => createStore('cache-ttl-rec', { ttl: 5, record: layoutRecord([{ name: 'n', type: 'int32' }]) }), (e) => e instanceof InvalidOptionError);
});

test('stats: hits and misses of every thread, peek-free; flushed by stats()', async () => {
  const s = createStore('cache-stats', { max: 100 });
  for (let i = 0; i < 10; i++) s.set(`s${i}`, i);
  for (let i = 0; i < 20; i++) s.get(`s${i}`);
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const r = start({ mode: 'read', name: 'cache-stats', options: { max: 100 }, prefix: 's', keys: 20, ctl: ctl.buffer });
  await r.next(0);
  await new Promise((res) => setTimeout(res, 50));
  Atomics.store(ctl, 0, 1);
  const { found, reads } = await r.next(1);
  await r.exit;
  const st = s.stats();
  assert.is(st.hits, 10 + found);
  assert.is(st.misses, 10 + (reads - found));
});

test('the bound holds under 4 writers in 4 threads, memory is reused, verify() is clean', async () => {
  const s = createStore('cache-4w', { max: 500 });
  // Warm up so that the slabs and blocks a full store needs exist, then measure churn.
  for (let i = 0; i < 2000; i++) s.set(`warm${i}`, { key: `warm${i}`, i });
  const before = arenaStats().bytesInUse;
  const ws = [0, 1, 2, 3].map((id) => start({ mode: 'insert', name: 'cache-4w', options: { max: 500 }, id, n: 3000 }));
  await Promise.all(ws.map((w) => w.next(0)));
  await Promise.all(ws.map((w) => w.exit));
  assert.is(s.size, 500);
  const st = s.stats();
  assert.is(st.evictions, 2000 + 12000 - 500);
  const grown = arenaStats().bytesInUse - before;
  assert.ok(grown < 64 * 1024, `12,000 inserts through a full store grew the arena's use by ${grown} bytes`);
  checkVerify();
});

test('reads in other threads protect keys: frequently read keys stay, unread ones are replaced', async () => {
  const name = 'cache-freq';
  const options = { max: 1000 };
  const s = createStore(name, options);
  // 500 keys that 3 workers read, 500 that nobody reads.
  for (let i = 0; i < 500; i++) s.set(`hot${i}`, i);
  for (let i = 0; i < 500; i++) s.set(`cold${i}`, i);
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const readers = [0, 1, 2].map((id) => start({ mode: 'read', name, options, id, prefix: 'hot', keys: 500, ctl: ctl.buffer }));
  await Promise.all(readers.map((r) => r.next(0)));
  // New keys seen twice (written, deleted, written again) outrank the unread keys, not the read ones.
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 1000; i++) {
      s.set(`new${i}`, i);
      if (round === 0) s.delete(`new${i}`);
    }
  }
  Atomics.store(ctl, 0, 1);
  await Promise.all(readers.map((r) => r.next(1)));
  let hot = 0;
  let cold = 0;
  for (let i = 0; i < 500; i++) {
    if (s.has(`hot${i}`)) hot++;
    if (s.has(`cold${i}`)) cold++;
  }
  assert.ok(hot >= 425, `${hot} of 500 read keys stayed`);
  assert.ok(cold <= 250, `${cold} of 500 unread keys stayed`);
  checkVerify();
});

test('scan resistance: a pass of 3× the store of cold keys leaves the keys read before it', () => {
  const s = createStore('cache-scan', { max: 1000 });
  for (let i = 0; i < 800; i++) s.set(`hot${i}`, i);
  for (let r = 0; r < 3; r++) for (let i = 0; i < 800; i++) s.get(`hot${i}`);
  for (let i = 0; i < 3000; i++) s.set(`scan${i}`, i);
  let hot = 0;
  for (let i = 0; i < 800; i++) if (s.has(`hot${i}`)) hot++;
  // An LRU cache of 1000 keeps none of them.
  assert.ok(hot >= 760, `${hot} of 800 read keys survived the scan`);
  assert.ok(s.has('scan2999'), 'the newest key is in the window');
});

test('eviction racing gets, sets and deletes in 4 threads: no foreign or torn value, plain and hot', async () => {
  for (const hotReads of [false, true]) {
    const name = `cache-race-${hotReads}`;
    const options = hotReads ? { max: 64, hotReads: true } : { max: 64 };
    createStore(name, options);
    const ws = [0, 1, 2, 3].map((id) => start({ mode: 'churn', name, options, id, seed: 100 + id, keys: 300, n: 15000 }));
    const results = await Promise.all(ws.map((w) => w.next(0)));
    await Promise.all(ws.map((w) => w.exit));
    for (const r of results) {
      assert.is(r.foreign, 0, `${r.foreign} gets returned another key's value`);
      assert.is(r.torn, 0, `${r.torn} gets returned a torn value`);
    }
    const s = createStore(name, options);
    assert.ok(s.size <= 64, `size ${s.size}`);
    assert.ok(s.stats().evictions > 1000, `only ${s.stats().evictions} evictions`);
    checkVerify();
  }
});

test('a key held by lock() in another thread is not evicted while held, and is after release', async () => {
  const name = 'cache-lock';
  const options = { max: 50 };
  const s = createStore(name, options);
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const h = start({ mode: 'hold', name, options, prefix: 'held', ctl: ctl.buffer });
  await h.next(0);
  // Keys written twice outrank the held key (written once, never read: has() is no read), so
  // only its lock keeps it.
  const churn = (p) => {
    for (let i = 0; i < 300; i++) {
      s.set(`${p}${i}`, i);
      s.delete(`${p}${i}`);
      s.set(`${p}${i}`, i);
    }
  };
  churn('a');
  assert.ok(s.has('held'), 'evicted while held');
  Atomics.store(ctl, 0, 1);
  await h.next(1);
  await h.exit;
  churn('b');
  assert.is(s.has('held'), false, 'released, it is evicted like any other key');
  assert.is(s.size, 50);
  checkVerify();
});

test('expired keys are evicted first', () => {
  const s = createStore('cache-expired', { max: 100 });
  for (let i = 0; i < 100; i++) s.set(`k${i}`, i);
  for (let i = 0; i < 100; i++) s.get(`k${i}`);
  s.set('gone', 1, { ttl: 0.001 });
  const t = Date.now();
  while (Date.now() - t < 5);
  for (let i = 0; i < 5; i++) s.set(`n${i}`, i);
  assert.is(s.stats().ttlEntries, 0, 'the expired key went before any live one');
});

test('a handle opened before the store got its cache options learns them at its next write', async () => {
  const early = createStore('cache-late-shape');
  const late = createStore('cache-late-shape', { max: 10, ttl: 0.3, staleWhileRevalidate: 60 });
  late.set('k', 'v');
  early.set('x', 1); // a write: the early handle takes the shape in
  await new Promise((r) => setTimeout(r, 400));
  // 'k' is past its ttl; its physical deadline is 60 s on (the stale-while-revalidate grace).
  assert.is(late.get('k'), undefined);
  assert.is(early.get('k'), undefined, 'the early handle serves a value past its ttl');
  assert.is(early.has('k'), false);
  assert.is(early.remainingTtl('x'), undefined, "the early handle's write got the store's ttl");
  for (let i = 0; i < 30; i++) early.set(`n${i}`, i);
  assert.ok(early.stats().entries <= 10, `the early handle's writes passed the bound: ${early.stats().entries} entries`);
  // Within the grace, fetch serves the stale value (and refreshes it in the background).
  late.set('s', 'old', { ttl: 0.05 });
  await new Promise((r) => setTimeout(r, 100));
  assert.is(await early.fetch('s', async () => 'new'), 'old');
  await until(() => late.get('s') === 'new');
  checkVerify();
});

test('a bound cannot be given to a store that already holds values (the byte count starts at the first write)', () => {
  const s = createStore('cache-late-bound');
  s.set('a', 1);
  assert.throws(() => createStore('cache-late-bound', { max: 10 }), (e) => e instanceof InvalidOptionError && /already holds 1 values written without a bound/.test(e.message));
  // A ttl alone counts nothing: it may come later.
  const t = createStore('cache-late-bound', { ttl: 60 });
  t.set('b', 1);
  assert.ok(s.remainingTtl('b') > 59);
  checkVerify();
});

test("a handle's lookup cache full of keys removed elsewhere drops them and caches the live ones", () => {
  const s = createStore('cache-stale-lookups', { max: 20_000 });
  // Another handle (hotReads: a separate instance with its own cache) does the removing.
  const other = createStore('cache-stale-lookups', { max: 20_000, hotReads: true });
  // 16,384 keys fill this handle's lookup cache (src/lookup-cache.ts, CACHE_LIMIT); the other
  // handle deletes them all (as evictions would) and writes 1,000 new keys, which this full
  // cache does not take. (Not clear(): it may return slabs, and every handle then drops all.)
  for (let i = 0; i < 16_384; i++) s.set(`a${i}`, i);
  assert.is(s.cached.size, 16_384);
  other.deleteMany(Array.from({ length: 16_384 }, (_, i) => `a${i}`));
  for (let i = 0; i < 1000; i++) other.set(`b${i}`, i);
  // A sample of gets (4,096) that miss the cache makes it drop what went stale; then it caches.
  for (let r = 0; r < 6; r++) for (let i = 0; i < 1000; i++) assert.is(s.get(`b${i}`), i);
  assert.ok(s.cached.size <= 1000, `the lookup cache still holds ${s.cached.size} keys`);
  for (let i = 0; i < 1000; i++) assert.ok(s.cached.has(`b${i}`), `b${i} is not cached`);
});

test('a bounded store of records', () => {
  const s = createStore('cache-records', { max: 20, record: layoutRecord([{ name: 'n', type: 'int32' }, { name: 'x', type: 'float64' }]) });
  for (let i = 0; i < 200; i++) s.set(`r${i}`, { n: i, x: i / 2 });
  assert.is(s.size, 20);
  assert.equal(s.get('r199'), { n: 199, x: 99.5 });
  checkVerify();
});

test('fetch on a full bounded store: one load for 5 threads while 2 writers evict; stats count it', async () => {
  const name = 'cache-fetch';
  const options = { max: 32 };
  const s = createStore(name, options);
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  for (let round = 0; round < 5; round++) {
    Atomics.store(ctl, 0, 0);
    Atomics.store(ctl, 2, 0);
    Atomics.store(ctl, 3, 0);
    const key = `f${round}`;
    const churn = [0, 1].map((id) => start({ mode: 'churn', name, options, id, seed: round * 10 + id, keys: 200, ctl: ctl.buffer }));
    const fetchers = [0, 1, 2, 3, 4].map((id) => start({ mode: 'fetch', name, options, id, prefix: key, ctl: ctl.buffer, callers: 5 }));
    await Promise.all(fetchers.map((f) => f.next(0)));
    Atomics.store(ctl, 0, 2);
    const values = (await Promise.all(fetchers.map((f) => f.next(1)))).map((m) => m.value);
    Atomics.store(ctl, 0, 1);
    await Promise.all([...churn, ...fetchers].map((w) => w.exit));
    assert.is(Atomics.load(ctl, 2), 1, `round ${round}: ${Atomics.load(ctl, 2)} loader calls`);
    for (const v of values) assert.equal(v, values[0]);
    assert.is(values[0].key, key);
  }
  const st = s.stats();
  assert.is(st.loads, 5);
  assert.is(st.loadFailures, 0);
  assert.ok(s.size <= 32);
  checkVerify();
});

test('a writer terminated mid-eviction leaves nothing leaked or half-linked (12 kills)', async () => {
  const s = createStore('cache-kill-bounded', { max: 64, maxSize: '8kb' });
  for (let round = 0; round < 12; round++) {
    const w = new Worker(fixture('busy.mjs'), { workerData: { store: 'cache-kill', key: 'k', mode: 'evict', start: 1 + round * 7919 } });
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, 5 + ((round * 13) % 40)));
    await w.terminate();
    // The next write recovers what the killed one held and settles the bound.
    assert.ok(s.set(`main${round}`, `main${round}:x`, { timeout: 2000 }));
    assert.ok(s.size <= 64 && s.stats().valueBytes <= 8192, `${s.size} keys, ${s.stats().valueBytes} bytes`);
    for (const key of s.listKeys()) {
      const v = s.get(key);
      assert.ok(v === undefined || (typeof v === 'string' && v.startsWith(`${key}:`)), `${key} reads ${v}`);
    }
    const r = verify();
    assert.is(r.problems.filter((p) => p.severity === 'error').length, 0, JSON.stringify(r.problems.slice(0, 3)));
    assert.is(r.leakedBytes, 0);
  }
});

test.run();
