// History checking: worker threads run seeded random mixes of set/get/delete/update/lock…release
// on a few keys of one store, recording each operation's invocation and response on a shared
// logical clock; the histories are then checked against a sequential model of a map
// (test/fixtures/history-check.mjs, which lists the anomalies it detects).
//
// HISTORY_SEED=<n> replays a run's operation choices (not its interleaving); HISTORY_MS sets the
// run's length. scripts/history-long.mjs runs many rounds with fresh seeds.
// The last tests reproduce a fixed bug (finding 9) deterministically; they run by default as
// regression tests (KEYSHARE_KNOWN_BUGS=0 tolerates that anomaly and skips them).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createStore } from 'native-keyshare';
import { fixture, sleep } from './util.mjs';
import { checkHistory } from './fixtures/history-check.mjs';
import { recordHistory } from './fixtures/history-run.mjs';

const SEED = process.env.HISTORY_SEED !== undefined ? Number(process.env.HISTORY_SEED) >>> 0 : 20251124;
const MS = Number(process.env.HISTORY_MS ?? 2500);
const KNOWN = process.env.KEYSHARE_KNOWN_BUGS !== '0';
/** Anomaly kinds of fixed findings, tolerated only with KEYSHARE_KNOWN_BUGS=0. */
const TOLERATED = KNOWN ? new Set() : new Set(['non-monotonic-mixed']);
const formatId = (id) => `w${id % 16}#${Math.floor(id / 16)}`;

// ── hand-made histories: the checker accepts good ones and names what is wrong in bad ones ──

/** A valid history on one key k (ids are letters) and a counter; see the comments inline. */
function goodHistory() {
  return {
    initial: { k: null, ctr: 'c0' },
    counter: { key: 'ctr', final: 2 },
    threads: [
      { id: 1, ops: [
        { op: 'set', key: 'k', wid: 'A', ok: true, inv: 1, resp: 2 },
        { op: 'set', key: 'k', wid: 'B', ok: true, inv: 10, resp: 20 }, // slow: B is in flight 10..20
        { op: 'delete', key: 'k', ok: true, inv: 30, resp: 31 },
        { op: 'lock', key: 'k', ok: true, inv: 40, resp: 41, sec: 1 },
        { op: 'get', key: 'k', obs: null, inv: 42, resp: 43, sec: 1 },
        { op: 'set', key: 'k', wid: 'C', ok: true, inv: 44, resp: 45, sec: 1 },
        { op: 'hotGet', key: 'k', obs: 'C', inv: 46, resp: 47, sec: 1 },
        { op: 'release', key: 'k', ok: true, inv: 48, resp: 49, sec: 1 },
      ] },
      { id: 2, ops: [
        { op: 'get', key: 'k', obs: 'A', inv: 3, resp: 4 },
        { op: 'get', key: 'k', obs: 'B', inv: 11, resp: 12 }, // sees B in flight
        { op: 'get', key: 'k', obs: 'B', inv: 21, resp: 22 },
        { op: 'get', key: 'k', obs: null, inv: 32, resp: 33 },
        { op: 'set', key: 'k', wid: 'D', ok: true, inv: 42.5, resp: 60 }, // waits for the lock
        { op: 'update', key: 'ctr', obs: 'c0', wid: 'c1', n: 1, ok: true, inv: 70, resp: 71 },
      ] },
      { id: 3, ops: [
        { op: 'get', key: 'k', obs: 'A', inv: 13, resp: 14 }, // B still in flight: A is allowed
        { op: 'delete', key: 'k', ok: false, inv: 34, resp: 35 },
        { op: 'get', key: 'k', obs: 'C', inv: 50, resp: 51 },
        { op: 'update', key: 'ctr', obs: 'c1', wid: 'c2', n: 2, ok: true, inv: 72, resp: 73 },
        { op: 'get', key: 'ctr', obs: 'c2', inv: 74, resp: 75 },
      ] },
    ],
  };
}

/** goodHistory() with op `idx` of thread `t` changed by `patch` (or extra ops appended). */
function tweak(patches, extra = {}) {
  const h = goodHistory();
  for (const [t, idx, patch] of patches) {
    const ops = h.threads.find((x) => x.id === t).ops;
    if (idx === 'push') ops.push(patch);
    else Object.assign(ops[idx], patch);
  }
  return { ...h, ...extra };
}

/** Checks that the first anomaly reported is a `kind` whose report names `mentions`. */
function expectAnomaly(history, kind, { strict = false, mentions = [] } = {}) {
  const r = checkHistory(history, { strict });
  assert.ok(!r.ok, `the checker missed a ${kind}`);
  assert.is(r.first.kind, kind, `first anomaly: ${r.first.text}`);
  for (const m of mentions) assert.ok(r.first.text.includes(m), `the report names ${m}:\n${r.first.text}`);
  return r.first;
}

test('checker: a valid history with concurrent writes, deletes, a lock section and a counter passes', () => {
  const r = checkHistory(goodHistory());
  assert.ok(r.ok, r.first?.text);
  assert.is(r.stats.sections, 1);
  assert.is(r.stats.counterUpdates, 2);
  assert.ok(r.stats.racyReads >= 1, 'the read of B in flight counts as racy');
});

test('checker: a stale read is reported with the operations involved', () => {
  // Thread 2's last read of k returns A although B completed (at 20) before it began (at 21).
  const a = expectAnomaly(tweak([[2, 2, { obs: 'A' }]]), 'stale-read', { mentions: ['set(k, "A")', 'set(k, "B")', 'get(k) -> "A"', 'thread 2 op #2'] });
  console.log(`  self-test report:\n    ${a.text.replace(/\n/g, '\n    ')}`);
});

test('checker: values nobody wrote, from failed writes, from the future or from another key', () => {
  expectAnomaly(tweak([[2, 0, { obs: 'Z' }]]), 'phantom-read', { mentions: ['"Z"'] });
  // set A reported failure (a lock timeout), yet A is read.
  const failed = checkHistory(tweak([[1, 0, { ok: false }]]));
  assert.equal(failed.anomalies.map((a) => a.kind), ['timeout', 'phantom-read', 'phantom-read']);
  assert.match(failed.anomalies[1].text, /written by a set that reported failure/);
  expectAnomaly(tweak([[2, 0, { obs: 'B' }]]), 'future-read');
  expectAnomaly(tweak([[3, 4, { obs: 'A' }]]), 'wrong-key');
});

test('checker: undefined where a value must be, and a delete of nothing', () => {
  // After set A completed, no delete happened before thread 2's first read.
  expectAnomaly(tweak([[2, 0, { obs: null }]]), 'stale-absent');
  // A delete returning true though the key was deleted (at 31) before it began, unset since.
  expectAnomaly(tweak([[3, 1, { ok: true }]]), 'stale-present');
});

test('checker: a thread that reads older than it has read (and the cross-thread variant in strict mode)', () => {
  // Thread 2 sees B (in flight) and then A again: B began after A completed.
  expectAnomaly(tweak([[2, 2, { obs: 'A', inv: 13.5, resp: 13.6 }]]), 'non-monotonic', { mentions: ['thread 2'] });
  // Thread 3 reading A at 13 after thread 2's read of B returned at 12 is allowed (B is in
  // flight, README promises no more) but is a new-old inversion, reported in strict mode only.
  assert.ok(checkHistory(goodHistory()).ok);
  expectAnomaly(goodHistory(), 'new-old-inversion', { strict: true });
  // Through the plain then the hotReads instance of one thread.
  expectAnomaly(tweak([[2, 2, { op: 'hotGet', obs: 'A', inv: 13.5, resp: 13.6 }]]), 'non-monotonic-mixed');
});

test('checker: lost updates', () => {
  // Two concurrent counter updates were both given c0 (and both wrote n = 1).
  const r = checkHistory(tweak([[3, 3, { obs: 'c0', n: 1, inv: 70.5 }]]));
  assert.equal(r.anomalies.map((a) => a.kind), ['lost-update', 'lost-update']);
  assert.match(r.first.text, /two updates of ctr were both given "c0"[^]*update\(ctr: "c0" => "c1", n = 1\)[^]*update\(ctr: "c0" => "c2", n = 1\)/);
  // The final count is not the number of successful updates.
  expectAnomaly(tweak([], { counter: { key: 'ctr', final: 3 } }), 'lost-update', { mentions: ['ends at 3 after 2'] });
});

test('checker: lock sections are exclusive and the holder reads what it wrote', () => {
  // Thread 2's set of D runs entirely while thread 1 holds k's lock.
  expectAnomaly(tweak([[2, 4, { inv: 42.5, resp: 42.7 }]]), 'lock-intrusion', { mentions: ['set(k, "D")', 'lock(k)', 'release(k)'] });
  // The holder reads D (in flight, so fine by the register rules) right after writing C.
  expectAnomaly(tweak([[1, 6, { obs: 'D' }]]), 'section-read', { mentions: ['had just written "C"'] });
  expectAnomaly(tweak([[1, 7, { ok: false }]]), 'release-failed');
  // Thread 3 holds k's lock (76..90) while thread 1 takes it again (78..81).
  const h = tweak([[3, 'push', { op: 'lock', key: 'k', ok: true, inv: 76, resp: 77, sec: 1 }], [3, 'push', { op: 'release', key: 'k', ok: true, inv: 90, resp: 91, sec: 1 }]]);
  h.threads.find((x) => x.id === 1).ops.push({ op: 'lock', key: 'k', ok: true, inv: 78, resp: 79, sec: 2 }, { op: 'release', key: 'k', ok: true, inv: 80, resp: 81, sec: 2 });
  expectAnomaly(h, 'lock-overlap');
});

// ── the real thing ──

let recorded;
test(`3 workers, seeded random mix for ${MS} ms: no anomaly`, async () => {
  const t0 = Date.now();
  const { history } = await recordHistory({ seed: SEED, workers: 3, durationMs: MS, maxRecords: 40_000, minOps: 3000, storeName: 'history' });
  history.formatId = formatId;
  const t1 = Date.now();
  const r = checkHistory(history);
  const t2 = Date.now();
  const real = r.anomalies.filter((a) => !TOLERATED.has(a.kind));
  const tolerated = r.anomalies.length - real.length;
  const s = r.stats;
  console.log(`  seed ${SEED} (replay: HISTORY_SEED=${SEED}): ${s.ops} ops, ${s.reads} reads (${s.racyReads} of in-flight writes, ${s.absentReads} of undefined), ${s.writes} writes, ${s.sections} lock sections, ${s.counterUpdates} counter updates; recorded in ${t1 - t0} ms, checked in ${t2 - t1} ms${tolerated ? `; ${tolerated} known-finding anomalies (non-monotonic-mixed) tolerated` : ''}`);
  assert.ok(real.length === 0, `${real.length} anomalies; the first:\n${real[0]?.text}`);
  // The run must have exercised what it checks.
  // (Each worker does at least 3,000 operations, past the duration on a loaded machine: in CI
  // at full load, 2,500 ms once gave 1,485 operations in all.)
  assert.ok(s.reads > 1000 && s.writes > 1000, 'enough reads and writes');
  assert.ok(s.sections > 50 && s.counterUpdates > 200, 'enough lock sections and counter updates');
  assert.ok(s.racyReads > 0, 'some reads raced a write in flight');
  assert.ok(s.absentReads > 0, 'some reads saw a deleted key');
  assert.is(history.counter.final, s.counterUpdates, 'the counter counts every update');
  recorded = history;
});

test('checker: a stale read and a lost increment injected into the recorded history are caught', () => {
  assert.ok(recorded, 'the recorded history');
  // A read that began after two successive writes of its key completed: make it return the
  // first of them.
  const all = recorded.threads.flatMap((t) => t.ops.map((o) => ({ o, t: t.id })));
  const writes = all.filter(({ o }) => o.op === 'set' && o.ok && o.key === 'k0').map(({ o }) => o);
  let victim;
  for (let i = 0; i + 1 < writes.length && !victim; i++) {
    const [w1, w2] = [writes[i], writes[i + 1]].sort((a, b) => a.inv - b.inv);
    if (w1.resp > w2.inv) continue;
    victim = all.find(({ o }) => o.op === 'get' && o.key === 'k0' && o.inv > w2.resp + 2 && o.obs !== w1.wid)?.o;
    if (victim) victim.obs = w1.wid;
  }
  assert.ok(victim, 'found a read to corrupt');
  const r = checkHistory(recorded);
  assert.ok(r.anomalies.some((a) => a.kind === 'stale-read' || a.kind === 'non-monotonic'), 'the injected stale read is reported');
  recorded.counter.final -= 1;
  assert.ok(checkHistory(recorded).anomalies.some((a) => a.kind === 'lost-update'), 'the lost increment is reported');
});

// ── finding 9: a fixed bug, kept as a regression test ────────────────────────────────────────
// A hotReads instance validates its cached value with the key's SEQ only, and a write publishes
// DATA before it bumps SEQ. In that window, a plain get already returns the new value (or
// undefined after a delete) while a hot get in the same thread still returns the old one.
// scripts/history-long.mjs met it for real (a delete preempted in that window).
const repro = KNOWN ? test : test.skip;
for (const mode of ['set', 'delete']) {
  repro(`finding 9: after a plain get saw a ${mode} being published, a hot get of the same thread returns the older value`, async () => {
    const name = `history-repro-${mode}`;
    const s = createStore(name);
    const hot = createStore(name, { hotReads: true });
    s.set('k', { v: 'old' });
    assert.equal(hot.get('k'), { v: 'old' }); // cached by the hot instance
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const clock = { t: 0 };
    const w = new Worker(fixture('history-pause-writer.mjs'), { workerData: { store: name, key: 'k', mode, value: { v: 'new' }, ctl: ctl.buffer } });
    const done = new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    const writeInv = clock.t++;
    const deadline = Date.now() + 10_000;
    while (Atomics.load(ctl, 0) === 0) {
      assert.ok(Date.now() < deadline, 'the writer never paused');
      await sleep(1);
    }
    const ops = [];
    let inv = clock.t++;
    const plain = s.get('k');
    ops.push({ op: 'get', key: 'k', obs: plain === undefined ? null : plain.v, inv, resp: clock.t++ });
    inv = clock.t++;
    const fromHot = hot.get('k');
    ops.push({ op: 'hotGet', key: 'k', obs: fromHot === undefined ? null : fromHot.v, inv, resp: clock.t++ });
    Atomics.store(ctl, 1, 1);
    Atomics.notify(ctl, 1);
    assert.equal((await done).ok, true);
    const writer = mode === 'set' ? { op: 'set', key: 'k', wid: 'new', ok: true, inv: writeInv, resp: clock.t++ } : { op: 'delete', key: 'k', ok: true, inv: writeInv, resp: clock.t++ };
    const r = checkHistory({ initial: { k: 'old' }, threads: [{ id: 1, ops }, { id: 2, ops: [writer] }] });
    assert.ok(r.ok, `plain get -> ${JSON.stringify(plain)}, then hot get -> ${JSON.stringify(fromHot)}:\n${r.first?.text}`);
  });
}

// ── hot reads and write epochs ──────────────────────────────────────────────────────────────
// A hotReads instance answers from its cache while the write epoch of the key's stripe is the
// one it recorded, and records an epoch only when no write to the key can be in flight (see
// Store.getHot). Here a writer pauses after it bumped the epoch, before it publishes: a hot get
// then must return the old value *without* recording the new epoch — the write is in flight.
// Recording it would let the hot get after the publication (second pause) answer from the
// cache, stale, while a plain get of the same thread already sees the new value.
for (const mode of ['set', 'delete']) {
  test(`hot get while a ${mode} has moved the epoch but not yet published, and again after it published`, async () => {
    const name = `history-epoch-${mode}`;
    const s = createStore(name);
    const hot = createStore(name, { hotReads: true });
    s.set('k', { v: 'old' });
    assert.equal(hot.get('k'), { v: 'old' });
    assert.equal(hot.get('k'), { v: 'old' }); // cached, at the current epoch
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const w = new Worker(fixture('history-pause-writer.mjs'), {
      workerData: { store: name, key: 'k', mode, value: { v: 'new' }, ctl: ctl.buffer, pauses: ['after-epoch', 'before-seq'] },
    });
    const done = new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    const clock = { t: 0 };
    const writeInv = clock.t++;
    const ops = [];
    const read = (op, store) => {
      const inv = clock.t++;
      const v = store.get('k');
      ops.push({ op, key: 'k', obs: v === undefined ? null : v.v, inv, resp: clock.t++ });
      return v === undefined ? null : v.v;
    };
    try {
      for (let pause = 1; pause <= 2; pause++) {
        const deadline = Date.now() + 10_000;
        while (Atomics.load(ctl, 0) < pause) {
          assert.ok(Date.now() < deadline, `the writer never reached pause ${pause}`);
          await sleep(1);
        }
        const plain = read('get', s);
        const fromHot = read('hotGet', hot);
        // Not published at the first pause, published at the second: both reads agree.
        assert.is(plain, pause === 1 ? 'old' : mode === 'set' ? 'new' : null, `plain get at pause ${pause}`);
        assert.is(fromHot, plain, `hot get at pause ${pause}`);
        Atomics.store(ctl, 1, pause);
        Atomics.notify(ctl, 1);
      }
    } finally {
      // On a failed assertion too: let the writer finish, so that the worker exits.
      Atomics.store(ctl, 1, 2);
      Atomics.notify(ctl, 1);
    }
    assert.equal((await done).ok, true);
    read('hotGet', hot);
    const writer = mode === 'set' ? { op: 'set', key: 'k', wid: 'new', ok: true, inv: writeInv, resp: clock.t++ } : { op: 'delete', key: 'k', ok: true, inv: writeInv, resp: clock.t++ };
    const r = checkHistory({ initial: { k: 'old' }, threads: [{ id: 1, ops }, { id: 2, ops: [writer] }] });
    assert.ok(r.ok, r.first?.text);
  });
}

// The other half of recording an epoch: a write that bumped the epoch before the hot get loaded
// it, then published and released the key's lock while the get was deciding (between its read
// and its lock test; NATIVE_KEYSHARE_TEST_ARM_DELAY_MS holds the reader there). The lock is free
// by then, so only the SEQ test stops the get from recording the new epoch with the old value.
test('a write that publishes and unlocks while a hot get decides to record the epoch: not recorded', async () => {
  const reader = new Worker(fixture('hot-reader.mjs'), { workerData: { store: 'history-epoch-arm' }, env: { ...process.env, NATIVE_KEYSHARE_TEST_ARM_DELAY_MS: '400' } });
  const inbox = [];
  const waiting = [];
  reader.on('message', (m) => (waiting.length > 0 ? waiting.shift()(m) : inbox.push(m)));
  const next = () => (inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise((resolve) => waiting.push(resolve)));
  /**
   * Starts a hot get in the reader; resolves once it has begun, with `{ value }`: a promise of
   * what it returns (wrapped, or awaiting begin() would wait for the get to finish).
   */
  const begin = async (key) => {
    reader.postMessage(key);
    assert.is(await next(), 'started');
    return { value: next().then((m) => m.value) };
  };
  const s = createStore('history-epoch-arm');
  try {
    // The window is held open by time (the reader sleeps 400 ms, the writer is let go 150 ms
    // after the reader's get began): should a loaded machine miss it, try again with a new key.
    let exercised = false;
    for (let attempt = 0; attempt < 3 && !exercised; attempt++) {
      const key = `k${attempt}`;
      s.set(key, { v: 'old' });
      assert.equal(await (await begin(key)).value, { v: 'old' }); // decoded and cached, at the current epoch
      const ctl = new Int32Array(new SharedArrayBuffer(8));
      const w = new Worker(fixture('history-pause-writer.mjs'), {
        workerData: { store: 'history-epoch-arm', key, mode: 'set', value: { v: 'new' }, ctl: ctl.buffer, pauses: ['after-epoch'] },
      });
      const done = new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
      const deadline = Date.now() + 10_000;
      while (Atomics.load(ctl, 0) < 1) {
        assert.ok(Date.now() < deadline, 'the writer never paused');
        await sleep(1);
      }
      // The epoch moved, the entry did not: the get finds the old value current and sleeps
      // before its lock test, while the writer publishes and unlocks.
      const during = (await begin(key)).value;
      await sleep(150);
      Atomics.store(ctl, 1, 1);
      Atomics.notify(ctl, 1);
      assert.equal((await done).ok, true);
      exercised = (await during)?.v === 'old';
      assert.equal(await (await begin(key)).value, { v: 'new' }, 'a hot get that begins after the write completed sees it');
    }
    assert.ok(exercised, 'the reader was never held inside its get while the write completed');
  } finally {
    await reader.terminate();
  }
});

test.run();
