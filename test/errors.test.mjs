import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  createStore, configure, KeyshareError, InvalidKeyError, InvalidValueError, InvalidOptionError,
  InvalidPatternError, MAX_KEY_LENGTH,
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

test.run();
