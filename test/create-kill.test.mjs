// Workers terminated in the middle of createStore: a store's blocks (its STORE block, its first
// index, the schema of a store with a record layout) are allocated before the directory or the
// store publishes them. A kill there must leave nothing leaked, and a kill just after the
// publication must leave a store that every thread can use.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createStore, listStores, verify } from 'native-keyshare';
import { fixture, prng, sleep, until } from './util.mjs';
import { LAYOUT, recordOf, checkRecord } from './fixtures/records-layout.mjs';

const rand = prng(0xc4ea7e);
const ROUNDS = 30;

test(`${ROUNDS} workers killed while creating stores: no leak, no error, every published store usable`, async () => {
  for (let round = 0; round < ROUNDS; round++) {
    // The knob stalls each creation at each stage of its record (both blocks allocated, the
    // index named by the STORE block, the store published) and each schema install before and
    // after its publication: nearly all of the worker's time is spent there, so that is where
    // the kills land, most of them before a publication.
    const w = new Worker(fixture('store-creator.mjs'), {
      workerData: { prefix: `ck${round}:`, start: Math.floor(rand() * 3) },
      env: { ...process.env, NATIVE_KEYSHARE_TEST_CREATE_DELAY: '50000' },
    });
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    // Once its first store is published (so that every round leaves one to check below), the
    // kill lands at a random point of the creations that follow.
    const prefix = `ck${round}:`;
    assert.ok(await until(() => listStores().some((n) => n.startsWith(prefix)), 10000), `round ${round}: no store published`);
    await sleep(rand() * 10);
    await w.terminate();
  }
  await sleep(0);
  const r = verify();
  const errors = r.problems.filter((p) => p.severity === 'error');
  assert.equal(errors, [], `integrity errors: ${JSON.stringify(errors.slice(0, 3))}`);
  const leaks = r.problems.filter((p) => p.kind === 'leak');
  assert.is(r.leakedBytes, 0, `leaked: ${JSON.stringify(leaks.slice(0, 4))}`);
  // Every store the workers published (before or after their death) works from here, with the
  // layout it was created with.
  const made = listStores().filter((n) => n.startsWith('ck'));
  assert.ok(made.length >= ROUNDS, `only ${made.length} stores were published`);
  for (const name of made) {
    const n = Number(name.slice(name.indexOf(':') + 1));
    if (n % 3 === 0) {
      const s = createStore(name, { record: LAYOUT });
      assert.ok(s.set('r', { ...recordOf(n), hits: 0, small: 0 }), name);
      assert.is(checkRecord(s.get('r')), '', name);
    } else {
      const s = createStore(name);
      assert.ok(s.set('k', n), name);
      assert.is(s.get('k'), n, name);
    }
  }
  const after = verify();
  assert.equal(after.problems.filter((p) => p.severity === 'error'), []);
  assert.is(after.leakedBytes, 0);
});

test.run();
