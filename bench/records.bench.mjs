// Generated facades over fixed-layout records and msgpackr structures (codegen/example/stores.ts).
//
// - A record field read through the generated view's getter (`players.at(1).hp`: one int32 read
//   in shared memory inside the entry's sequence check) vs Map.get of a number.
// - The generated view's `view.add('hp', 1)` (lock-free atomic add at the field's constant
//   offset) vs a plain Atomics.add on an Int32Array; the facade's `players.add(1, 'hp', 1)`
//   (key built from its parts and looked up) and `store.add` with a ready key for reference.
// - The facade's `users.get(1)` of an object stored with the schema's structures vs the core
//   `get` of the same value in a store opened without structures (which learns the object's
//   shapes from its first write, src/structures.ts); the encoded sizes of both, and of the
//   object as msgpack maps (names inline).
//
// The example facades are transpiled (TypeScript's transpileModule) into a temporary directory
// whose node_modules/native-keyshare links to this package, so they use this build and arena.
import b from 'benny';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Packr } from 'msgpackr';
import { arenaStats, createStore } from 'native-keyshare';
import { CASE_OPTIONS, cycle, fmtNs, keep, meanNs, save, target } from './common.mjs';

const require = createRequire(import.meta.url);
const ts = require('typescript');
const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'nk-bench-records-'));
mkdirSync(path.join(tmp, 'node_modules'));
symlinkSync(root, path.join(tmp, 'node_modules', 'native-keyshare'), 'dir');
const source = readFileSync(path.join(root, 'codegen/example/stores.ts'), 'utf8');
const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
writeFileSync(path.join(tmp, 'stores.mjs'), outputText);
const { players, users } = await import(pathToFileURL(path.join(tmp, 'stores.mjs')).href);
rmSync(tmp, { recursive: true, force: true });

// ── data ──
players.set(1, { x: 1.5, y: -2, hp: 100, score: 7, alive: true, team: 'red', name: 'ann', pos: [1.5, -2] });
const view = players.at(1);
const map = new Map([['player:1', 100]]);
const i32 = new Int32Array(new SharedArrayBuffer(64));

const user = {
  id: 1,
  name: 'Ann Example',
  email: 'ann@example.com',
  role: 'editor',
  tags: ['beta', 'staff'],
  address: { street: '1 Main St', city: 'Lyon', country: 'FR', location: [45.76, 4.84] },
  createdAt: new Date(1_700_000_000_000),
  flags: new Set(['dark-mode']),
};
users.set(1, user);
const plain = createStore('bench-users-plain'); // same value, no structures
plain.set('user:1', user);

// The cases must measure what they claim.
if (view.hp !== 100 || map.get('player:1') !== 100) throw new Error('wrong hp');
if (JSON.stringify(users.get(1)) !== JSON.stringify(user) || JSON.stringify(plain.get('user:1')) !== JSON.stringify(user)) throw new Error('wrong user');
if (users.get(1).createdAt.getTime() !== user.createdAt.getTime() || !users.get(1).flags.has('dark-mode')) throw new Error('Date / Set lost');

const retriesBefore = arenaStats().readRetries;
const summary = await b.suite(
  'records: view getter, facade add, structures get',
  b.add('view.hp (record field getter)', () => { keep(view.hp); }, CASE_OPTIONS),
  b.add('view.x (float64 getter)', () => { keep(view.x); }, CASE_OPTIONS),
  b.add('Map.get of a number', () => { keep(map.get('player:1')); }, CASE_OPTIONS),
  b.add("view.add('hp', 1) (generated view)", () => { keep(view.add('hp', 1)); }, CASE_OPTIONS),
  b.add("players.add(1, 'hp', 1) (facade)", () => { keep(players.add(1, 'hp', 1)); }, CASE_OPTIONS),
  b.add("store.add('player:1', 'hp', 1) (core)", () => { keep(players.store.add('player:1', 'hp', 1)); }, CASE_OPTIONS),
  b.add('Atomics.add(Int32Array)', () => { keep(Atomics.add(i32, 0, 1)); }, CASE_OPTIONS),
  b.add('users.get(1) (facade, structures)', () => { keep(users.get(1)); }, CASE_OPTIONS),
  b.add("users.store.get('user:1') (core, structures)", () => { keep(users.store.get('user:1')); }, CASE_OPTIONS),
  b.add("plain.get('user:1') (core, no structures)", () => { keep(plain.get('user:1')); }, CASE_OPTIONS),
  cycle(),
  b.complete(),
  save('records'),
);

const getter = meanNs(summary, 'view.hp (record field getter)');
const mapGet = meanNs(summary, 'Map.get of a number');
const viewAdd = meanNs(summary, "view.add('hp', 1) (generated view)");
const add = meanNs(summary, "players.add(1, 'hp', 1) (facade)");
const coreAdd = meanNs(summary, "store.add('player:1', 'hp', 1) (core)");
const atomicsAdd = meanNs(summary, 'Atomics.add(Int32Array)');
const facadeGet = meanNs(summary, 'users.get(1) (facade, structures)');
const coreStructuresGet = meanNs(summary, "users.store.get('user:1') (core, structures)");
const plainGet = meanNs(summary, "plain.get('user:1') (core, no structures)");
const withStructures = users.store.stats().valueBytes;
const without = plain.stats().valueBytes;

console.log(`\ncodec ${arenaStats().codec}; read retries ${arenaStats().readRetries - retriesBefore}`);
console.log(`getter ${fmtNs(getter)} vs Map.get ${fmtNs(mapGet)}`);
console.log(`view add ${fmtNs(viewAdd)}, facade add ${fmtNs(add)}, core add ${fmtNs(coreAdd)}, Atomics.add ${fmtNs(atomicsAdd)}`);
console.log(`facade get ${fmtNs(facadeGet)}, core get with structures ${fmtNs(coreStructuresGet)}, core get without ${fmtNs(plainGet)}`);
const asMaps = new Packr({ useRecords: false, moreTypes: true }).pack(user).length;
console.log(`encoded user: ${withStructures} bytes with the schema's structures, ${without} bytes with learned ones, ${asMaps} as maps`);
target('view getter / Map.get', getter / mapGet, '<=', 3);
// The view knows its entry and the field's offset: the add is the hazard announcement and the
// atomic op. The facade also builds the key and looks it and the field up: reported, no target.
target('view add / Atomics.add', viewAdd / atomicsAdd, '<=', 3);
console.log(`facade add / Atomics.add: ${(add / atomicsAdd).toFixed(2)} (key built and looked up per call)`);
target('facade get (structures) / core get (no structures)', facadeGet / plainGet, '<=', 1.1);
