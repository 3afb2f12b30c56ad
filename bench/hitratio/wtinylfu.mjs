// W-TinyLFU (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy",
// and Caffeine's design), as a reference model: a window LRU (1% of the cache) that new keys
// enter, a segmented-LRU main (80% protected, 20% probation), and a count-min sketch of 4-bit
// counters that is halved every 10 × capacity accesses. A key leaving the window is admitted to
// main only if the sketch counts it more often than main's victim, so a one-time scan never
// displaces keys that are read often, and a loop larger than the cache keeps a stable part of
// itself. Every hit reorders an LRU list: the shared store would replay hits from per-thread
// buffers under its policy lock, as Caffeine does.

class Sketch {
  constructor(capacity) {
    let width = 1;
    while (width < capacity * 4) width <<= 1;
    this.mask = width - 1;
    this.rows = [new Uint8Array(width), new Uint8Array(width), new Uint8Array(width), new Uint8Array(width)];
    this.samples = 0;
    this.resetAt = 10 * capacity;
  }
  hash(k, i) {
    let h = Math.imul(k ^ (0x9e3779b9 * (i + 1)), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return (h ^ (h >>> 16)) & this.mask;
  }
  add(k) {
    for (let i = 0; i < 4; i++) {
      const row = this.rows[i];
      const j = this.hash(k, i);
      if (row[j] < 15) row[j]++;
    }
    if (++this.samples >= this.resetAt) {
      for (const row of this.rows) for (let j = 0; j < row.length; j++) row[j] >>= 1;
      this.samples >>= 1;
    }
  }
  count(k) {
    let m = 15;
    for (let i = 0; i < 4; i++) m = Math.min(m, this.rows[i][this.hash(k, i)]);
    return m;
  }
}

/** An LRU list of keys over a Map (insertion order = recency; re-insert to touch). */
class Lru {
  constructor() {
    this.m = new Map();
  }
  get size() {
    return this.m.size;
  }
  has(k) {
    return this.m.has(k);
  }
  touch(k) {
    this.m.delete(k);
    this.m.set(k, 1);
  }
  add(k) {
    this.m.set(k, 1);
  }
  delete(k) {
    this.m.delete(k);
  }
  /** The least recently used key. */
  oldest() {
    return this.m.keys().next().value;
  }
}

export class WTinyLfu {
  constructor(capacity, { windowShare = 0.01 } = {}) {
    this.windowCap = Math.max(1, Math.round(capacity * windowShare));
    this.mainCap = capacity - this.windowCap;
    this.protectedCap = Math.round(this.mainCap * 0.8);
    this.window = new Lru();
    this.probation = new Lru();
    this.protected = new Lru();
    this.sketch = new Sketch(capacity);
  }
  access(k) {
    this.sketch.add(k);
    if (this.window.has(k)) {
      this.window.touch(k);
      return true;
    }
    if (this.probation.has(k)) {
      this.probation.delete(k);
      this.protected.add(k);
      if (this.protected.size > this.protectedCap) {
        const d = this.protected.oldest();
        this.protected.delete(d);
        this.probation.add(d);
      }
      return true;
    }
    if (this.protected.has(k)) {
      this.protected.touch(k);
      return true;
    }
    this.window.add(k);
    if (this.window.size > this.windowCap) {
      const candidate = this.window.oldest();
      this.window.delete(candidate);
      if (this.probation.size + this.protected.size < this.mainCap) this.probation.add(candidate);
      else {
        const victim = this.probation.size > 0 ? this.probation.oldest() : this.protected.oldest();
        if (this.sketch.count(candidate) > this.sketch.count(victim)) {
          (this.probation.has(victim) ? this.probation : this.protected).delete(victim);
          this.probation.add(candidate);
        }
      }
    }
    return false;
  }
}
