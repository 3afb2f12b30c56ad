// S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP 2023), as a
// reference model for the shared store's policy: a small FIFO (10% of the cache) that new keys
// enter, a main FIFO (90%), and a ghost FIFO of keys recently evicted from the small one. A hit
// only raises the key's 2-bit frequency (saturating): no list is reordered on a read, which is
// what lets readers in many threads share one policy without taking a lock. A key read again
// while in the small FIFO moves to main when it reaches the tail; a one-time key leaves through
// the ghost, so a scan of cold keys passes through 10% of the cache and never touches main.

/** A FIFO of keys with O(1) push and shift (a growable ring). */
class Fifo {
  constructor() {
    this.buf = new Int32Array(16);
    this.head = 0;
    this.size = 0;
  }
  push(k) {
    if (this.size === this.buf.length) {
      const b = new Int32Array(this.buf.length * 2);
      for (let i = 0; i < this.size; i++) b[i] = this.buf[(this.head + i) % this.buf.length];
      this.buf = b;
      this.head = 0;
    }
    this.buf[(this.head + this.size) % this.buf.length] = k;
    this.size++;
  }
  shift() {
    const k = this.buf[this.head];
    this.head = (this.head + 1) % this.buf.length;
    this.size--;
    return k;
  }
}

export class S3Fifo {
  /** @param capacity keys; @param moveAt frequency a small-FIFO key needs to move to main. */
  constructor(capacity, { smallShare = 0.1, moveAt = 1 } = {}) {
    this.capacity = capacity;
    this.smallCap = Math.max(1, Math.round(capacity * smallShare));
    this.moveAt = moveAt;
    this.small = new Fifo();
    this.main = new Fifo();
    this.ghost = new Fifo();
    this.ghostCap = capacity - this.smallCap;
    /** key -> freq (0..3) + 4 * queue (1 small, 2 main) */
    this.state = new Map();
    this.ghostSet = new Map(); // key -> copies in the ghost FIFO
  }
  get size() {
    return this.small.size + this.main.size;
  }
  /** One access; returns whether it hit. */
  access(k) {
    const st = this.state.get(k);
    if (st !== undefined) {
      if ((st & 3) < 3) this.state.set(k, st + 1);
      return true;
    }
    while (this.size >= this.capacity) this.evict();
    if (this.ghostSet.has(k)) {
      this.main.push(k);
      this.state.set(k, 8);
    } else {
      this.small.push(k);
      this.state.set(k, 4);
    }
    return false;
  }
  evict() {
    if (this.small.size >= this.smallCap || this.main.size === 0) this.evictSmall();
    else this.evictMain();
  }
  evictSmall() {
    while (this.small.size > 0) {
      const k = this.small.shift();
      const st = this.state.get(k);
      if ((st & 3) >= this.moveAt) {
        this.main.push(k);
        this.state.set(k, 8);
        if (this.main.size > this.capacity - this.smallCap) this.evictMain();
        continue;
      }
      this.state.delete(k);
      this.ghost.push(k);
      this.ghostSet.set(k, (this.ghostSet.get(k) ?? 0) + 1);
      while (this.ghost.size > this.ghostCap) {
        const g = this.ghost.shift();
        const c = this.ghostSet.get(g);
        if (c === 1) this.ghostSet.delete(g);
        else this.ghostSet.set(g, c - 1);
      }
      return;
    }
  }
  evictMain() {
    while (this.main.size > 0) {
      const k = this.main.shift();
      const st = this.state.get(k);
      if ((st & 3) > 0) {
        this.main.push(k);
        this.state.set(k, st - 1);
        continue;
      }
      this.state.delete(k);
      return;
    }
  }
}
