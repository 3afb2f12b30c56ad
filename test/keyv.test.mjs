// Keyv's own compliance suite (@keyv/test-suite's default export: its API, value and namespace
// tests) against KeyvNativeKeyshare, plus what the suite does not cover: entries shared with a
// worker thread, TTLs given to the store, clear() of one namespace only, and the adapter's
// iterator (Keyv 5 exposes `keyv.iterator()` only for a fixed list of SQL/Redis dialects, so the
// suite's iterator tests cannot run through Keyv against any other adapter).
//
// The suite takes vitest's `test` object ({ it, beforeEach, afterEach }, with `t.expect` in each
// test); `vitestShim` below provides that shape on uvu, with the matchers the suite uses, so that
// the suite's own assertions run unchanged.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Keyv from 'keyv';
import keyvTestSuite from '@keyv/test-suite';
import { isDeepStrictEqual } from 'node:util';
import { KeyvNativeKeyshare, createStore } from 'native-keyshare';
import { runWorker } from './util.mjs';

function expectFor(counter) {
  const expect = (actual) => {
    const check = (ok, what) => {
      counter.count++;
      if (!ok) throw new assert.Assertion({ message: `expected ${String(actual)} ${what}`, operator: what, actual, expects: undefined });
    };
    return {
      toBe: (v) => check(Object.is(actual, v), `to be ${String(v)}`),
      toEqual: (v) => check(isDeepStrictEqual(actual, v) || JSON.stringify(actual) === JSON.stringify(v), `to equal ${JSON.stringify(v)}`),
      toBeTruthy: () => check(Boolean(actual), 'to be truthy'),
      toBeFalsy: () => check(!actual, 'to be falsy'),
      toBeUndefined: () => check(actual === undefined, 'to be undefined'),
      toBeDefined: () => check(actual !== undefined, 'to be defined'),
      toBeNull: () => check(actual === null, 'to be null'),
    };
  };
  expect.assertions = (n) => {
    counter.expected = n;
  };
  return expect;
}

function vitestShim(name) {
  const s = suite(name);
  const before = [];
  const after = [];
  let tests = 0;
  const shim = {
    beforeEach: (fn) => before.push(fn),
    afterEach: (fn) => after.push(fn),
    it: (title, fn) => {
      tests++;
      s(title, async () => {
        for (const h of before) await h();
        const counter = { count: 0, expected: undefined };
        try {
          await fn({ expect: expectFor(counter) });
        } finally {
          for (const h of after) await h();
        }
        if (counter.expected !== undefined) assert.is(counter.count, counter.expected, `expect.assertions(${counter.expected})`);
        assert.ok(counter.count > 0, 'the test made no assertion');
      });
    },
  };
  return { shim, run: () => s.run(), count: () => tests };
}

const store = () => new KeyvNativeKeyshare({ store: 'keyv-suite' });
const compliance = vitestShim('@keyv/test-suite');
keyvTestSuite(compliance.shim, Keyv, store);
if (compliance.count() < 35) throw new Error(`the suite registered only ${compliance.count()} tests`);
compliance.run();

const more = suite('KeyvNativeKeyshare');
more('a worker thread reads what Keyv set in this one, through its own Keyv', async () => {
  const keyv = new Keyv({ store: new KeyvNativeKeyshare({ store: 'keyv-shared' }), namespace: 'app' });
  await keyv.set('user:1', { name: 'Ada' });
  const seen = await runWorker('keyv-reader.mjs', { store: 'keyv-shared', namespace: 'app', key: 'user:1' });
  assert.equal(seen, { name: 'Ada' });
});
more('a TTL is given to the store too (in seconds), so expired entries leave shared memory', async () => {
  const adapter = new KeyvNativeKeyshare('keyv-ttl');
  const keyv = new Keyv({ store: adapter });
  await keyv.set('short', 'v', 50);
  await keyv.set('forever', 'v');
  assert.ok(adapter.store.has('keyv:short'));
  await new Promise((r) => setTimeout(r, 80));
  assert.not.ok(adapter.store.has('keyv:short'), 'the store still holds the expired key');
  assert.ok(adapter.store.has('keyv:forever'));
});
more('clear() of one namespace leaves keys of other namespaces and other users of the store', async () => {
  const raw = createStore('keyv-clear');
  raw.set('not-keyv', 1);
  const a = new Keyv({ store: new KeyvNativeKeyshare('keyv-clear'), namespace: 'a.b' });
  const b = new Keyv({ store: new KeyvNativeKeyshare('keyv-clear'), namespace: 'a' });
  await a.set('k', 1);
  await b.set('k', 2);
  await b.set('b:k', 3);
  await b.clear();
  assert.is(await a.get('k'), 1);
  assert.is(await b.get('k'), undefined);
  assert.is(raw.get('not-keyv'), 1);
});
more("the adapter's iterator yields one namespace's raw entries, or all of them", async () => {
  const adapter = new KeyvNativeKeyshare('keyv-iter');
  const a = new Keyv({ store: adapter, namespace: 'a' });
  await a.set('1', 'x');
  await a.set('2', 'y');
  const b = new Keyv({ store: new KeyvNativeKeyshare('keyv-iter'), namespace: 'b' });
  await b.set('1', 'z');
  const seen = [];
  for await (const [k, raw] of adapter.iterator('a')) seen.push([k, JSON.parse(raw).value]);
  assert.equal(seen.sort(), [['a:1', 'x'], ['a:2', 'y']]);
  const all = [];
  for await (const [k] of adapter.iterator()) all.push(k);
  assert.equal(all.sort(), ['a:1', 'a:2', 'b:1']);
});
more('a store error rejects through Keyv as its error event', async () => {
  const keyv = new Keyv({ store: new KeyvNativeKeyshare('keyv-errors'), serialize: (d) => d, deserialize: (d) => d });
  const errors = [];
  keyv.on('error', (e) => errors.push(e));
  const ok = await keyv.set('fn', () => 1);
  assert.is(ok, false);
  assert.is(errors.length, 1);
  assert.is(errors[0].code, 'ERR_KEYSHARE_INVALID_VALUE');
});
more.run();
