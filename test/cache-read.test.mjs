// The read side of the cache API (src/cache-read.ts): peek, remainingTtl, iteration, dump/load.
// Single-thread semantics first (on a replaced clock), then the same calls with other threads
// writing, and a dump carried to a fresh process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { createStore, configure, layoutRecord, InvalidOptionError, InvalidKeyError, StoreClosedError } from 'native-keyshare';
import { fixture, runWorker, exited } from './util.mjs';

let clock = 1_700_000_000_000;
/** Runs `fn` on a replaced clock (this thread only), restoring the real one after. */
function onFakeClock(fn) {
  configure({ clock: () => clock });
  try {
    return fn();
  } finally {
    configure({ clock: undefined });
  }
}

const valueOf = (k, n) => ({ k, n, pad: `${k}#${n}|`.repeat(1 + (n % 7)) });
const wellFormed = (v, k) => v !== null && typeof v === 'object' && v.k === k && v.pad === `${k}#${v.n}|`.repeat(1 + (v.n % 7));

// ── peek ──

test('peek returns what get returns (absent, expired, inline, block) and never calls get', () => onFakeClock(() => {
  for (const hot of [false, true]) {
    const s = createStore(`peek-basic-${hot}`, hot ? { hotReads: true } : undefined);
    s.set('small', 7);
    s.set('obj', { a: [1, 2] });
    s.set('short', 'v', { ttl: 1 });
    const get = s.get;
    s.get = () => { throw new Error('peek called get'); };
    assert.is(s.peek('small'), 7);
    assert.equal(s.peek('obj'), { a: [1, 2] });
    assert.is(s.peek('short'), 'v');
    assert.is(s.peek('absent'), undefined);
    clock += 1000;
    assert.is(s.peek('short'), undefined, 'expired exactly at the deadline');
    s.set('obj', { a: [3] });
    assert.equal(s.peek('obj'), { a: [3] }, 'a write is seen at once (hot: the cached value is revalidated)');
    if (hot) assert.ok(Object.isFrozen(s.peek('obj')), 'hotReads: frozen, as get returns');
    s.get = get;
    assert.equal(s.peek('obj'), s.get('obj'));
    assert.throws(() => s.peek(''), (e) => e instanceof InvalidKeyError);
    s.close();
    assert.throws(() => s.peek('obj'), (e) => e instanceof StoreClosedError);
  }
}));

// ── remainingTtl ──

test('remainingTtl: seconds with ms precision, Infinity without TTL, undefined when absent or expired', () => onFakeClock(() => {
  const s = createStore('ttl-left');
  s.set('t', { x: 1 }, { ttl: 2.5 });
  s.set('inline', 1);
  s.set('block', 'x'.repeat(100));
  assert.is(s.remainingTtl('t'), 2.5);
  clock += 1234;
  assert.is(s.remainingTtl('t'), 1.266);
  assert.is(s.remainingTtl('inline'), Infinity);
  assert.is(s.remainingTtl('block'), Infinity);
  assert.is(s.remainingTtl('absent'), undefined);
  clock += 1266;
  assert.is(s.remainingTtl('t'), undefined, 'expired at the deadline');
  s.set('t', 2);
  assert.is(s.remainingTtl('t'), Infinity, 'a write without ttl drops the deadline');
  assert.ok(s.lock('placeholder'));
  assert.is(s.remainingTtl('placeholder'), undefined, 'a locked key without a value holds nothing');
  s.release('placeholder');
  const r = createStore('ttl-left-records', { record: layoutRecord([{ name: 'a', type: 'int32' }]) });
  r.set('k', { a: 1 });
  assert.is(r.remainingTtl('k'), Infinity, 'records never have a TTL');
  assert.throws(() => s.remainingTtl(42), (e) => e instanceof InvalidKeyError);
}));

// ── iteration ──

test('keys, values, entries and for-of: every live key once, expired ones skipped', () => onFakeClock(() => {
  const s = createStore('iter-basic');
  const want = new Map();
  for (let i = 0; i < 300; i++) {
    s.set(`k${i}`, i % 3 === 0 ? i : { i });
    want.set(`k${i}`, i % 3 === 0 ? i : { i });
  }
  s.set('gone', 1, { ttl: 1 });
  clock += 1000;
  const entries = [...s];
  assert.is(entries.length, 300);
  assert.equal(new Map(entries), want);
  assert.equal([...s.entries()].sort(), entries.sort());
  assert.equal([...s.keys()].sort(), [...want.keys()].sort());
  assert.equal([...s.values()].length, 300);
  const it = s.keys();
  assert.is(it[Symbol.iterator](), it, 'an IterableIterator');
}));

test('iteration is lazy and weakly consistent: deleted before reached skipped, added meanwhile not yielded', () => {
  const s = createStore('iter-weak');
  for (let i = 0; i < 100; i++) s.set(`k${i}`, i);
  const it = s.entries();
  s.set('before-first-next', 1); // the keys are listed at the first next()
  const [k0] = it.next().value;
  const rest = [...s.keys()].filter((k) => k !== k0);
  s.delete(rest[0], { literal: true });
  s.set(rest[1], 'changed');
  s.set('added', 1);
  const seen = new Map([[k0, 0], ...it]);
  assert.ok(seen.has('before-first-next'));
  assert.not.ok(seen.has(rest[0]), 'deleted before it was reached');
  assert.is(seen.get(rest[1]), 'changed', 'read when reached');
  assert.not.ok(seen.has('added'));
  assert.is(seen.size, 100);
  const it2 = s.values();
  it2.next();
  s.close();
  assert.throws(() => it2.next(), (e) => e instanceof StoreClosedError);
  assert.throws(() => s.keys(), (e) => e instanceof StoreClosedError);
});

// ── dump / load ──

test('dump and load round-trip values and remaining TTLs through JSON and structuredClone', () => onFakeClock(() => {
  const s = createStore('dump-src');
  s.set('n', 1);
  s.set('o', { a: [1, 'x', null], b: { c: true } });
  s.set('t', 'ttl', { ttl: 10 });
  s.set('gone', 'x', { ttl: 1 });
  clock += 1000;
  const d = s.dump();
  assert.equal(new Map(d), new Map([['n', { value: 1 }], ['o', { value: { a: [1, 'x', null], b: { c: true } } }], ['t', { value: 'ttl', ttl: 9 }]]));
  assert.not.ok('ttl' in d.find(([k]) => k === 'n')[1], 'no ttl property for a value without TTL');
  for (const copy of [JSON.parse(JSON.stringify(d)), structuredClone(d)]) {
    const t = createStore(`dump-dst-${Math.random()}`);
    assert.is(t.load(copy), 3);
    assert.equal(new Map(t.dump()), new Map(d));
    clock += 500;
    assert.is(t.remainingTtl('t'), 8.5);
    assert.is(t.remainingTtl('o'), Infinity);
  }
  const t = createStore('dump-skip');
  assert.is(t.load([['a', { value: 1, ttl: 0 }], ['b', { value: 2, ttl: -3 }], ['c', { value: 3, ttl: 0.001 }]]), 1, 'ttl <= 0 skipped');
  assert.equal(t.listKeys(), ['c']);
}));

test('load checks every entry before writing any; a bad one names its index and key', () => {
  const s = createStore('load-bad');
  const bad = (entries, re) => {
    assert.throws(() => s.load(entries), (e) => e instanceof InvalidOptionError && re.test(e.message), `${JSON.stringify(entries)} -> ${re}`);
    assert.is(s.size, 0, 'nothing written');
  };
  const ok = ['fine', { value: 1 }];
  bad({}, /takes an array/);
  bad([ok, ['k']], /entries\[1\] must be a \[key, \{ value, ttl\? \}\] pair/);
  bad([ok, [5, { value: 1 }]], /entries\[1\]: the key must be a string/);
  bad([ok, ['', { value: 1 }]], /entries\[1\]: the key must be a string/);
  bad([ok, ['k', 1]], /entries\[1\] \(key "k"\): the second element must be an object/);
  bad([ok, ['k', { ttl: 1 }]], /entries\[1\] \(key "k"\): no "value"/);
  bad([ok, ['k', { value: 1, tll: 1 }]], /entries\[1\] \(key "k"\): unknown property "tll"/);
  bad([ok, ['k', { value: 1, ttl: '5' }]], /entries\[1\] \(key "k"\): ttl must be a finite number/);
  bad([ok, ['k', { value: 1, ttl: null }]], /entries\[1\] \(key "k"\): ttl/);
  bad([ok, ['k', { value: 1, ttl: NaN }]], /entries\[1\] \(key "k"\): ttl/);
  bad([ok, ['k', { value: () => 1 }]], /entries\[1\] \(key "k"\): .*function/);
  bad([ok, ['k', { value: undefined }]], /entries\[1\] \(key "k"\)/);
  const r = createStore('load-bad-records', { record: layoutRecord([{ name: 'a', type: 'int32' }]) });
  assert.throws(() => r.load([['x', { value: { a: 1 } }], ['y', { value: { a: 1 }, ttl: 5 }]]), (e) => e instanceof InvalidOptionError && /entries\[1\] \(key "y"\).*cannot have a TTL/.test(e.message));
  assert.throws(() => r.load([['x', { value: { a: 1 } }], ['y', { value: { b: 1 } }]]), (e) => e instanceof InvalidOptionError && /entries\[1\] \(key "y"\)/.test(e.message));
  assert.is(r.size, 0);
  assert.is(r.load([['x', { value: { a: 1 } }]]), 1);
  assert.equal(r.peek('x'), { a: 1 });
});

// ── with other threads ──

/**
 * Iterates `store` (`mode`: 'entries' or 'keys') while writer workers rewrite churn keys; after
 * `pauseAt` yields, has them delete the doomed keys and insert enough keys to resize the index
 * several times, and waits for them, then iterates on. Returns what it saw.
 */
async function iterateUnderWriters(mode, workers) {
  const name = `iter-mw-${mode}`;
  const STABLE = 1000, CHURN = 100, DOOMED = 200, EXPIRING = 100, INSERTS = 1500, PAUSE_AT = 200;
  const s = createStore(name);
  for (let i = 0; i < STABLE; i++) s.set(`stable:${i}`, valueOf(`stable:${i}`, i));
  for (let i = 0; i < CHURN; i++) s.set(`churn:${i}`, valueOf(`churn:${i}`, 0));
  for (let i = 0; i < DOOMED; i++) s.set(`doomed:${i}`, valueOf(`doomed:${i}`, i));
  const ctl = new Int32Array(new SharedArrayBuffer(16));
  const ws = [];
  const ready = [];
  for (let id = 0; id < workers; id++) {
    const w = new Worker(fixture('cache-read-worker.mjs'), { workerData: { role: 'iter-writer', store: name, ctl: ctl.buffer, id, workers, churn: CHURN, doomed: DOOMED, inserts: INSERTS } });
    ws.push(w);
    ready.push(new Promise((r) => w.once('message', r)));
  }
  await Promise.all(ready);
  for (let i = 0; i < EXPIRING; i++) s.set(`expiring:${i}`, valueOf(`expiring:${i}`, i), { ttl: 0.3 });
  const expiresAt = Date.now() + 300; // after every deadline
  const cap0 = s.stats().indexCapacity;
  const seen = new Map();
  let dups = 0, yielded = 0;
  const beforePhase = new Set();
  const it = mode === 'keys' ? s.keys() : s.entries();
  try {
    iterate(it);
  } finally {
    // Also when the iteration throws: the writers run until told to stop.
    Atomics.store(ctl, 2, 1);
    await Promise.all(ws.map(exited));
  }
  const cap1 = s.stats().indexCapacity;
  return { seen, dups, beforePhase, cap0, cap1, STABLE, CHURN, DOOMED, EXPIRING, PAUSE_AT };

  function iterate(it) {
    for (const item of it) {
      const [k, v] = mode === 'keys' ? [item, undefined] : item;
      if (seen.has(k)) dups++;
      seen.set(k, { v, afterPhase: yielded >= PAUSE_AT });
      if (yielded < PAUSE_AT) beforePhase.add(k);
      if (++yielded === PAUSE_AT) {
        Atomics.store(ctl, 0, 1);
        // Synchronous: no yield of the iteration happens until every writer finished its phase,
        // and the expiring keys have expired (Atomics.wait as a sleep between the two checks).
        while (Atomics.load(ctl, 1) < workers) Atomics.wait(ctl, 1, Atomics.load(ctl, 1), 50);
        while (Date.now() <= expiresAt) Atomics.wait(ctl, 3, 0, 20);
      }
    }
  }
}

for (const [mode, workers] of [['entries', 3], ['keys', 2]]) {
  test(`${mode}() under ${workers} writer workers and index resizes: live keys once, deleted and expired skipped, values whole`, async () => {
    const r = await iterateUnderWriters(mode, workers);
    const { seen } = r;
    assert.ok(r.cap1 > r.cap0, `the index resized during the iteration (${r.cap0} -> ${r.cap1} buckets)`);
    assert.is(r.dups, 0, 'no key yielded twice');
    for (let i = 0; i < r.STABLE; i++) {
      const k = `stable:${i}`;
      assert.ok(seen.has(k), `${k}, live throughout, yielded`);
      if (mode === 'entries') assert.equal(seen.get(k).v, valueOf(k, i));
    }
    for (let i = 0; i < r.CHURN; i++) {
      const k = `churn:${i}`;
      assert.ok(seen.has(k), `${k}, rewritten but never deleted, yielded`);
      if (mode === 'entries') assert.ok(wellFormed(seen.get(k).v, k), `${k}: a whole value of its own key, got ${JSON.stringify(seen.get(k).v)}`);
    }
    let lateDoomed = 0, lateExpired = 0, badNew = 0;
    for (const [k, { v, afterPhase }] of seen) {
      if (k.startsWith('doomed:') && afterPhase) lateDoomed++;
      if (k.startsWith('expiring:') && afterPhase) lateExpired++;
      if (k.startsWith('new:') && mode === 'entries' && !wellFormed(v, k)) badNew++;
    }
    assert.is(lateDoomed, 0, 'no key deleted before it was reached is yielded');
    assert.is(lateExpired, 0, 'no key expired before it was reached is yielded');
    assert.is(badNew, 0);
    assert.ok(r.beforePhase.size === r.PAUSE_AT);
  });
}

test('peek from 2 reader threads (hot and plain) while 2 threads write: whole values of their key, never older than a completed write', async () => {
  const name = 'peek-mw';
  const KEYS = 64;
  const published = new Int32Array(new SharedArrayBuffer(KEYS * 4));
  const ctl = new Int32Array(new SharedArrayBuffer(16));
  const common = { store: name, ctl: ctl.buffer, published: published.buffer, keys: KEYS, workers: 2 };
  // Readers peek from before the first write to after the last (they answer 'ready', then results).
  const readers = [];
  const ready = [false, true].map((hot) => new Promise((resolve, reject) => {
    const w = new Worker(fixture('cache-read-worker.mjs'), { workerData: { ...common, role: 'peek-reader', hot } });
    w.once('error', reject);
    readers.push(new Promise((r) => w.once('message', () => w.once('message', r))));
    w.once('message', resolve);
  }));
  await Promise.all(ready);
  const writers = [0, 1].map((id) => runWorker('cache-read-worker.mjs', { ...common, role: 'peek-writer', id, rounds: 400 }));
  try {
    await Promise.all(writers);
  } finally {
    Atomics.store(ctl, 2, 1);
  }
  for (const r of await Promise.all(readers)) {
    assert.ok(r.peeks > KEYS, `peeks made: ${r.peeks}`);
    assert.is(r.bad, 0, `torn or another key's value: ${JSON.stringify(r.firstBad)}`);
    assert.is(r.stale, 0, `older than a completed write: ${JSON.stringify(r.firstBad)}`);
  }
  const s = createStore(name);
  for (let i = 0; i < KEYS; i++) assert.is(s.peek(`key:${i}`).n, 400);
});

test('dump and remainingTtl read a value and its own deadline while 2 threads flip keys between TTL and none', async () => {
  const name = 'flip-mw';
  const KEYS = 16; // few, so that each is rewritten often between the reads of a dump
  const FLIPS = 40000;
  const ctl = new Int32Array(new SharedArrayBuffer(32));
  const s = createStore(name);
  for (let i = 0; i < KEYS; i++) s.set(`flip:${i}`, { n: 0, ttl: false });
  const ws = [0, 1].map((id) => new Worker(fixture('cache-read-worker.mjs'), { workerData: { role: 'ttl-flipper', store: name, ctl: ctl.buffer, id, workers: 2, keys: KEYS } }));
  await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
  let mismatched = 0, outOfRange = 0, withTtl = 0, without = 0, first = null;
  try {
    flip();
  } finally {
    Atomics.store(ctl, 2, 1);
    await Promise.all(ws.map(exited));
  }
  assert.ok(withTtl > 0 && without > 0, `both kinds seen (${withTtl} with a TTL, ${without} without)`);
  assert.is(mismatched, 0, `a value dumped with another value's TTL: ${JSON.stringify(first)}`);
  assert.is(outOfRange, 0, JSON.stringify(first));

  function flip() {
    // Dumps until the flippers have made FLIPS rounds between them (and at least 200 dumps
    // were made), so that enough dumps overlap rewrites however the threads are scheduled.
    for (let round = 0; round < 200 || Atomics.load(ctl, 4) < FLIPS; round++) {
      const d = s.dump();
      if (d.length !== KEYS) {
        outOfRange++;
        first ??= `dump of ${d.length} keys`;
      }
      for (const [k, e] of d) {
        if (e.value.ttl) withTtl++;
        else without++;
        if (e.value.ttl !== ('ttl' in e)) {
          mismatched++;
          first ??= [k, e];
        } else if ('ttl' in e && !(e.ttl > 0 && e.ttl <= 100)) {
          outOfRange++;
          first ??= [k, e];
        }
      }
      for (let i = 0; i < KEYS; i++) {
        const t = s.remainingTtl(`flip:${i}`);
        if (!(t === Infinity || (t > 0 && t <= 100))) {
          outOfRange++;
          first ??= `remainingTtl ${t}`;
        }
      }
    }
  }
});

test('a dump loads into another thread (structured clone) and into a fresh process (JSON) with values and TTLs', async () => {
  const s = createStore('dump-xproc');
  const want = new Map();
  for (let i = 0; i < 500; i++) {
    const v = i % 4 === 0 ? i : i % 4 === 1 ? `s${i}`.repeat(i % 50) : { i, list: [i, String(i)], nested: { ok: i % 2 === 0 } };
    s.set(`k:${i}`, v, i % 3 === 0 ? { ttl: 100 + i } : undefined);
    want.set(`k:${i}`, { v, ttl: i % 3 === 0 ? 100 + i : null });
  }
  const started = Date.now();
  const d = s.dump();
  assert.is(d.length, 500);
  const check = (loaded, entries, where) => {
    const elapsed = (Date.now() - started) / 1000;
    assert.is(loaded, 500, where);
    assert.is(entries.length, 500, where);
    for (const [k, v, ttl] of entries) {
      const w = want.get(k);
      assert.equal(v, w.v, `${where}: ${k}`);
      if (w.ttl === null) assert.ok(ttl === null || ttl === Infinity, `${where}: ${k} has no TTL`);
      else assert.ok(ttl <= w.ttl && ttl >= w.ttl - elapsed - 0.002, `${where}: ${k} ttl ${ttl}, was ${w.ttl}, ${elapsed} s ago`);
    }
  };
  const fromThread = await runWorker('cache-read-worker.mjs', { role: 'loader', store: 'dump-xproc-thread', dump: d, ctl: new SharedArrayBuffer(16) });
  check(fromThread.loaded, fromThread.entries, 'another thread');
  const child = spawnSync(process.execPath, [fileURLToPath(fixture('cache-load.mjs'))], { input: JSON.stringify(d), encoding: 'utf8', timeout: 30000 });
  assert.is(child.status, 0, child.stderr);
  const out = JSON.parse(child.stdout);
  check(out.loaded, out.entries, 'a fresh process');
});

test.run();
