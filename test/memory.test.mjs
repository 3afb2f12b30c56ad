import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createStore, configure, arenaStats, verify, OutOfMemoryError } from 'native-keyshare';
import { fixture, prng } from './util.mjs';

test('an endless overwrite/delete workload runs in bounded memory', () => {
  const s = createStore('bounded');
  const rand = prng(7);
  const step = (n) => {
    for (let i = 0; i < n; i++) {
      const k = `k${Math.floor(rand() * 500)}`;
      if (rand() < 0.2) s.delete(k);
      else s.set(k, { pad: 'y'.repeat(Math.floor(rand() * 3000)) }, rand() < 0.3 ? { immutable: true } : undefined);
    }
  };
  step(50_000);
  const warm = arenaStats();
  step(200_000);
  const after = arenaStats();
  assert.ok(after.bytesInUse - warm.bytesInUse < 1_000_000, `bytesInUse grew ${after.bytesInUse - warm.bytesInUse}`);
  assert.ok(after.bytesReserved <= warm.bytesReserved * 2, `arena grew from ${warm.bytesReserved} to ${after.bytesReserved}`);
});

test('clear() and delete return space for reuse', () => {
  const s = createStore('reuse');
  const fill = () => { for (let i = 0; i < 20_000; i++) s.set(`k${i}`, 'z'.repeat(200)); };
  fill();
  s.clear();
  const mid = arenaStats();
  fill();
  s.clear();
  fill();
  assert.ok(arenaStats().bytesReserved === mid.bytesReserved, 'refilling after clear() did not grow the arena');
});

test('values of several MB round-trip', () => {
  const s = createStore('big');
  const buf = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < buf.length; i += 4096) buf[i] = i & 255;
  s.set('buf', buf);
  const back = s.get('buf');
  assert.ok(Buffer.isBuffer(back));
  assert.ok(back.equals(buf));
  const str = 'ü'.repeat(3 * 1024 * 1024);
  s.set('str', str);
  assert.is(s.get('str'), str);
});

test('hitting maxMemory throws OutOfMemoryError, keeps every other key, and deleting makes room', () => {
  const s = createStore('oom');
  for (let i = 0; i < 100; i++) s.set(`keep${i}`, { i });
  s.set('grow', 'small');
  const u = arenaStats();
  configure({ maxMemory: u.bytesReserved + 4 * 1024 * 1024 });
  try {
    let failed;
    const big = 'q'.repeat(256 * 1024);
    let i = 0;
    for (; i < 1000; i++) {
      try {
        s.set(`fill${i}`, big);
      } catch (e) {
        failed = e;
        break;
      }
    }
    assert.ok(failed instanceof OutOfMemoryError, `expected OutOfMemoryError, got ${failed}`);
    assert.is(failed.code, 'ERR_KEYSHARE_OUT_OF_MEMORY');
    assert.match(failed.message, /maxMemory/);
    assert.not.ok(s.has(`fill${i}`), 'the failed write left nothing');
    assert.throws(() => s.set('grow', big), (e) => e instanceof OutOfMemoryError);
    assert.is(s.get('grow'), 'small', 'an existing key keeps its value when its write does not fit');
    for (let j = 0; j < 100; j++) assert.equal(s.get(`keep${j}`), { i: j });
    for (let j = 0; j < i; j++) assert.is(s.get(`fill${j}`).length, big.length);
    s.delete('fill*');
    assert.ok(s.set('grow', big), 'room again after deleting');
    assert.is(s.get('grow').length, big.length);
  } finally {
    configure({ maxMemory: 1024 * 1024 * 1024 });
  }
});

test('adjacent freed blocks merge: freed 100 KB values make room for a 1 MB one; freed space is split for small ones', () => {
  const s = createStore('defrag');
  configure({ maxMemory: arenaStats().bytesReserved + 3 * 1024 * 1024 });
  try {
    let n = 0;
    try {
      for (; n < 1000; n++) s.set(`mid:${n}`, 'm'.repeat(100_000));
    } catch (e) {
      assert.ok(e instanceof OutOfMemoryError, String(e));
    }
    assert.ok(n > 10, `filled ${n} values of 100 KB`);
    assert.throws(() => s.set('large', 'L'.repeat(1_000_000)), (e) => e instanceof OutOfMemoryError);
    s.delete('mid:*');
    assert.ok(s.set('large', 'L'.repeat(1_000_000)), 'the large value fits in merged neighbours');
    assert.is(s.get('large').length, 1_000_000);
    let small = 0;
    for (; small < 2000; small++) s.set(`small:${small}`, 's'.repeat(500)); // carved from what is left
    assert.is(s.get('small:1999').length, 500);
    for (let i = 0; i < 200; i++) s.set(`again:${i}`, 'a'.repeat(i * 10));
    for (let i = 0; i < 200; i++) assert.is(s.get(`again:${i}`).length, i * 10);
    const errors = verify().problems.filter((p) => p.severity === 'error');
    assert.equal(errors, []);
  } finally {
    configure({ maxMemory: 1024 * 1024 * 1024 });
  }
});

test('several threads filling memory at once: each gets OutOfMemoryError, every written key intact', async () => {
  const s = createStore('oom-threads');
  s.set('sentinel', { keep: true });
  const WORKERS = 3;
  configure({ maxMemory: arenaStats().bytesReserved + 6 * 1024 * 1024 });
  try {
    const gate = new SharedArrayBuffer(8);
    const results = await Promise.all(Array.from({ length: WORKERS }, (_, id) => new Promise((resolve, reject) => {
      const w = new Worker(fixture('fill.mjs'), { workerData: { store: 'oom-threads', id, gate, workers: WORKERS } });
      w.once('message', resolve);
      w.once('error', reject);
    })));
    for (const [id, r] of results.entries()) {
      assert.ok(r.error, `worker ${id} never hit the bound`);
      assert.is(r.error.name, 'OutOfMemoryError', r.error.stack);
      assert.is(r.error.code, 'ERR_KEYSHARE_OUT_OF_MEMORY');
      assert.ok(r.written > 10, `worker ${id} wrote ${r.written}`);
      for (let i = 0; i < r.written; i += 7) {
        const v = s.get(`w${id}:${i}`);
        assert.ok(v && v.id === id && v.i === i && v.pad.length === 500 + (i % 2000), `w${id}:${i} intact`);
      }
      assert.not.ok(s.has(`w${id}:${r.written}`), 'the write that failed left nothing');
    }
    assert.equal(s.get('sentinel'), { keep: true });
    const errors = verify().problems.filter((p) => p.severity === 'error');
    assert.equal(errors, []);
    // Deleting makes room for new writes of the same kind.
    assert.ok(s.delete('w0:*'));
    // Same keys, same sizes: the blocks the deletes freed must take every one of them.
    let rewritten = 0;
    for (let i = 0; i < results[0].written; i++) {
      s.set(`w0:${i}`, { id: 0, i, pad: 'q'.repeat(500 + (i % 2000)) });
      rewritten++;
    }
    assert.is(rewritten, results[0].written);
    assert.is(s.get(`w0:${rewritten - 1}`).pad[0], 'q');
  } finally {
    configure({ maxMemory: 1024 * 1024 * 1024 });
  }
});

test.run();
