import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createStore, configure, arenaStats, OutOfMemoryError } from 'native-keyshare';
import { prng } from './util.mjs';

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

test.run();
