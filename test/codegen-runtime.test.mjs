// Codegen: generated facades at run time, in the main thread and in two workers, over the real
// shared arena. The committed example (codegen/example/stores.ts) and the kitchen-sink golden
// output are transpiled to ES modules in a temporary directory whose node_modules/native-keyshare
// links to this package, so they import the very build (and arena) this test uses.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { configure, InvalidValueError } from 'native-keyshare';
import { runWorker } from './util.mjs';

const require = createRequire(import.meta.url);
const ts = require('typescript');
const root = fileURLToPath(new URL('..', import.meta.url));

const tmp = mkdtempSync(path.join(os.tmpdir(), 'nk-codegen-'));
mkdirSync(path.join(tmp, 'node_modules'));
symlinkSync(root, path.join(tmp, 'node_modules', 'native-keyshare'), 'dir');

function transpile(source, name) {
  const text = readFileSync(path.join(root, source), 'utf8');
  const { outputText } = ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const file = path.join(tmp, name);
  writeFileSync(file, outputText);
  return pathToFileURL(file).href;
}

const exampleUrl = transpile('codegen/example/stores.ts', 'example.mjs');
const sinkUrl = transpile('test/fixtures/codegen/golden/kitchen-sink/expected.ts', 'kitchen-sink.mjs');
const ex = await import(exampleUrl);
const sink = await import(sinkUrl);

test.after(() => rmSync(tmp, { recursive: true, force: true }));

const user = (id, extra = {}) => ({
  id,
  name: `user ${id}`,
  email: null,
  role: 'editor',
  tags: ['a', 'b'],
  createdAt: new Date(1_700_000_000_000),
  flags: new Set(['beta']),
  ...extra,
});
const cart = { items: [{ sku: 'book', quantity: 2, unitPrice: 1250 }], currency: 'EUR' };

/** Runs ops ([store, method, ...args]) in a new worker importing the example facades. */
const inWorker = (ops, module = exampleUrl) => runWorker('codegen/facade-worker.mjs', { module, ops });

test('main thread sets, a worker reads; that worker sets, a second worker reads', async () => {
  ex.users.set(1, user(1));
  const [a0, a1] = await inWorker([
    ['users', 'get', 1],
    ['carts', 'set', 7, 'fr', cart],
  ]);
  assert.equal(a0.value, user(1)); // Date and Set intact
  assert.is(a1.value, true);
  const [b0, b1, b2] = await inWorker([
    ['carts', 'get', 7, 'fr'],
    ['carts', 'listKeys'],
    ['users', 'get', 1],
  ]);
  assert.equal(b0.value, cart);
  assert.equal(b1.value, ['cart:7:fr']);
  assert.equal(b2.value, user(1));
  assert.equal(ex.carts.get(7, 'fr'), cart);
  assert.equal(ex.carts.parseKey(b1.value[0]), [7, 'fr']);
});

test('validation in a worker: InvalidValueError naming store and field path; nothing is stored', async () => {
  const [r0, r1, r2, r3] = await inWorker([
    ['users', 'set', 5, user(5, { name: 42 })],
    ['users', 'has', 5],
    ['carts', 'setMany', [[[1, 'en'], cart], [[2, 'en'], { items: [{ sku: 'x', quantity: '1', unitPrice: 1 }], currency: 'EUR' }]]],
    ['carts', 'getMany', [[1, 'en'], [2, 'en']]],
  ]);
  assert.equal(r0.error, { name: 'InvalidValueError', code: 'ERR_KEYSHARE_INVALID_VALUE', message: 'users: value.name must be string, got number' });
  assert.is(r1.value, false);
  assert.is(r2.error.message, 'carts (key "cart:2:en"): value.items[0].quantity must be number, got string');
  assert.equal(r3.value, [undefined, undefined]); // the valid first entry was not written either
  assert.is(ex.users.has(5), false);
});

test('messages name the path through every kind of type (kitchen-sink schema)', () => {
  const point = (x, y) => ({ x, y });
  const order = () => ({
    createdAt: new Date(0),
    id: 1,
    status: 'open',
    lines: { a: 1 },
    total: 10n,
    'shipping-address': { street: 's', zip: 75001 },
    path: [point(0, 0), point(1, 1)],
    bbox: [point(0, 0), point(1, 1)],
    flags: new Set(['gift']),
    byRegion: new Map([['eu', { count: 1 }]]),
    matrix: [[1, 2], [3]],
    tagged: ['t', 1, 2],
    maybe: [1],
    extra: () => 'anything goes in unknown fields... but the runtime rejects functions',
    fail: false,
    value: 0,
    settings: { verbose: true },
    category: { name: 'root', children: [{ name: 'leaf', children: [] }] },
    either: 'text',
  });
  const cases = [
    [(o) => (o.status = 'lost'), 'value.status must be "open" | "paid" | "shipped", got "lost"'],
    [(o) => (o.lines.b = 'x'), 'value.lines["b"] must be number, got string'],
    [(o) => (o.total = 10), 'value.total must be bigint, got number'],
    [(o) => (o['shipping-address'].zip = true), 'value["shipping-address"].zip must be string | number, got boolean'],
    [(o) => (o.path[1].x = '1'), 'value.path[1].x must be number, got string'],
    [(o) => (o.bbox = [point(0, 0)]), 'value.bbox must be [Point, Point], got array (length 1)'],
    [(o) => o.flags.add('slow'), 'value.flags element must be "gift" | "express", got "slow"'],
    [(o) => o.byRegion.set('asia', { count: 1 }), 'value.byRegion key must be "eu" | "us", got "asia"'],
    [(o) => o.byRegion.set('us', { count: '2' }), 'value.byRegion.get("us").count must be number, got string'],
    [(o) => (o.matrix[1][0] = '3'), 'value.matrix[1][0] must be number, got string'],
    [(o) => (o.tagged = [1]), 'value.tagged[0] must be string, got number'],
    [(o) => (o.tagged = ['t', 1, 'x']), 'value.tagged[2] must be number, got string'],
    [(o) => (o.maybe = [1, 2]), 'value.maybe[1] must be string, got number'],
    [(o) => (o.category.children[0].name = undefined), 'value.category.children[0].name must be string, got undefined'],
    [(o) => (o.createdAt = '2020-01-01'), 'value.createdAt must be Date, got string'],
    [(o) => (o.updatedBy = 5), 'value.updatedBy must be string | null, got number'],
    [(o) => (o.either = 5), 'value.either must be Point, got number'],
    [(o) => (o.value = 2), 'value.value must be -1 | 0 | 1, got 2'],
    [(o) => (o.settings = null), 'value.settings must be SetOptions, got null'],
    [(o) => delete o.id, 'value.id must be number, got undefined'],
  ];
  for (const [mutate, message] of cases) {
    const o = order();
    delete o.extra;
    mutate(o);
    const err = (() => {
      try {
        sink.orders.set('eu', 1, o);
      } catch (e) {
        return e;
      }
    })();
    assert.instance(err, InvalidValueError, message);
    assert.is(err.message, `orders: ${message}`);
    assert.is(sink.orders.has('eu', 1), false, 'nothing stored');
  }
  const valid = order();
  delete valid.extra;
  assert.is(sink.orders.set('eu', 2, valid), true);
  assert.throws(() => sink.orders.set('eu', 3, null), /^orders: value must be Order, got null$/);

  assert.throws(() => sink.shards.set(1, 5n, 'x', { a: 1, b: 'x' }), /^shards: value\["b"\] must be number, got string$/);
  assert.is(sink.shards.set(2, 5n, 'x', { a: 1 }), true);
  assert.equal(sink.shards.listKeys(), ['shard:2:5:x']);
  assert.equal(sink.shards.parseKey('shard:2:5:x'), [2, 5n, 'x']);
  assert.throws(() => sink.byNumber.set(1, [1]), /^by-number: value\[0\] must be string, got number$/);
  assert.is(sink.byNumber.set(1, null), true);
  assert.throws(() => sink.byNumber.set(2, 'a'), /^by-number: value must be string\[\] \| null, got string$/);
  assert.throws(() => sink.lists.set('a', 1, [null, { x: 1 }]), /^lists: value\[1\]\.y must be number, got undefined$/);
  assert.throws(() => sink.config.set({ debug: true, level: 4 }), /^config: value\.level must be 1 \| 2 \| 3, got 4$/);
  assert.is(sink.config.set({ debug: true, level: 3 }), true);
  assert.equal(sink.config.get(), { debug: true, level: 3 });
  assert.is(sink.anything.set('x', { whatever: [1, 'two'] }), true);
});

test('update checks the result of fn; a failing check leaves the old value', () => {
  sink.byNumber.set(10, ['a']);
  assert.equal(sink.byNumber.update(10, (cur) => [...(cur ?? []), 'b']), ['a', 'b']);
  assert.throws(() => sink.byNumber.update(10, () => [1]), /^by-number: value\[0\] must be string, got number$/);
  assert.equal(sink.byNumber.get(10), ['a', 'b']);
  assert.is(sink.byNumber.lock(10), true); // update released its lock
  assert.is(sink.byNumber.release(10), true);
});

test('schema defaults (ttl, minBufferSize) are applied on set and overridden by options', () => {
  const seen = [];
  const store = ex.users.store;
  const original = Object.getPrototypeOf(store).set;
  store.set = function (key, value, options) {
    seen.push([key, options]);
    return original.call(this, key, value, options);
  };
  try {
    ex.users.set(3, user(3));
    ex.users.set(3, user(3), { minBufferSize: 0, ttl: 9 });
  } finally {
    delete store.set;
  }
  assert.equal(seen, [
    ['user:3', { minBufferSize: 256 }],
    ['user:3', { minBufferSize: 0, ttl: 9 }],
  ]);

  let now = Date.now();
  configure({ clock: () => now });
  try {
    const s = { userId: 1, openedAt: now, ip: '::1', hits: new Map([['/', 3]]) };
    ex.sessions.set('abc', s);
    assert.equal(ex.sessions.get('abc'), s);
    now += 1_799_000;
    assert.is(ex.sessions.has('abc'), true);
    now += 2_000; // ttl 1800 s from the schema
    assert.is(ex.sessions.get('abc'), undefined);
    ex.sessions.set('abc', s, { ttl: 0 }); // a caller's option wins: no expiry
    now += 10_000_000;
    assert.equal(ex.sessions.get('abc'), s);
  } finally {
    configure({ clock: undefined });
  }
});

test('keys are built from typed parts and deleted literally; listKeys / parseKey round-trip', () => {
  ex.sessions.set('a*', { userId: 1, openedAt: 0, ip: 'x', hits: new Map() });
  ex.sessions.set('ab', { userId: 2, openedAt: 0, ip: 'x', hits: new Map() });
  assert.is(ex.sessions.delete('a*'), true); // not a glob: only session:a*
  assert.is(ex.sessions.has('ab'), true);
  ex.rateLimits.set('10.0.0.1', 1_700_000_040, { count: 3, blocked: false });
  ex.rateLimits.set('fe80::1', 1_700_000_040, { count: 1, blocked: true });
  const keys = ex.rateLimits.listKeys().sort();
  assert.equal(keys, ['rate:10.0.0.1:1700000040', 'rate:fe80::1:1700000040']);
  assert.equal(keys.map((k) => ex.rateLimits.parseKey(k)), [['10.0.0.1', 1_700_000_040], ['fe80::1', 1_700_000_040]]);
  assert.is(ex.rateLimits.parseKey('rate:x:notanumber'), undefined);
  assert.is(ex.rateLimits.key('1.2.3.4', 60), 'rate:1.2.3.4:60');
  assert.equal(ex.rateLimits.getMany([['fe80::1', 1_700_000_040], ['nobody', 0]]), [{ count: 1, blocked: true }, undefined]);
  assert.is(ex.rateLimits.deleteMany([['fe80::1', 1_700_000_040], ['nobody', 0]]), 1);
  assert.is(ex.rateLimits.size, 1);
  assert.equal(ex.settings.getMany(['motd']), [undefined]);
  assert.is(ex.settings.setMany([['motd', 'hi'], ['maintenance', 'no']]), 2);
  assert.equal(ex.settings.listKeys().sort(), ['maintenance', 'motd']);
});

test('extra properties are allowed (structural typing), like a TypeScript value with more fields', () => {
  assert.is(ex.users.set(9, user(9, { nickname: 'nine' })), true);
  assert.is(ex.users.get(9).nickname, 'nine');
});

test('without msgpackr installed, the generated module imports and its object stores work (v8, no structures)', () => {
  // The example's stores declare msgpackr structures. A child process in which
  // require('msgpackr') fails, as if the package were not installed, loads it as CommonJS.
  const text = readFileSync(path.join(root, 'codegen/example/stores.ts'), 'utf8');
  const { outputText } = ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } });
  const file = path.join(tmp, 'example-no-msgpackr.cjs');
  writeFileSync(file, outputText);
  const script = `
    const Module = require('node:module');
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (request === 'msgpackr') throw Object.assign(new Error("Cannot find module 'msgpackr'"), { code: 'MODULE_NOT_FOUND' });
      return resolve.call(this, request, ...rest);
    };
    const ex = require(${JSON.stringify(file)});
    const { arenaStats } = require('native-keyshare');
    const user = { id: 1, name: 'Ada', email: null, role: 'editor', tags: ['a'], createdAt: new Date(0), flags: new Set(['beta']) };
    ex.users.set(1, user);
    const back = ex.users.get(1);
    ex.carts.set(7, 'fr', ${JSON.stringify(cart)});
    process.stdout.write(JSON.stringify({ codec: arenaStats().codec, name: back.name, date: back.createdAt instanceof Date, set: back.flags instanceof Set, cart: ex.carts.get(7, 'fr') }));
  `;
  const child = spawnSync(process.execPath, ['-e', script], { cwd: tmp, encoding: 'utf8' });
  assert.is(child.status, 0, child.stderr);
  const result = JSON.parse(child.stdout);
  assert.equal(result, { codec: 'v8', name: 'Ada', date: true, set: true, cart });
});

test('typed arrays as values and ${boolean} key parts', async () => {
  const bin = await import(transpile('test/fixtures/codegen/golden/binary/expected.ts', 'binary.mjs'));
  const blob = { bytes: new Uint8Array([1, 2, 3]), samples: new Float64Array([0.5, -1]), name: 'b' };
  assert.ok(bin.blobs.set('a', blob));
  const back = bin.blobs.get('a');
  assert.instance(back.bytes, Uint8Array);
  assert.instance(back.samples, Float64Array);
  assert.equal([...back.bytes], [1, 2, 3]);
  assert.equal([...back.samples], [0.5, -1]);
  assert.throws(() => bin.blobs.set('b', { ...blob, bytes: [1, 2, 3] }), (e) => e instanceof InvalidValueError && e.message === 'blobs: value.bytes must be Uint8Array, got array (length 3)');
  assert.throws(() => bin.blobs.set('b', { ...blob, samples: new Float32Array(1) }), (e) => e instanceof InvalidValueError && /value\.samples must be Float64Array, got Float32Array$/.test(e.message));
  assert.ok(bin.raw.set('r', null));
  assert.ok(bin.toggles.set(true, 3, 1));
  assert.ok(bin.toggles.set(false, 3, 2));
  assert.equal(bin.toggles.listKeys().sort(), ['flag:false:3', 'flag:true:3']);
  assert.is(bin.toggles.get(true, 3), 1);
  assert.equal(bin.toggles.parseKey('flag:false:3'), [false, 3]);
  assert.is(bin.toggles.parseKey('flag:maybe:3'), undefined);
  assert.ok(bin.enabled.set(true, 'on'));
  assert.is(bin.enabled.store.get('true'), 'on');
  assert.equal(bin.enabled.parseKey('true'), [true]);
  assert.is(bin.enabled.setMany([[false, 'off']]), 1);
  assert.is(bin.enabled.get(false), 'off');
});

test.run();
