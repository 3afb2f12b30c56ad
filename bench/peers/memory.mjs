// Memory per entry of native-keyshare: what a key costs in the arena apart from its value's
// bytes (the entry with its key, the value block's header and size-class slack, the index
// buckets). Two ways, reported side by side:
//
//  - measured: arenaStats().bytesInUse before and after inserting N keys ('key:0' …) with tiny
//    values (the number i: 8 encoded bytes), minus the value bytes (store.stats().valueBytes),
//    divided by N. Each N gets a fresh store, so its index grows from the initial 16 buckets.
//  - layout: the same sum computed from the layout of the build being measured
//    (dist/cjs/layout.js, i.e. src/layout.ts; run.mjs's copy of it): per key an ENTRY block of ENTRY_FIXED_BYTES
//    (28) + the key (one byte per character for these ASCII keys, word-aligned) + with inline
//    values (layouts that have INLINE_MAX_BYTES) two 8-byte slots, rounded up to its size class;
//    without them a VALUE block of the VALUE_BYTES_OFFSET-byte header + the value, rounded up to
//    its size class; minus the value bytes; and the index,
//    4 bytes per bucket, grown as keyindex.ts grows it (past 3/4 load, to the next power of two
//    that keeps the load at most 1/2), its block rounded up to its size class too.
//
// Prints one line `MEMORY <json>` (run.mjs reads it); also runnable alone.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyOf } from './data.mjs';
import { keyshareModule } from './systems.mjs';

const { arenaStats, configure, createStore } = await keyshareModule();
const require = createRequire(import.meta.url);
const dist = process.env.PEERS_KEYSHARE_DIST ?? fileURLToPath(new URL('../../dist', import.meta.url));
const L = require(join(dist, 'cjs/layout.js'));

const counts = process.argv[2] ? process.argv[2].split(',').map(Number) : [1_000, 100_000, 1_000_000];
configure({ maxMemory: 2 ** 31 });

const blockBytes = (bytes) => L.classUnits(L.sizeClassOf(Math.ceil(bytes / L.UNIT))) * L.UNIT;
const indexBlockBytes = (cap) => blockBytes((L.INDEX.BUCKETS + cap) * 4);

/** The index capacity after n inserts into a fresh store, following keyindex.ts' reserveOne. */
function indexCapacity(n) {
  let cap = L.MIN_INDEX_CAPACITY;
  for (let count = 0; count < n; count++) {
    if (count + 1 <= cap * L.MAX_LOAD) continue;
    let next = L.MIN_INDEX_CAPACITY;
    while ((count + 1) * 2 > next) next *= 2;
    cap = next;
  }
  return cap;
}

const rows = [];
for (const n of counts) {
  const store = createStore(`peers-memory-${n}`);
  const before = arenaStats().bytesInUse;
  for (let i = 0; i < n; i++) store.set(keyOf(i), i);
  const after = arenaStats().bytesInUse;
  const st = store.stats();
  if (st.entries !== n) throw new Error(`store has ${st.entries} entries, expected ${n}`);
  const measured = (after - before - st.valueBytes) / n;

  // Layout: the same blocks, from the formulas.
  let entryBytes = 0;
  let keyUnits = 0;
  let valueOverhead = 0;
  for (let i = 0; i < n; i++) {
    const len = keyOf(i).length;
    keyUnits += len;
    if (L.INLINE_MAX_BYTES >= 8) {
      // The value is in the entry: count the slots as value storage (the second slot and the
      // entry's size-class slack are the overhead), the rest as the entry.
      const withSlots = blockBytes(L.ENTRY_FIXED_BYTES + 4 * Math.ceil(len / 4) + 2 * 8);
      entryBytes += withSlots - 2 * 8;
      valueOverhead += 2 * 8 - 8;
    } else {
      entryBytes += blockBytes(L.ENTRY_FIXED_BYTES + (L.KEY_ONE_BYTE !== undefined ? 1 : 2) * len);
      valueOverhead += blockBytes(L.VALUE_BYTES_OFFSET + 8) - 8;
    }
  }
  const cap = indexCapacity(n);
  // The fresh store's initial index was in `before` and is freed by the first resize.
  const indexBytes = indexBlockBytes(cap) - (cap > L.MIN_INDEX_CAPACITY ? indexBlockBytes(L.MIN_INDEX_CAPACITY) : indexBlockBytes(cap));
  const layout = (entryBytes + valueOverhead + indexBytes) / n;
  rows.push({
    keys: n,
    measuredBytesPerEntry: measured,
    layoutBytesPerEntry: layout,
    breakdown: {
      entry: entryBytes / n,
      entryFixed: L.ENTRY_FIXED_BYTES,
      keyBytes: ((L.KEY_ONE_BYTE !== undefined ? 1 : 2) * keyUnits) / n,
      valueHeaderAndSlack: valueOverhead / n,
      valueHeader: L.VALUE_BYTES_OFFSET,
      index: indexBytes / n,
      indexBucketsOnly: (4 * cap) / n,
    },
    indexCapacity: st.indexCapacity,
    layoutIndexCapacity: cap,
    avgKeyLength: keyUnits / n,
    valueBytes: st.valueBytes,
  });
}
console.log(`MEMORY ${JSON.stringify(rows)}`);
