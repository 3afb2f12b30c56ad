// Codegen: the generator's list of RecordView members (codegen/plan.ts, RECORD_VIEW_MEMBERS: a
// record field named like one of them gets no getter in its generated view class) equals the
// members of the runtime's RecordView (src/view.ts): its prototype's own names, its instance
// fields, and Object.prototype's names. When RecordView gains or loses a member, update the list.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import { createStore, layoutRecord, RecordView } from 'native-keyshare';

const require = createRequire(import.meta.url);
const { RECORD_VIEW_MEMBERS } = require('../dist/codegen/plan.js');

test('RECORD_VIEW_MEMBERS lists exactly the members of RecordView and Object.prototype', () => {
  const store = createStore('codegen-view-members', { record: layoutRecord([{ name: 'x', type: 'int32' }]) });
  store.set('k', { x: 1 });
  const view = new RecordView(store, 'k');
  const actual = new Set([
    ...Object.getOwnPropertyNames(RecordView.prototype),
    ...Object.getOwnPropertyNames(view),
    ...Object.getOwnPropertyNames(Object.prototype),
  ]);
  const listed = new Set(RECORD_VIEW_MEMBERS);
  assert.equal([...actual].filter((n) => !listed.has(n)).sort(), [], 'members of RecordView missing from RECORD_VIEW_MEMBERS');
  assert.equal([...listed].filter((n) => !actual.has(n)).sort(), [], 'names in RECORD_VIEW_MEMBERS that RecordView does not have');
});

test.run();
