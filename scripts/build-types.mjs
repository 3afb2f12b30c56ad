// Trims the declarations tsc wrote to dist/types to the public surface.
//
// tsc (with stripInternal, see tsconfig.json) already drops every member tagged `@internal`.
// It still writes each private member of a class as a bare name (`private ref;`), which tells a
// user nothing and names implementation details: those lines are removed here. They carry no
// type, so no other declaration can depend on them.
//
// One `implements` clause goes too: RecordView implements RecordTarget (store.ts) through
// members tagged @internal, which stripInternal removed, so the clause would no longer hold in
// the declarations. It is a check of the implementation, already made when src/ was compiled.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const dir = new URL('../dist/types/', import.meta.url);
const PRIVATE = /^\s*(?:private\s+(?:static\s+)?(?:readonly\s+)?[\w$]+|#private);\r?\n/gm;
let removed = 0;
for (const name of readdirSync(dir, { recursive: true })) {
  if (!name.endsWith('.d.ts')) continue;
  const file = new URL(name, dir);
  const text = readFileSync(file, 'utf8');
  const out = text
    .replace(PRIVATE, () => {
      removed++;
      return '';
    })
    .replace(/ implements RecordTarget(?= \{)/, '')
    .replace(/type RecordTarget, (?=type Store \})/, '');
  if (out !== text) writeFileSync(file, out);
}
if (process.env.NATIVE_KEYSHARE_BUILD_VERBOSE) console.log(`build-types: removed ${removed} private members`);
