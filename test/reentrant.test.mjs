// Re-entrancy: user code that runs while a value is encoded (getters, Proxy traps, a toJSON
// msgpackr calls, update() callbacks) writes to, reads from, deletes from or clears stores.
// Every write must store exactly what it was given, a throw must leave the outer key as it was,
// and afterwards the thread's codec state must be intact: ordinary values of the same shapes
// are written and read back, here and in other threads (fixtures/reentrant-cases.mjs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { arenaStats, verify } from 'native-keyshare';
import { runWorker } from './util.mjs';
import { cases, checkFrom } from './fixtures/reentrant-cases.mjs';

const mainChecks = [];
const v8Env = { env: { ...process.env, NATIVE_KEYSHARE_CODEC: 'v8' } };
const failuresOf = (list) => (list.length === 0 ? '' : `\n${list.join('\n\n')}`);

test('the main thread encodes with msgpackr', () => {
  assert.is(arenaStats().codec, 'msgpackr');
});

for (const [name, run] of Object.entries(cases)) {
  test(`main thread: ${name}`, () => {
    mainChecks.push(...run('main'));
  });
}

test('workers (msgpackr and v8) decode what the main thread wrote, and write the same shapes', async () => {
  for (const [tag, options] of [['wm', {}], ['wv', v8Env]]) {
    const r = await runWorker('reentrant-worker.mjs', { mode: 'check', checks: mainChecks, tag }, options);
    assert.is(r.codec, tag === 'wm' ? 'msgpackr' : 'v8');
    assert.is(r.failures.length, 0, failuresOf(r.failures));
  }
  // And this thread reads what they wrote.
  const back = [...mainChecks.map(([s, o, k, v]) => [s, o, `${k}#wm`, v]), ...mainChecks.map(([s, o, k, v]) => [s, o, `${k}#wv`, v])];
  const failures = checkFrom(back, 'main');
  assert.is(failures.length, 0, failuresOf(failures));
});

for (const [prefix, label, options, codec] of [['wm', 'msgpackr', {}, 'msgpackr'], ['wv', 'the v8 codec', v8Env, 'v8']]) {
  test(`a worker with ${label} runs every case, and the main thread reads what it wrote`, async () => {
    const r = await runWorker('reentrant-worker.mjs', { mode: 'cases', prefix }, options);
    assert.is(r.codec, codec);
    assert.is(r.failures.length, 0, failuresOf(r.failures));
    assert.ok(r.checks.length > 50);
    const failures = checkFrom(r.checks, 'main');
    assert.is(failures.length, 0, failuresOf(failures));
  });
}

test('the arena is consistent afterwards', () => {
  const report = verify();
  assert.equal(report.problems.filter((p) => p.severity === 'error'), []);
});

test.run();
