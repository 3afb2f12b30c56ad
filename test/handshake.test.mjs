// One arena per process whichever thread loads the library first (src/arena.ts, `handshake`):
// worker pools whose main thread never loads it, nested workers, late joiners, a main thread
// loading late. The race is at start-up, so every round is a fresh process
// (test/fixtures/handshake.cjs prints one JSON line). HANDSHAKE_ROUNDS=k repeats each case k
// times (default 1). 11 processes in all, two at a time.
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

// Every case's processes are queued when the file loads and run two at a time; each test awaits
// its own.
let running = 0;
const queue = [];
function limited(fn) {
  return new Promise((resolve) => {
    const go = () => {
      running++;
      fn().then((r) => {
        running--;
        if (queue.length) queue.shift()();
        resolve(r);
      });
    };
    if (running < 2) go();
    else queue.push(go);
  });
}

function schedule(list, { env, warns = false } = {}) {
  const all = [];
  for (let k = 0; k < REPEAT; k++) all.push(...list);
  const results = Promise.all(all.map((a) => limited(() => child(a, env))));
  return async () => {
    const rs = await results;
    for (const r of rs) {
      assert.ok(r.ok, `${r.args}: ${JSON.stringify({ ...r, stderr: undefined })}\n${r.stderr}`);
      if (!warns) assert.equal(r.warnings, [], `${r.args}: warned ${r.warnings}\n${r.stderr}`);
    }
    return rs;
  };
}

const NO_HELPER = { NATIVE_KEYSHARE_TEST_NO_HELPER: '1' };
const cases = {
  never: schedule([[ 'together', 4, 'never' ], [ 'together', 6, 'never' ], [ 'together', 8, 'never' ]]),
  race: schedule([[ 'together', 8, 'race' ]]),
  late: schedule([[ 'together', 6, 'late' ]]),
  piscina: schedule([[ 'piscina', 6 ]]),
  nested: schedule([[ 'nested', 3 ]]),
  joiner: schedule([[ 'joiner', 3, 'until' ]]),
  joinerNoHelper: schedule([[ 'joiner', 3, 'busy' ], [ 'joiner', 3, 'waits' ]], { env: NO_HELPER }),
  split: schedule([[ 'split', 2 ]], { env: { NATIVE_KEYSHARE_TEST_PATIENCE_MS: '150', ...NO_HELPER }, warns: true }),
};

test('4-8 workers started together, the main thread never loading the library, share one store', async () => {
  await cases.never();
});

test('workers started together share one store with a main thread that loads the library while they start', async () => {
  await cases.race();
});

test('a main thread loading the library after the workers wrote sees their data at createStore', async () => {
  await cases.late();
});

test('a piscina pool whose main thread never loads the library shares one store', async () => {
  await cases.piscina();
});

test('nested workers of workers that do not load the library share one store; a middle one loading late sees it', async () => {
  await cases.nested();
});

test('a worker started late sees the data at its first line while every holder is busy: the answering thread answers', async () => {
  await cases.joiner();
});

test('without the answering thread: a late joiner waits for busy holders, and holders blocked in the library answer', async () => {
  await cases.joinerNoHelper();
});

test('a late joiner that gets no answer in time creates a second arena and the process warns', async () => {
  const [r] = await cases.split();
  assert.match(r.stderr, /load native-keyshare in the main thread \(require or import it\) before starting any worker/);
});

test.run();
