#!/usr/bin/env node
// Long history check: rounds of N worker threads running seeded random mixes of
// set/get/delete/update/lock…release on a few keys, each round checked against a sequential
// model of a map (test/fixtures/history-check.mjs; test/history.test.mjs runs one short round).
//
//   npm run build && node scripts/history-long.mjs [--minutes 10] [--round-seconds 5]
//        [--workers 3] [--seed N] [--strict] [--stop]
//
// Every round uses a fresh seed (printed; --seed fixes the first one, later rounds add to it).
// A seed replays the operations each worker chooses, not the interleaving. Prints one line per
// round and the totals; exits 1 if any round had an anomaly.
//   --strict  also count as anomalies: new-old inversions across threads (a read that began
//             after another read returned sees an older value; README does not promise their
//             absence) and 'non-monotonic-mixed' (a thread reads older through its hotReads
//             instance than it read through its plain one: known finding 9, reproduced in
//             test/history.test.mjs). Both are always counted and printed.
//   --stop    stop at the first round with an anomaly.
import { randomInt } from 'node:crypto';
import { recordHistory } from '../test/fixtures/history-run.mjs';
import { checkHistory } from '../test/fixtures/history-check.mjs';

function parseArgs(argv) {
  const o = { minutes: 10, roundSeconds: 5, workers: 3, seed: undefined, strict: false, stop: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--minutes') o.minutes = num();
    else if (a === '--round-seconds') o.roundSeconds = num();
    else if (a === '--workers') o.workers = Math.min(15, Math.floor(num()));
    else if (a === '--seed') o.seed = Math.floor(num()) >>> 0;
    else if (a === '--strict') o.strict = true;
    else if (a === '--stop') o.stop = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: node scripts/history-long.mjs [--minutes 10] [--round-seconds 5] [--workers 3] [--seed N] [--strict] [--stop]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const formatId = (id) => `w${id % 16}#${Math.floor(id / 16)}`;
const end = Date.now() + opts.minutes * 60_000;
const totals = { rounds: 0, ops: 0, reads: 0, writes: 0, sections: 0, racy: 0, anomalies: 0, inversions: 0, known: 0, badRounds: 0 };
console.log(`history-long: ${opts.minutes} min, rounds of ${opts.roundSeconds} s, ${opts.workers} workers${opts.strict ? ', strict' : ''}`);

for (let round = 1; Date.now() < end; round++) {
  const seed = opts.seed !== undefined ? (opts.seed + round - 1) >>> 0 : randomInt(2 ** 32 - 1);
  const durationMs = Math.min(opts.roundSeconds * 1000, Math.max(500, end - Date.now()));
  const { history } = await recordHistory({ seed, workers: opts.workers, durationMs, maxRecords: Math.ceil(60_000 * opts.roundSeconds), storeName: 'history-long' });
  history.formatId = formatId;
  const r = checkHistory(history, { strict: true });
  const inversions = r.anomalies.filter((a) => a.kind === 'new-old-inversion');
  const known = r.anomalies.filter((a) => a.kind === 'non-monotonic-mixed');
  const real = opts.strict ? r.anomalies : r.anomalies.filter((a) => a.kind !== 'new-old-inversion' && a.kind !== 'non-monotonic-mixed');
  totals.rounds++;
  totals.ops += r.stats.ops;
  totals.reads += r.stats.reads;
  totals.writes += r.stats.writes;
  totals.sections += r.stats.sections;
  totals.racy += r.stats.racyReads;
  totals.anomalies += real.length;
  totals.inversions += inversions.length;
  totals.known += known.length;
  if (real.length > 0) totals.badRounds++;
  console.log(
    `round ${round} seed ${seed}: ${r.stats.ops} ops (${r.stats.reads} reads, ${r.stats.writes} writes, ${r.stats.sections} sections, ` +
      `${r.stats.counterUpdates} counter updates, ${r.stats.racyReads} racy reads), anomalies ${real.length}, inversions ${inversions.length}, known ${known.length}` +
      ` | total ${totals.rounds} rounds, ${totals.ops} ops, ${totals.anomalies} anomalies`,
  );
  if (r.anomalies.length > 0) {
    const kinds = {};
    for (const a of r.anomalies) kinds[a.kind] = (kinds[a.kind] ?? 0) + 1;
    console.log(`  kinds: ${JSON.stringify(kinds)}`);
    console.log(`  first: ${(real[0] ?? r.anomalies[0]).text.replace(/\n/g, '\n  ')}`);
  }
  if (real.length > 0 && opts.stop) break;
}

console.log(
  `\ntotal: ${totals.rounds} rounds, ${totals.ops} ops (${totals.reads} reads, ${totals.writes} writes, ${totals.sections} lock sections, ` +
    `${totals.racy} racy reads), ${totals.anomalies} anomalies in ${totals.badRounds} rounds; ` +
    `${totals.inversions} cross-thread inversions and ${totals.known} non-monotonic-mixed reads (finding 9)${opts.strict ? '' : ', not counted as anomalies (--strict counts them)'}`,
);
process.exitCode = totals.anomalies > 0 ? 1 : 0;
