const { createStore } = require('native-keyshare');

const store = createStore('shared');
console.log(store.get('sharedKey'));  // { value: 'Hello from main!' }
store.set('workerKey', { data: 'Hello from worker!' });
