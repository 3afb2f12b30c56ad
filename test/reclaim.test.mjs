// Memory that deletes free comes back for values: entry slabs that are all free return to the
// value memory (src/reclaim.ts), so a cache that alternates many small keys and a few large
// values runs in bounded memory; and threads holding entry refs from before never read or
// lock through them once that memory holds values.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { createStore, configure, arenaStats, verify, OutOfMemoryError } from 'native-keyshare';
import { fixture, exited } from './util.mjs';

const MB = 1024 * 1024;

test('after clear() of many small keys, a value as large as the free space fits (16 MB arena)', () => {
  const before = arenaStats();
  configure({ maxMemory: before.bytesInUse + 16 * MB });
  const s = createStore('fragment');
  // Fill with small keys until the arena is nearly full.
  let n = 0;
  try {
    for (; n < 1_000_000; n++) s.set(`key:${n}`, { id: n, name: `user ${n}`, tags: ['a', 'b'] });
  } catch (e) {
    if (!(e instanceof OutOfMemoryError)) throw e;
  }
  assert.ok(n > 50_000, `only ${n} keys fit`);
  const full = arenaStats();
  s.clear();
  const cleared = arenaStats();
  // What stays: the store block and a minimal index.
  assert.ok(cleared.bytesInUse <= before.bytesInUse + 16 * 1024,
    `bytesInUse ${cleared.bytesInUse} after clear() (${before.bytesInUse} before the fill, ${full.bytesInUse} full)`);
  // Free memory is in one piece again.
  assert.ok(cleared.largestFreeBytes >= cleared.freeBytes - 16 * 1024,
    `largest free part ${cleared.largestFreeBytes} of ${cleared.freeBytes} free`);
  // A value as large as the largest free part, less the header and size-class slack (a fifth).
  const big = Buffer.alloc(Math.floor(cleared.largestFreeBytes * 0.8) - 64);
  big.fill(7);
  assert.ok(big.length > 4 * MB, `only ${big.length} bytes to try`);
  s.set('big', big);
  assert.ok(s.get('big').equals(big));
  s.delete('big');
  // And the small keys fit again, as many as before.
  let again = 0;
  try {
    for (; again < n; again++) s.set(`key:${again}`, { id: again, name: `user ${again}`, tags: ['a', 'b'] });
  } catch (e) {
    if (!(e instanceof OutOfMemoryError)) throw e;
  }
  assert.ok(again >= n * 0.95, `${again} of the ${n} keys fit again`);
  s.clear();
  const r = verify();
  assert.ok(r.ok, JSON.stringify(r.problems.slice(0, 5)));
  configure({ maxMemory: 1024 * MB });
});

test('soak: phases of many small keys and of few large values, cleared between, never run out below 75% full', () => {
  const base = arenaStats().bytesInUse;
  const limit = 24 * MB;
  configure({ maxMemory: base + limit });
  const s = createStore('soak');
  const reserved = [];
  for (let phase = 0; phase < 8; phase++) {
    let bytes = 0;
    if (phase % 2 === 0) {
      // ~75% of the arena in keys of 40-140 bytes of value (entries, slabs, small blocks).
      for (let i = 0; bytes < limit * 0.75 - 2 * MB; i++) {
        const v = 'x'.repeat(40 + (i * 37) % 100);
        s.set(`p${phase}:${i}`, v);
        bytes += v.length + 80;
      }
    } else {
      // ~75% of the arena in values of 256 KB - 2 MB.
      for (let i = 0; bytes < limit * 0.75 - 2 * MB; i++) {
        const size = (256 * 1024) << (i % 4);
        s.set(`big${phase}:${i}`, Buffer.alloc(size, i & 0xff));
        bytes += size;
      }
    }
    s.clear();
    reserved.push(arenaStats().bytesReserved);
  }
  // Bounded: the buffer never had to grow past the limit, and stopped growing after the
  // first small and the first large phase.
  assert.ok(reserved.every((r) => r <= base + limit + MB), `reserved ${reserved}`);
  assert.ok(reserved[7] <= reserved[1], `reserved grew after the first two phases: ${reserved}`);
  const r = verify();
  assert.ok(r.ok, JSON.stringify(r.problems.slice(0, 5)));
  configure({ maxMemory: 1024 * MB });
});

/**
 * Workers cache the entries of KEYS keys; the main thread clears the store (its slabs are given
 * back) and fills the freed memory with values whose every word is 2 — the GEN, SEQ and DATA a
 * fresh entry has — then lets the workers read, test and write those keys through the refs
 * they cached. Without the ENTRY_EPOCH check a worker reads such a value as the key's entry
 * (and a write takes its "lock"), returning garbage or throwing, and the values change.
 */
async function race({ workers, rounds, write, hot }) {
  // A small bound, so that the traps below fill all free memory (never below what the arena
  // already spans: blocks of the tests before may sit high).
  const a = arenaStats();
  configure({ maxMemory: Math.max(a.bytesReserved, a.bytesInUse + 8 * MB) });
  const KEYS = 3000;
  const s = createStore('reclaim-race');
  const traps = createStore('reclaim-traps');
  const ctl = new SharedArrayBuffer(8);
  const c = new Int32Array(ctl);
  const ws = [];
  for (let i = 0; i < workers; i++) ws.push(new Worker(fixture('reclaim-worker.mjs'), { workerData: { ctl, keys: KEYS, write, hot: hot && i === 0 } }));
  const answers = ws.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); }));
  // Listened for from the start: a worker may exit before its answer is awaited, and an 'exit'
  // listener added after the event would wait for ever (the process then exits early).
  const exits = ws.map(exited);
  const step = async (phase) => {
    Atomics.store(c, 1, 0);
    Atomics.store(c, 0, phase);
    Atomics.notify(c, 0);
    const end = Date.now() + 30_000;
    while (Atomics.load(c, 1) < workers) {
      if (Date.now() > end) throw new Error(`workers did not answer phase ${phase}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  const pattern = (n) => Buffer.alloc(n, Buffer.from([2, 0, 0, 0]));
  let trapped = 0;
  for (let round = 1; round <= rounds; round++) {
    for (let i = 0; i < KEYS; i++) s.set(`k${i}`, `v:k${i}:${round}`);
    await step(2 * round);
    s.clear();
    // Fill what the clear gave back (and the rest) with entry look-alikes.
    let t = 0;
    const small = [];
    for (const size of [256 * 1024, 16 * 1024, 1024, 128]) {
      try {
        for (;;) {
          traps.set(`t${t}`, pattern(size));
          if (size <= 1024 || (size === 16 * 1024 && (t & 1) === 0)) small.push(`t${t}`);
          t++;
        }
      } catch (e) {
        if (!(e instanceof OutOfMemoryError)) throw e;
      }
    }
    trapped += t;
    // Room for the workers' writes: the smallest traps and half the middle ones go again (the
    // big ones cover the slabs).
    traps.deleteMany(small);
    await step(2 * round + 1);
    // The traps are intact: no write went through a stale ref into them.
    for (const k of traps.listKeys()) {
      const v = traps.get(k);
      if (!v.equals(pattern(v.length))) throw new Error(`trap ${k} was changed`);
    }
    traps.clear();
    s.clear();
  }
  Atomics.store(c, 0, -1);
  Atomics.notify(c, 0);
  const results = await Promise.all(answers);
  await Promise.all(exits);
  const problems = results.flatMap((r) => r.problems);
  assert.equal(problems, [], problems.slice(0, 5).join('\n'));
  assert.ok(trapped > rounds * 10);
  const r = verify();
  assert.ok(r.ok, JSON.stringify(r.problems.slice(0, 5)));
  configure({ maxMemory: 1024 * MB });
}

test('readers in 3 workers never read through refs into slabs given back to values', async () => {
  await race({ workers: 3, rounds: 6, write: false, hot: true });
});

test('writers in 2 workers never lock or write through refs into slabs given back to values', async () => {
  await race({ workers: 2, rounds: 6, write: true, hot: false });
});

test('workers terminated while they insert keys and clear them leave a clean arena (slabs made, cut, given back)', async () => {
  const c = createStore('kill-churn-churn');
  let kills = 0;
  for (let round = 0; round < 16; round++) {
    const w = new Worker(fixture('busy.mjs'), { workerData: { store: 'kill-churn', key: 'k', mode: 'churn', start: 1 + round * 997 } });
    await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    await new Promise((r) => setTimeout(r, 5 + ((round * 7) % 40)));
    await w.terminate();
    kills++;
    // Every key reads whole, and this thread can write and clear over what the dead one left.
    for (const key of c.listKeys('c*')) {
      const n = Number(key.slice(1));
      const v = c.get(key);
      assert.ok(v === undefined || v === (n % 3 === 0 ? 'x'.repeat(n % 300) : n), `${key} reads ${JSON.stringify(v)}`);
    }
    c.set(`main${round}`, round);
    if (round % 4 === 3) c.clear();
  }
  const r = verify();
  const errors = r.problems.filter((p) => p.severity === 'error');
  assert.equal(errors, [], JSON.stringify(errors.slice(0, 5)));
  assert.is(r.leakedBytes, 0, JSON.stringify(r.problems.filter((p) => p.kind === 'leak').slice(0, 5)));
  assert.is(kills, 16);
});

test.run();
