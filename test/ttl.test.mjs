import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createStore, configure, arenaStats } from 'native-keyshare';
import { runWorker, sleep } from './util.mjs';

const { arena } = await import('../dist/cjs/arena.js');
const L = await import('../dist/cjs/layout.js');
const { lookup, hashKey } = await import('../dist/cjs/keyindex.js');

let clock = 1_700_000_000_000;
const advance = (ms) => { clock += ms; };

test.before(() => configure({ clock: () => clock }));
test.after(() => configure({ clock: undefined }));

test('an expired key is never returned, listed, counted or reported present', () => {
  const s = createStore('ttl-basic');
  s.set('short', 'v', { ttl: 10 });
  s.set('long', 'v', { ttl: 1000 });
  s.set('forever', 'v');
  advance(9_999);
  assert.is(s.get('short'), 'v');
  assert.ok(s.has('short'));
  advance(1);
  assert.is(s.get('short'), undefined, 'expired exactly at the deadline');
  assert.not.ok(s.has('short'));
  assert.equal(s.listKeys().sort(), ['forever', 'long']);
  assert.is(s.size, 2);
  assert.is(s.get('long'), 'v');
});

test('ttl accepts fractions of a second; ttl 0 means no expiry', () => {
  const s = createStore('ttl-fraction');
  s.set('a', 1, { ttl: 0.25 });
  s.set('b', 1, { ttl: 0 });
  advance(249);
  assert.is(s.get('a'), 1);
  advance(1);
  assert.is(s.get('a'), undefined);
  advance(10 ** 9);
  assert.is(s.get('b'), 1);
});

test('overwriting without ttl removes the deadline; with ttl sets a new one', () => {
  const s = createStore('ttl-overwrite');
  s.set('k', 1, { ttl: 1 });
  s.set('k', 2);
  advance(5000);
  assert.is(s.get('k'), 2);
  s.set('k', 3, { ttl: 1 });
  advance(500);
  s.set('k', 4, { ttl: 1 });
  advance(700);
  assert.is(s.get('k'), 4, 'the second deadline counts');
  advance(300);
  assert.is(s.get('k'), undefined);
  assert.ok(s.set('k', 5), 'an expired key can be set again');
  assert.is(s.get('k'), 5);
});

test('hot-read mode honours deadlines too', () => {
  const s = createStore('ttl-hot', { hotReads: true });
  s.set('k', { a: 1 }, { ttl: 1 });
  assert.equal(s.get('k'), { a: 1 });
  assert.equal(s.get('k'), { a: 1 });
  advance(1000);
  assert.is(s.get('k'), undefined);
});

// A hot get returns its cached value on two paths: the stripe's write epoch is the one recorded
// (above), or it moved but the key's entry did not (revalidation). Each path tests the deadline
// on its own, so each needs its own test at exactly the deadline.
test('hot reads on the revalidation path (another key of the stripe written): gone at exactly the deadline', () => {
  const s = createStore('ttl-hot-stripe', { hotReads: true });
  const refOf = (key) => lookup(s.ref, key, hashKey(key));
  const epochOf = (ref) => Atomics.load(arena.i32, L.epochWord(s.ref) + L.epochStripe(ref));
  const entryWords = (ref) => [L.ENTRY.SEQ, L.ENTRY.DATA, L.ENTRY.GEN].map((f) => Atomics.load(arena.i32, ref * 2 + f));
  s.set('k', { a: 1 }, { ttl: 1 });
  const k = refOf('k');
  // A key whose entry shares k's epoch stripe: writing it moves the epoch k's value was recorded
  // with, and leaves k's entry as it was.
  let other;
  for (let i = 0; other === undefined; i++) {
    assert.ok(i < 20_000, 'no key of k\'s stripe among 20,000');
    s.set(`o${i}`, 0);
    if (L.epochStripe(refOf(`o${i}`)) === L.epochStripe(k)) other = `o${i}`;
  }
  advance(998);
  assert.equal(s.get('k'), { a: 1 }, 'read and cached, its epoch recorded');
  assert.equal(s.get('k'), { a: 1 }, 'the epoch path');
  const entry = entryWords(k);
  const epoch = epochOf(k);
  s.set(other, 1);
  assert.is.not(epochOf(k), epoch, "writing the other key moved k's stripe epoch");
  assert.equal(entryWords(k), entry, "and left k's entry as it was");
  advance(1);
  assert.equal(s.get('k'), { a: 1 }, 'the revalidation path, 1 ms before the deadline');
  // That get recorded the new epoch: move it again, so that the next get revalidates too.
  s.set(other, 2);
  assert.equal(entryWords(k), entry);
  advance(1);
  assert.is(s.get('k'), undefined, 'the revalidation path at exactly the deadline');
  assert.is(s.get('k'), undefined, 'and the epoch path after it');
  assert.not.ok(s.has('k'));
  assert.not.ok(s.listKeys().includes('k'));
});

test('plain reads at exactly the deadline: get, has, getMany, listKeys, update, delete and size see the key gone', () => {
  const s = createStore('ttl-deadline-plain');
  const value = { a: 1 };
  for (const k of ['k', 'u', 'd']) s.set(k, value, { ttl: 1 });
  s.set('stay', 1);
  assert.equal(s.get('k'), value, 'cached by the handle');
  advance(999);
  assert.equal(s.get('k'), value);
  assert.ok(s.has('k'));
  assert.equal(s.listKeys().sort(), ['d', 'k', 'stay', 'u']);
  advance(1);
  assert.is(s.get('k'), undefined, 'get through the handle\'s cache');
  assert.is(s.getMany(['u', 'd', 'stay']).join(), [undefined, undefined, 1].join(), 'getMany');
  assert.not.ok(s.has('k'), 'has');
  assert.equal(s.listKeys(), ['stay'], 'listKeys');
  assert.equal(s.listKeys('k'), [], 'listKeys of a literal key');
  let seen = 'not called';
  s.update('u', (current) => ((seen = current), 'new'));
  assert.is(seen, undefined, 'update is given no current value');
  assert.is(s.delete('d'), false, 'delete: the value was gone already');
  // Last: size reclaims the expired keys, after which the reads above would see no key at all.
  assert.is(s.size, 2, 'size counts "stay" and the updated "u"');
  assert.is(s.get('u'), 'new');
});

test('expired space is reclaimed: a TTL workload runs in bounded memory', () => {
  const s = createStore('ttl-reclaim');
  const round = (r) => {
    for (let i = 0; i < 2000; i++) s.set(`r${r}:k${i}`, { r, i, pad: 'x'.repeat(100) }, { ttl: 1 });
    advance(1001);
  };
  for (let r = 0; r < 5; r++) round(r);
  const warm = arenaStats().bytesInUse;
  for (let r = 5; r < 40; r++) round(r);
  assert.is(s.listKeys().length, 0);
  assert.is(s.size, 0);
  const grown = arenaStats().bytesInUse - warm;
  assert.ok(grown < 512 * 1024, `bytesInUse grew by ${grown} bytes over 35 rounds of 2000 expiring keys`);
});

test('deadlines are shared: a worker sees a key expire (real clock)', async () => {
  configure({ clock: undefined });
  try {
    const s = createStore('ttl-real');
    s.set('k', 'v', { ttl: 1.5 }); // long enough for a worker to start and read it
    const [before] = await runWorker('ops.mjs', { ops: [['get', 'ttl-real', 'k']] });
    assert.is(before, 'v');
    await sleep(1600);
    assert.is(s.get('k'), undefined);
    const [after] = await runWorker('ops.mjs', { ops: [['get', 'ttl-real', 'k']] });
    assert.is(after, undefined);
  } finally {
    configure({ clock: () => clock });
  }
});

test.run();
