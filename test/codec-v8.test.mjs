// The value codec with NATIVE_KEYSHARE_CODEC=v8: this thread encodes every object with the
// node:v8 serializer, and still decodes values that msgpackr-enabled threads wrote.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Must be set before the codec loads, hence the dynamic import.
process.env.NATIVE_KEYSHARE_CODEC = 'v8';
const { encode, decode, encoded, deepFreeze, codecName, Tags } = await import('../dist/cjs/codec.js');
const { InvalidValueError, CodecError } = await import('../dist/cjs/errors.js');
const require = createRequire(import.meta.url);
const codecPath = fileURLToPath(new URL('../dist/cjs/codec.js', import.meta.url));
const msgpackrLoaded = () => Object.keys(require.cache).some((file) => file.includes(`${'/'}msgpackr${'/'}`));

const scratchBuffer = new Uint8Array(1 << 20);
function roundTrip(value, offset = 3) {
  const tag = encode(value);
  const length = encoded.length;
  const src = scratchBuffer.subarray(offset);
  src.set(encoded.bytes.subarray(encoded.offset, encoded.offset + length));
  return { tag, out: decode(tag, src, length), src, length };
}
function expectInvalid(fn, message) {
  let error;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.instance(error, InvalidValueError);
  assert.is(error.code, 'ERR_KEYSHARE_INVALID_VALUE');
  if (message instanceof RegExp) assert.match(error.message, message);
  else assert.is(error.message, message);
  return error;
}

test('codecName is v8 and msgpackr is not loaded by encoding', () => {
  assert.is(codecName, 'v8');
  for (const v of [{ value: 'Benchmark' }, [1, 2], new Set([1]), 5n]) assert.is(encode(v), Tags.V8);
  assert.ok(!msgpackrLoaded(), 'msgpackr was loaded although this thread never needed it');
});

// The value list of codec.test.mjs: [label, value, type check, expected if not deep-equal to value].
class Point {
  constructor() {
    this.x = 1;
  }
}
const cyclic = { name: 'c' };
cyclic.self = cyclic;
// eslint-disable-next-line no-sparse-arrays
const sparse = [1, , 3];
const values = [
  ['plain object', { value: 'Benchmark' }],
  ['array', [1, 'a', null, true, [2, [3]], { x: 'y' }]],
  ['unicode', { s: 'a😀b', lone: 'x\uD800y', 'ключ': '日本' }],
  ['numbers nested', { z: -0, nan: NaN, inf: Infinity, ninf: -Infinity, big: 2 ** 53 + 2, tiny: 5e-324, list: [-0, 1e-300] }, (o) => Object.is(o.z, -0) && Object.is(o.list[0], -0) && Number.isNaN(o.nan)],
  ['bigints', [0n, 5n, -5n, 2n ** 64n + 1n, -(2n ** 100n)], (o) => o.every((b) => typeof b === 'bigint')],
  ['booleans and null', { t: true, f: false, n: null }],
  ['Date', { d: new Date(1700000000123), neg: new Date(-1) }, (o) => o.d instanceof Date && o.neg.getTime() === -1],
  ['Map with non-string keys', new Map([[1, 'one'], [{ k: 1 }, 'obj'], [true, new Map([[null, 2n]])]]), (o) => o instanceof Map && o.get(true) instanceof Map],
  ['Set', new Set([1, 'a', { x: 1 }]), (o) => o instanceof Set],
  ['Buffer', Buffer.from([1, 2, 3]), (o) => Buffer.isBuffer(o)],
  ['Uint8Array', new Uint8Array([1, 2, 3]), (o) => o.constructor === Uint8Array && !Buffer.isBuffer(o)],
  ['typed arrays', [new Int16Array([-3]), new Float32Array([0.5]), new Float64Array([-0, 2.5]), new BigInt64Array([-1n]), new Uint8ClampedArray([9])],
    (o) => o[0] instanceof Int16Array && o[1] instanceof Float32Array && o[2] instanceof Float64Array && Object.is(o[2][0], -0) && o[3] instanceof BigInt64Array && o[4] instanceof Uint8ClampedArray],
  ['undefined property', { a: undefined }, (o) => 'a' in o],
  ['sparse array', sparse, (o) => o.length === 3 && !(1 in o)],
  ['class instance', new Point(), (o) => Object.getPrototypeOf(o) === Object.prototype, { x: 1 }],
  ['nested combination', { users: [{ tags: new Set(['x']), at: new Date(0), m: new Map([[1, Buffer.from([1])]]) }] },
    (o) => o.users[0].tags instanceof Set && Buffer.isBuffer(o.users[0].m.get(1))],
];

test('objects round-trip exactly through v8', () => {
  for (const [label, value, check, expected = value] of values) {
    const { tag, out } = roundTrip(value);
    assert.is(tag, Tags.V8, label);
    assert.equal(out, expected, label);
    if (check) assert.ok(check(out), `type check of ${label}`);
  }
  const { out } = roundTrip(cyclic);
  assert.is(out.self, out);
  // (deep equality cannot compare invalid Dates: NaN !== NaN)
  const invalid = roundTrip(new Date(NaN)).out;
  assert.instance(invalid, Date);
  assert.ok(Number.isNaN(invalid.getTime()));
});

test('numbers, strings, booleans and null keep their fast tags', () => {
  for (const [v, tag] of [[1.5, Tags.Number], [-0, Tags.Number], ['text 😀', Tags.String], ['', Tags.String], [true, Tags.True], [false, Tags.False], [null, Tags.Null]]) {
    const r = roundTrip(v);
    assert.is(r.tag, tag);
    assert.ok(Object.is(r.out, v));
  }
});

test('binary data decoded from v8 does not alias the source', () => {
  for (const offset of [0, 3, 4]) {
    const { out, src, length } = roundTrip({ b: Buffer.from([1, 2]), u: new Uint8Array([3]), f: new Float64Array([0.5]), d: new DataView(new Uint8Array([7]).buffer) }, offset);
    src.fill(0, 0, length);
    assert.equal([...out.b, ...out.u, ...out.f, out.d.getUint8(0)], [1, 2, 3, 0.5, 7]);
    for (const view of [out.b, out.u, out.f, out.d]) {
      assert.ok(view.buffer !== src.buffer);
      assert.is(view.byteOffset, 0);
      assert.is(view.buffer.byteLength, view.byteLength);
    }
  }
});

test('invalid values throw InvalidValueError (v8 DataCloneError mapped, with where and the original message)', () => {
  expectInvalid(() => encode(undefined), 'value must not be undefined');
  expectInvalid(() => encode(() => 1), 'value of type function cannot be stored');
  expectInvalid(() => encode(Symbol('s')), 'value of type symbol cannot be stored');
  const e = expectInvalid(() => encode({ a: [() => 1] }), /^value of type function cannot be stored \(found at value\.a\[0\]\) \(.*could not be cloned\.\)$/);
  assert.match(e.cause.message, /could not be cloned/);
  expectInvalid(() => encode({ s: Symbol('x') }), /^value of type symbol cannot be stored \(found at value\.s\)/);
  expectInvalid(() => encode(new WeakSet()), /could not be cloned/);
  assert.is(roundTrip({ ok: true }).out.ok, true);
});

test('values encoded with msgpackr elsewhere still decode (msgpackr loaded lazily)', async () => {
  assert.ok(!msgpackrLoaded());
  const { Packr } = await import('msgpackr');
  // The options a msgpackr-enabled thread uses (see MSGPACKR_OPTIONS in src/codec.ts).
  const packr = new Packr({ useRecords: false, moreTypes: true, useBigIntExtension: true, copyBuffers: true });
  const samples = [
    [{ value: 'Benchmark' }],
    [new Set([1, 'a'])],
    [new Uint8Array([4, 5]), (o) => o.constructor === Uint8Array],
    [{ big: 2n ** 100n, d: new Date(5), f: new Float32Array([1.5]) }, (o) => typeof o.big === 'bigint' && o.d instanceof Date && o.f instanceof Float32Array],
  ];
  for (const [value, check] of samples) {
    const bytes = packr.pack(value);
    const src = scratchBuffer.subarray(1);
    src.set(bytes);
    const out = decode(Tags.Msgpack, src, bytes.length);
    assert.equal(out, value);
    if (check) assert.ok(check(out));
    src.fill(0, 0, bytes.length);
    assert.equal(out, value, 'decoded value changed when the source was overwritten');
  }
});

test('values from a msgpackr worker decode in this v8 thread', async () => {
  const { Worker } = await import('node:worker_threads');
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const c = require(workerData.codecPath);
    const out = workerData.values.map((v) => { const tag = c.encode(v); return { tag, bytes: Uint8Array.from(c.encoded.bytes.subarray(c.encoded.offset, c.encoded.offset + c.encoded.length)) }; });
    parentPort.postMessage({ codecName: c.codecName, out });
  `;
  const sent = [{ value: 'Benchmark' }, new Set([2]), 7n, [1, { a: [true] }]];
  const env = { ...process.env };
  delete env.NATIVE_KEYSHARE_CODEC;
  const reply = await new Promise((resolve, reject) => {
    const w = new Worker(source, { eval: true, workerData: { codecPath, values: sent }, env });
    w.once('message', resolve);
    w.once('error', reject);
  });
  assert.is(reply.codecName, 'msgpackr');
  assert.equal(reply.out.map((x) => x.tag), [Tags.Msgpack, Tags.Msgpack, Tags.Msgpack, Tags.Msgpack]);
  assert.equal(reply.out.map(({ tag, bytes }) => decode(tag, bytes, bytes.length)), sent);
});

test('deepFreeze works on v8-decoded values', () => {
  const v = deepFreeze(roundTrip({ m: new Map([[1, [1]]]), o: { p: {} } }).out);
  assert.ok(Object.isFrozen(v.o.p) && Object.isFrozen(v.m.get(1)));
  assert.throws(() => v.m.set(1, 2), TypeError);
});

test('without msgpackr installed: v8 for everything, CodecError for msgpackr-tagged values', () => {
  // A child process in which require('msgpackr') fails, as if the package were not installed.
  const script = `
    const Module = require('node:module');
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (request === 'msgpackr') throw Object.assign(new Error("Cannot find module 'msgpackr'"), { code: 'MODULE_NOT_FOUND' });
      return resolve.call(this, request, ...rest);
    };
    const c = require(${JSON.stringify(codecPath)});
    const tag = c.encode({ value: 'Benchmark', s: new Set([1]) });
    const bytes = Uint8Array.from(c.encoded.bytes.subarray(c.encoded.offset, c.encoded.offset + c.encoded.length));
    const back = c.decode(tag, bytes, bytes.length);
    let error = null;
    try { c.decode(c.Tags.Msgpack, new Uint8Array([0x81, 0xa1, 0x61, 0x01]), 4); } catch (e) { error = { name: e.name, code: e.code, message: e.message }; }
    process.stdout.write(JSON.stringify({ codecName: c.codecName, tag, back: [back.value, back.s instanceof Set], error }));
  `;
  for (const mode of [undefined, 'v8']) {
    const env = { ...process.env };
    if (mode) env.NATIVE_KEYSHARE_CODEC = mode;
    else delete env.NATIVE_KEYSHARE_CODEC;
    const child = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
    assert.is(child.status, 0, child.stderr);
    const result = JSON.parse(child.stdout);
    assert.is(result.codecName, 'v8');
    assert.is(result.tag, Tags.V8);
    assert.equal(result.back, ['Benchmark', true]);
    assert.equal(result.error, {
      name: CodecError.name,
      code: 'ERR_KEYSHARE_CODEC',
      message: 'value was encoded with msgpackr, which is not installed in this process (npm install msgpackr)',
    });
  }
  // And with msgpackr present, the same bytes decode.
  assert.equal(decode(Tags.Msgpack, new Uint8Array([0x81, 0xa1, 0x61, 0x01]), 4), { a: 1 });
});

test.run();
