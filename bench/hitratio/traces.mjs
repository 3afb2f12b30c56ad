// Seeded synthetic access traces for hit-ratio benchmarks: keys are integers 0..n-1, a trace is
// an Int32Array of keys. Zipf(s) by inverse CDF (a binary search over the normalised partial
// sums), one-time scans of fresh keys, and loops.

// mulberry32, the suite's seeded PRNG: the same trace every run.
import { prng } from '../../test/util.mjs';

export { prng };

/**
 * A Zipf sampler over n keys with exponent s: key k (0-based rank) has weight 1 / (k+1)^s.
 * Ranks are shuffled into key ids (by `seed`) so that popular keys are not the small ids; draws
 * follow `drawSeed`, so that several streams can share one popularity and differ.
 */
export function zipf(n, s, seed, drawSeed = seed) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / Math.pow(k + 1, s);
  for (let k = 0; k < n; k++) cdf[k] /= sum;
  let rand = prng(seed);
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = ids[i];
    ids[i] = ids[j];
    ids[j] = t;
  }
  rand = prng(drawSeed);
  return () => {
    const u = rand();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return ids[lo];
  };
}

/** `length` accesses drawn from `next`. */
export function draw(next, length) {
  const t = new Int32Array(length);
  for (let i = 0; i < length; i++) t[i] = next();
  return t;
}

/**
 * A Zipf trace with one-time scans interleaved: every `every` accesses, a scan of `scan` keys
 * that were never seen before and are never seen again (ids from `n` up).
 */
export function zipfWithScans(n, s, length, every, scan, seed) {
  const next = zipf(n, s, seed);
  const out = [];
  let fresh = n;
  for (let i = 0; i < length; i++) {
    out.push(next());
    if ((i + 1) % every === 0) for (let j = 0; j < scan; j++) out.push(fresh++);
  }
  return Int32Array.from(out);
}

/** The keys 0..loop-1 in order, again and again. */
export function loop(loopLength, length) {
  const t = new Int32Array(length);
  for (let i = 0; i < length; i++) t[i] = i % loopLength;
  return t;
}
