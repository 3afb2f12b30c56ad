// Belady's OPT (MIN): on a miss with a full cache, evict the key whose next use is farthest in
// the future. Computed offline over the whole trace: the highest hit ratio any cache of that
// size can reach, so the physical limit policies are measured against.

/** Hit ratio of OPT with `capacity` keys over `trace` (keys are non-negative integers). */
export function optHitRatio(trace, capacity) {
  const n = trace.length;
  // nextUse[i]: the index of the next access to trace[i] after i (n + i if none: distinct "never").
  const nextUse = new Int32Array(n);
  const last = new Map();
  for (let i = n - 1; i >= 0; i--) {
    const k = trace[i];
    const j = last.get(k);
    nextUse[i] = j === undefined ? n + i : j;
    last.set(k, i);
  }
  // Max-heap of (next use, key) with lazy deletion: an item is current when the key is cached
  // and its recorded next use is the item's.
  const heapNext = [];
  const heapKey = [];
  const push = (nu, k) => {
    let i = heapNext.length;
    heapNext.push(nu);
    heapKey.push(k);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heapNext[p] >= heapNext[i]) break;
      [heapNext[p], heapNext[i]] = [heapNext[i], heapNext[p]];
      [heapKey[p], heapKey[i]] = [heapKey[i], heapKey[p]];
      i = p;
    }
  };
  const pop = () => {
    const nu = heapNext[0];
    const k = heapKey[0];
    const lastN = heapNext.pop();
    const lastK = heapKey.pop();
    if (heapNext.length > 0) {
      heapNext[0] = lastN;
      heapKey[0] = lastK;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heapNext.length && heapNext[l] > heapNext[m]) m = l;
        if (r < heapNext.length && heapNext[r] > heapNext[m]) m = r;
        if (m === i) break;
        [heapNext[m], heapNext[i]] = [heapNext[i], heapNext[m]];
        [heapKey[m], heapKey[i]] = [heapKey[i], heapKey[m]];
        i = m;
      }
    }
    return [nu, k];
  };
  const cached = new Map(); // key -> its current next use
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const k = trace[i];
    const nu = nextUse[i];
    if (cached.has(k)) {
      hits++;
    } else if (cached.size >= capacity) {
      // Evict the farthest next use; with a key never used again (nu >= n) evict that instead
      // of admitting it: OPT may bypass.
      for (;;) {
        const [vn, vk] = pop();
        if (cached.get(vk) !== vn) continue; // stale item
        if (vn < nu) {
          // Every cached key is used before this one: do not admit it.
          push(vn, vk);
          cached.delete(k);
          break;
        }
        cached.delete(vk);
        break;
      }
      if (cached.size >= capacity) continue;
    }
    cached.set(k, nu);
    push(nu, k);
  }
  return hits / n;
}
