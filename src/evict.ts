/**
 * Eviction: removing the keys a bounded store's policy (policy.ts) chooses, under the store
 * lock of the insert or write that needs the room. What the policy decides is there; what
 * removing a victim does to the entry, its value and the index is here, and it is a delete's
 * work (write.ts, removeEntry) with the store lock already held and the entry lock taken by
 * the policy's try-lock, limbo-recorded the same way, so that the recovery of a thread killed
 * mid-eviction is the recovery of a delete (threads.ts). The last victim of an insert may be
 * kept for the new key (`spare`) instead of being freed.
 */
import { arena } from './arena';
import { free } from './allocator';
import { remove } from './keyindex';
import { BLOCK, ENTRY, STORE, THREAD } from './layout';
import { release } from './locks';
import { nextVictim, overBound, policyOf, unlinked, victimHash } from './policy';
import { type Ref, type Word, wordOf } from './ref';
import { add64 } from './stats';
import { myWord } from './threads';
import { clearValue, withStoreLock } from './write';

/**
 * An evicted entry kept for the insert that evicted it (evictWhileOver's `reuseClass`): unlinked,
 * GEN odd, value cleared, lock released, and recorded in this thread's PENDING_LIMBO, exactly as
 * a block alloc() just returned for an insert would be, so that recovery frees it the same way
 * if the thread dies before the insert publishes it. Reusing it spares the allocator's lock
 * twice (the free, then the alloc of a block of the same class).
 */
let spare = 0 as Ref;

/** The entry evictWhileOver kept for this thread's insert (0: none); the caller owns it now. */
export function takeSpare(): Ref {
  const r = spare;
  spare = 0 as Ref;
  return r;
}

/**
 * Evicts from bounded store `store` (its lock held; policy area `p`) until `more` more values of
 * `moreBytes` bytes fit, or no key can go (every key locked). Returns how many it evicted. With
 * `reuseClass` (an entry size class, for an insert), the last victim, if its block is of that
 * class, is not freed but left in `spare` for the insert.
 */
export function evictWhileOver(p: Word, store: Ref, more: number, moreBytes: number, reuseClass = -1): number {
  let n = 0;
  while (overBound(p, store, more, moreBytes)) {
    const victim = nextVictim(p, store);
    if (victim === 0) break;
    evictLocked(p, store, victim, victimHash);
    n++;
    // Kept only when it is the last one: PENDING_LIMBO records one entry, and the next eviction
    // would write its own there.
    if (reuseClass >= 0 && (arena.i32[wordOf(victim) + BLOCK.HDR] & 0xff) === reuseClass && !overBound(p, store, more, moreBytes)) {
      spare = victim;
      break;
    }
    free(victim, myWord + THREAD.PENDING_LIMBO);
  }
  if (n !== 0) add64(arena.i32, wordOf(store) + STORE.EVICTIONS, n);
  return n;
}

/**
 * After a write that may have passed a bounded store's bound without inserting (a lock
 * placeholder given a value, a value grown in place of a smaller one): evicts until it holds.
 * The caller may hold an entry lock (the policy passes over locked keys), never the store's.
 */
export function settle(store: Ref): void {
  const p = policyOf(store);
  if (p === 0 || !overBound(p, store, 0, 0)) return;
  withStoreLock(store, () => evictWhileOver(p, store, 0, 0));
}

/**
 * removeEntry with the store lock held and the entry's lock taken by the policy, up to the free
 * (the caller frees or keeps it): the value is unpublished (readers see SEQ move, hot readers
 * the write epoch), the key unlinked, GEN made odd. Limbo-recorded as removeEntry does.
 */
function evictLocked(p: Word, store: Ref, ref: Ref, hash: number): void {
  const e = wordOf(ref);
  arena.i32[myWord + THREAD.PENDING_STORE] = store;
  arena.i32[myWord + THREAD.PENDING_LIMBO] = ref;
  clearValue(store, ref);
  remove(store, ref, hash);
  unlinked(p, ref);
  Atomics.add(arena.i32, e + ENTRY.GEN, 1);
  release(arena.i32, e + ENTRY.LOCK);
}
