// Worker of bench/hitratio/run.mjs: replays one trace through the shared store (a get, and a set
// on a miss, per access) and reports its hits.
import { parentPort, workerData } from 'node:worker_threads';
import { createStore } from 'native-keyshare';

const { name, max, trace } = workerData;
const store = createStore(name, { max });
let hits = 0;
for (let i = 0; i < trace.length; i++) {
  const k = String(trace[i]);
  if (store.get(k) !== undefined) hits++;
  else store.set(k, 1);
}
parentPort.postMessage({ hits });
