// The Redis tier (near-cache.ts, invalidation.ts) against a real redis-server started here
// (fixtures/redis-server.mjs; the file fails, not skips, when redis-server is missing).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fork } from 'node:child_process';
import { createClient, RESP_TYPES } from 'redis';
import { createStore, verify } from 'native-keyshare';
import { startRedis } from './fixtures/redis-server.mjs';
import { startWorker, startWorkers, until } from './fixtures/redis-pool.mjs';

const server = await startRedis();
const raw = createClient({ url: server.url });
raw.on('error', () => {});
await raw.connect();

let storeNo = 0;
/** A fresh store name and prefix per test: the tests share one server and one arena. */
function fresh() {
  storeNo++;
  return { name: `near${storeNo}`, redis: { url: server.url, prefix: `t${storeNo}:` } };
}

/** What put() stores in Redis for a number: the frame (0xC1, format 1, tag Number) and a float64. */
function framedNumber(n) {
  const b = Buffer.alloc(11);
  b[0] = 0xc1;
  b[1] = 1;
  b[2] = 1;
  b.writeDoubleLE(n, 3);
  return b;
}

/** Tracking connections of store `name` in every process (see invalidation.ts, connect). */
async function trackerConnections(name) {
  const list = await raw.sendCommand(['CLIENT', 'LIST']);
  return list.split('\n').filter((l) => l.includes(`name=native-keyshare:tracker:${name} `)).length;
}

/** One pool of 4 threads serves the tests (loading node-redis costs each thread ~0.5 s). */
const pool = await startWorkers(4, {});

/** The pool's live workers with a handle of a fresh store each. */
async function openOnPool(opts) {
  const out = [];
  for (const w of pool) {
    if (w.exited) continue;
    await w.open(opts.name, opts.redis);
    out.push(w.on(opts.name));
  }
  return out;
}

async function closeAll(views) {
  for (const v of views) if (!v.exited) await v.call('close');
}

async function holderOf(workers) {
  const states = await Promise.all(workers.map((w) => (w.exited ? { holds: false } : w.call('state'))));
  return states.findIndex((s) => s.holds && s.tracking);
}

async function stopAll(workers) {
  for (const w of workers) if (!w.exited) await w.terminate();
}

test('4 threads share one tracking connection; a write is read back in every thread', async () => {
  const opts = fresh();
  const ws = await openOnPool(opts);
  try {
    await until(async () => (await ws[0].call('state')).tracking, 'tracking');
    assert.is(await trackerConnections(opts.name), 1);
    await ws[0].call('put', 'k', { v: 1 });
    for (const w of ws) assert.equal(await w.call('fetch', 'k'), { v: 1 });
    // Cached once for the process: a hit in every thread now, and the same after a rewrite.
    for (let i = 2; i < 6; i++) {
      await ws[i % 4].call('put', 'k', { v: i });
      for (const w of ws) {
        const got = await w.call('get', 'k');
        assert.ok(got === undefined || got.v === i, `get after put ${i} returned ${JSON.stringify(got)}`);
        assert.equal(await w.call('fetch', 'k'), { v: i });
      }
    }
    // A loader runs for keys Redis lacks and writes them there.
    assert.is(await ws[1].call('fetchLoad', 'absent'), 'loaded:absent');
    assert.ok((await raw.get(`${opts.redis.prefix}absent`)) !== null);
    assert.is(await ws[2].call('fetch', 'absent'), 'loaded:absent');
    assert.is(await ws[3].call('del', 'absent'), true);
    assert.is(await ws[0].call('fetch', 'absent'), undefined);
    assert.is(await trackerConnections(opts.name), 1);
  } finally {
    await closeAll(ws);
  }
});

test('two processes: once the invalidation has arrived, no thread reads the old value', async () => {
  const opts = fresh();
  const child = fork(new URL('./fixtures/redis-process.mjs', import.meta.url), [opts.name, opts.redis.url, opts.redis.prefix]);
  const pending = new Map();
  let next = 0;
  await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.on('message', (m) => {
      if (m.ready) return resolve();
      const p = pending.get(m.id);
      pending.delete(m.id);
      m.ok ? p.resolve(m.r) : p.reject(new Error(m.error.message));
    });
  });
  const remote = (w, op, key, value) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      child.send({ id, w, op, key, value });
    });
  const ws = await openOnPool(opts);
  try {
    await until(async () => (await ws[0].call('state')).tracking, 'tracking here');
    await until(() => remote(0, 'state').then((s) => s.tracking), 'tracking there');
    assert.is(await trackerConnections(opts.name), 2);
    const holder = await until(async () => {
      const h = await holderOf(ws);
      return h >= 0 ? ws[h] : null;
    }, 'a holder here');
    let seen = (await holder.call('state')).invalidations;
    for (let i = 1; i <= 20; i++) {
      await remote(i % 4, 'put', 'hot', i);
      // The invalidation of write i has reached this process when its holder has applied one more.
      await until(async () => (await holder.call('state')).invalidations > seen, `invalidation ${i}`);
      seen = (await holder.call('state')).invalidations;
      for (const w of ws) {
        const got = await w.call('get', 'hot');
        assert.ok(got === undefined || got === i, `round ${i}: get returned ${got}`);
        assert.is(await w.call('fetch', 'hot'), i); // caches i for the next round's check
      }
    }
  } finally {
    await closeAll(ws);
    child.send({ op: 'exit' });
    await new Promise((r) => child.once('exit', r));
  }
});

test('a GET in flight while its key is invalidated does not cache the old value', async () => {
  const opts = fresh();
  // This worker waits 300 ms between its GET's reply and storing the value.
  const slow = await startWorker({ ...opts, env: { ...process.env, NATIVE_KEYSHARE_TEST_REDIS_STORE_DELAY: '300' } });
  try {
    await until(async () => (await slow.call('state')).tracking, 'tracking');
    await slow.call('fetch', 'warm-up'); // connects the worker's data connection
    for (let round = 0; round < 3; round++) {
      const key = `race${round}`;
      await raw.set(`${opts.redis.prefix}${key}`, framedNumber(1));
      const fetching = slow.call('fetch', key);
      await new Promise((r) => setTimeout(r, 100));
      await raw.set(`${opts.redis.prefix}${key}`, framedNumber(2)); // another process writes meanwhile
      // The GET was answered before the write, whose invalidation then overtook it: read again.
      assert.is(await fetching, 2);
      const cached = await slow.call('get', key);
      assert.ok(cached === undefined || cached === 2, `the invalidated value was cached: get returned ${cached}`);
      assert.is(await slow.call('fetch', key), 2);
    }
  } finally {
    await stopAll([slow]);
  }
});

/** Commands `cmd` Redis ran since the last CONFIG RESETSTAT. */
async function commandCalls(cmd) {
  const info = await raw.sendCommand(['INFO', 'commandstats']);
  return Number(info.match(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`))?.[1] ?? 0);
}

test('4 threads fetching one missing key: one GET (or one loader run) for the whole process', async () => {
  const opts = fresh();
  const ws = await openOnPool(opts);
  try {
    await until(async () => (await ws[0].call('state')).tracking, 'tracking');
    await ws[0].call('fetch', 'warm-up'); // every thread's data connection is up
    for (const w of ws) await w.call('fetch', 'warm-up');
    for (let round = 0; round < 6; round++) {
      const key = `once${round}`;
      await raw.set(`${opts.redis.prefix}${key}`, framedNumber(round));
      const loads = (await ws[0].call('stats')).loads;
      await raw.sendCommand(['CONFIG', 'RESETSTAT']);
      // Redis holds every command for 100 ms: the four fetches are all in flight at once.
      await raw.sendCommand(['CLIENT', 'PAUSE', '100', 'ALL']);
      const got = await Promise.all(ws.map((w) => w.call('fetch', key)));
      assert.equal(got, [round, round, round, round]);
      assert.is(await commandCalls('get'), 1, `round ${round}: GETs`);
      assert.is((await ws[0].call('stats')).loads, loads + 1, `round ${round}: loads counted`);
      // A key Redis lacks: the loader runs once in the process, and its value reaches Redis.
      const absent = `load${round}`;
      const loaded = await Promise.all(ws.map((w) => w.call('fetchSlowLoad', absent, 100)));
      assert.equal(loaded, Array(4).fill(`loaded:${absent}`));
      let calls = 0;
      for (const w of ws) calls += await w.call('loaderCalls');
      assert.is(calls, 1, `round ${round}: loader runs`);
      assert.ok((await raw.get(`${opts.redis.prefix}${absent}`)) !== null);
    }
  } finally {
    await closeAll(ws);
  }
});

test("a put's own invalidation refreshes the copy: every thread reads the write after it arrived", async () => {
  const opts = fresh();
  const ws = await openOnPool(opts);
  try {
    await until(async () => (await ws[0].call('state')).tracking, 'tracking');
    const holder = await until(async () => {
      const h = await holderOf(ws);
      return h >= 0 ? ws[h] : null;
    }, 'a holder');
    for (let i = 0; i < 12; i++) {
      const seen = (await holder.call('state')).invalidations;
      await ws[i % 4].call('put', 'mine', i);
      await until(async () => (await holder.call('state')).invalidations > seen, `the invalidation of put ${i}`);
      for (const w of ws) assert.is(await w.call('get', 'mine'), i, `put ${i} by thread ${i % 4}`);
    }
  } finally {
    await closeAll(ws);
  }
});

test('our put and another client\'s SET in one Redis event-loop turn: no thread keeps the older one', async () => {
  const opts = fresh();
  // Two threads whose tracker handles invalidations 20 ms late: each put has stored and marked
  // its value by then, so every round where ours runs first takes the refresh path; and whose
  // refreshes take 50 ms more, so that the sentinel's invalidation, if it were applied before
  // the refresh it follows, would let the older value be read.
  const env = { ...process.env, NATIVE_KEYSHARE_TEST_REDIS_APPLY_DELAY: '20', NATIVE_KEYSHARE_TEST_REDIS_REFRESH_DELAY: '50' };
  const ws = [await startWorker({ ...opts, env }), await startWorker({ ...opts, env })];
  const other = createClient({ url: server.url });
  other.on('error', () => {});
  await other.connect();
  const rkey = `${opts.redis.prefix}hot`;
  const sentinel = `${opts.redis.prefix}sentinel`;
  try {
    await until(async () => (await ws[0].call('state')).tracking, 'tracking');
    const holder = await until(async () => {
      const h = await holderOf(ws);
      return h >= 0 ? ws[h] : null;
    }, 'a holder');
    for (const w of ws) await w.call('fetch', 'warm-up'); // data connections up: a put's SET goes out at once
    for (let round = 0; round < 8; round++) {
      const oursFirst = round % 3 !== 2;
      // The sentinel, cached once the invalidation of its own write has been applied: the
      // invalidation of the next write of it, queued after those of the writes below, shows
      // they all arrived.
      const applied = (await holder.call('state')).invalidations;
      await raw.set(sentinel, framedNumber(-1));
      await until(async () => (await holder.call('state')).invalidations > applied, 'the sentinel written');
      assert.is(await ws[0].call('fetch', 'sentinel'), -1);
      const ours = round * 10 + 1;
      const theirs = round * 10 + 2;
      // Writes wait while Redis is paused, then run in arrival order in one event-loop turn,
      // and BCAST sends the key once for both. Mostly ours first (then only the GET of the
      // refresh shows that theirs came after), sometimes theirs first.
      await raw.sendCommand(['CLIENT', 'PAUSE', '60', 'WRITE']);
      const first = oursFirst ? ws[round % 2].call('put', 'hot', ours) : other.set(rkey, framedNumber(theirs));
      await new Promise((r) => setTimeout(r, 15));
      const second = oursFirst ? other.set(rkey, framedNumber(theirs)) : ws[round % 2].call('put', 'hot', ours);
      await Promise.all([first, second]);
      await raw.set(sentinel, framedNumber(round));
      await until(async () => (await ws[1].call('get', 'sentinel')) === undefined, 'the sentinel invalidated');
      const current = (await raw.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get(rkey)).readDoubleLE(3);
      assert.is(current, oursFirst ? theirs : ours, `round ${round}: Redis ran the writes in arrival order`);
      for (const w of ws) {
        const got = await w.call('get', 'hot');
        assert.ok(got === undefined || got === current, `round ${round}: get returned ${got}, Redis holds ${current}`);
      }
    }
  } finally {
    await other.destroy();
    await stopAll(ws);
  }
});

test('fetch options on a Redis-backed store: ttl, forceRefresh, signal, bad options', async () => {
  const o = fresh();
  const s = createStore(o.name, { redis: o.redis });
  try {
    await until(() => s.tracking, 'tracking');
    // ttl: PX of a loaded value in Redis, and the local copy's life.
    assert.is(await s.fetch('t', () => 'v', { ttl: 5 }), 'v');
    const pttl = await raw.pTTL(`${o.redis.prefix}t`);
    assert.ok(pttl > 0 && pttl <= 5000, `PTTL ${pttl}`);
    await raw.set(`${o.redis.prefix}u`, framedNumber(7));
    await until(async () => {
      assert.is(await s.fetch('u', undefined, { ttl: 2 }), 7);
      const left = s.remainingTtl('u');
      return left !== undefined && left <= 2;
    }, 'u cached with ttl 2');
    // forceRefresh: a load though the key is held locally.
    await s.put('f', 1);
    const loads = s.stats().loads;
    assert.is(await s.fetch('f', undefined, { forceRefresh: true }), 1);
    assert.is(s.stats().loads, loads + 1);
    // signal
    const ac = new AbortController();
    ac.abort(new Error('gave up'));
    await s.fetch('g', undefined, { signal: ac.signal }).then(
      () => assert.unreachable('resolved'),
      (e) => assert.is(e.message, 'gave up'),
    );
    for (const bad of [{ ttl: -1 }, { nope: 1 }, { forceRefresh: 'yes' }]) {
      await s.fetch('h', undefined, bad).then(
        () => assert.unreachable(`resolved with ${JSON.stringify(bad)}`),
        (e) => assert.is(e.code, 'ERR_KEYSHARE_INVALID_OPTION'),
      );
    }
    await s.fetch('h', 'not a function').then(
      () => assert.unreachable('resolved'),
      (e) => assert.is(e.code, 'ERR_KEYSHARE_INVALID_OPTION'),
    );
  } finally {
    s.close();
  }
});

test('a bounded near cache (max) keeps at most max keys locally; an evicted key is fetched from Redis again', async () => {
  const o = fresh();
  const s = createStore(o.name, { max: 20, redis: o.redis });
  for (let i = 0; i < 100; i++) await s.put(`k${i}`, i);
  for (let i = 0; i < 100; i++) assert.is(await s.fetch(`k${i}`), i);
  assert.ok(s.size <= 20, `${s.size} keys held locally`);
  assert.ok(s.stats().evictions >= 80, `${s.stats().evictions} evictions`);
  assert.is(await s.fetch('k3'), 3, 'evicted locally, read from Redis');
  s.close();
  const r = verify();
  assert.ok(r.ok, JSON.stringify(r.problems.slice(0, 3)));
});

test('a value in Redis this library did not write is an error naming the key', async () => {
  const opts = fresh();
  const s = createStore(opts.name, { redis: opts.redis });
  try {
    await raw.set(`${opts.redis.prefix}foreign`, 'plain text');
    await raw.set(`${opts.redis.prefix}badtag`, Buffer.from([0xc1, 1, 99, 0]));
    for (const key of ['foreign', 'badtag']) {
      try {
        await s.fetch(key);
        assert.unreachable('fetch of a foreign value resolved');
      } catch (e) {
        assert.is(e.code, 'ERR_KEYSHARE_CODEC');
        assert.match(e.message, `key "${key}"`);
      }
    }
    assert.throws(() => s.set('k', 1), (e) => e.code === 'ERR_KEYSHARE_SYNC_WRITE' && /store\.put/.test(e.message));
    assert.throws(() => s.delete('k'), (e) => e.code === 'ERR_KEYSHARE_SYNC_WRITE' && /store\.del/.test(e.message));
    assert.throws(() => createStore(opts.name, { redis: { ...opts.redis, prefix: 'other:' } }), /other Redis options/);
    assert.throws(() => createStore('x', { redis: { url: server.url } }), /prefix/);
  } finally {
    s.close();
  }
});

test('the tracking connection killed by the server: what it missed is not served after it is back', async () => {
  const opts = fresh();
  const ws = await openOnPool(opts);
  try {
    await until(async () => (await ws[0].call('state')).tracking, 'tracking');
    await ws[0].call('put', 'k', 1);
    for (const w of ws) assert.is(await w.call('fetch', 'k'), 1);
    const idOf = async () => {
      const list = await raw.sendCommand(['CLIENT', 'LIST']);
      return list.split('\n').find((l) => l.includes(`name=native-keyshare:tracker:${opts.name} `))?.match(/^id=(\d+)/)?.[1];
    };
    const id = await idOf();
    assert.ok(id);
    // The write lands while no tracking connection is there to be told.
    await raw.sendCommand(['CLIENT', 'KILL', 'ID', id]);
    await raw.set(`${opts.redis.prefix}k`, framedNumber(2));
    await until(async () => {
      const now = await idOf();
      return now !== undefined && now !== id && (await ws[0].call('state')).tracking;
    }, 'tracking on a new connection');
    for (const w of ws) {
      const got = await w.call('get', 'k');
      assert.ok(got === undefined || got === 2, `get returned ${got} after the reconnection`);
      assert.is(await w.call('fetch', 'k'), 2);
    }
  } finally {
    await closeAll(ws);
  }
});

test('redis-server killed and restarted: flushed when the drop is seen, reads recover, verify clean', async () => {
  const opts = fresh();
  const ws = await openOnPool(opts);
  try {
    await until(async () => (await ws[0].call('state')).tracking, 'tracking');
    for (let i = 0; i < 20; i++) await ws[i % 4].call('put', `k${i}`, i);
    for (let i = 0; i < 20; i++) assert.is(await ws[(i + 1) % 4].call('fetch', `k${i}`), i);
    await server.kill();
    await until(async () => !(await ws[0].call('state')).tracking, 'the drop to be seen');
    // Seen: nothing cached before the drop is served any more, in any thread.
    for (const w of ws) for (let i = 0; i < 20; i++) assert.is(await w.call('get', `k${i}`), undefined);
    await server.restart(); // empty: no persistence
    await raw.connect().catch(() => {});
    await until(async () => (await ws[0].call('state')).tracking, 'tracking again', 10000);
    for (let i = 0; i < 20; i++) assert.is(await ws[i % 4].call('fetch', `k${i}`), undefined);
    await ws[0].call('put', 'k0', 'back');
    for (const w of ws) assert.is(await w.call('fetch', 'k0'), 'back');
    assert.is(verify().ok, true);
  } finally {
    await closeAll(ws);
  }
});

test('terminating the thread that holds tracking hands it to another', async () => {
  const opts = fresh();
  const ws = await openOnPool(opts);
  try {
    for (let round = 0; round < 2; round++) {
      const h = await until(async () => {
        const i = await holderOf(ws);
        return i >= 0 ? i + 1 : 0;
      }, 'a holder');
      await ws[h - 1].terminate();
      const alive = ws.filter((w) => !w.exited);
      const h2 = await until(async () => {
        const i = await holderOf(alive);
        return i >= 0 ? i + 1 : 0;
      }, 'a new holder');
      await until(async () => (await trackerConnections(opts.name)) === 1, 'one tracking connection');
      // Invalidations flow again: a write by another process removes the cached value.
      const key = `after${round}`;
      await alive[0].call('put', key, 1);
      assert.is(await alive[1].call('fetch', key), 1);
      await raw.set(`${opts.redis.prefix}${key}`, framedNumber(2));
      await until(async () => (await alive[h2 - 1].call('get', key)) !== 1, 'the invalidation');
      for (const w of alive) assert.is(await w.call('fetch', key), 2);
    }
  } finally {
    await closeAll(ws);
  }
});

test.after(async () => {
  await stopAll(pool);
  await raw.destroy();
  await server.stop();
});

const t0 = new Map();
test.before.each((ctx) => t0.set(ctx.__test__, Date.now()));
test.after.each((ctx) => process.env.REDIS_TEST_TIMES && console.log(ctx.__test__, Date.now() - t0.get(ctx.__test__), 'ms'));
test.run();
