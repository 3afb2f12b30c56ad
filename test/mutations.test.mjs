// Tests aimed at plausible bugs that the rest of the suite let through, or caught only by
// chance in a racy run: each holds open, with a fault knob (src/faults.ts), the one window the
// bug would show in, and checks a count rather than a time, so that a loaded machine makes it
// slower, never wrong.
//   - release() that does not notify: waiters would still get the lock when a recheck slice
//     runs out;
//   - a dead holder's lock taken over by a plain store instead of a compare-and-swap: every
//     waiter that found the holder dead would take it;
//   - a deleted value's block freed before its entry's DATA is cleared: a reader would follow
//     DATA into a free block.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createStore, verify } from 'native-keyshare';
import { fixture, exited, sleep, until } from './util.mjs';

const { arena } = await import('../dist/cjs/arena.js');
const L = await import('../dist/cjs/layout.js');
const { lookup, hashKey } = await import('../dist/cjs/keyindex.js');

const entryRef = (s, key) => lookup(s.ref, key, hashKey(key));

/** Starts a worker and resolves once it has posted 'ready'. */
async function start(name, workerData, env = {}) {
  const w = new Worker(fixture(name), { workerData, env: { ...process.env, ...env } });
  const first = await new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`${name} exited with code ${code} before it was ready`)));
  });
  assert.is(first, 'ready');
  return w;
}

/** Sleeps this thread (the main thread may block: nothing below needs its event loop). */
function block(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function clean(where) {
  const errors = verify().problems.filter((p) => p.severity === 'error');
  assert.equal(errors, [], `${where}: ${JSON.stringify(errors.slice(0, 3))}`);
}

// A waiter that sleeps on a held lock must be woken by the release itself. The waiter's recheck
// slices are made 2 s long (NATIVE_KEYSHARE_TEST_RECHECK_MS): a handoff that waited for one to
// run out is counted by the waiter (slicesExpiredAfterChange), so the test asserts a count, and
// for a correct release to be miscounted the holder would have to stall for seconds between
// freeing the word and notifying.
test('a release wakes the sleeping waiter by notify: no handoff waits for a recheck slice to run out', async () => {
  const ROUNDS = 20;
  const RECHECK_MS = 2000;
  const [GATE, DONE, WOKEN, EXPIRED, FAILED] = [0, 1, 2, 3, 4];
  const s = createStore('handoff-notify');
  s.set('k', 1);
  const lockWord = entryRef(s, 'k') * 2 + L.ENTRY.LOCK;
  const ctl = new Int32Array(new SharedArrayBuffer(32));
  const w = await start('handoff-waiter.mjs', { store: 'handoff-notify', key: 'k', ctl: ctl.buffer, timeout: 10_000 }, { NATIVE_KEYSHARE_TEST_RECHECK_MS: String(RECHECK_MS) });
  let rounds = 0;
  try {
    for (let r = 0; r < ROUNDS; r++) {
      assert.ok(s.lock('k', 1000), 'the main thread takes the lock');
      Atomics.store(ctl, GATE, r + 1);
      Atomics.notify(ctl, GATE);
      // The waiters bit: the waiter has spun, announced itself and is going to sleep.
      const deadline = Date.now() + 10_000;
      while ((Atomics.load(arena.i32, lockWord) & 1) === 0) {
        assert.ok(Date.now() < deadline, `round ${r}: the waiter never went to sleep on the lock`);
        block(1);
      }
      block(20); // and is asleep in Atomics.wait by now (if not, its wait returns at once)
      assert.ok(s.release('k'));
      while (Atomics.load(ctl, DONE) === r) {
        assert.ok(Date.now() < deadline, `round ${r}: the waiter never got the lock`);
        Atomics.wait(ctl, DONE, r, 100);
      }
      rounds++;
      if (Atomics.load(ctl, EXPIRED) !== 0) break; // one is enough to fail below
    }
  } finally {
    Atomics.store(ctl, GATE, -1);
    Atomics.notify(ctl, GATE);
  }
  await exited(w);
  assert.is(Atomics.load(ctl, FAILED), 0, 'every lock() got the lock');
  assert.is(Atomics.load(ctl, EXPIRED), 0, `${Atomics.load(ctl, EXPIRED)} of ${rounds} handoffs reached the waiter only when its ${RECHECK_MS} ms recheck slice ran out: the release did not wake it`);
  const woken = Atomics.load(ctl, WOKEN);
  assert.ok(woken >= 1, `the waiter was asleep at no release (woken by notify ${woken} times in ${rounds} rounds): the test proved nothing`);
});

// Four waiters on each of three locks whose holder is terminated: a key's lock, a store's
// structural lock, the allocator's lock, each taken through the engine's own path to it.
// NATIVE_KEYSHARE_TEST_TAKEOVER_DELAY_MS holds each waiter between finding the holder dead and
// taking over, so all four find it dead before any takes over: only the compare-and-swap of the
// takeover keeps it to one. Each waiter checks inside that it is alone, and counts its
// takeovers. One holder holds all three locks, so that each round starts one worker, not three.
const CTL = { GATE: 0, ARRIVED: 1, DONE: 2, INSIDE: 3, OVERLAPS: 4, TAKEOVERS: 5, FAILED: 6, WORDS: 8 };
const KINDS = ['entry', 'store', 'alloc'];
const WAITERS = 4;
const TAKEOVER_ROUNDS = 10;

test("a dead holder of a key's, a store's and the allocator's lock: exactly one of 4 waiters on each takes it over, alone inside (10 rounds)", async () => {
  const name = 'takeover';
  const s = createStore(name);
  s.set('k', 1);
  const lockWords = { entry: entryRef(s, 'k') * 2 + L.ENTRY.LOCK, store: s.ref * 2 + L.STORE.LOCK, alloc: L.HEADER.ALLOC_LOCK };
  const ctls = Object.fromEntries(KINDS.map((kind) => [kind, new Int32Array(new SharedArrayBuffer(CTL.WORDS * 4))]));
  const data = (kind) => ({ kind, store: name, key: 'k', ctl: ctls[kind].buffer, holdMs: 10 });
  const env = { NATIVE_KEYSHARE_TEST_TAKEOVER_DELAY_MS: '40' };
  // Every worker at once: starting them one by one would be most of the test's time.
  const started = await Promise.allSettled([
    ...KINDS.flatMap((kind) => Array.from({ length: WAITERS }, () => start('takeover.mjs', { ...data(kind), role: 'waiter' }, env))),
    ...Array.from({ length: TAKEOVER_ROUNDS }, () => start('takeover.mjs', { ...data('entry'), role: 'holder' })),
  ]);
  const workers = started.filter((p) => p.status === 'fulfilled').map((p) => p.value);
  const failed = started.find((p) => p.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(workers.map((w) => w.terminate())); // holders would keep the process alive
    throw failed.reason;
  }
  const holders = workers.slice(KINDS.length * WAITERS);
  const each = (fn) => KINDS.every((kind) => fn(ctls[kind], kind));
  try {
    for (let r = 0; r < TAKEOVER_ROUNDS; r++) {
      const holder = holders[r];
      holder.postMessage('take');
      const m = await new Promise((resolve, reject) => { holder.once('message', resolve); holder.once('error', reject); });
      assert.equal(m.held, [true, true, true], `round ${r}: the holder took the three locks`);
      // While the holder lives, the main thread must not allocate: it would wait for the holder.
      each((ctl) => (Atomics.store(ctl, CTL.GATE, r + 1), Atomics.notify(ctl, CTL.GATE), true));
      const waiting = await until(() => each((ctl, kind) => Atomics.load(ctl, CTL.ARRIVED) === WAITERS * (r + 1) && (Atomics.load(arena.i32, lockWords[kind]) & 1) !== 0), 10_000, 1);
      assert.ok(waiting, `round ${r}: the waiters did not all start waiting`);
      await sleep(25); // more than a recheck slice: every waiter is asleep on its lock
      await holder.terminate(); // its 'exit' recovers its slot: from then on it is not alive
      const done = await until(() => each((ctl) => Atomics.load(ctl, CTL.DONE) === WAITERS * (r + 1)), 10_000, 1);
      // Every kind's findings at once: a bug in the shared lock code shows in all three.
      const problems = [];
      for (const kind of KINDS) {
        const ctl = ctls[kind];
        const got = Atomics.load(ctl, CTL.DONE) - WAITERS * r;
        if (got !== WAITERS) problems.push(`${kind}: only ${got} of ${WAITERS} waiters got the lock`);
        if (Atomics.load(ctl, CTL.FAILED) !== 0) problems.push(`${kind}: a waiter timed out`);
        const overlaps = Atomics.load(ctl, CTL.OVERLAPS);
        if (overlaps !== 0) problems.push(`${kind}: ${overlaps} waiters found another inside the lock`);
        const takeovers = Atomics.load(ctl, CTL.TAKEOVERS) - r;
        if (takeovers !== 1) problems.push(`${kind}: ${takeovers} waiters took the lock over from the dead holder, not exactly one`);
      }
      assert.equal(problems, [], `round ${r}: ${problems.join('; ')}`);
      assert.ok(done);
    }
  } finally {
    each((ctl) => (Atomics.store(ctl, CTL.GATE, -1), Atomics.notify(ctl, CTL.GATE), true));
    await Promise.all(workers.map((w) => w.terminate()));
  }
  for (const kind of KINDS) assert.is(Atomics.load(arena.i32, lockWords[kind]), 0, `the ${kind} lock is free at the end`);
  clean('after the takeovers');
});

// A delete clears the entry's DATA (bumping SEQ) and only then frees the value block: a reader
// that loaded the old DATA sees SEQ move and retries. NATIVE_KEYSHARE_TEST_CLEAR_FREE_DELAY_MS
// holds each delete between the two steps while this thread reads the key in a loop: it must
// find the value or nothing, never a decode error. (Freed first, the block's header says FREE,
// codec tag 0, while DATA still names it and SEQ has not moved.)
test("a reader during a delete, between clearing DATA and freeing the block: the value or nothing, never a freed block", async () => {
  const [GO, IN_DELETE, DONE] = [0, 1, 2];
  const ROUNDS = 5;
  const pad = 'x'.repeat(200); // a block value, not an inline one
  const s = createStore('delete-order');
  const ctl = new Int32Array(new SharedArrayBuffer(16));
  const w = await start('deleter.mjs', { store: 'delete-order', key: 'k', ctl: ctl.buffer, rounds: ROUNDS, pad }, { NATIVE_KEYSHARE_TEST_CLEAR_FREE_DELAY_MS: '50' });
  const errors = [];
  const wrong = [];
  let present = 0;
  let duringDelete = 0;
  Atomics.store(ctl, GO, 1);
  Atomics.notify(ctl, GO);
  const deadline = Date.now() + 15_000;
  while (Atomics.load(ctl, DONE) === 0) {
    assert.ok(Date.now() < deadline, 'the deleter never finished');
    const round = Atomics.load(ctl, IN_DELETE);
    let v;
    try {
      v = s.get('k');
    } catch (e) {
      errors.push(String(e));
      continue;
    }
    if (v === undefined) {
      // Read wholly inside one delete: most of a delete is the pause between its two steps.
      if (round !== 0 && Atomics.load(ctl, IN_DELETE) === round) duringDelete++;
    } else if (v.pad === pad && typeof v.round === 'number') present++;
    else wrong.push(v);
  }
  await exited(w);
  assert.equal(errors.slice(0, 3), [], `${errors.length} reads threw`);
  assert.equal(wrong.slice(0, 3), [], `${wrong.length} reads returned something that was never written`);
  assert.ok(present > 0 && duringDelete > 0, `reads saw the value ${present} times and read during a delete ${duringDelete} times: the test proved nothing`);
  clean('after the deletes');
});

test.run();
