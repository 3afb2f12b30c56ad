// The seed README's worker example, as written there (plus a wait for the workers, so that the
// output can be checked): the main thread sets a key, two workers read it synchronously at
// their first line and each sets a key of its own.
const { Worker } = require('worker_threads');
const { createStore } = require('native-keyshare');

const store = createStore('shared');
store.set('sharedKey', { value: 'Hello from main!' });

const worker1 = new Worker(__dirname + '/worker.js');
const worker2 = new Worker(__dirname + '/worker.js');

let done = 0;
for (const w of [worker1, worker2]) {
  w.on('exit', () => {
    if (++done === 2) console.log('main sees', store.get('workerKey'));
  });
}
