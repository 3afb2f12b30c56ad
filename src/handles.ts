/**
 * This thread's open store handles: the table createStore returns the same handle from (by name
 * and options), the sweep timer over the handles that wrote TTLs, and dropping every handle's
 * cached entry refs when ENTRY_EPOCH moves (seqlock.ts).
 */
import { onEntryEpochMoved } from './seqlock';
import { type Store } from './store';

/** Handles by instanceKey: one per name and options in a thread. */
export const instances = new Map<string, Store<unknown>>();

/** The key of a handle in `instances`. */
export function instanceKey(name: string, hot: boolean, schema: string | null, cacheLimit: number): string {
  return `${name}\u0000${hot ? `hot${cacheLimit}` : ''}\u0000${schema ?? ''}`;
}

// Slabs were retired: no handle may keep a ref from before (seqlock.ts, syncEntryEpoch).
onEntryEpochMoved(() => {
  for (const s of instances.values()) s.dropCachedRefs();
});

const sweepable = new Set<Store<unknown>>();
let sweepTimer: ReturnType<typeof setInterval> | undefined;

/** An unref'd timer reclaims expired entries of the stores this thread writes TTLs to. */
export function scheduleSweep(store: Store<unknown>): void {
  sweepable.add(store);
  if (sweepTimer !== undefined) return;
  sweepTimer = setInterval(() => {
    for (const s of sweepable) {
      if (s.closed) sweepable.delete(s);
      else s.sweepExpired(Infinity);
    }
  }, 1000);
  sweepTimer.unref();
}

/** Forgets a closed handle: createStore makes a new one, and the timer no longer sweeps it. */
export function forgetHandle(store: Store<unknown>): void {
  sweepable.delete(store);
  for (const [k, v] of instances) if (v === store) instances.delete(k);
}
