// The integrity checker: a healthy arena verifies clean after every kind of work, and each
// kind of corruption it claims to catch, made on purpose, is reported (then undone).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createStore, verify } from 'native-keyshare';
import { fixture, sleep } from './util.mjs';

const { arena } = await import('../dist/cjs/arena.js');
const L = await import('../dist/cjs/layout.js');
const { lookup, hashKey } = await import('../dist/cjs/keyindex.js');
const { alloc, free } = await import('../dist/cjs/allocator.js');

const s = createStore('verify');
const entryOf = (key) => lookup(s.ref, key, hashKey(key));

function clean(where) {
  const r = verify();
  const errors = r.problems.filter((p) => p.severity === 'error');
  assert.equal(errors, [], `${where}: ${JSON.stringify(errors.slice(0, 3))}`);
  assert.ok(r.ok);
  return r;
}

/** Overwrites word w, checks verify() reports `kind` (with `re`), restores it, checks clean. */
function corrupt(w, value, kind, re, severity = 'error') {
  const i32 = arena.i32;
  const saved = i32[w];
  i32[w] = value;
  try {
    const r = verify();
    const hit = r.problems.find((p) => p.kind === kind && p.severity === severity && re.test(p.message));
    assert.ok(hit, `expected a ${severity} of kind ${kind} matching ${re}, got ${JSON.stringify(r.problems.slice(0, 4))}`);
    if (severity === 'error') assert.not.ok(r.ok);
    return hit;
  } finally {
    arena.i32[w] = saved;
  }
}

test('a healthy arena verifies clean after varied work', () => {
  for (let i = 0; i < 5000; i++) s.set(`k${i}`, { i, pad: 'x'.repeat(i % 300) });
  for (let i = 0; i < 5000; i += 3) s.delete(`k${i}`);
  s.set('ttl', 1, { ttl: 100 });
  s.set('big', Buffer.alloc(300_000, 1));
  s.lock('locked');
  s.set('locked', 'v', { skipLock: true });
  s.release('locked');
  s.lock('held-now');
  const r = clean('after varied work');
  assert.ok(r.stores >= 1 && r.entries >= 3000, JSON.stringify(r.blocks));
  assert.is(r.leakedBytes, 0, JSON.stringify(r.problems.filter((p) => p.kind === 'leak').slice(0, 3)));
  s.release('held-now');
});

test('clean after workers were killed mid-write', async () => {
  for (let round = 0; round < 10; round++) {
    const w = new Worker(fixture('busy.mjs'), { workerData: { store: 'verify', key: 'hot', mode: round % 2 ? 'set' : 'update', start: round * 50 } });
    await new Promise((resolve) => w.once('message', resolve));
    await sleep(5 + round * 3);
    await w.terminate();
  }
  await sleep(50);
  assert.ok(s.set('hot', 'after', { timeout: 1000 }));
  // An insert and a delete take the store lock: one a kill left to a dead holder is taken over
  // (and the counters recounted) here, not in a later test that corrupts them on purpose.
  assert.ok(s.set('after-kills', 1));
  assert.ok(s.delete('after-kills'));
  const r = clean('after kills');
  assert.is(r.leakedBytes, 0, JSON.stringify(r.problems.filter((p) => p.kind === 'leak').slice(0, 3)));
});

test('verify() beside threads that allocate, free and exit: the heap and its free lists always agree', async () => {
  // verify() walks the heap under the allocator lock, so blocks allocated or freed by other
  // threads (a worker's exit frees the block it retired last, after it has answered) never make
  // the walk and the usage counters disagree.
  const rounds = 3;
  let verifies = 0;
  const bad = [];
  for (let round = 0; round < rounds; round++) {
    const workers = [0, 1].map((t) => new Worker(fixture('churn.mjs'), { workerData: { store: 'verify-churn', keys: 300, ms: 250, seed: round * 10 + t + 1 } }));
    let running = workers.length;
    const done = Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', () => { running--; resolve(); }))));
    while (running > 0) {
      const r = verify();
      verifies++;
      for (const p of r.problems) if (p.kind === 'heap' || p.kind === 'free-list') bad.push(p);
      await sleep(0);
    }
    await done;
  }
  assert.equal(bad.slice(0, 3), [], `${bad.length} heap or free-list problems in ${verifies} runs`);
  assert.ok(verifies >= rounds * 5, `only ${verifies} runs of verify() overlapped the writers`);
  const r = clean('after the writers exited');
  assert.is(r.leakedBytes, 0, JSON.stringify(r.problems.filter((p) => p.kind === 'leak').slice(0, 3)));
});

test('catches a bucket that names a non-entry', () => {
  const idx = arena.i32[s.ref * 2 + L.STORE.INDEX];
  const cap = arena.i32[idx * 2 + L.INDEX.CAPACITY];
  let b = 0;
  while ((arena.i32[idx * 2 + L.INDEX.BUCKETS + b] & L.BUCKET_REF_MASK) <= 1) b++;
  corrupt(idx * 2 + L.INDEX.BUCKETS + b, idx, 'index', /not an ENTRY block/);
  assert.ok(cap > 0);
});

test("catches an entry in a bucket its key's probe chain cannot reach", () => {
  const idx = arena.i32[s.ref * 2 + L.STORE.INDEX];
  const cap = arena.i32[idx * 2 + L.INDEX.CAPACITY];
  const base = idx * 2 + L.INDEX.BUCKETS;
  // The EMPTY bucket closest before the key's home bucket: a probe from home stops at an EMPTY
  // bucket long before it could wrap around to it.
  const home = hashKey('k1') & (cap - 1);
  let b = (home - 1 + cap) & (cap - 1);
  while (arena.i32[base + b] !== L.BUCKET_EMPTY) b = (b - 1 + cap) & (cap - 1);
  const tagged = (hashKey('k1') & L.BUCKET_TAG_BITS) | entryOf('k1');
  const hit = corrupt(base + b, tagged, 'index', /cannot be reached from the key's home bucket/);
  assert.is(hit.ref, entryOf('k1'));
});

test("catches a bucket whose tag bits are not its key's hash's (the key could not be found)", () => {
  const idx = arena.i32[s.ref * 2 + L.STORE.INDEX];
  const cap = arena.i32[idx * 2 + L.INDEX.CAPACITY];
  const base = idx * 2 + L.INDEX.BUCKETS;
  const ref = entryOf('k1');
  let b = hashKey('k1') & (cap - 1);
  while ((arena.i32[base + b] & L.BUCKET_REF_MASK) !== ref) b = (b + 1) & (cap - 1);
  const wrongTag = (arena.i32[base + b] ^ (1 << 29)) | 0;
  arena.i32[base + b] = wrongTag;
  try {
    // What the tag is for: a lookup skips the bucket without reading the entry.
    assert.is(lookup(s.ref, 'k1', hashKey('k1')), 0);
  } finally {
    arena.i32[base + b] ^= 1 << 29;
  }
  assert.is(entryOf('k1'), ref);
  corrupt(base + b, wrongTag, 'index', /tag bits \d are not those of the key's hash/);
});

// k100 and k101 hold values of ~110 bytes, in VALUE blocks; k1's (~10 bytes) is inline.
test('catches a value longer than its block, and an unknown codec tag', () => {
  const d = arena.i32[entryOf('k100') * 2 + L.ENTRY.DATA];
  assert.ok(d > 0, 'k100 has a value block');
  corrupt(d * 2 + L.VALUE.LEN, 1 << 20, 'value', /does not fit/);
  corrupt(d * 2 + L.VALUE.HDR, (99 << L.TAG_SHIFT) | (arena.i32[d * 2] & L.BLOCK_BITS), 'value', /unknown codec tag/);
});

test('catches a value block shared by two entries', () => {
  const d1 = arena.i32[entryOf('k100') * 2 + L.ENTRY.DATA];
  const hit = corrupt(entryOf('k101') * 2 + L.ENTRY.DATA, d1, 'value', /referenced twice/);
  assert.ok(hit.key === 'k100' || hit.key === 'k101');
});

test("catches an inline value's descriptor that names no slot of its entry, or overflows its slot", () => {
  const e = entryOf('k1');
  const d = arena.i32[e * 2 + L.ENTRY.DATA];
  assert.ok(d < 0, 'k1 is inline');
  assert.equal(s.get('k1'), { i: 1, pad: 'x' });
  const lenWord = arena.i32[e * 2 + L.ENTRY.KEY_LEN];
  const words = L.inlineWords(lenWord);
  const tag = (d >>> L.INLINE_TAG_SHIFT) & L.TAG_MASK;
  const len = (d >>> L.INLINE_LEN_SHIFT) & L.INLINE_LEN_MASK;
  const a = L.inlineSlotA(lenWord);
  // Both slots are valid places; a word of the key before them, or one past them, is not.
  assert.ok((d & L.INLINE_OFFSET_MASK) === a || (d & L.INLINE_OFFSET_MASK) === a + words);
  corrupt(e * 2 + L.ENTRY.DATA, L.inlineDescriptor(a - 1, tag, len), 'value', /not one of the entry's two inline slots/);
  corrupt(e * 2 + L.ENTRY.DATA, L.inlineDescriptor(a + 2 * words, tag, len), 'value', /not one of the entry's two inline slots/);
  corrupt(e * 2 + L.ENTRY.DATA, L.inlineDescriptor(a, tag, words * 4 + 1), 'value', /inline value length \d+ does not fit its \d+-byte slot/);
  corrupt(e * 2 + L.ENTRY.DATA, L.inlineDescriptor(a, 99, len), 'value', /unknown codec tag 99/);
  // An entry made for a large value has no slots: an inline descriptor in it is an error.
  const big = entryOf('k100');
  assert.is(L.inlineWords(arena.i32[big * 2 + L.ENTRY.KEY_LEN]), 0);
  corrupt(big * 2 + L.ENTRY.DATA, L.inlineDescriptor(L.inlineSlotA(arena.i32[big * 2 + L.ENTRY.KEY_LEN]), tag, 4), 'value', /not one of the entry's zero inline slots/);
});

test('catches an index resize recorded with no resize in flight', () => {
  const t = createStore('verify-resize');
  for (let i = 0; i < 40; i++) t.set(`r${i}`, i); // resized twice, each time recorded and cleared
  clean('after resizes');
  const sw = t.ref * 2;
  corrupt(sw + L.STORE.INDEX_NEW, arena.i32[sw + L.STORE.INDEX], 'store', /INDEX_NEW\/INDEX_OLD are \d+\/0 with no index resize in flight/);
});

test('catches an odd SEQ (an in-place write that never finished)', () => {
  const w = entryOf('k1') * 2 + L.ENTRY.SEQ;
  corrupt(w, arena.i32[w] | 1, 'entry', /SEQ is odd/);
});

test("catches a record store's value that is not a record of its layout, and a broken schema", async () => {
  const { layoutRecord } = await import('native-keyshare');
  const r = createStore('verify-records', { record: layoutRecord([{ name: 'a', type: 'float64' }, { name: 'n', type: 'int32' }]) });
  r.set('x', { a: 1, n: 2 });
  clean('with a record store');
  const e = lookup(r.ref, 'x', hashKey('x'));
  const d = arena.i32[e * 2 + L.ENTRY.DATA];
  corrupt(d * 2 + L.VALUE.LEN, 8, 'value', /values are 16-byte records, but this one is 8 bytes/);
  corrupt(d * 2 + L.VALUE.HDR, arena.i32[d * 2] & ~L.VALUE_FLAG.RECORD, 'value', /but this one is not a record/);
  const schema = arena.i32[r.ref * 2 + L.STORE.SCHEMA];
  corrupt(schema * 2 + L.SCHEMA.LEN, 1 << 20, 'store', /schema text of \d+ code units does not fit/);
  corrupt(schema * 2 + L.SCHEMA.TEXT, 0x7b007b, 'store', /schema text is not JSON/);
});

test("catches a store's structure table that is unreadable, miscounted, duplicated or half-saved", () => {
  const t = createStore('verify-structs');
  for (let i = 0; i < 5; i++) t.set(`x${i}`, { [`f${i}`]: i, id: i });
  clean('with learned structures');
  const sw = t.ref * 2;
  const block = arena.i32[sw + L.STORE.STRUCTS];
  assert.ok(block !== 0);
  const b = block * 2;
  corrupt(b + L.STRUCTS.COUNT, arena.i32[b + L.STRUCTS.COUNT] + 1, 'store', /structure table COUNT is 6 but its text holds 5/);
  corrupt(b + L.STRUCTS.LEN, 1 << 20, 'store', /structure table text of \d+ code units does not fit/);
  corrupt(b + L.STRUCTS.TEXT, 0x7b007b, 'store', /structure table is not a JSON array of property-name arrays/);
  corrupt(sw + L.STORE.STRUCTS_NEW, block, 'store', /with no structure table save in flight/);
  // A table that names one shape twice: a block of its own, swapped in.
  const text = '[["a"],["a"]]';
  const dup = alloc(L.KIND.VALUE, Math.ceil(((L.STRUCTS.TEXT + 1) * 4 + text.length * 2) / L.UNIT));
  arena.i32[dup * 2 + L.STRUCTS.LEN] = text.length;
  arena.i32[dup * 2 + L.STRUCTS.COUNT] = 2;
  for (let i = 0; i < text.length; i++) arena.u16[(dup * 2 + L.STRUCTS.TEXT) * 2 + i] = text.charCodeAt(i);
  corrupt(sw + L.STORE.STRUCTS, dup, 'store', /structure table holds 1 shape\(s\) twice/);
  free(dup);
  clean('after the structure table checks');
});

test('catches store counters that disagree with the index', () => {
  const w = s.ref * 2;
  corrupt(w + L.STORE.COUNT, arena.i32[w + L.STORE.COUNT] + 1, 'store', /COUNT is/);
  corrupt(w + L.STORE.VALUES, arena.i32[w + L.STORE.VALUES] - 1, 'store', /VALUES is/);
  corrupt(w + L.STORE.TTL_COUNT, 0, 'store', /TTL_COUNT is 0 but 1/);
});

test('catches a block header the heap walk cannot follow, and usage counters that disagree', () => {
  const d = arena.i32[entryOf('k100') * 2 + L.ENTRY.DATA];
  corrupt(d * 2 + L.BLOCK.HDR, (L.KIND.VALUE << 8) | 200, 'heap', /unknown size class/);
  const e = entryOf('k1');
  corrupt(e * 2 + L.BLOCK.HDR, (L.KIND.VALUE << 8) | (arena.i32[e * 2] & 0xff), 'heap', /not an entry of its class/);
  corrupt(L.HEADER.UNITS_IN_USE, arena.i32[L.HEADER.UNITS_IN_USE] + 2, 'heap', /UNITS_IN_USE/);
});

test('catches a cycle in a free list', () => {
  s.set('to-free', 'x'.repeat(5000));
  s.delete('to-free');
  let lw = -1;
  for (let c = 0; c < L.SIZE_CLASSES && lw < 0; c++) {
    const w = L.HEADER.FREE_LISTS + L.SIZE_CLASSES + c;
    if (arena.i32[w] !== 0) lw = w;
  }
  assert.ok(lw >= 0, 'some DATA free list is non-empty');
  const head = arena.i32[lw];
  corrupt(head * 2 + L.BLOCK.NEXT_FREE, head, 'free-list', /twice/);
});

/**
 * Makes several word writes at once, checks verify() reports an error of `kind` matching each of
 * `res`, then undoes the writes (last first) and checks the arena verifies clean again.
 */
function corruptAll(writes, kind, res) {
  const saved = [];
  for (const [w, v] of writes) {
    saved.push([w, arena.i32[w]]);
    arena.i32[w] = v;
  }
  try {
    const r = verify();
    for (const re of res) {
      assert.ok(r.problems.some((p) => p.kind === kind && p.severity === 'error' && re.test(p.message)), `expected an error of kind ${kind} matching ${re}, got ${JSON.stringify(r.problems.filter((p) => p.kind === kind).slice(0, 4))}`);
    }
    assert.not.ok(r.ok);
  } finally {
    for (const [w, v] of saved.reverse()) arena.i32[w] = v;
  }
  clean(`after undoing ${res.join(', ')}`);
}

test('catches a live block on a free list, and a block on the other family\'s list', () => {
  const i32 = arena.i32;
  const NEXT = L.BLOCK.NEXT_FREE;
  const entryList = (c) => L.HEADER.FREE_LISTS + L.FREE_LIST_ENTRY * L.SIZE_CLASSES + c;
  const dataList = (c) => L.HEADER.FREE_LISTS + L.FREE_LIST_DATA * L.SIZE_CLASSES + c;
  const classOf = (ref) => i32[ref * 2 + L.BLOCK.HDR] & 0xff;
  /** Writes that push `ref` onto the list at word `lw` (as a free() that forgot the header would). */
  const push = (ref, lw) => [[ref * 2 + NEXT, i32[lw]], [lw, ref]];
  /** The head of the first non-empty list of a family, with its class. */
  const someFree = (list) => {
    for (let c = 0; c < L.SIZE_CLASSES; c++) if (i32[list(c)] !== 0) return { ref: i32[list(c)], c };
    return undefined;
  };
  // Free blocks of both families: an entry freed by the delete, a value block freed with it.
  s.set('free-me', { pad: 'y'.repeat(200) });
  s.delete('free-me');

  // A live block on a free list: the next alloc of its class would hand it out a second time.
  const live = alloc(L.KIND.VALUE, 4);
  try {
    corruptAll(push(live, dataList(classOf(live))), 'free-list', [/holds block \d+, which is not free: it is a live VALUE block/]);
    // And on an ENTRY list: not free, and not an entry either.
    corruptAll(push(live, entryList(classOf(live))), 'free-list', [/which is not free: it is a live VALUE block/, /which is not an entry \(VALUE, class \d+\): the ENTRY lists hold only entries/]);
  } finally {
    free(live);
  }
  // A live entry on a DATA list (its KEY_LEN word is overwritten as NEXT_FREE, as a free would).
  const e = entryOf('k1');
  corruptAll(push(e, dataList(classOf(e))), 'free-list', [/which is not free: it is a live ENTRY block/, /an entry block: entries are reused only as entries, never through a DATA list/]);

  // A free entry moved to the DATA list of its class: free, of the right class, wrong family.
  const fe = someFree(entryList);
  assert.ok(fe, 'some ENTRY free list is non-empty');
  corruptAll([[entryList(fe.c), i32[fe.ref * 2 + NEXT]], ...push(fe.ref, dataList(fe.c))], 'free-list', [/an entry block \(freed\): entries are reused only as entries/]);
  // And the other way: a free DATA block moved to the ENTRY list of its class.
  const fd = someFree(dataList);
  assert.ok(fd, 'some DATA free list is non-empty');
  corruptAll([[dataList(fd.c), i32[fd.ref * 2 + NEXT]], ...push(fd.ref, entryList(fd.c))], 'free-list', [/which is not an entry \(FREE, class \d+\): the ENTRY lists hold only entries/]);
});

test('reports a leaked block and a lock held by a dead thread as warnings', () => {
  const leaked = alloc(L.KIND.VALUE, 4);
  try {
    const r = verify();
    assert.ok(r.problems.some((p) => p.kind === 'leak' && p.ref === leaked && p.severity === 'warning'));
    assert.ok(r.ok, 'a leak alone is not an error');
  } finally {
    free(leaked);
  }
  const deadToken = (123 << L.THREAD_SLOT_BITS) | 500; // slot 500 is not in use
  corrupt(entryOf('k1') * 2 + L.ENTRY.LOCK, deadToken << 1, 'lock', /held by a thread that is gone/, 'warning');
  // The allocator lock of a dead thread is reported, then taken over by verify() itself (which
  // walks the heap under it) and left free.
  Atomics.store(arena.i32, L.HEADER.ALLOC_LOCK, deadToken << 1);
  const r = verify();
  assert.ok(r.problems.some((p) => p.kind === 'lock' && p.severity === 'warning' && /the allocator lock is held by a thread that is gone/.test(p.message)), JSON.stringify(r.problems));
  assert.is(Atomics.load(arena.i32, L.HEADER.ALLOC_LOCK), 0);
  clean('after restoring everything');
});

test.run();
