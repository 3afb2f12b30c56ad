// npm run demo: one store, four threads, no messages.
//
// The main thread fills a store, starts workers that read it synchronously at their first line,
// and every worker increments a shared counter under the key's lock. The main thread then reads
// what the workers wrote.
import { Worker, isMainThread, workerData, threadId } from 'node:worker_threads';
import { createStore } from 'native-keyshare';

const WORKERS = 4;
const INCREMENTS = 1000;
const store = createStore('demo');

if (isMainThread) {
  store.set('greeting', { text: 'hello from the main thread', at: new Date() });
  store.set('counter', 0);
  console.log(`main: set "greeting" and "counter"; starting ${WORKERS} workers`);
  const started = performance.now();
  const exits = [];
  for (let i = 0; i < WORKERS; i++) {
    const w = new Worker(new URL(import.meta.url), { workerData: { index: i } });
    exits.push(new Promise((resolve, reject) => { w.on('exit', resolve); w.on('error', reject); }));
  }
  await Promise.all(exits);
  const ms = (performance.now() - started).toFixed(0);
  console.log(`main: workers done in ${ms} ms`);
  for (const key of store.listKeys('worker:*').sort()) console.log(`main: ${key} =`, store.get(key));
  const counter = store.get('counter');
  console.log(`main: counter = ${counter} (expected ${WORKERS * INCREMENTS}) ${counter === WORKERS * INCREMENTS ? 'OK' : 'WRONG'}`);
  process.exitCode = counter === WORKERS * INCREMENTS ? 0 : 1;
} else {
  // No await, no message: the value is there at the worker's first line.
  const greeting = store.get('greeting');
  console.log(`worker ${workerData.index} (thread ${threadId}) read:`, greeting.text);
  for (let i = 0; i < INCREMENTS; i++) store.update('counter', (n) => n + 1);
  store.set(`worker:${workerData.index}`, { threadId, greetingWasDate: greeting.at instanceof Date });
}
