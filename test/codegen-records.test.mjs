// Codegen: fixed-layout records and msgpackr structures of generated facades, at run time, in the
// main thread and three workers over the real shared arena. The facades are generated from
// test/fixtures/codegen/records-runtime/schema.ts (and the records golden output is loaded too),
// transpiled to ES modules in a temporary directory whose node_modules/native-keyshare links to
// this package, like codegen-runtime.test.mjs does.
//
// - add / compareExchange from 4 threads: exact sums, and no previous value seen twice;
// - torn reads: a worker writes whole records (set) and all fields in place (setFields) with
//   every number field equal to k, k increasing; the main thread and two workers check that
//   every snapshot (get, view.snapshot()) is one write and never goes back, and that every single
//   getter returns a value that was written, never going back;
// - the layouts the generator prints equal the runtime's layoutRecord of the same fields.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createStore, InvalidOptionError, InvalidValueError, KeyNotFoundError, layoutRecord } from 'native-keyshare';
import { Packr } from 'msgpackr';
import { readTask, sample, startTogether } from './fixtures/codegen/records-tasks.mjs';

const require = createRequire(import.meta.url);
const ts = require('typescript');
const { generate } = require('../dist/codegen/generate.js');
const root = fileURLToPath(new URL('..', import.meta.url));

const tmp = mkdtempSync(path.join(os.tmpdir(), 'nk-codegen-records-'));
mkdirSync(path.join(tmp, 'node_modules'));
symlinkSync(root, path.join(tmp, 'node_modules', 'native-keyshare'), 'dir');
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Generates the facades of `schema` (relative to the repository), transpiled into `tmp`. */
function build(schema, name) {
  const out = path.join(tmp, `${name}.ts`);
  const { code, model } = generate({ schemaPath: path.join(root, schema), outPath: out });
  const { outputText } = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const file = path.join(tmp, `${name}.mjs`);
  writeFileSync(file, outputText);
  return { url: pathToFileURL(file).href, model };
}

const rt = build('test/fixtures/codegen/records-runtime/schema.ts', 'runtime');
const golden = build('test/fixtures/codegen/golden/records/schema.ts', 'golden');
const f = await import(rt.url);
const g = await import(golden.url);

const WORKER = new URL('./fixtures/codegen/records-worker.mjs', import.meta.url);

/** For assert.throws: the error is an instance of `type`. */
const isA = (type) => (e) => e instanceof type;

/** Starts one worker per task, all released together with the main thread (`main` runs then). */
async function together(tasks, main) {
  const sync = new Int32Array(new SharedArrayBuffer(8));
  const threads = tasks.length + 1;
  const done = tasks.map(
    (t) =>
      new Promise((resolve, reject) => {
        const w = new Worker(WORKER, { workerData: { module: rt.url, threads, sync: sync.buffer, ...t } });
        w.once('message', resolve);
        w.once('error', reject);
        w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
      }),
  );
  startTogether(sync, threads);
  const mine = main(sync);
  return [mine, ...(await Promise.all(done))];
}

const counter = { hits: 0, misses: 0, small: 0, ratio: 0.5 };
const N = 20_000;

test('records: the facade reads, writes and checks fields; at() is undefined for an absent key', () => {
  assert.is(f.counters.at(1), undefined);
  assert.is(f.counters.set(1, counter), true);
  assert.equal(f.counters.get(1), counter);
  const view = f.counters.at(1);
  assert.instance(view, f.CounterView);
  assert.equal([view.hits, view.misses, view.small, view.ratio], [0, 0, 0, 0.5]);
  assert.equal(view.snapshot(), counter);

  assert.is(f.counters.add(1, 'small', 5), 0, 'add returns the previous value');
  assert.is(f.counters.compareExchange(1, 'small', 5, 7), 5);
  assert.is(f.counters.compareExchange(1, 'small', 5, 9), 7, 'no exchange: returns the value found');
  assert.is(view.small, 7);
  assert.is(f.counters.setFields(1, { small: -3, ratio: 2 }), true);
  assert.equal(f.counters.get(1), { ...counter, small: -3, ratio: 2 });
  assert.is(f.counters.update(1, (c) => ({ ...c, small: 0 })).small, 0);

  // Generated checks, named after the store and the field.
  assert.throws(() => f.counters.set(1, { ...counter, hits: 2 ** 31 }), (e) => e instanceof InvalidValueError && e.message === 'counters: value.hits must be Int32 (an integer from -2147483648 to 2147483647), got 2147483648');
  assert.throws(() => f.counters.set(1, { ...counter, small: 1.5 }), /^counters: value\.small must be Int16 \(an integer from -32768 to 32767\), got 1\.5$/);
  assert.throws(() => f.counters.setFields(1, { misses: -1 }), /^counters: fields\.misses must be Uint32 \(an integer from 0 to 4294967295\), got -1$/);
  assert.throws(() => f.samples.set(9, { ...sample(1), kind: 'z' }), /^samples: value\.kind must be "a" \| "b" \| "c", got "z"$/);
  assert.throws(() => f.samples.set(9, { ...sample(1), v: [1] }), /^samples: value\.v must be \[number, number\], got array \(length 1\)$/);
  // FixedString: the facade checks for a string, the runtime the byte length.
  assert.throws(() => f.samples.set(9, { ...sample(1), label: 7 }), /^samples: value\.label must be FixedString<8>, got number$/);
  assert.throws(() => f.samples.set(9, { ...sample(1), label: 'ééééé' }), isA(InvalidValueError));
  assert.is(f.samples.has(9), false, 'nothing stored');

  assert.throws(() => f.counters.setFields(2, { hits: 1 }), isA(KeyNotFoundError));
  assert.throws(() => f.counters.add(2, 'hits', 1), isA(KeyNotFoundError));
  assert.equal(f.counters.listKeys(), ['counter:1']);
  assert.is(f.counters.delete(1), true);
  assert.is(f.counters.at(1), undefined);
  assert.throws(() => view.hits, isA(KeyNotFoundError), 'a view of a deleted key throws');
});

test(`records: add from 4 threads, ${N} each: exact sum, every previous value seen once`, async () => {
  f.counters.set(1, counter);
  const results = await together([{ task: 'add', n: N }, { task: 'add', n: N }, { task: 'add', n: N }], () => {
    const previous = new Int32Array(N);
    for (let i = 0; i < N; i++) previous[i] = f.counters.add(1, 'hits', 1);
    return { previous };
  });
  assert.is(f.counters.get(1).hits, 4 * N);
  assert.is(f.counters.at(1).hits, 4 * N);
  const all = new Int32Array(4 * N);
  results.forEach((r, i) => all.set(r.previous, i * N));
  all.sort();
  for (let i = 0; i < all.length; i++) if (all[i] !== i) assert.unreachable(`previous values: ${all[i]} at ${i} (a value seen twice, or one skipped)`);
  assert.equal(f.counters.get(1), { ...counter, hits: 4 * N }, 'the other fields are untouched');
});

test(`records: compareExchange loops from 4 threads, ${N} increments each: exact sum`, async () => {
  const results = await together([{ task: 'cas', n: N }, { task: 'cas', n: N }, { task: 'cas', n: N }], () => {
    const view = f.counters.at(1);
    let retries = 0;
    for (let i = 0; i < N; i++) {
      for (;;) {
        const cur = view.misses;
        if (f.counters.compareExchange(1, 'misses', cur, cur + 1) === cur) break;
        retries++;
      }
    }
    return { retries };
  });
  assert.is(f.counters.get(1).misses, 4 * N);
  assert.is(f.counters.get(1).hits, 4 * N, 'add results kept');
  console.log(`  compareExchange retries: ${results.map((r) => r.retries).join(', ')}`);
});

test('records: no torn or stale reads while a worker writes whole records and all fields in place', async () => {
  f.samples.set(2, sample(0));
  const results = await together(
    [
      { task: 'write', ms: 1500, maxK: 30_000 },
      { task: 'read' },
      { task: 'read' },
    ],
    (sync) => readTask(f, sync),
  );
  const [main, writer, ...readers] = [results[0], results[1], ...results.slice(2)];
  for (const r of [main, ...readers]) assert.equal(r.bad, [], r.bad.join('\n'));
  assert.ok(writer.writes > 100, `the writer wrote ${writer.writes} times`);
  assert.equal(f.samples.get(2), sample(writer.writes));
  const reads = [main, ...readers].map((r) => `${r.reads} field reads, ${r.snapshots} snapshots (last k ${r.lastSnapshot})`);
  console.log(`  ${writer.writes} writes; readers: ${reads.join('; ')}`);
  assert.ok([main, ...readers].every((r) => r.snapshots > 10), 'every reader read while the writer wrote');
});

test("the generator's layouts equal the runtime's layoutRecord of the same fields (drift check)", () => {
  let checked = 0;
  for (const { model, facades } of [{ model: rt.model, facades: f }, { model: golden.model, facades: g }]) {
    for (const s of model.stores) {
      if (s.record === undefined) continue;
      const specs = s.record.fields.map(({ name, type }) => ({ name, type }));
      const runtime = layoutRecord(specs);
      const printed = { size: s.record.size, fields: s.record.fields.map(({ name, type, offset }) => ({ name, type, offset })) };
      assert.equal(printed, JSON.parse(JSON.stringify(runtime)), `store ${s.name}: model vs layoutRecord`);
      // What the emitted code passed to createStore (kept by the store) is that layout too.
      const facade = facades[s.exportName];
      assert.equal(JSON.parse(JSON.stringify(facade.store.recordLayout)), JSON.parse(JSON.stringify(runtime)), `store ${s.name}: emitted layout`);
      checked++;
    }
  }
  assert.is(checked, 7); // counters, samples; players, bots, markers, tallies, units
});

test('structures: generated stores encode objects without their names, and agree across handles', () => {
  const doc = (i) => ({ id: i, title: `title ${i}`, tags: ['a', 'b'], owner: { name: 'ann', since: 2020 } });
  // What the same values take as msgpack maps, with their property names in every value.
  const names = new Packr({ useRecords: false, moreTypes: true });
  let without = 0;
  for (let i = 0; i < 50; i++) {
    f.docs.set(i, doc(i));
    without += names.pack(i === 9 ? { ...doc(9), extra: true } : doc(i)).length;
  }
  assert.equal(f.docs.get(7), doc(7));
  const { title, ...noTitle } = doc(8);
  assert.throws(() => f.docs.set(8, noTitle), /^docs: value\.title must be string, got undefined$/);
  const withExtra = { ...doc(9), extra: true }; // another shape: stored with its names inline
  f.docs.set(9, withExtra);
  assert.equal(f.docs.get(9), withExtra);
  const withStructures = f.docs.store.stats().valueBytes;
  console.log(`  50 docs: ${withStructures} bytes with structures, ${without} as maps`);
  assert.ok(withStructures < without, `${withStructures} < ${without}`);
  // The structures are part of the store: a handle with other structures is refused.
  assert.throws(() => createStore('docs', { structures: [['id', 'title']] }), isA(InvalidOptionError));
  assert.is(createStore('docs', { structures: rt.model.stores.find((s) => s.name === 'docs').structures }).get('doc:7').title, 'title 7');
});

test.run();
