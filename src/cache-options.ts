/**
 * The cache options of a store (`max`, `maxSize`, `ttl`, `staleWhileRevalidate`): their checks and
 * the CacheShape they make, which is part of the store's schema in shared memory (schema.ts), so
 * that every handle of the store in every thread bounds, expires and revalidates it alike.
 */
import { parseBytes } from './arena';
import { describeValue, InvalidOptionError } from './errors';

/** What the cache options of createStore make of a store; kept in its SCHEMA block. */
export interface CacheShape {
  /** At most this many keys once writes settle (0: no bound). */
  readonly max: number;
  /** Bound on the encoded bytes of the store's values (0: no bound). */
  readonly maxSize: number;
  /** Default time to live of set() and fetch(), in seconds (0: none). */
  readonly ttl: number;
  /** Seconds after expiry during which fetch() serves the stale value while it refreshes it (0: none). */
  readonly staleWhileRevalidate: number;
}

/** The cache options createStore takes; see StoreOptions for their documentation. */
export interface CacheOptions {
  max?: number;
  maxSize?: number | string;
  ttl?: number;
  staleWhileRevalidate?: number;
}

export const CACHE_OPTIONS = ['max', 'maxSize', 'ttl', 'staleWhileRevalidate'] as const;

/**
 * Largest `max`: an entry ref has 29 bits (layout.ts, BUCKET_REF_MASK) and every entry takes at
 * least 32 bytes, so no arena holds more keys than this.
 */
export const MAX_KEYS = 2 ** 27;
/** Largest `maxSize`: the store's byte count is one Int32 word (policy.ts, POLICY.BYTES). */
export const MAX_SIZE_BYTES = 2 ** 31 - 1;
/** Longest ttl / staleWhileRevalidate in seconds: 100 years (deadlines stay far below 2^53 ms). */
const MAX_SECONDS = 100 * 365 * 86400;

function seconds(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_SECONDS) {
    throw new InvalidOptionError(`${what} must be a number of seconds from 0 to ${MAX_SECONDS} (lru-cache counts milliseconds: divide by 1000), got ${describeValue(value)}`);
  }
  return value;
}

/** The CacheShape of createStore options, or null when they set no cache option. */
export function parseCacheOptions(o: CacheOptions): CacheShape | null {
  if (o.max === undefined && o.maxSize === undefined && o.ttl === undefined && o.staleWhileRevalidate === undefined) return null;
  let max = 0;
  if (o.max !== undefined) {
    if (!Number.isSafeInteger(o.max) || o.max < 1 || o.max > MAX_KEYS) throw new InvalidOptionError(`options.max must be an integer from 1 to ${MAX_KEYS} (the most keys the store keeps), got ${describeValue(o.max)}`);
    max = o.max;
  }
  let maxSize = 0;
  if (o.maxSize !== undefined) {
    maxSize = parseBytes(o.maxSize, 'options.maxSize');
    if (maxSize > MAX_SIZE_BYTES) throw new InvalidOptionError(`options.maxSize must be at most ${MAX_SIZE_BYTES} bytes (2 GiB), got ${describeValue(o.maxSize)}`);
  }
  const ttl = o.ttl === undefined ? 0 : seconds(o.ttl, 'options.ttl');
  const staleWhileRevalidate = o.staleWhileRevalidate === undefined ? 0 : seconds(o.staleWhileRevalidate, 'options.staleWhileRevalidate');
  return { max, maxSize, ttl, staleWhileRevalidate };
}

/** Whether a store of this shape evicts (has a bound), and so keeps a policy area. */
export function isBounded(shape: CacheShape | null): boolean {
  return shape !== null && (shape.max !== 0 || shape.maxSize !== 0);
}
