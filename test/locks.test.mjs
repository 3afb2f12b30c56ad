import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createStore, LockTimeoutError } from 'native-keyshare';
import { fixture, exited } from './util.mjs';

async function countWith(mode, store, workers, n) {
  const s = createStore(store);
  s.set('counter', 0, { minBufferSize: 20 });
  const gate = new SharedArrayBuffer(8);
  const ws = [];
  for (let i = 0; i < workers; i++) {
    ws.push(new Promise((resolve, reject) => {
      const w = new Worker(fixture('counter.mjs'), { workerData: { store, n, mode, gate, workers } });
      w.once('message', resolve);
      w.once('error', reject);
    }));
  }
  const done = await Promise.all(ws);
  return { counter: s.get('counter'), done: done.reduce((a, b) => a + b, 0) };
}

test('the seed lock example counts exactly: 4 workers x 2000 increments', async () => {
  const { counter, done } = await countWith('lock', 'count-lock', 4, 2000);
  assert.is(done, 8000);
  assert.is(counter, 8000);
});

test('update() counts exactly: 4 workers x 2000 increments', async () => {
  const { counter } = await countWith('update', 'count-update', 4, 2000);
  assert.is(counter, 8000);
});

function holdLock(store, key, extra = {}) {
  const w = new Worker(fixture('hold-lock.mjs'), { workerData: { store, key, ...extra } });
  const next = () => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  return { w, next };
}

test("while another thread holds a key's lock, set/delete/lock wait their timeout and return false", async () => {
  const s = createStore('held');
  s.set('k', 'before');
  const { w, next } = holdLock('held', 'k');
  assert.equal((await next()).locked, true);
  let t = Date.now();
  assert.is(s.set('k', 'mine', { timeout: 100 }), false);
  const waited = Date.now() - t;
  assert.ok(waited >= 90, `set waited ${waited} ms`);
  assert.is(s.delete('k', { timeout: 50 }), false);
  assert.is(s.lock('k', 50), false);
  assert.throws(() => s.update('k', () => 'x', { timeout: 50 }), (e) => e instanceof LockTimeoutError);
  assert.is(s.get('k'), 'before', 'reads never wait for the lock');
  assert.is(s.release('k'), false, 'a non-owner cannot release');
  // Once the owner releases, writes go through.
  w.postMessage('release');
  assert.equal(await next(), { released: true });
  assert.ok(s.set('k', 'after', { timeout: 0 }));
  assert.is(s.get('k'), 'after');
  w.postMessage('exit');
  await exited(w);
});

test('a waiting writer proceeds as soon as the owner releases', async () => {
  const s = createStore('handoff');
  s.set('k', 0);
  const { w, next } = holdLock('handoff', 'k');
  await next();
  // set() blocks this thread in Atomics.wait, so the worker times its own release.
  w.postMessage('release-later');
  await new Promise((r) => setTimeout(r, 10)); // let the message go out
  const t = Date.now();
  const ok = s.set('k', 1, { timeout: 5000 });
  assert.ok(ok);
  assert.ok(Date.now() - t < 4000, 'woken by the release, not by the timeout');
  w.postMessage('exit');
  await exited(w);
});

test('the owner writes and deletes under its lock; release of a valueless key removes it', async () => {
  const s = createStore('owner');
  assert.ok(s.lock('absent'), 'a missing key can be locked');
  assert.not.ok(s.has('absent'));
  assert.equal(s.listKeys(), []);
  assert.ok(s.set('absent', 1, { skipLock: true }));
  assert.is(s.get('absent'), 1);
  assert.ok(s.delete('absent'), 'the owner can delete under its own lock');
  assert.not.ok(s.has('absent'));
  assert.ok(s.release('absent'));
  assert.is(s.release('absent'), false, 'second release: not held');
  assert.is(s.stats().placeholders, 0, 'no placeholder left behind');
  // Another thread can lock it now.
  const { w, next } = holdLock('owner', 'absent', { set: 'from worker' });
  assert.equal((await next()).locked, true);
  assert.is(s.get('absent'), 'from worker');
  w.postMessage('exit');
  await exited(w);
});

test('close() releases the locks a thread holds through the handle', async () => {
  const s = createStore('close-locks');
  s.set('k', 1);
  const { w, next } = holdLock('close-locks', 'k');
  await next();
  assert.is(s.set('k', 2, { timeout: 0 }), false);
  w.postMessage('close');
  assert.equal(await next(), { closed: true });
  assert.ok(s.set('k', 2, { timeout: 0 }));
  w.postMessage('exit');
  await exited(w);
});

test('a lock held by a worker that exits normally is taken over', async () => {
  const s = createStore('exit-holder');
  s.set('k', 'v');
  const { w, next } = holdLock('exit-holder', 'k');
  await next();
  w.postMessage('exit');
  await exited(w);
  assert.ok(s.set('k', 'w', { timeout: 2000 }));
  assert.is(s.get('k'), 'w');
});

test.run();
