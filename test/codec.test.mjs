// The value codec (src/codec.ts) with msgpackr enabled: round trips, tag choice, aliasing,
// invalid values, deepFreeze. test/codec-v8.test.mjs covers NATIVE_KEYSHARE_CODEC=v8.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

// The codec reads NATIVE_KEYSHARE_CODEC when it loads, so clear it before the (dynamic) import:
// this file tests the msgpackr path whatever the caller's environment says.
delete process.env.NATIVE_KEYSHARE_CODEC;
const { encode, decode, encoded, deepFreeze, codecName, Tags } = await import('../dist/cjs/codec.js');
const { InvalidValueError, CodecError } = await import('../dist/cjs/errors.js');
const codecPath = fileURLToPath(new URL('../dist/cjs/codec.js', import.meta.url));

// The store decodes from one private scratch buffer that it reuses; do the same, and start the
// value at an odd offset so that nothing relies on alignment.
const scratchBuffer = new Uint8Array(1 << 21);
function copyOut(offset = 3) {
  const src = scratchBuffer.subarray(offset);
  src.set(encoded.bytes.subarray(encoded.offset, encoded.offset + encoded.length));
  return src;
}
/** encode + copy + decode; returns { tag, out, src, length }. */
function roundTrip(value, offset) {
  const tag = encode(value);
  const length = encoded.length;
  const src = copyOut(offset);
  return { tag, out: decode(tag, src, length), src, length };
}
function expectSame(value, tag, label = '') {
  const r = roundTrip(value);
  assert.is(r.tag, tag, `tag of ${label}`);
  assert.equal(r.out, value, `value of ${label}`);
  return r.out;
}
function expectInvalid(fn, message) {
  let error;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error, 'expected a throw');
  assert.instance(error, InvalidValueError);
  assert.is(error.code, 'ERR_KEYSHARE_INVALID_VALUE');
  if (message instanceof RegExp) assert.match(error.message, message);
  else assert.is(error.message, message);
  return error;
}

test('codecName is msgpackr when msgpackr is installed', () => {
  assert.is(codecName, 'msgpackr');
});

test('Tags exposes the tag values at run time', () => {
  assert.equal(Tags, { None: 0, Number: 1, True: 2, False: 3, Null: 4, Msgpack: 5, V8: 6, String: 7, Structured: 8, Record: 9, Learned: 10 });
});

test('numbers: raw float64 little endian, exact for -0, NaN, infinities, large and tiny values', () => {
  const numbers = [0, -0, 1, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 53 + 2, -(2 ** 60), Number.MAX_SAFE_INTEGER + 2,
    Number.MAX_VALUE, Number.MIN_VALUE, 5e-324, -1e-300, 0.1 + 0.2];
  for (const n of numbers) {
    const { tag, out, length } = roundTrip(n);
    assert.is(tag, Tags.Number);
    assert.is(length, 8);
    assert.ok(Object.is(out, n), `${n} came back as ${out}`);
    // The bytes are little endian whatever the platform.
    assert.ok(Object.is(new DataView(encoded.bytes.buffer, encoded.bytes.byteOffset + encoded.offset, 8).getFloat64(0, true), n));
  }
});

test('numbers: NaN payload bits are kept', () => {
  const bits = new DataView(new ArrayBuffer(8));
  bits.setUint32(0, 0xdeadbeef, true);
  bits.setUint32(4, 0x7ff81234, true);
  const weird = bits.getFloat64(0, true);
  assert.ok(Number.isNaN(weird));
  encode(weird);
  assert.equal([...encoded.bytes.subarray(encoded.offset, encoded.offset + 8)], [...new Uint8Array(bits.buffer)]);
});

test('true, false, null: no bytes', () => {
  for (const [v, tag] of [[true, Tags.True], [false, Tags.False], [null, Tags.Null]]) {
    const r = roundTrip(v);
    assert.is(r.tag, tag);
    assert.is(r.length, 0);
    assert.is(r.out, v);
  }
});

test('strings: String tag, exact incl. surrogate pairs and lone surrogates', () => {
  const strings = ['', 'Benchmark', 'héllo wörld', 'a😀b', '𝄞 music', '\uD83D', 'x\uDC00y', '日本語テキスト', '\0nul',
    'x'.repeat(63), 'x'.repeat(64), 'x'.repeat(600), 'long ✓ '.repeat(10_000), 'ünï '.repeat(1000), 'y'.repeat(40_000),
    'z'.repeat(300_000) /* beyond the retained scratch */];
  for (const s of strings) {
    const { tag, out } = roundTrip(s);
    assert.is(tag, Tags.String);
    assert.is(out, s);
  }
  // After a one-off large buffer, short strings still work.
  assert.is(roundTrip('after').out, 'after');
});

test('strings: UTF-16 when short or not ASCII, one byte per char when long and ASCII', () => {
  const form = (s) => {
    encode(s);
    return [encoded.length, encoded.bytes[encoded.offset + encoded.length - 1]];
  };
  assert.equal(form(''), [1, 0]);
  assert.equal(form('Benchmark'), [19, 0]);
  assert.equal(form('a'.repeat(63)), [127, 0]);
  assert.equal(form('a'.repeat(64)), [65, 1]);
  assert.equal(form('y'.repeat(40_000)), [40_001, 1]);
  assert.equal(form('ünï '.repeat(1000)), [8001, 0]);
  assert.equal(form('日本'.repeat(100)), [401, 0]);
  // Non-ASCII code units that the sampling misses are caught by the UTF-8 probe.
  for (const odd of ['é', '\uD800', '\uDC00', '😀', '\u0080']) {
    const s = 'a'.repeat(1000) + odd + 'a'.repeat(1000);
    assert.equal(form(s), [2 * s.length + 1, 0], JSON.stringify(odd));
    assert.is(roundTrip(s).out, s);
  }
});

test('plain objects and arrays go to msgpackr', () => {
  expectSame({ value: 'Benchmark' }, Tags.Msgpack, 'small object');
  expectSame([], Tags.Msgpack, 'empty array');
  expectSame({}, Tags.Msgpack, 'empty object');
  expectSame([1, 'a', null, true, false, [2, [3]], { x: 'y' }], Tags.Msgpack, 'mixed array');
  expectSame({ a: { b: { c: { d: ['deep'] } } }, 'key with spaces': 1, 10: 'numeric key', é: 'ü' }, Tags.Msgpack, 'nested');
  const out = roundTrip({ a: [1] }).out;
  assert.is(Object.getPrototypeOf(out), Object.prototype);
  assert.ok(Array.isArray(out.a));
});

/** Whether msgpackr wrote its string-bundle extension (fixext 4, type 0x62) into the encoding. */
function bundled() {
  const b = encoded.bytes.subarray(encoded.offset, encoded.offset + encoded.length);
  for (let i = 0; i + 1 < b.length; i++) if (b[i] === 0xd6 && b[i + 1] === 0x62) return true;
  return false;
}

test('values with several long strings are written with bundled strings and decode exactly', () => {
  const long = (i) => `row ${i}: ${'lorem ipsum dolor sit amet '.repeat(3)}`;
  // Four strings of >= 32 code units: bundled. Two-byte strings, surrogate pairs and strings
  // msgpackr does not bundle (>= 4096 units, < 4) ride along and must come back exactly.
  const doc = {
    title: long(0),
    rows: [long(1), { note: long(2), emoji: `😀 ${'ü'.repeat(40)} 😀` }, ['x'.repeat(4096), 'ab', '']],
    unicode: `${'日本語のテキスト'.repeat(5)}`,
    n: 1,
  };
  encode(doc);
  assert.ok(bundled(), 'four long strings are bundled');
  const out = expectSame(doc, Tags.Msgpack, 'bundled document');
  assert.is(out.rows[1].emoji.length, doc.rows[1].emoji.length);
  // An array of many rows, the case bundling is for.
  const rows = Array.from({ length: 300 }, (_, i) => ({ i, note: long(i), sku: `sku-${i}` }));
  encode(rows);
  assert.ok(bundled(), 'rows are bundled');
  expectSame(rows, Tags.Msgpack, 'rows');
  // Three long strings, or many short ones: not worth it, not bundled.
  encode({ a: long(1), b: long(2), c: [long(3)], d: 'short', e: Array.from({ length: 50 }, (_, i) => `k${i}`) });
  assert.not.ok(bundled(), 'three long strings are not bundled');
  // A bundled decode followed by others: each result is its own.
  const first = roundTrip(doc).out;
  roundTrip({ other: [long(7), long(8), long(9), long(10)] });
  assert.equal(first, doc);
});

test('numbers nested in objects keep their exact value (but -0 goes to v8)', () => {
  const value = { a: 1.5, big: 2 ** 53 + 2, neg: -(2 ** 60), tiny: 5e-324, inf: Infinity, ninf: -Infinity, nan: NaN, list: [NaN, 1e-300, 2 ** 64] };
  const { tag, out } = roundTrip(value);
  assert.is(tag, Tags.Msgpack);
  assert.equal(out, value);
  assert.ok(Number.isNaN(out.nan) && Number.isNaN(out.list[0]));
  assert.is(typeof out.big, 'number');

  for (const v of [{ z: -0 }, [1, -0], { deep: [{ z: -0 }] }, new Set([[-0]])]) {
    const r = roundTrip(v);
    assert.is(r.tag, Tags.V8);
    assert.equal(r.out, v);
  }
  assert.ok(Object.is(roundTrip({ z: -0 }).out.z, -0));
  assert.ok(Object.is(roundTrip([1, -0]).out[1], -0));
});

test('unicode strings nested in objects; lone surrogates go to v8', () => {
  expectSame({ s: 'a😀b', t: ['𝄞', '日本'], 'ключ': 'значение' }, Tags.Msgpack, 'unicode');
  const lone = expectSame({ s: 'x\uD800y' }, Tags.V8, 'lone surrogate');
  assert.is(lone.s.charCodeAt(1), 0xd800);
  expectSame(['ok', 'cut \uD83D'], Tags.V8, 'lone surrogate in array');
});

test('bigint: small and > 64-bit, positive and negative, top level and nested', () => {
  const bigints = [0n, 5n, -5n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, 2n ** 64n, 2n ** 64n + 1n, -(2n ** 100n), 2n ** 1000n + 7n];
  for (const b of bigints) {
    const { tag, out } = roundTrip(b);
    assert.is(tag, Tags.Msgpack);
    assert.is(typeof out, 'bigint');
    assert.is(out, b);
  }
  const nested = expectSame({ a: 5n, b: [-(2n ** 70n), 1n] }, Tags.Msgpack, 'nested bigint');
  assert.is(typeof nested.a, 'bigint');
});

test('Date (incl. invalid and negative times), nested too', () => {
  for (const d of [new Date(1700000000123), new Date(-1e12 - 1), new Date(0), new Date(8.64e15)]) {
    const { tag, out } = roundTrip(d);
    assert.is(tag, Tags.Msgpack);
    assert.instance(out, Date);
    assert.is(out.getTime(), d.getTime());
  }
  const invalid = roundTrip(new Date(NaN)).out;
  assert.instance(invalid, Date);
  assert.ok(Number.isNaN(invalid.getTime()));
  const nested = expectSame({ when: new Date(42) }, Tags.Msgpack, 'nested date');
  assert.instance(nested.when, Date);
});

test('Map (with non-string keys) goes to v8 and comes back as a Map', () => {
  const key = { k: 1 };
  const map = new Map([[1, 'one'], [key, 'object key'], ['s', new Map([[true, null]])], [2n, [1, 2]], [null, undefined]]);
  const out = expectSame(map, Tags.V8, 'map');
  assert.instance(out, Map);
  assert.is(out.get(1), 'one');
  assert.instance(out.get('s'), Map);
  assert.is(out.get('s').get(true), null);
  assert.ok(out.has(null));
  const nested = expectSame({ m: new Map([[1, 2]]) }, Tags.V8, 'nested map');
  assert.instance(nested.m, Map);
});

test('Set goes to msgpackr (moreTypes) and comes back as a Set', () => {
  const out = expectSame(new Set([1, 'a', { x: 1 }, null, 2n]), Tags.Msgpack, 'set');
  assert.instance(out, Set);
  assert.ok(out.has('a'));
  const nested = expectSame({ s: new Set([new Date(5)]) }, Tags.Msgpack, 'nested set');
  assert.instance(nested.s, Set);
  assert.instance([...nested.s][0], Date);
});

test('Buffer goes to v8 and comes back as a Buffer', () => {
  const buf = Buffer.from([1, 2, 3, 250]);
  const out = expectSame(buf, Tags.V8, 'buffer');
  assert.ok(Buffer.isBuffer(out));
  const nested = expectSame({ b: Buffer.from('hi') }, Tags.V8, 'nested buffer');
  assert.ok(Buffer.isBuffer(nested.b));
  assert.is(nested.b.toString(), 'hi');
});

test('Uint8Array and every other typed array keep their class and contents', () => {
  const arrays = [new Uint8Array([1, 2, 255]), new Int8Array([-1, 2]), new Uint8ClampedArray([0, 255]), new Int16Array([-300, 2]),
    new Uint16Array([65535]), new Int32Array([-(2 ** 31)]), new Uint32Array([2 ** 32 - 1]), new Float32Array([1.5, NaN, -0]),
    new Float64Array([Math.PI, -0, NaN, Infinity]), new BigInt64Array([-(2n ** 63n), 1n]), new BigUint64Array([2n ** 64n - 1n]),
    new Uint8Array(0), new Float64Array(new ArrayBuffer(64), 8, 2) /* a view into a larger buffer */];
  for (const a of arrays) {
    const { tag, out } = roundTrip(a);
    assert.is(tag, Tags.Msgpack, a.constructor.name);
    assert.is(out.constructor, a.constructor);
    assert.ok(!Buffer.isBuffer(out), `${a.constructor.name} became a Buffer`);
    assert.is(out.length, a.length);
    assert.equal(new Uint8Array(out.buffer, out.byteOffset, out.byteLength), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  assert.ok(Object.is(roundTrip(new Float64Array([-0])).out[0], -0));
  const nested = expectSame({ u: new Uint8Array([7]), f: [new Float32Array([0.5])] }, Tags.Msgpack, 'nested typed arrays');
  assert.is(nested.u.constructor, Uint8Array);
});

test('DataView and ArrayBuffer go to v8', () => {
  const ab = new Uint8Array([1, 2, 3]).buffer;
  const outAb = roundTrip(ab);
  assert.is(outAb.tag, Tags.V8);
  assert.instance(outAb.out, ArrayBuffer);
  assert.equal([...new Uint8Array(outAb.out)], [1, 2, 3]);
  const dv = roundTrip(new DataView(ab, 1, 2));
  assert.is(dv.tag, Tags.V8);
  assert.instance(dv.out, DataView);
  assert.is(dv.out.getUint8(0), 2);
  assert.is(dv.out.byteLength, 2);
});

test('undefined as a property value and as an array element', () => {
  const out = expectSame({ a: undefined, b: 1 }, Tags.Msgpack, 'undefined property');
  assert.ok('a' in out);
  assert.is(out.a, undefined);
  const arr = expectSame([undefined, 1], Tags.Msgpack, 'undefined element');
  assert.ok(0 in arr);
});

test('sparse arrays go to v8 and keep their holes', () => {
  // eslint-disable-next-line no-sparse-arrays
  const sparse = [1, , 3];
  const { tag, out } = roundTrip(sparse);
  assert.is(tag, Tags.V8);
  assert.is(out.length, 3);
  assert.ok(!(1 in out));
  assert.is(out[2], 3);
  const long = [];
  long[1000] = 'end';
  const outLong = roundTrip({ long }).out.long;
  assert.is(outLong.length, 1001);
  assert.ok(!(0 in outLong));
});

test('nested combinations of every type', () => {
  const value = {
    users: [
      { name: 'Ann', tags: new Set(['admin']), joined: new Date(1e12), scores: new Float64Array([1.5, 2.5]), meta: { big: 2n ** 80n, none: undefined } },
      { name: 'Bob 😀', tags: new Set(), joined: new Date(0), scores: new Float64Array(0), meta: null },
    ],
    flags: [true, false, null],
    count: 2 ** 53 + 2,
  };
  const out = expectSame(value, Tags.Msgpack, 'combination');
  assert.instance(out.users[0].tags, Set);
  assert.instance(out.users[0].joined, Date);
  assert.instance(out.users[0].scores, Float64Array);
  assert.is(typeof out.users[0].meta.big, 'bigint');

  const withMap = { ...value, index: new Map([[1, value.users[0]]]), raw: Buffer.from([9]) };
  const outMap = expectSame(withMap, Tags.V8, 'combination with Map and Buffer');
  assert.instance(outMap.index, Map);
  assert.ok(Buffer.isBuffer(outMap.raw));
  assert.instance(outMap.users[1].tags, Set);
});

test('class instances come back as plain objects with their own enumerable properties', () => {
  class Point {
    constructor() {
      this.x = 1;
      this.y = { z: 2 };
    }
    get sum() {
      return this.x + 1;
    }
    norm() {
      return 0;
    }
  }
  function Legacy() {
    this.a = 1;
  }
  Legacy.prototype.method = function () {}; // enumerable, inherited: must neither be stored nor rejected
  for (const [v, expected] of [[new Point(), { x: 1, y: { z: 2 } }], [new Legacy(), { a: 1 }], [{ nested: new Point() }, { nested: { x: 1, y: { z: 2 } } }]]) {
    const { tag, out } = roundTrip(v);
    assert.is(tag, Tags.Msgpack);
    assert.equal(out, expected);
  }
  // toJSON is not called (msgpackr would call it, v8 does not: such instances go to v8).
  class WithJson {
    constructor() {
      this.secret = 's';
    }
    toJSON() {
      return 'json';
    }
  }
  const j = roundTrip(new WithJson());
  assert.is(j.tag, Tags.V8);
  assert.equal(j.out, { secret: 's' });
  // A plain object with own `constructor` and `toJSON` keys (e.g. from JSON input).
  const odd = JSON.parse('{"constructor":"Ferrari","toJSON":"yes"}');
  const o = roundTrip(odd);
  assert.equal(o.out, odd);
});

test('null-prototype objects come back as plain objects', () => {
  const v = Object.assign(Object.create(null), { a: 1, b: [2] });
  const { tag, out } = roundTrip(v);
  assert.is(tag, Tags.Msgpack);
  assert.equal({ ...out }, { a: 1, b: [2] });
  assert.is(Object.getPrototypeOf(out), Object.prototype);
});

test('objects with an own toJSON key are stored as data (toJSON is not called)', () => {
  const nullProto = Object.assign(Object.create(null), { toJSON: 'not a function', a: 1 });
  const out = roundTrip(nullProto).out;
  assert.equal({ ...out }, { toJSON: 'not a function', a: 1 });
  const plain = { toJSON: 'x', b: [1] };
  assert.equal(roundTrip(plain).out, plain);
});

test('an own __proto__ key survives (v8)', () => {
  const v = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
  const { tag, out } = roundTrip(v);
  assert.is(tag, Tags.V8);
  assert.ok(Object.prototype.hasOwnProperty.call(out, '__proto__'));
  assert.equal(out['__proto__'], { polluted: true });
  assert.is(Object.getPrototypeOf(out), Object.prototype);
  assert.is({}.polluted, undefined);
});

test('cycles and shared references go to v8, which keeps identity', () => {
  const a = { name: 'a' };
  a.self = a;
  const { tag, out } = roundTrip(a);
  assert.is(tag, Tags.V8);
  assert.is(out.self, out);
  const list = [1];
  list.push(list);
  const outList = roundTrip({ list }).out.list;
  assert.is(outList[1], outList);
});

test('deep nesting: up to 64 levels with msgpackr, deeper with v8', () => {
  const make = (depth) => {
    let v = { leaf: true };
    for (let i = 0; i < depth; i++) v = i % 2 ? { child: v } : [v];
    return v;
  };
  expectSame(make(60), Tags.Msgpack, 'depth 60');
  expectSame(make(200), Tags.V8, 'depth 200');
});

test('values too deep even for v8: InvalidValueError', () => {
  let v = [];
  for (let i = 0; i < 100_000; i++) v = [v];
  const e = expectInvalid(() => encode(v), /^value is nested too deeply to be stored/);
  assert.instance(e.cause, RangeError);
});

test('huge values: > 65535 keys and > 50000 objects go to v8', () => {
  const wide = {};
  for (let i = 0; i < 70_000; i++) wide['k' + i] = i;
  const outWide = roundTrip(wide);
  assert.is(outWide.tag, Tags.V8);
  assert.is(Object.keys(outWide.out).length, 70_000);
  assert.is(outWide.out.k69999, 69999);
  const many = Array.from({ length: 60_000 }, (_, i) => ({ i }));
  const outMany = roundTrip(many);
  assert.is(outMany.tag, Tags.V8);
  assert.is(outMany.out[59_999].i, 59_999);
  const fewer = Array.from({ length: 1000 }, (_, i) => ({ i }));
  assert.is(roundTrip(fewer).tag, Tags.Msgpack);
});

test('other built-ins go to v8: RegExp, Error, boxed primitives', () => {
  const re = roundTrip(/a.b/gi);
  assert.is(re.tag, Tags.V8);
  assert.instance(re.out, RegExp);
  assert.is(re.out.source, 'a.b');
  assert.is(re.out.flags, 'gi');
  const err = roundTrip({ e: new RangeError('boom') });
  assert.is(err.tag, Tags.V8);
  assert.instance(err.out.e, RangeError);
  assert.is(err.out.e.message, 'boom');
  const boxed = roundTrip([new Number(3), new String('s'), new Boolean(false)]);
  assert.is(boxed.tag, Tags.V8);
  assert.instance(boxed.out[0], Number);
  assert.is(boxed.out[0].valueOf(), 3);
  assert.is(boxed.out[1].valueOf(), 's');
});

test('decoded binary data does not alias the source buffer', () => {
  const cases = [
    [new Uint8Array([1, 2, 3]), (o) => [...o]],
    [{ f: new Float64Array([1.5, 2.5]), i: new Int16Array([7]) }, (o) => [...o.f, ...o.i]],
    [new Set([new Uint32Array([5])]), (o) => [...[...o][0]]],
    [Buffer.from([4, 5, 6]), (o) => [...o]],
    [{ b: Buffer.from([1]), m: new Map([[1, new Uint8Array([2, 3])]]) }, (o) => [...o.b, ...o.m.get(1)]],
    [new Map([['f', new Float64Array([0.25])], ['d', new DataView(new Uint8Array([8, 9]).buffer)]]), (o) => [...o.get('f'), o.get('d').getUint8(1)]],
  ];
  for (const offset of [0, 3, 5]) {
    for (const [value, read] of cases) {
      const { out, src, length } = roundTrip(value, offset);
      const before = read(out);
      src.fill(0xee, 0, length);
      assert.equal(read(out), before, `after overwriting src (offset ${offset})`);
      for (const view of [out, ...(out instanceof Map ? out.values() : []), ...(typeof out === 'object' && !ArrayBuffer.isView(out) && !(out instanceof Map) ? Object.values(out) : [])]) {
        if (ArrayBuffer.isView(view)) assert.ok(view.buffer !== src.buffer, 'shares the source ArrayBuffer');
      }
    }
  }
});

test('msgpack binary (bin) written by other msgpackr code decodes as a copy', async () => {
  const { Packr } = await import('msgpackr');
  // moreTypes writes a Uint8Array as a typed-array extension, but a Buffer as plain msgpack bin.
  const bytes = new Packr({ useRecords: false, moreTypes: true }).pack({ bin: Buffer.from([1, 2, 3]) });
  const src = scratchBuffer.subarray(2);
  src.set(bytes);
  const out = decode(Tags.Msgpack, src, bytes.length);
  src.fill(0, 0, bytes.length);
  assert.equal([...out.bin], [1, 2, 3]);
  assert.ok(out.bin.buffer !== src.buffer);
});

test('each decode is independent of later encodes and decodes', () => {
  const a = roundTrip({ v: 'first', n: [1, 2] }).out;
  const tag = encode({ v: 'second' });
  const src = copyOut();
  const b = decode(tag, src, encoded.length);
  roundTrip('a string that overwrites the scratch');
  assert.equal(a, { v: 'first', n: [1, 2] });
  assert.equal(b, { v: 'second' });
});

test('invalid top-level values throw InvalidValueError', () => {
  expectInvalid(() => encode(undefined), 'value must not be undefined');
  expectInvalid(() => encode(() => 1), 'value of type function cannot be stored');
  expectInvalid(() => encode(Symbol('s')), 'value of type symbol cannot be stored');
});

test('a function or symbol nested in a value: InvalidValueError that says where', () => {
  expectInvalid(() => encode({ a: { b: [1, () => 2] } }), 'value of type function cannot be stored (found at value.a.b[1])');
  expectInvalid(() => encode({ 'odd key': Symbol('x') }), 'value of type symbol cannot be stored (found at value["odd key"])');
  expectInvalid(() => encode([new Set([1, function f() {}])]), /^value of type function cannot be stored \(found at value\[0\]\.<element 1>\)$/);
  expectInvalid(() => encode({ method() {} }), /found at value\.method/);
  // Inside a Map the value goes to v8: its DataCloneError message is kept.
  const e = expectInvalid(() => encode({ m: new Map([['k', () => 1]]) }), /^value of type function cannot be stored \(found at value\.m\.get\("k"\)\) \(.*could not be cloned\.\)$/);
  assert.instance(e.cause, Error);
  // Things only v8 can judge.
  expectInvalid(() => encode({ w: new WeakMap() }), /could not be cloned/);
  expectInvalid(() => encode(Promise.resolve(1)), /could not be cloned/);
});

test('errors from getters are not disguised, and a failed encode leaves the codec usable', () => {
  const v = {
    get a() {
      throw new TypeError('getter failed');
    },
  };
  assert.throws(() => encode(v), (e) => e instanceof TypeError && e.message === 'getter failed');
  assert.throws(() => encode({ f() {} }));
  expectSame({ ok: 1 }, Tags.Msgpack, 'after failures');
  expectSame(new Map([[1, 1]]), Tags.V8, 'after failures (v8)');
});

test('decode rejects unknown tags and impossible lengths with CodecError', () => {
  const src = new Uint8Array(16);
  src[4] = 9; // not a string form
  for (const [tag, length] of [[99, 0], [Tags.None, 0], [Tags.Number, 4], [Tags.String, 0], [Tags.String, 2], [Tags.String, 5]]) {
    assert.throws(() => decode(tag, src, length), (e) => e instanceof CodecError && e.code === 'ERR_KEYSHARE_CODEC', `tag ${tag}, ${length} bytes`);
  }
});

test('values encoded by a v8-only worker decode here, and the other way round', async () => {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const c = require(workerData.codecPath);
    const values = [{ value: 'Benchmark' }, new Set([1]), new Map([[1, 2]]), 5n, 'text', 2.5, null, new Uint8Array([1, 2])];
    const encodedValues = values.map((v) => {
      const tag = c.encode(v);
      return { tag, bytes: Uint8Array.from(c.encoded.bytes.subarray(c.encoded.offset, c.encoded.offset + c.encoded.length)) };
    });
    const decodedHere = workerData.incoming.map(({ tag, bytes }) => c.decode(tag, bytes, bytes.length));
    parentPort.postMessage({ codecName: c.codecName, encodedValues, decodedHere });
  `;
  const values = [{ value: 'Benchmark' }, new Set([1]), new Map([[1, 2]]), 5n, 'text', 2.5, null, new Uint8Array([1, 2])];
  const incoming = values.map((v) => {
    const tag = encode(v);
    return { tag, bytes: Uint8Array.from(encoded.bytes.subarray(encoded.offset, encoded.offset + encoded.length)) };
  });
  assert.equal(incoming.map((x) => x.tag), [Tags.Msgpack, Tags.Msgpack, Tags.V8, Tags.Msgpack, Tags.String, Tags.Number, Tags.Null, Tags.Msgpack]);
  const reply = await new Promise((resolve, reject) => {
    const w = new Worker(source, { eval: true, workerData: { codecPath, incoming }, env: { ...process.env, NATIVE_KEYSHARE_CODEC: 'v8' } });
    w.once('message', resolve);
    w.once('error', reject);
  });
  assert.is(reply.codecName, 'v8');
  assert.equal(reply.decodedHere, values);
  assert.equal(reply.encodedValues.map((x) => x.tag), [Tags.V8, Tags.V8, Tags.V8, Tags.V8, Tags.String, Tags.Number, Tags.Null, Tags.V8]);
  for (let i = 0; i < values.length; i++) {
    const { tag, bytes } = reply.encodedValues[i];
    const src = scratchBuffer.subarray(1);
    src.set(bytes);
    assert.equal(decode(tag, src, bytes.length), values[i]);
  }
});

test('deepFreeze freezes nested objects and arrays', () => {
  const v = deepFreeze(roundTrip({ a: { b: [1, { c: 'd' }] }, e: [[2]] }).out);
  for (const part of [v, v.a, v.a.b, v.a.b[1], v.e, v.e[0]]) assert.ok(Object.isFrozen(part));
  assert.throws(() => {
    v.a.x = 1;
  }, TypeError);
  assert.throws(() => {
    v.a.b.push(3);
  }, TypeError);
  assert.throws(() => {
    v.e[0][0] = 5;
  }, TypeError);
  assert.equal(v, { a: { b: [1, { c: 'd' }] }, e: [[2]] });
});

test('deepFreeze makes Map, Set and Date read-only but still usable', () => {
  const v = deepFreeze(roundTrip({ m: new Map([[1, { x: 1 }]]), s: new Set([{ y: 2 }]), d: new Date(5) }).out);
  assert.instance(v.m, Map);
  assert.is(v.m.constructor, Map);
  assert.equal(v.m.get(1), { x: 1 });
  assert.ok(Object.isFrozen(v.m.get(1)));
  assert.throws(() => v.m.set(2, 2), TypeError);
  assert.throws(() => v.m.delete(1), TypeError);
  assert.throws(() => v.m.clear(), TypeError);
  assert.is(v.m.size, 1);
  assert.instance(v.s, Set);
  assert.throws(() => v.s.add(3), TypeError);
  assert.ok(Object.isFrozen([...v.s][0]));
  assert.instance(v.d, Date);
  assert.is(v.d.getTime(), 5);
  assert.throws(() => v.d.setTime(6), TypeError);
  assert.throws(() => v.d.setFullYear(2000), TypeError);
  assert.is(v.d.getTime(), 5);
  // Frozen values can be stored again, with the same encoder as before.
  assert.equal(roundTrip(v.s).tag, Tags.Msgpack);
  assert.equal(roundTrip(v.d).out, new Date(5));
  assert.equal(roundTrip(v.m).out, new Map([[1, { x: 1 }]]));
});

test('deepFreeze: typed arrays stay writable but not extensible; cycles terminate; primitives pass', () => {
  const v = deepFreeze(roundTrip({ u: new Uint8Array([1]), b: Buffer.from([2]) }).out);
  assert.ok(Object.isFrozen(v));
  assert.ok(!Object.isExtensible(v.u));
  assert.ok(!Object.isExtensible(v.b));
  const cyclic = { n: 1 };
  cyclic.self = cyclic;
  const out = deepFreeze(roundTrip(cyclic).out);
  assert.ok(Object.isFrozen(out) && out.self === out);
  assert.is(deepFreeze(5), 5);
  assert.is(deepFreeze('s'), 's');
  assert.is(deepFreeze(null), null);
  const obj = {};
  assert.is(deepFreeze(obj), obj);
});

test.run();
