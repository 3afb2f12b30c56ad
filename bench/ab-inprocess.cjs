// In-process A/B of two builds of native-keyshare, for changes that must not move speed:
//   cp -r dist /tmp/before   (the build before the change)  …change, npm run build…
//   A=/tmp/before/cjs/index.js node bench/ab-inprocess.cjs [keys=1000] [rounds=10] [ops=300000] [get,set,…]
// B defaults to this tree's dist. Rounds alternate which build runs first; each round's after/before
// ratio pairs the two builds under the same machine state, and the median of the ratios is the
// figure. Run it with A and B the same build first (A/A): that spread is the noise floor.
// Both builds share one arena (same LAYOUT_VERSION), so each uses its own store names. Values are
// strings: both builds share one msgpackr module, and objects would go through each store's
// learned structures, which two engines in one thread make thrash each other.
// At 1 M keys: NATIVE_KEYSHARE_MAX_MEMORY=3gb node --max-old-space-size=6000 bench/ab-inprocess.cjs 1000000 21 40000
const { join } = require('node:path');
const A = require(process.env.A || '/tmp/before/cjs/index.js');
const B = require(process.env.B || join(__dirname, '../dist/cjs/index.js'));
const KEYS = Number(process.argv[2] || 1000);
const ROUNDS = Number(process.argv[3] || 10);
const OPS = Number(process.argv[4] || 300000);
const only = process.argv[5];

function setup(lib, tag) {
  const plain = lib.createStore(`ab-${tag}-plain-${KEYS}`);
  const hot = lib.createStore(`ab-${tag}-hot-${KEYS}`, { hotReads: { maxKeys: Math.max(KEYS, 1) } });
  const layout = lib.layoutRecord([{ name: 'hp', type: 'int32' }, { name: 'x', type: 'float64' }]);
  const rec = lib.createStore(`ab-${tag}-rec-${KEYS}`, { record: layout });
  const hpOff = layout.fields.find((f) => f.name === 'hp').offset;
  // Every function a build runs is compiled for that build alone (new Function), so that the
  // two builds never share feedback (inline caches, inlining decisions) through one closure.
  const V = new Function('RecordView', 'hpOff', 'return class V extends RecordView { get hp() { return this.int32(hpOff); } }')(lib.RecordView, hpOff);
  const keys = [];
  for (let i = 0; i < KEYS; i++) keys.push(`key:${i}`);
  for (let i = 0; i < KEYS; i++) {
    plain.set(keys[i], 'value:' + i);
    hot.set(keys[i], 'value:' + i);
    rec.set(keys[i], { hp: i, x: 1.5 });
  }
  const nViews = Math.min(KEYS, 1 << 17);
  const views = [];
  for (let i = 0; i < nViews; i++) views.push(new V(rec, keys[(i * 7919) % KEYS]));
  // A fixed pseudo-random order of key indices.
  const order = new Uint32Array(1 << 16);
  let x = 12345;
  for (let i = 0; i < order.length; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; order[i] = x % KEYS; }
  const vorder = new Uint32Array(1 << 16);
  for (let i = 0; i < vorder.length; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; vorder[i] = x % nViews; }
  const val = 'value:12345';
  const mk = (body) => new Function('plain', 'hot', 'keys', 'order', 'views', 'vorder', 'val', `return function (n) { ${body} }`)(plain, hot, keys, order, views, vorder, val);
  return {
    get: mk('let s = 0; for (let i = 0; i < n; i++) { const v = plain.get(keys[order[i & 65535]]); s += v.length; } return s;'),
    set: mk('for (let i = 0; i < n; i++) plain.set(keys[order[i & 65535]], val); return n;'),
    hotGet: mk('let s = 0; for (let i = 0; i < n; i++) { const v = hot.get(keys[order[i & 65535]]); s += v.length; } return s;'),
    fieldRead: mk('let s = 0; for (let i = 0; i < n; i++) s += views[vorder[i & 65535]].hp; return s;'),
    viewAdd: mk("let s = 0; for (let i = 0; i < n; i++) s += views[vorder[i & 65535]].add('hp', 1); return s;"),
  };
}

const a = setup(A, 'A');
const b = setup(B, 'B');
const ops = ['get', 'set', 'hotGet', 'fieldRead', 'viewAdd'].filter((o) => !only || only.split(',').includes(o));
const opsFor = (op) => (op === 'set' ? OPS >> 1 : OPS);
// CPU time of the process, not wall time: the machine is shared, and a preempted round would
// otherwise count the other processes' time (JIT threads are idle once warm).
function time(fn, n) { const c0 = process.cpuUsage(); fn(n); const c = process.cpuUsage(c0); return ((c.user + c.system) * 1000) / n; }
// Warm up both.
for (const op of ops) for (let w = 0; w < 3; w++) { time(a[op], opsFor(op)); time(b[op], opsFor(op)); }
console.log(`keys ${KEYS}, rounds ${ROUNDS}, ops/round ${OPS}`);
for (const op of ops) {
  const ratios = [], ta = [], tb = [];
  for (let r = 0; r < ROUNDS; r++) {
    let x, y;
    if (r & 1) { y = time(b[op], opsFor(op)); x = time(a[op], opsFor(op)); }
    else { x = time(a[op], opsFor(op)); y = time(b[op], opsFor(op)); }
    ta.push(x); tb.push(y); ratios.push(y / x);
  }
  const med = (v) => [...v].sort((p, q) => p - q)[v.length >> 1];
  const gm = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
  console.log(`${op.padEnd(10)} before ${med(ta).toFixed(1)} ns  after ${med(tb).toFixed(1)} ns  ratio after/before: median ${med(ratios).toFixed(3)}  geomean ${gm.toFixed(3)}  [${Math.min(...ratios).toFixed(3)}, ${Math.max(...ratios).toFixed(3)}]`);
}
