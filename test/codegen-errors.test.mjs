// Codegen: every schema the generator cannot map is reported as `file:LINE:COL: message — what to
// do`. The fixtures are test/fixtures/codegen/errors/*.ts; each case checks the line, the column
// and the whole message.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const { generate } = require('../dist/codegen/generate.js');
const { SchemaError, formatProblem } = require('../dist/codegen/errors.js');

const dir = path.join(root, 'test/fixtures/codegen/errors');
const KEY_FORMS = 'use string, number, a union of string literals, or a template literal type such as `user:${number}`';

const ONE_TYPE = "but the elements of a record's tuple all have one type (number, boolean or one integer type) — give every element the same type, or remove record: true";
const FIXED_N = 'N must be an integer literal from 1 to 65535 (the most UTF-8 bytes the string may take) — write the limit, such as FixedString<32>';

/** [fixture, line, column, message — hint] for each problem the fixture must produce. */
const CASES = {
  'no-stores.ts': [[1, 1, 'no interface named Stores — declare the stores: export interface Stores { users: { key: `user:${number}`; value: User } }']],
  'stores-not-exported.ts': [[5, 11, 'interface Stores is not exported — write export interface Stores …']],
  'function-field.ts': [[3, 3, 'User.onSave is a function: functions cannot be stored — remove the field, or store data that describes what to call']],
  'method-field.ts': [[3, 3, 'User.greet is a method: functions cannot be stored — remove the method, or store data that describes what to call']],
  'key-union.ts': [
    [2, 15, 'the key of store "ids" has an unsupported union: string | number — a key part must be string, number, or a union of literals only: pick one kind (e.g. `${string}`), or use one store per kind'],
  ],
  'key-template-union.ts': [
    [2, 27, 'the key of store "events" has an unsupported union: string | number — a key part must be string, number, or a union of literals only: pick one kind (e.g. `${string}`), or use one store per kind'],
  ],
  'key-no-string-form.ts': [[6, 17, `the key of store "users" has type User, which has no string form the facade can build — ${KEY_FORMS}`]],
  'key-date.ts': [[2, 23, `the key of store "days" has type Date, which has no string form the facade can build — ${KEY_FORMS}`]],
  'store-without-key.ts': [[2, 3, `store "users" has no key — add key: <the key type> (${KEY_FORMS})`]],
  'store-without-value.ts': [[2, 3, 'store "users" has no value — add value: <the type of its values>, such as value: User']],
  'unknown-type.ts': [[2, 12, 'User.address: cannot find type Adress — declare it in the schema, or import it from a relative file']],
  'any-field.ts': [[2, 40, 'Stores.blobs.value.data is any, which the generator cannot check — use unknown to store anything unchecked, or write the type']],
  'object-union.ts': [
    [5, 31, 'Stores.pets.value is a union of 2 object, array or collection types (Cat | Dog), which the generator cannot tell apart yet — use one type with optional fields, or separate stores'],
  ],
  'generic.ts': [[6, 32, 'Stores.pages.value: generic type Page<string> is not supported yet — declare a concrete interface with the type arguments filled in']],
  'enum.ts': [[6, 32, "Stores.roles.value: enum Role is not supported — use a union of literals: type Role = 'admin' | 'member'"]],
  'bad-options.ts': [
    [2, 41, 'store "a": ttl must be a non-negative number literal, got number — write the number of seconds, such as ttl: 3600'],
    [3, 36, 'store "b" has an unknown property "tll" — the known properties are key, value, ttl, minBufferSize, hotReads, record'],
    [4, 51, 'store "c": minBufferSize must be a non-negative integer literal, got 1.5 — write the number of bytes, such as minBufferSize: 256'],
  ],
  'undefined-value.ts': [
    [2, 32, 'the value of store "maybe" may be undefined, which the store cannot hold (undefined means "absent") — use null for "no value", or leave the key unset'],
  ],
  // Fixed-layout records: `record: true` names every field (or option) that keeps the store from
  // being one, at the field's type (or name, when it is optional).
  'record-not-fixed.ts': [
    [3, 9, 'store "players" cannot be a record: Player.name is string, which has no fixed size — use FixedString<N> (from native-keyshare) for a string of at most N UTF-8 bytes, or remove record: true'],
    [4, 9, 'store "players" cannot be a record: Player.tags is string[], an array, which has no fixed length — use a tuple of one number type, such as [x: number, y: number], or remove record: true'],
    [5, 3, 'store "players" cannot be a record: Player.nick is optional, and a record stores every field — make it required, or remove record: true'],
    [6, 9, "store \"players\" cannot be a record: Player.home is { x: number; y: number }, an object, which a record cannot nest — move its fields into the record's type, or remove record: true"],
  ],
  'record-mixed-tuple.ts': [
    [4, 8, `store "bodies" cannot be a record: Body.pos is Pair, a tuple of number and boolean elements, ${ONE_TYPE}`],
    [5, 9, `store "bodies" cannot be a record: Body.cell is [Int32, number], a tuple of Int32 and number elements, ${ONE_TYPE}`],
    [6, 9, 'store "bodies" cannot be a record: Body.path is [number, ...number[]], a tuple with optional or rest elements, which has no fixed length — declare every element, or remove record: true'],
  ],
  'record-options.ts': [
    [3, 49, 'store "a" cannot be a record: it has a ttl, and records do not expire — remove ttl, or remove record: true'],
    [4, 49, "store \"b\" cannot be a record: it has hotReads (a record's fields are read in place instead) — remove hotReads, or remove record: true"],
    [5, 28, 'store "c" cannot be a record: its value number is not an interface or a type alias of an object type — declare the value as an interface whose fields all have a fixed size, or remove record: true'],
    [6, 28, "store \"d\" cannot be a record: its value is an inline object type, and a record's type needs a name (its view class is named after it) — declare it as an interface and write value: ThatInterface, or remove record: true"],
    [7, 43, "store \"e\": record must be true or false, got 'yes' — write record: true"],
  ],
  'fixed-string-bad-n.ts': [
    [3, 22, `Tag.empty: in FixedString<0>, ${FIXED_N}`],
    [4, 21, `Tag.huge: in FixedString<70000>, ${FIXED_N}`],
    [5, 20, `Tag.any: in FixedString<number>, ${FIXED_N}`],
    [6, 21, `Tag.half: in FixedString<1.5>, ${FIXED_N}`],
    [7, 9, `Tag.bare: in FixedString, ${FIXED_N}`],
    [8, 8, 'Tag.int: Int32 takes no type arguments — write Int32'],
  ],
  'runtime-import.ts': [
    [3, 10, 'Holder.store: Store of native-keyshare cannot be a stored type — of native-keyshare, a schema may use the types Int32, Uint32, Int16, Uint16, Int8, Uint8 and FixedString<N>'],
  ],
  'syntax-error.ts': [[4, 1, "syntax error: '}' expected. — fix the TypeScript syntax"]],
  'many-problems.ts': [
    [4, 3, 'User.onSave is a function: functions cannot be stored — remove the field, or store data that describes what to call'],
    [5, 10, 'User.extra is any, which the generator cannot check — use unknown to store anything unchecked, or write the type'],
    [9, 17, `the key of store "users" has type object, which has no string form the facade can build — ${KEY_FORMS}`],
    [10, 3, `store "logs" has no key — add key: <the key type> (${KEY_FORMS})`],
  ],
};

function problemsOf(file) {
  try {
    generate({ schemaPath: path.join(dir, file), outPath: path.join(dir, 'out.ts') });
  } catch (e) {
    if (e instanceof SchemaError) return e.problems;
    throw e;
  }
  return [];
}

test('every error fixture has a case (and every case a fixture)', () => {
  assert.equal(readdirSync(dir).filter((f) => f.endsWith('.ts')).sort(), Object.keys(CASES).sort());
});

for (const [file, expected] of Object.entries(CASES)) {
  test(`schema error: ${file}`, () => {
    const problems = problemsOf(file);
    const got = problems.map((p) => [p.line, p.column, `${p.message} — ${p.hint}`]);
    assert.equal(got, expected);
    for (const p of problems) assert.is(p.file, path.join(dir, file));
  });
}

test('the CLI prints file:line:col: message — hint per problem, relative to the cwd, and exits 2', () => {
  const r = spawnSync(process.execPath, ['dist/codegen/cli.js', 'codegen', 'test/fixtures/codegen/errors/many-problems.ts', '--out', 'never-written.ts'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.is(r.status, 2);
  assert.is(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(
    lines,
    CASES['many-problems.ts'].map(([line, col, text]) => `test/fixtures/codegen/errors/many-problems.ts:${line}:${col}: ${text}`),
  );
  assert.is(formatProblem({ file: '/x/s.ts', line: 1, column: 2, message: 'm', hint: 'h' }), '/x/s.ts:1:2: m — h');
});

test.run();
