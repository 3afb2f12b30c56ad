/**
 * The Keyv adapter: a native-keyshare store as the storage of Keyv 5, and through it of the
 * libraries built on Keyv (cache-manager 7, cacheable 2), so that their in-process tier is one
 * copy shared by every worker thread instead of a Map per thread.
 *
 * Keyv owns the value format: it serializes `{ value, expires }` itself (a string with its
 * default serializer), checks `expires` on every read, and prefixes keys with
 * `${namespace}:`. The adapter stores what Keyv hands it as it is, under the prefixed key,
 * and gives a TTL to the store as well, so that expired keys are reclaimed in shared memory
 * and not only hidden by Keyv. It needs nothing from Keyv at run time (Keyv recognises an
 * adapter by its methods), so `keyv` is not a dependency of this package.
 *
 * Every method answers synchronously underneath (the store never waits for I/O); the
 * promises are for Keyv's interface. Errors (a full arena, a value the codecs refuse) reject
 * the call; Keyv turns a rejection into its own 'error' event, so the adapter does not also
 * emit one, which Keyv would forward a second time.
 */
import { EventEmitter } from 'node:events';
import { InvalidOptionError } from './errors';
import { createStore } from './registry';
import type { Store } from './store';

/** Options of {@link KeyvNativeKeyshare}. */
export interface KeyvNativeKeyshareOptions {
  /** The native-keyshare store to keep Keyv's entries in (default `'keyv'`). */
  store?: string;
}

/** One entry of Keyv's `setMany`: a prefixed key, the serialized value, a TTL in ms. */
interface KeyvEntry {
  key: string;
  value: unknown;
  ttl?: number;
}

const REGEXP_SPECIAL = /[\\^$.*+?()[\]{}|/-]/g;

/**
 * A Keyv storage adapter over a native-keyshare store:
 *
 * ```js
 * const keyv = new Keyv({ store: new KeyvNativeKeyshare({ store: 'sessions' }) });
 * ```
 *
 * Every thread that makes a `KeyvNativeKeyshare` over the same store name shares its entries.
 */
export class KeyvNativeKeyshare extends EventEmitter {
  /** Set by Keyv: the prefix of this Keyv instance's keys; `clear()` clears only those. */
  namespace: string | undefined;
  /** What Keyv reads from adapters: the dialect names the storage. */
  readonly opts: { dialect: 'native-keyshare'; url: string; store: string };
  private readonly data: Store<unknown>;

  constructor(options: KeyvNativeKeyshareOptions | string = {}) {
    super();
    const o = typeof options === 'string' ? { store: options } : options;
    if (o === null || typeof o !== 'object') throw new InvalidOptionError(`KeyvNativeKeyshare needs a store name or { store }, got ${o === null ? 'null' : typeof o}`);
    const name = o.store ?? 'keyv';
    this.data = createStore(name);
    this.opts = { dialect: 'native-keyshare', url: `native-keyshare://${name}`, store: name };
  }

  /** The native-keyshare store underneath (for stats, or to read it without Keyv). */
  get store(): Store<unknown> {
    return this.data;
  }

  async get(key: string): Promise<unknown> {
    return this.data.get(key);
  }

  async getMany(keys: string[]): Promise<unknown[]> {
    return this.data.getMany(keys);
  }

  /** `ttl` in milliseconds, as Keyv gives it (the store's own TTLs are in seconds). */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    return this.data.set(key, value, ttlOption(ttl));
  }

  async setMany(entries: KeyvEntry[]): Promise<boolean[]> {
    return entries.map((e) => this.data.set(e.key, e.value, ttlOption(e.ttl)));
  }

  async delete(key: string): Promise<boolean> {
    return this.data.delete(key, { literal: true });
  }

  /** True when every key held a value (Keyv's contract for deleteMany). */
  async deleteMany(keys: string[]): Promise<boolean> {
    return this.data.deleteMany(keys) === keys.length;
  }

  async has(key: string): Promise<boolean> {
    return this.data.has(key);
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    return keys.map((k) => this.data.has(k));
  }

  /** Deletes this namespace's keys (every key when there is no namespace). */
  async clear(): Promise<void> {
    if (this.namespace === undefined || this.namespace === '') this.data.clear();
    else this.data.delete(this.namespaceKeys(this.namespace));
  }

  /** Entries `[key, raw value]` of `namespace` (of every namespace when undefined), for Keyv's iterator. */
  async *iterator(namespace?: string): AsyncGenerator<[string, unknown], void> {
    const keys = namespace === undefined ? this.data.listKeys() : this.data.listKeys(this.namespaceKeys(namespace));
    for (const key of keys) {
      const value = this.data.get(key);
      if (value !== undefined) yield [key, value];
    }
  }

  /** Nothing to close: the data stays in shared memory for the other threads. */
  async disconnect(): Promise<void> {}

  private namespaceKeys(namespace: string): RegExp {
    return new RegExp(`^${namespace.replace(REGEXP_SPECIAL, '\\$&')}:`);
  }
}

function ttlOption(ttl: number | undefined): { ttl: number } | undefined {
  // Keyv passes undefined for none; 0 and negatives mean none as well.
  return typeof ttl === 'number' && ttl > 0 && Number.isFinite(ttl) ? { ttl: ttl / 1000 } : undefined;
}
