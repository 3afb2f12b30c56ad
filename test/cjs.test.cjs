// The package from CommonJS, as in the seed README, and the promise that `require` and `import`
// give the same engine (one arena attachment, one instance per store name per thread).
const { test } = require('uvu');
const assert = require('uvu/assert');
const { createStore, Store } = require('native-keyshare');

test('require() gives the seed API', () => {
  const store = createStore('cjs');
  store.set('user:1', { name: 'John' });
  assert.equal(store.get('user:1'), { name: 'John' });
  assert.ok(store.delete('user:1'));
  assert.ok(store instanceof Store);
});

test('import and require share instances and classes', async () => {
  const esm = await import('native-keyshare');
  assert.is(esm.createStore('cjs'), createStore('cjs'));
  assert.is(esm.Store, Store);
  assert.is(esm.default.createStore, createStore);
});

test.run();
