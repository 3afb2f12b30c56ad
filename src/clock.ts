/**
 * The clock TTL deadlines are measured with: epoch milliseconds, which every thread of the
 * process agrees on, so a deadline written by one thread means the same instant to all.
 *
 * Replaceable per thread (`configure({ clock })`) so that tests can move time exactly; a
 * replaced clock must still return epoch milliseconds if other threads share the store.
 */
export let now: () => number = Date.now;

export function setClock(clock: (() => number) | undefined): void {
  now = clock ?? Date.now;
}
