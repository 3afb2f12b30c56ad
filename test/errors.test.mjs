import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { fixture } from './util.mjs';
import {
  createStore, configure, KeyshareError, InvalidKeyError, InvalidValueError, InvalidOptionError,
  InvalidPatternError, MAX_KEY_LENGTH, arenaStats, LockTimeoutError,
} from 'native-keyshare';

const s = createStore('errors');

function throwsCode(fn, Cls, code, re) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Cls, `expected ${Cls.name}, got ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
    assert.ok(e instanceof KeyshareError);
    assert.is(e.code, code);
    if (re) assert.match(e.message, re);
    return;
  }
  assert.unreachable('did not throw');
}

test('bad keys throw InvalidKeyError naming the problem', () => {
  for (const call of [(k) => s.get(k), (k) => s.set(k, 1), (k) => s.has(k), (k) => s.lock(k), (k) => s.release(k), (k) => s.delete(k, { literal: true })]) {
    throwsCode(() => call(42), InvalidKeyError, 'ERR_KEYSHARE_INVALID_KEY', /must be a string, got the number 42/);
    throwsCode(() => call(undefined), InvalidKeyError, 'ERR_KEYSHARE_INVALID_KEY', /got undefined/);
    throwsCode(() => call(''), InvalidKeyError, 'ERR_KEYSHARE_INVALID_KEY', /empty/);
    throwsCode(() => call('k'.repeat(MAX_KEY_LENGTH + 1)), InvalidKeyError, 'ERR_KEYSHARE_INVALID_KEY', /limit is 4096/);
  }
  assert.ok(s.set('k'.repeat(MAX_KEY_LENGTH), 1), 'a key of exactly the limit works');
  assert.is(s.get('k'.repeat(MAX_KEY_LENGTH)), 1);
});

test('bad values throw InvalidValueError and leave the old value', () => {
  s.set('v', 'old');
  throwsCode(() => s.set('v', undefined), InvalidValueError, 'ERR_KEYSHARE_INVALID_VALUE', /undefined/);
  throwsCode(() => s.set('v', () => 1), InvalidValueError, 'ERR_KEYSHARE_INVALID_VALUE', /function/);
  throwsCode(() => s.set('v', Symbol('x')), InvalidValueError, 'ERR_KEYSHARE_INVALID_VALUE', /symbol/);
  throwsCode(() => s.set('v', { nested: { fn() {} } }), InvalidValueError, 'ERR_KEYSHARE_INVALID_VALUE');
  assert.is(s.get('v'), 'old');
  throwsCode(() => s.set('new-key', undefined), InvalidValueError, 'ERR_KEYSHARE_INVALID_VALUE');
  assert.not.ok(s.has('new-key'), 'nothing half-written for a new key');
  assert.not.ok(s.listKeys().includes('new-key'));
});

test('setMany checks everything before writing anything', () => {
  throwsCode(() => s.setMany([['m1', 1], ['m2', () => 0]]), InvalidValueError, 'ERR_KEYSHARE_INVALID_VALUE');
  throwsCode(() => s.setMany([['m1', 1], ['', 2]]), InvalidKeyError, 'ERR_KEYSHARE_INVALID_KEY');
  assert.not.ok(s.has('m1'));
});

test('bad options throw InvalidOptionError naming the option', () => {
  throwsCode(() => s.set('o', 1, { ttl: -1 }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /options\.ttl/);
  throwsCode(() => s.set('o', 1, { ttl: 'soon' }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /options\.ttl/);
  throwsCode(() => s.set('o', 1, { minBufferSize: 1.5 }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /options\.minBufferSize/);
  throwsCode(() => s.set('o', 1, { immutable: 'yes' }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /options\.immutable/);
  throwsCode(() => s.set('o', 1, { ttl: 1, tll: 2 }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /unknown option "tll"/);
  throwsCode(() => s.set('o', 1, 5), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /options must be an object/);
  throwsCode(() => s.lock('o', -5), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /timeout/);
  throwsCode(() => s.delete('o', { literl: true }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /unknown option/);
  throwsCode(() => createStore(''), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /store name/);
  throwsCode(() => createStore(7), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /store name/);
  throwsCode(() => createStore('x', { hotreads: true }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /unknown option "hotreads"/);
  throwsCode(() => configure({ maxMemory: -1 }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /maxMemory/);
  throwsCode(() => configure({ maxMemory: '12 parsecs' }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /maxMemory/);
  throwsCode(() => s.update('o', 'not a function'), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /function/);
  assert.not.ok(s.has('o'), 'no write happened');
});

test('an invalid regex pattern is a clear error, not a crash', () => {
  s.set('r', 1);
  throwsCode(() => s.listKeys('/(/'), InvalidPatternError, 'ERR_KEYSHARE_INVALID_PATTERN', /\/\(\//);
  throwsCode(() => s.delete('/(/'), InvalidPatternError, 'ERR_KEYSHARE_INVALID_PATTERN');
  throwsCode(() => s.listKeys(5), InvalidPatternError, 'ERR_KEYSHARE_INVALID_PATTERN');
  assert.is(s.get('r'), 1);
});

test('the store keeps working after every error', () => {
  assert.ok(s.set('after', { ok: true }));
  assert.equal(s.get('after'), { ok: true });
  assert.ok(s.delete('after'));
});

test('configure({ maxMemory }) below what the arena already uses is refused, naming the bytes and the fix', () => {
  const big = createStore('errors-max-memory');
  for (let i = 0; i < 150; i++) big.set(`k${i}`, 'x'.repeat(1000));
  const before = arenaStats();
  assert.ok(before.bytesInUse > 150_000, `bytesInUse ${before.bytesInUse}`);
  let error;
  try {
    configure({ maxMemory: 1024 });
  } catch (e) {
    error = e;
  }
  assert.instance(error, InvalidOptionError);
  assert.is(error.code, 'ERR_KEYSHARE_INVALID_OPTION');
  const m = /^options\.maxMemory must be at least the (\d+) bytes the shared arena already uses, got 1024 \(its blocks reach \1 bytes into the arena, (\d+) of them live, and blocks never move\): pass \1 or more, or set the bound before the stores fill \(NATIVE_KEYSHARE_MAX_MEMORY at process start\)$/.exec(error.message);
  assert.ok(m, error.message);
  assert.ok(Number(m[1]) >= before.bytesInUse && Number(m[2]) <= Number(m[1]), error.message);
  assert.is(arenaStats().maxMemory, before.maxMemory, 'the refused bound was not stored');
  assert.ok(big.set('k0', 'y'.repeat(1000)), 'writes go on under the old bound');
  // That write may have taken fresh space: ask again for the floor as it is now.
  let floor;
  try {
    configure({ maxMemory: 1024 });
  } catch (e) {
    floor = Number(/at least the (\d+) bytes/.exec(e.message)[1]);
  }
  throwsCode(() => configure({ maxMemory: floor - 8 }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /must be at least/);
  // The floor itself is accepted, and then fresh space is refused with OutOfMemoryError.
  configure({ maxMemory: floor });
  assert.is(arenaStats().maxMemory, floor);
  try {
    assert.throws(() => big.set('huge', 'z'.repeat(200_000)), (e) => e.code === 'ERR_KEYSHARE_OUT_OF_MEMORY');
    assert.not.ok(big.has('huge'));
  } finally {
    configure({ maxMemory: before.maxMemory });
  }
  big.clear();
});

test('received values are shown with their type: "100" (a string) reads differently from 100', () => {
  throwsCode(() => s.lock('k', '100'), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /^timeout must be a number of milliseconds >= 0, got the string "100"$/);
  throwsCode(() => s.lock('k', -1), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /got the number -1$/);
  throwsCode(() => s.set('k', 1, { timeout: '100' }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /^options\.timeout .* got the string "100"$/);
  throwsCode(() => s.set('k', 1, { ttl: '5' }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /^options\.ttl .* got the string "5"$/);
  throwsCode(() => s.set('k', 1, { minBufferSize: '64' }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /got the string "64"$/);
  throwsCode(() => s.set('k', 1, { immutable: 'yes' }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /got the string "yes"$/);
  throwsCode(() => s.delete('k', { timeout: null }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /got null$/);
  throwsCode(() => s.get(['k']), InvalidKeyError, 'ERR_KEYSHARE_INVALID_KEY', /got an array of length 1$/);
  throwsCode(() => configure({ maxMemory: true }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /got the boolean true$/);
  throwsCode(() => configure({ maxMemory: '12 parsecs' }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /got the string "12 parsecs"$/);
  throwsCode(() => createStore('x', { hotReads: { maxKeys: '10' } }), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /got the string "10"$/);
  const long = 'x'.repeat(500);
  throwsCode(() => s.lock('k', long), InvalidOptionError, 'ERR_KEYSHARE_INVALID_OPTION', /got the string "x{60}…" \(length 500\)$/);
});

test('setMany names the bad entry and its key, and writes nothing', () => {
  throwsCode(() => s.setMany([['sm1', 1], ['sm2', () => 0]]), InvalidValueError, 'ERR_KEYSHARE_INVALID_VALUE', /^store "errors": setMany\(\) entries\[1\] \(key "sm2"\): value of type function cannot be stored$/);
  throwsCode(() => s.setMany({ sm1: 1, sm3: undefined }), InvalidValueError, 'ERR_KEYSHARE_INVALID_VALUE', /^store "errors": setMany\(\) entries\[1\] \(key "sm3"\): value must not be undefined$/);
  throwsCode(() => s.setMany([['sm1', 1], ['sm4', { a: { f() {} } }]]), InvalidValueError, 'ERR_KEYSHARE_INVALID_VALUE', /^store "errors": setMany\(\) entries\[1\] \(key "sm4"\): .*value\.a\.f/);
  throwsCode(() => s.setMany([['sm1', 1], ['', 2]]), InvalidKeyError, 'ERR_KEYSHARE_INVALID_KEY', /^key \(setMany\(\) entries\[1\]\) must not be empty$/);
  throwsCode(() => s.setMany([['sm1', 1], [5, 2]]), InvalidKeyError, 'ERR_KEYSHARE_INVALID_KEY', /^key \(setMany\(\) entries\[1\]\) must be a string, got the number 5$/);
  assert.not.ok(s.has('sm1'), 'nothing was written');
});

test('setMany is not one transaction: a key locked by another thread past the timeout is skipped', async () => {
  const w = new Worker(fixture('hold-lock.mjs'), { workerData: { store: 'errors', key: 'held' } });
  const next = () => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  try {
    assert.equal(await next(), { locked: true });
    assert.is(s.setMany([['before', 1], ['held', 2], ['after', 3]], { timeout: 20 }), 2);
    assert.is(s.get('before'), 1);
    assert.is(s.get('held'), undefined);
    assert.is(s.get('after'), 3);
    // update() times out with LockTimeoutError naming the store, the key and the fix.
    let error;
    try {
      s.update('held', () => 1, { timeout: 20 });
    } catch (e) {
      error = e;
    }
    assert.instance(error, LockTimeoutError);
    assert.is(error.code, 'ERR_KEYSHARE_LOCK_TIMEOUT');
    assert.is(error.storeName, 'errors');
    assert.is(error.key, 'held');
    assert.is(error.timeoutMs, 20);
    assert.match(error.message, /^could not lock key "held" of store "errors" within 20 ms: another thread holds it \(a longer options\.timeout waits longer/);
  } finally {
    await w.terminate();
  }
});

test.run();
