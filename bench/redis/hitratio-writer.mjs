// The other process of bench/redis/hitratio.mjs: a child process with its own node-redis client
// that seeds the key space and then SETs keys, Zipf-distributed, while the readers run. Values
// are framed as RedisStore.put frames them (the library's internal codec and frame, from dist/),
// so that both kinds of reader decode the same bytes; each carries a version `v`.
//
// Messages from the parent (IPC): { cmd: 'seed' } → 'seeded'; { cmd: 'start', s, seed } then
// { cmd: 'writeTo', n } (paced by the parent: write until n SETs were sent); { cmd: 'finish' } →
// { writes, keys } once every SET was acknowledged (keys: the ids written); { cmd: 'exit' }.
import { createRequire } from 'node:module';
import { createClient } from 'redis';
import { zipf } from '../hitratio/traces.mjs';

const require = createRequire(import.meta.url);
const { encode, encoded } = require('../../dist/cjs/codec.js');
const { frame } = require('../../dist/cjs/redis-link.js');

const url = process.argv[2];
const prefix = process.argv[3];
const KEYS = Number(process.argv[4]);
/** SETs in flight at once (node-redis pipelines them on the one connection, in order). */
const WINDOW = 64;

const value = (i, v) => ({ id: i, v, name: `user-${i}`, email: `user${i}@example.com`, roles: ['reader', 'writer'], active: true });
function framed(i, v) {
  const tag = encode(value(i, v));
  return frame(tag, encoded.bytes, encoded.offset, encoded.length);
}

const client = createClient({ url });
await client.connect();

let next = null;
let target = 0;
let sent = 0;
let version = 0;
const written = new Set();
let inFlight = new Set();
let pumping = false;

async function pump() {
  if (pumping) return;
  pumping = true;
  while (sent < target) {
    while (inFlight.size >= WINDOW) await Promise.race(inFlight);
    const k = next();
    written.add(k);
    sent++;
    // Versions grow with every SET: a reader that ends with a smaller `v` than Redis read a stale value.
    const p = client.sendCommand(['SET', `${prefix}k${k}`, framed(k, ++version)]).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  pumping = false;
}

process.on('message', async (m) => {
  if (m.cmd === 'seed') {
    const batch = [];
    for (let i = 0; i < KEYS; i++) {
      batch.push(client.sendCommand(['SET', `${prefix}k${i}`, framed(i, 0)]));
      if (batch.length === 1000) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    process.send('seeded');
  } else if (m.cmd === 'start') {
    next = zipf(KEYS, m.s, m.seed, m.seed + 7777);
    target = sent = 0;
    written.clear();
    inFlight = new Set();
  } else if (m.cmd === 'writeTo') {
    target = m.n;
    pump();
  } else if (m.cmd === 'finish') {
    target = sent; // no more
    while (pumping || inFlight.size > 0) await new Promise((r) => setTimeout(r, 1));
    process.send({ writes: sent, keys: [...written] });
  } else if (m.cmd === 'exit') {
    await client.quit();
    process.exit(0);
  }
});
process.send('ready');
