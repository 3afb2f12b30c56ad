// Shared helpers for the test files (not a test file itself: run.mjs runs *.test.* only).
import { Worker } from 'node:worker_threads';

export const fixture = (name) => new URL(`./fixtures/${name}`, import.meta.url);

/** Starts a worker and resolves with the first message it posts (rejects on error or silent exit). */
export function runWorker(name, workerData, options = {}) {
  return new Promise((resolve, reject) => {
    const w = new Worker(fixture(name), { workerData, ...options });
    let settled = false;
    w.once('message', (m) => { settled = true; resolve(m); });
    w.once('error', (e) => { settled = true; reject(e); });
    w.once('exit', (code) => { if (!settled) reject(new Error(`worker ${name} exited with code ${code} before answering`)); });
  });
}

/** Resolves when the worker exits, with its exit code. */
export const exited = (w) => new Promise((resolve) => w.once('exit', resolve));

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** mulberry32: a small seeded PRNG, so that random tests can be replayed. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Polls `cond` until true or `ms` pass. */
export async function until(cond, ms = 5000, step = 5) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(step);
  }
  return cond();
}
