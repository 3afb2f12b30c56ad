// One arena per process whichever thread loads the library first (src/arena.ts, `handshake`):
// worker pools whose main thread never loads it, nested workers, late joiners, a main thread
// loading late. The race is at start-up, so every round is a fresh process
// (test/fixtures/handshake.cjs prints one JSON line). HANDSHAKE_ROUNDS=k repeats each case k
// times (default 1; the rounds per case below are already several).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/handshake.cjs', import.meta.url));
const REPEAT = Number(process.env.HANDSHAKE_ROUNDS || 1);

function child(args, env = {}) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [FIXTURE, ...args.map(String)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30000);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      let r;
      try {
        r = JSON.parse(out.trim().split('\n').pop());
      } catch {
        r = { ok: false, error: `exit ${code} ${signal ?? ''}: ${out}` };
      }
      resolve({ ...r, args: args.join(' '), stderr: err });
    });
  });
}

/** Runs the rounds two at a time; every one must pass and warn nothing (unless `warns`). */
async function rounds(list, { env, warns = false } = {}) {
  const all = [];
  for (let k = 0; k < REPEAT; k++) all.push(...list);
  const results = [];
  for (let i = 0; i < all.length; i += 2) results.push(...(await Promise.all(all.slice(i, i + 2).map((a) => child(a, env)))));
  for (const r of results) {
    assert.ok(r.ok, `${r.args}: ${JSON.stringify({ ...r, stderr: undefined })}\n${r.stderr}`);
    if (!warns) assert.equal(r.warnings, [], `${r.args}: warned ${r.warnings}\n${r.stderr}`);
  }
  return results;
}

test('4-8 workers started together, the main thread never loading the library, share one store', async () => {
  await rounds([[ 'together', 4, 'never' ], [ 'together', 5, 'never' ], [ 'together', 6, 'never' ], [ 'together', 8, 'never' ]]);
});

test('workers started together while the main thread loads the library share one store with it', async () => {
  await rounds([[ 'together', 6, 'race' ], [ 'together', 8, 'race' ]]);
});

test('a main thread loading the library after the workers wrote sees their data at createStore', async () => {
  await rounds([[ 'together', 4, 'late' ], [ 'together', 7, 'late' ]]);
});

test('a piscina pool whose main thread never loads the library shares one store', async () => {
  await rounds([[ 'piscina', 4 ], [ 'piscina', 8 ]]);
});

test('nested workers of workers that do not load the library share one store; a middle one loading late sees it', async () => {
  await rounds([[ 'nested', 3 ]]);
});

test('a worker started late sees the data at its first line (holders idle, or busy: the answering thread answers)', async () => {
  await rounds([[ 'joiner', 3, 'idle' ], [ 'joiner', 3, 'busy' ], [ 'joiner', 3, 'waits' ]]);
});

test('without the answering thread: a late joiner waits for busy holders, and holders blocked in the library answer', async () => {
  await rounds([[ 'joiner', 3, 'busy' ], [ 'joiner', 3, 'waits' ]], { env: { NATIVE_KEYSHARE_TEST_NO_HELPER: '1' } });
});

test('a late joiner that gets no answer in time creates a second arena and the process warns', async () => {
  const [r] = await rounds([[ 'split', 2 ]], { env: { NATIVE_KEYSHARE_TEST_PATIENCE_MS: '150', NATIVE_KEYSHARE_TEST_NO_HELPER: '1' }, warns: true });
  assert.match(r.stderr, /load native-keyshare in the main thread \(require or import it\) before starting any worker/);
});

test.run();
