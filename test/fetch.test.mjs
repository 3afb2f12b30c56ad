// Store.fetch across threads: one load per key for the whole process, failures and dead
// loaders, forceRefresh, abort signals, hits, no value older than one already read, and
// stale-while-revalidate. Workers run test/fixtures/fetch-worker.mjs; loaders count their calls
// in shared memory and wait on shared counters (no timing).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { createStore, arenaStats, verify, configure } from 'native-keyshare';
import { fixture, runWorker } from './util.mjs';
import { W, makeLoader } from './fixtures/fetch-worker.mjs';

const require = createRequire(import.meta.url);
const { records, loadState } = require('../dist/cjs/loader.js');
const { arena } = require('../dist/cjs/arena.js');
/** No load is in flight in the process (each record in the loader table is final). */
const noLoadInFlight = () => records(arena.i32).every((r) => loadState(r) < 0);

const SLOTS = 64;
const STRIDE = 8;
const words = new Int32Array(new SharedArrayBuffer(SLOTS * STRIDE * 4));
const at = (slot, f) => slot * STRIDE + f;
let nextSlot = 0;
const slot = () => {
  const s = nextSlot++;
  if (s >= SLOTS) throw new Error('out of counter slots');
  return s;
};

/** A worker answering fetch commands, each message matched to its reply by id. */
async function spawn() {
  let id = 0;
  const w = new Worker(fixture('fetch-worker.mjs'), { workerData: { fetchWorker: true, words: words.buffer } });
  const waiting = new Map();
  w.on('message', (m) => {
    if (m === 'ready') return;
    waiting.get(m.id)?.(m);
    waiting.delete(m.id);
  });
  w.on('error', (e) => { for (const r of waiting.values()) r({ ok: false, error: { message: String(e) } }); });
  await new Promise((r) => w.once('message', r));
  return {
    worker: w,
    ask(m) {
      const mid = ++id;
      return new Promise((resolve) => {
        waiting.set(mid, resolve);
        w.postMessage({ ...m, id: mid });
      });
    },
  };
}

/** The suite's 5 workers, started once; a test that kills one replaces it (see replace). */
const workers = await Promise.all([0, 1, 2, 3, 4].map(spawn));
/** `n` of the workers, with their messages addressed to store `store`. */
function pool(n, store) {
  return workers.slice(0, n).map((w, i) => ({ index: i, worker: w.worker, ask: (m) => w.ask({ store, ...m }) }));
}
async function replace(i) {
  await workers[i].worker.terminate();
  workers[i] = await spawn();
}
test.after(() => Promise.all(workers.map((w) => w.worker.terminate())));

/** Waits until `cond()` holds; a broken mechanism fails the test after 10 s instead of hanging it. */
async function until(cond, what = String(cond)) {
  const end = Date.now() + 10000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`still waiting after 10 s for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Asserts that `fn()` rejects, with an error matching `check` (a RegExp for its message, or a predicate). */
async function rejects(fn, check) {
  try {
    await fn();
  } catch (e) {
    if (check instanceof RegExp) assert.match(String(e?.message), check);
    else if (check !== undefined) assert.ok(check(e), `unexpected error: ${e}`);
    return;
  }
  assert.unreachable('expected a rejection');
}

/** Rejects if `p` has not settled within `ms` (a hang is a failure here, not a timing claim). */
function within(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms); })]).finally(() => clearTimeout(t));
}

// First, while the other threads are idle: the byte count is the whole arena's.
test('per-call ttl; undefined stores nothing; 10k fetches leave no shared memory behind', async () => {
  const s = createStore('fetch-mem');
  await s.fetch('warm', async () => 1); // the loader table is made once per process
  s.delete('warm');
  await s.fetch('t', async () => 'v', { ttl: 1000 });
  assert.ok(s.has('t'));
  s.delete('t');
  assert.is(await s.fetch('u', async () => undefined), undefined);
  assert.not.ok(s.has('u'));
  let start = 0;
  // The first 300 reach a steady state (a thread frees the value block it replaced at its next
  // allocation); the 10,000 after them must end where they began.
  for (let i = -300; i < 10000; i++) {
    if (i === 0) start = arenaStats().bytesInUse;
    const k = `m${i % 100}`;
    if (i % 3 === 0) assert.is(await s.fetch(k, async () => undefined), undefined);
    else if (i % 3 === 1) await rejects(() => s.fetch(k, async () => { throw new Error('no'); }));
    else {
      assert.is(await s.fetch(k, () => i), i);
      s.delete(k);
    }
  }
  assert.is(arenaStats().bytesInUse, start);
  const report = verify();
  assert.ok(report.ok, JSON.stringify(report.problems));
});

test('one loader for 5 concurrent callers in 5 threads, 20 rounds', async () => {
  const p = pool(5, 'fetch-once');
  const s = createStore('fetch-once');
  {
    for (let round = 0; round < 20; round++) {
      const sl = slot();
      // Even rounds: the loader waits until every caller has registered, so all 5 share one
      // load; odd rounds: it returns at once, and late callers must find the stored value.
      const n = round % 2 === 0 ? 5 : 0;
      const replies = await within(Promise.all(p.map((w) => w.ask({ key: `k${round}`, slot: sl, mode: 'value', n }))), 10000, `round ${round}`);
      assert.is(Atomics.load(words, at(sl, W.CALLS)), 1, `round ${round}: loader calls`);
      for (const r of replies) {
        assert.ok(r.ok, JSON.stringify(r));
        assert.equal(r.value, replies[0].value);
      }
      assert.equal(s.get(`k${round}`), replies[0].value);
    }
  }
});

test('a rejecting loader rejects all 5 callers with its name, message and code; the next fetch loads again', async () => {
  const p = pool(5, 'fetch-reject');
  {
    const sl = slot();
    const replies = await within(Promise.all(p.map((w) => w.ask({ key: 'bad', slot: sl, mode: 'reject', n: 5 }))), 10000, 'reject');
    assert.is(Atomics.load(words, at(sl, W.CALLS)), 1);
    let originals = 0;
    for (const r of replies) {
      assert.not.ok(r.ok);
      assert.equal({ name: r.error.name, message: r.error.message, code: r.error.code }, { name: 'LoadError', message: 'no value for bad', code: 'E_LOAD' });
      if (r.error.original) originals++;
    }
    assert.is(originals, 1, 'the loader thread rejects with the original error, the others with a rebuilt one');
    assert.is(createStore('fetch-reject').has('bad'), false);
    const again = slot();
    const second = await within(Promise.all(p.map((w) => w.ask({ key: 'bad', slot: again, mode: 'value', n: 5 }))), 10000, 'second fetch');
    assert.is(Atomics.load(words, at(again, W.CALLS)), 1);
    for (const r of second) assert.ok(r.ok && r.value.slot === again);

    // A fetch that comes once the load has failed, while a waiter (blocked) still holds the
    // failed record, must start a new load, not receive the old failure.
    const third = slot();
    const loading = p[0].ask({ key: 'bad3', slot: third, mode: 'reject', n: 3 });
    await until(() => Atomics.load(words, at(third, W.LOADING)) === 1); // worker 0 runs the load
    const blocked = p[1].ask({ key: 'bad3', slot: third, mode: 'value' });
    await until(() => Atomics.load(words, at(third, W.ARRIVED)) === 2);
    const unblocked = p[1].ask({ cmd: 'block', slot: third });
    await until(() => Atomics.load(words, at(third, W.ABORT)) === 1);
    Atomics.add(words, at(third, W.ARRIVED), 1); // now the loader fails, its waiter blocked
    try {
      const lr = await within(loading, 10000, 'failing load');
      assert.not.ok(lr.ok);
      const fresh = slot();
      const after = await within(createStore('fetch-reject').fetch('bad3', makeLoader(words, fresh, 'value')), 10000, 'fetch after the failure');
      assert.is(after.slot, fresh, 'a new load ran');
    } finally {
      Atomics.store(words, at(third, W.RELEASE), 1);
      Atomics.notify(words, at(third, W.RELEASE));
    }
    await within(unblocked, 10000, 'blocked worker');
    const br = await within(blocked, 10000, 'blocked waiter');
    assert.is(br.error.name, 'LoadError');
  }
});

for (const how of ['terminate', 'exit']) {
  test(`a loader thread that dies mid-load (${how}): the waiters take the load over and all resolve`, async () => {
    const p = pool(5, `fetch-dead-${how}`);
    try {
      const sl = slot();
      const [dead, ...rest] = p;
      const lost = dead.ask({ key: 'k', slot: sl, mode: how === 'exit' ? 'exit' : 'hang' });
      await until(() => Atomics.load(words, at(sl, W.LOADING)) === 1);
      const waits = rest.map((w) => w.ask({ key: 'k', slot: sl, mode: 'value' }));
      await until(() => Atomics.load(words, at(sl, W.ARRIVED)) === 5);
      if (how === 'terminate') await dead.worker.terminate();
      else Atomics.store(words, at(sl, W.RELEASE), 1);
      const replies = await within(Promise.all(waits), 10000, 'waiters after the loader died');
      void lost;
      assert.is(Atomics.load(words, at(sl, W.CALLS)), 2, 'the dead loader, then one takeover');
      for (const r of replies) {
        assert.ok(r.ok, JSON.stringify(r));
        assert.equal(r.value, replies[0].value);
      }
      assert.is.not(replies[0].value.by, 0);
      const report = verify();
      assert.ok(report.ok, JSON.stringify(report.problems));
      assert.equal(report.problems.filter((x) => x.kind === 'leak' || x.kind === 'load'), []);
    } finally {
      await replace(0);
    }
  });
}

test('a worker whose only work is an awaited fetch stays alive until the load it waits for is done', async () => {
  const s = createStore('fetch-lone');
  const sl = slot();
  const loading = s.fetch('k', makeLoader(words, sl, 'release'));
  await until(() => Atomics.load(words, at(sl, W.LOADING)) === 1);
  const lone = runWorker('fetch-lone.mjs', { words: words.buffer, store: 'fetch-lone', key: 'k', slot: sl }).catch((e) => ({ ok: false, error: String(e) }));
  await until(() => Atomics.load(words, at(sl, W.ARRIVED)) === 1);
  // Long enough for a worker with an empty event loop to have exited (not a timing assertion:
  // a slower machine only makes the test weaker, never fail wrongly).
  await new Promise((r) => setTimeout(r, 100));
  Atomics.store(words, at(sl, W.RELEASE), 1);
  const [mine, theirs] = await within(Promise.all([loading, lone]), 10000, 'lone waiter');
  assert.ok(theirs.ok, theirs.error);
  assert.equal(theirs.value, mine);
});

test('forceRefresh loads once for every caller even when the key holds a value, and passes the old value', async () => {
  const p = pool(5, 'fetch-force');
  const s = createStore('fetch-force');
  {
    s.set('k', 'old');
    const sl = slot();
    const replies = await within(Promise.all(p.map((w) => w.ask({ key: 'k', slot: sl, mode: 'value', n: 5, force: true }))), 10000, 'forceRefresh');
    assert.is(Atomics.load(words, at(sl, W.CALLS)), 1);
    for (const r of replies) assert.equal(r.value, replies[0].value);
    assert.is(replies[0].value.stale, 'old');
    assert.equal(s.get('k'), replies[0].value);
  }
});

test('hits do not call the loader, in any thread', async () => {
  const p = pool(5, 'fetch-hit');
  const s = createStore('fetch-hit');
  {
    s.set('k', { v: 1 });
    const sl = slot();
    const replies = await Promise.all(p.map((w) => w.ask({ key: 'k', slot: sl, mode: 'value' })));
    assert.is(Atomics.load(words, at(sl, W.CALLS)), 0);
    for (const r of replies) assert.equal(r.value, { v: 1 });
    assert.equal(await s.fetch('k', () => { throw new Error('called'); }), { v: 1 });
  }
});

test('signal: an aborted waiter rejects alone; an aborted loader caller aborts the loader, whose rejection reaches every waiter', async () => {
  const p = pool(2, 'fetch-signal');
  {
    // A waiter gives up: it rejects with its reason, the load goes on for the others.
    const a = slot();
    const loading = p[0].ask({ key: 'w', slot: a, mode: 'release' });
    await until(() => Atomics.load(words, at(a, W.LOADING)) === 1);
    const quitter = p[1].ask({ key: 'w', slot: a, mode: 'value', abort: true });
    const s = createStore('fetch-signal');
    const stayer = s.fetch('w', makeLoader(words, a, 'value'));
    await until(() => Atomics.load(words, at(a, W.ARRIVED)) === 2);
    Atomics.store(words, at(a, W.ABORT), 1);
    const q = await within(quitter, 10000, 'aborted waiter');
    assert.not.ok(q.ok);
    assert.is(q.error.message, 'caller gave up');
    Atomics.store(words, at(a, W.RELEASE), 1);
    const l = await within(loading, 10000, 'loader');
    assert.ok(l.ok);
    assert.equal(await stayer, l.value);
    assert.is(Atomics.load(words, at(a, W.CALLS)), 1);

    // The loader's caller gives up: the loader's signal aborts, and it rejects with the reason.
    const b = slot();
    const loader = p[0].ask({ key: 'l', slot: b, mode: 'signal', abort: true });
    await until(() => Atomics.load(words, at(b, W.LOADING)) === 1);
    const waiter = p[1].ask({ key: 'l', slot: b, mode: 'value' });
    await until(() => Atomics.load(words, at(b, W.ARRIVED)) === 2);
    Atomics.store(words, at(b, W.ABORT), 1);
    const [lr, wr] = await within(Promise.all([loader, waiter]), 10000, 'aborted loader');
    assert.is(lr.error.message, 'caller gave up');
    assert.not.ok(wr.ok);
    assert.is(wr.error.message, 'caller gave up');
    assert.is(Atomics.load(words, at(b, W.CALLS)), 1);
    // An already aborted signal rejects at once.
    await rejects(() => s.fetch('x', () => 1, { signal: AbortSignal.abort(new Error('early')) }), /early/);
  }
});

test('a fetch never returns a value older than one its thread already read (writers racing loads)', async () => {
  const p = pool(4, 'fetch-history');
  {
    const keys = ['h0', 'h1', 'h2'];
    const slots = keys.map(() => slot());
    const stop = at(slot(), 0);
    const writer = p[0].ask({ cmd: 'write', keys, slots, stopAt: stop });
    const readers = p.slice(1).map((w) => w.ask({ cmd: 'history', keys, slots, stopAt: stop }));
    try {
      await until(() => slots.every((s) => Atomics.load(words, at(s, W.CALLS)) >= 30) && Atomics.load(words, at(slots[0], W.SRC)) > 2000);
    } finally {
      Atomics.store(words, stop, 1);
    }
    const [w, ...rs] = await within(Promise.all([writer, ...readers]), 20000, 'history');
    assert.ok(w.value > 0);
    for (const r of rs) {
      assert.ok(r.ok, r.error);
      assert.ok(r.fetches > 0);
    }
  }
});

test('staleWhileRevalidate: stale values served at once, one background refresh for many callers across threads', async () => {
  const clockSab = new SharedArrayBuffer(4);
  const clock = new Int32Array(clockSab);
  configure({ clock: () => 1_700_000_000_000 + Atomics.load(clock, 0) });
  // The store's shape in shared memory: the workers' handles, opened after, take it from there.
  const s = createStore('fetch-swr', { ttl: 1, staleWhileRevalidate: 10 });
  const p = pool(5, 'fetch-swr');
  await Promise.all(p.map((w) => w.ask({ cmd: 'clock', clock: clockSab })));
  try {
    const first = slot();
    const v1 = await s.fetch('k', makeLoader(words, first, 'value'));
    assert.is(v1.slot, first);
    // The store's default ttl (1 s) applies: fresh until then, stale (for get: gone) after.
    Atomics.store(clock, 0, 999);
    assert.equal(s.get('k'), v1);
    Atomics.store(clock, 0, 2000);
    assert.is(s.get('k'), undefined, 'get treats a stale value as expired');
    assert.not.ok(s.has('k'));
    const sl = slot();
    const replies = await within(Promise.all(p.map((w) => w.ask({ key: 'k', slot: sl, mode: 'release' }))), 10000, 'stale hits');
    for (const r of replies) assert.equal(r.value, v1, 'served stale at once, while the refresh waits');
    await until(() => Atomics.load(words, at(sl, W.LOADING)) === 1);
    Atomics.store(words, at(sl, W.RELEASE), 1);
    // Stored first, then published: wait for the publication too, or the fetch below would
    // join the refresh still in flight (and get its value, loaded before the clock jumps).
    await until(() => s.get('k')?.slot === sl && noLoadInFlight());
    assert.is(Atomics.load(words, at(sl, W.CALLS)), 1, 'one refresh for 5 stale hits in 5 threads');
    assert.equal(s.get('k').stale, v1, 'the refresh saw the stale value');
    // Past ttl + staleWhileRevalidate the value is gone: a plain miss that waits for its load.
    Atomics.store(clock, 0, 2000 + 12000);
    const late = slot();
    const v3 = await s.fetch('k', makeLoader(words, late, 'value'));
    assert.is(v3.slot, late);
    assert.is(v3.stale, null);
  } finally {
    await Promise.all(p.map((w) => w.ask({ cmd: 'clock', clock: undefined })));
    configure({ clock: undefined });
  }
});

test('bad arguments reject with InvalidOptionError / InvalidKeyError', async () => {
  const s = createStore('fetch-args');
  await rejects(() => s.fetch('k', 'nope'), (e) => e.code === 'ERR_KEYSHARE_INVALID_OPTION');
  await rejects(() => s.fetch('', () => 1), (e) => e.code === 'ERR_KEYSHARE_INVALID_KEY');
  await rejects(() => s.fetch('k', () => 1, { ttl: -1 }), (e) => e.code === 'ERR_KEYSHARE_INVALID_OPTION');
  await rejects(() => s.fetch('k', () => 1, { bogus: 1 }), (e) => e.code === 'ERR_KEYSHARE_INVALID_OPTION');
  await rejects(() => s.fetch('k', () => 1, { signal: {} }), (e) => e.code === 'ERR_KEYSHARE_INVALID_OPTION');
});

test.run();
