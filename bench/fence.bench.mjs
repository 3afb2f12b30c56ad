// Micro-benchmark: what `if (NEEDS_FENCE) readFence()` costs a seqlock read loop on this machine.
//   node bench/fence.bench.mjs        (after npm run build)
// Variants, each its own function so that V8 compiles each for what it does:
//   none      s1 = Atomics.load; 4 plain loads; s2 = Atomics.load
//   checked   the same with `if (ord.NEEDS_FENCE) ord.readFence()` before s2 (as store.js would,
//             through the CommonJS exports object)
//   local     the same with a module-local const copy of NEEDS_FENCE
//   fence     readFence() unconditionally (what a weakly ordered CPU pays; on x64 a lock xadd)
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const ord = require('../dist/cjs/ordering.js');
const NEEDS_FENCE = ord.NEEDS_FENCE;
const i32 = new Int32Array(new SharedArrayBuffer(4096));
const N = 2_000_000;
let sink = 0;
function none() {
  let acc = 0;
  for (let i = 0; i < N; i++) {
    const w = (i & 63) << 4;
    const s1 = Atomics.load(i32, 0);
    acc += i32[w + 1] + i32[w + 2] + i32[w + 3] + i32[w + 4];
    if (Atomics.load(i32, 0) !== s1) acc = 0;
  }
  return acc;
}
function checked() {
  let acc = 0;
  for (let i = 0; i < N; i++) {
    const w = (i & 63) << 4;
    const s1 = Atomics.load(i32, 0);
    acc += i32[w + 1] + i32[w + 2] + i32[w + 3] + i32[w + 4];
    if (ord.NEEDS_FENCE) ord.readFence();
    if (Atomics.load(i32, 0) !== s1) acc = 0;
  }
  return acc;
}
function local() {
  let acc = 0;
  for (let i = 0; i < N; i++) {
    const w = (i & 63) << 4;
    const s1 = Atomics.load(i32, 0);
    acc += i32[w + 1] + i32[w + 2] + i32[w + 3] + i32[w + 4];
    if (NEEDS_FENCE) ord.readFence();
    if (Atomics.load(i32, 0) !== s1) acc = 0;
  }
  return acc;
}
function fence() {
  let acc = 0;
  for (let i = 0; i < N; i++) {
    const w = (i & 63) << 4;
    const s1 = Atomics.load(i32, 0);
    acc += i32[w + 1] + i32[w + 2] + i32[w + 3] + i32[w + 4];
    ord.readFence();
    if (Atomics.load(i32, 0) !== s1) acc = 0;
  }
  return acc;
}
const variants = { none, checked, local, fence };
const best = {};
for (let round = 0; round < 15; round++) {
  for (const [name, f] of Object.entries(variants)) {
    const t = process.hrtime.bigint();
    sink += f();
    const ns = Number(process.hrtime.bigint() - t) / N;
    if (round >= 3) (best[name] ??= []).push(ns);
  }
}
console.log(`arch ${process.arch}, NEEDS_FENCE ${ord.NEEDS_FENCE}; ns per read (min / median of 12 rounds):`);
for (const [name, xs] of Object.entries(best)) {
  xs.sort((a, b) => a - b);
  console.log(`  ${name.padEnd(8)} ${xs[0].toFixed(2)} / ${xs[6].toFixed(2)}`);
}
if (sink === 42) console.log('');
