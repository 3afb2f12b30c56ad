import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createStore, configure, arenaStats } from 'native-keyshare';
import { runWorker, sleep } from './util.mjs';

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
