/**
 * The link to Redis of the Redis tier (near-cache.ts): the `redis` package (node-redis 5, an
 * optional peer dependency) loaded on first use, the options of a Redis-backed store, this
 * thread's data connection per server, and the framing of values in Redis.
 *
 * Framing: a value in Redis is `0xC1, FORMAT, tag, bytes…`, where tag and bytes are exactly
 * what the default codec stores locally (codec.ts: numbers, strings, msgpackr, v8; never a
 * store's learned structures or records, whose ids mean something only in one arena). 0xC1 is
 * the one byte msgpack never uses and can begin no UTF-8 text, so a value some other program
 * wrote (a JSON string, a counter) is told apart before anything decodes it, and reported as a
 * CodecError naming the key rather than decoded as garbage.
 */
import { CodecError, InvalidOptionError, RedisError, describeValue, quote } from './errors';
import { decode, Tag } from './codec';
import type { RedisOptions } from './options';

/** The first byte of every value this library writes to Redis. */
const MAGIC = 0xc1;
/** The framing's version: a reader refuses a format it does not know. */
const FORMAT = 1;
/** Bytes before the codec's bytes: MAGIC, FORMAT, tag. */
export const FRAME_HEADER = 3;
const DEFAULT_MAX_LOCAL_TTL_S = 300;

/** The parts of node-redis this module uses (the package's own types are not a dependency). */
export interface RedisClient {
  connect(): Promise<unknown>;
  sendCommand(args: (string | Buffer)[]): Promise<unknown>;
  on(event: string, listener: (...args: any[]) => void): unknown;
  destroy(): void;
  unref(): void;
  readonly isReady: boolean;
}
interface RedisModule {
  createClient(options: Record<string, unknown>): RedisClient & { withTypeMapping(m: Record<number, unknown>): RedisClient };
  RESP_TYPES: { BLOB_STRING: number };
}

let redisModule: RedisModule | null = null;

/** node-redis, loaded on the first Redis-backed store, with an error that says how to get it. */
export function loadRedis(): RedisModule {
  if (redisModule !== null) return redisModule;
  try {
    redisModule = require('redis') as RedisModule;
  } catch (error) {
    throw new RedisError('a store with options.redis needs the "redis" package (node-redis 5 or later), which is not installed: npm install redis', { cause: error });
  }
  return redisModule;
}

/** A Redis-backed store's options, checked (see {@link RedisOptions}). */
export interface RedisConfig {
  url: string;
  prefix: string;
  maxLocalTtl: number;
  /** Canonical text: handles of one store must agree on it (near-cache.ts). */
  text: string;
}

export function parseRedisOptions(name: string, o: RedisOptions, schema: string | null): RedisConfig {
  if (o === null || typeof o !== 'object') throw new InvalidOptionError(`options.redis must be an object { url, prefix }, got ${describeValue(o)}`);
  for (const k in o) if (k !== 'url' && k !== 'prefix' && k !== 'maxLocalTtl') throw new InvalidOptionError(`unknown option "redis.${k}" (known: url, prefix, maxLocalTtl)`);
  if (typeof o.url !== 'string' || !/^rediss?:\/\//.test(o.url)) throw new InvalidOptionError(`options.redis.url must be a redis:// or rediss:// URL, got ${describeValue(o.url)}`);
  if (typeof o.prefix !== 'string' || o.prefix.length === 0) throw new InvalidOptionError(`options.redis.prefix must be a non-empty string (the store's keys in Redis start with it), got ${describeValue(o.prefix)}`);
  const ttl = o.maxLocalTtl ?? DEFAULT_MAX_LOCAL_TTL_S;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) throw new InvalidOptionError(`options.redis.maxLocalTtl must be a number of seconds > 0, got ${describeValue(ttl)}`);
  // The cache options (max, maxSize, ttl) are part of the schema text too, and welcome.
  const shape = schema === null ? null : (JSON.parse(schema) as { record: unknown; structures: unknown });
  if (shape !== null && (shape.record !== null || shape.structures !== null)) {
    throw new InvalidOptionError(`store "${name}": options.redis cannot be combined with options.record or options.structures (their bytes mean something only in this process)`);
  }
  return { url: o.url, prefix: o.prefix, maxLocalTtl: ttl, text: JSON.stringify([o.url, o.prefix, ttl]) };
}

/** This thread's data connections, by URL: one per server, shared by the thread's stores. */
const dataClients = new Map<string, Promise<RedisClient>>();

/**
 * This thread's data connection to `url` (RESP2, values as Buffers), connected on first use.
 * Commands issued while it reconnects wait in node-redis's offline queue.
 */
export function dataClient(url: string): Promise<RedisClient> {
  let p = dataClients.get(url);
  if (p === undefined) {
    const redis = loadRedis();
    const raw = redis.createClient({ url, name: 'native-keyshare:data' });
    // node-redis reconnects by itself; an 'error' without a listener would crash the thread.
    raw.on('error', () => {});
    const client = raw.withTypeMapping({ [redis.RESP_TYPES.BLOB_STRING]: Buffer });
    p = raw.connect().then(
      () => client,
      (error: unknown) => {
        dataClients.delete(url);
        raw.destroy();
        throw new RedisError(`cannot connect to Redis at ${url}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
      },
    );
    dataClients.set(url, p);
  }
  return p;
}

/** Closes this thread's data connections (the stores' close() calls it when it closed the last one). */
export function closeDataClients(): void {
  for (const p of dataClients.values()) p.then((c) => c.destroy(), () => {});
  dataClients.clear();
}

/** The Redis value of codec output `tag`, `bytes[offset, offset + length)`. */
export function frame(tag: number, bytes: Uint8Array, offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + length);
  out[0] = MAGIC;
  out[1] = FORMAT;
  out[2] = tag;
  out.set(bytes.subarray(offset, offset + length), FRAME_HEADER);
  return out;
}

/** Tags a frame may carry: the default codec's (see the module comment). */
function portableTag(tag: number): boolean {
  return tag >= Tag.Number && tag <= Tag.String;
}

/** Whether `buf` is a frame this library writes (checked as unframe checks it, without decoding). */
export function isFrame(buf: unknown): buf is Buffer {
  return Buffer.isBuffer(buf) && buf.length >= FRAME_HEADER && buf[0] === MAGIC && buf[1] === FORMAT && portableTag(buf[2]);
}

/** The bytes of `redisKey` in Redis (null: absent), on this thread's data connection to `url`. */
export async function readRemote(url: string, name: string, redisKey: string): Promise<Buffer | null> {
  const client = await dataClient(url);
  try {
    return ((await (client as unknown as { get(k: string): Promise<Buffer | null> }).get(redisKey)) ?? null) as Buffer | null;
  } catch (error) {
    throw new RedisError(`store "${name}": GET ${redisKey} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
}

/**
 * The value of a frame read from Redis key `redisKey` (key `key` of store `name`). Throws a
 * CodecError naming the key when the bytes are not a frame this library wrote, or do not decode.
 */
export function unframe(buf: Buffer, name: string, key: string, redisKey: string): unknown {
  const where = `store "${name}": the value of key ${quote(key)} in Redis (${quote(redisKey)})`;
  if (!Buffer.isBuffer(buf)) throw new CodecError(`${where} is not a string value (${describeValue(buf)})`);
  if (buf.length < FRAME_HEADER || buf[0] !== MAGIC) {
    throw new CodecError(`${where} was not written by native-keyshare (${buf.length} bytes starting ${JSON.stringify(buf.subarray(0, 8).toString('latin1'))}); write it with store.put(), or keep other data under another prefix`);
  }
  if (buf[1] !== FORMAT) throw new CodecError(`${where} has framing version ${buf[1]}, which this version of native-keyshare does not read (it reads ${FORMAT})`);
  if (!portableTag(buf[2])) throw new CodecError(`${where} has codec tag ${buf[2]}, which is not one the Redis tier writes`);
  try {
    return decode(buf[2], buf.subarray(FRAME_HEADER), buf.length - FRAME_HEADER);
  } catch (error) {
    throw new CodecError(`${where} does not decode: ${(error as Error)?.message ?? String(error)}`);
  }
}
