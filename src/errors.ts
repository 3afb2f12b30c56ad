/**
 * Every error the library throws is a {@link KeyshareError} with a stable `code`.
 *
 * Errors come in two layers:
 * - bad arguments (key, value, option, pattern) are detected before anything is written, so a
 *   throwing call has changed nothing;
 * - runtime conditions (arena full, store closed, lock timeout in `update`) name what ran out.
 *
 * Hot paths that the seed API documents as returning `false` (`set`/`delete` when a lock cannot
 * be taken in time, `release` by a non-owner) return it instead of throwing.
 */
export type ErrorCode =
  | 'ERR_KEYSHARE_INVALID_KEY'
  | 'ERR_KEYSHARE_INVALID_VALUE'
  | 'ERR_KEYSHARE_INVALID_OPTION'
  | 'ERR_KEYSHARE_INVALID_PATTERN'
  | 'ERR_KEYSHARE_STORE_CLOSED'
  | 'ERR_KEYSHARE_OUT_OF_MEMORY'
  | 'ERR_KEYSHARE_LOCK_TIMEOUT'
  | 'ERR_KEYSHARE_TOO_MANY_THREADS'
  | 'ERR_KEYSHARE_INCOMPATIBLE_ARENA'
  | 'ERR_KEYSHARE_CODEC'
  | 'ERR_KEYSHARE_KEY_NOT_FOUND'
  | 'ERR_KEYSHARE_CORRUPT_ARENA'
  | 'ERR_KEYSHARE_SYNC_WRITE'
  | 'ERR_KEYSHARE_REDIS';

export class KeyshareError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The key is not a non-empty string of at most {@link MAX_KEY_LENGTH} UTF-16 code units. */
export class InvalidKeyError extends KeyshareError {
  constructor(message: string) {
    super('ERR_KEYSHARE_INVALID_KEY', message);
  }
}

/** The value cannot be stored (undefined, a function, a symbol, or not serialisable). */
export class InvalidValueError extends KeyshareError {
  constructor(message: string) {
    super('ERR_KEYSHARE_INVALID_VALUE', message);
  }
}

/** An option has the wrong type or is out of range; the message names the option. */
export class InvalidOptionError extends KeyshareError {
  constructor(message: string) {
    super('ERR_KEYSHARE_INVALID_OPTION', message);
  }
}

/** A `/regex/` pattern does not compile, or a pattern is neither a string nor a RegExp. */
export class InvalidPatternError extends KeyshareError {
  constructor(message: string) {
    super('ERR_KEYSHARE_INVALID_PATTERN', message);
  }
}

/** The store instance was closed with `close()` in this thread. */
export class StoreClosedError extends KeyshareError {
  constructor(storeName: string) {
    super('ERR_KEYSHARE_STORE_CLOSED', `store "${storeName}" is closed in this thread; call createStore("${storeName}") again`);
  }
}

/** The arena reached its configured `maxMemory`; the write was not applied. */
export class OutOfMemoryError extends KeyshareError {
  readonly requested: number;
  readonly limit: number;
  constructor(requested: number, limit: number) {
    super(
      'ERR_KEYSHARE_OUT_OF_MEMORY',
      `shared arena is full: ${requested} more bytes were needed but maxMemory is ${limit} bytes ` +
        `(raise it with configure({ maxMemory }) or NATIVE_KEYSHARE_MAX_MEMORY, or delete keys)`,
    );
    this.requested = requested;
    this.limit = limit;
  }
}

/** `update()` could not take the key's lock within its timeout. */
export class LockTimeoutError extends KeyshareError {
  readonly storeName: string;
  readonly key: string;
  readonly timeoutMs: number;
  constructor(storeName: string, key: string, timeoutMs: number) {
    super(
      'ERR_KEYSHARE_LOCK_TIMEOUT',
      `could not lock key ${quote(key)} of store "${storeName}" within ${timeoutMs} ms: another thread holds it ` +
        '(a longer options.timeout waits longer; a thread that never releases a lock it took keeps the key locked)',
    );
    this.storeName = storeName;
    this.key = key;
    this.timeoutMs = timeoutMs;
  }
}

/** More threads use the library at once than the thread table has slots for. */
export class TooManyThreadsError extends KeyshareError {
  constructor(max: number) {
    super('ERR_KEYSHARE_TOO_MANY_THREADS', `more than ${max} threads use native-keyshare at once`);
  }
}

/** The arena found in this process was made by an incompatible version of the library. */
export class IncompatibleArenaError extends KeyshareError {
  constructor(message: string) {
    super('ERR_KEYSHARE_INCOMPATIBLE_ARENA', message);
  }
}

/** A stored value could not be decoded (for example, msgpackr is needed but not installed). */
export class CodecError extends KeyshareError {
  constructor(message: string) {
    super('ERR_KEYSHARE_CODEC', message);
  }
}

/**
 * A call that changes part of a fixed-layout record (`add`, `compareExchange`, `setFields`, a
 * record view's field) found no record under the key: there is nothing to change in place.
 */
export class KeyNotFoundError extends KeyshareError {
  readonly key: string;
  constructor(storeName: string, key: string) {
    super('ERR_KEYSHARE_KEY_NOT_FOUND', `store "${storeName}" holds no record under key "${key}" (set the whole record first)`);
    this.key = key;
  }
}

/**
 * Shared memory holds something no correct write leaves there: an entry whose value reference
 * points outside the arena, stable under the read protocol (not a race with a writer, which a
 * retry would resolve). Something overwrote the arena; the process should not trust it.
 */
export class CorruptArenaError extends KeyshareError {
  /** Unit ref of the entry that led outside the arena. */
  readonly ref: number;
  constructor(ref: number) {
    super('ERR_KEYSHARE_CORRUPT_ARENA', `native-keyshare: entry at unit ${ref} points outside the arena (corrupted shared memory)`);
    this.ref = ref;
  }
}

/**
 * A synchronous write (`set`, `delete`, `clear`, `update`, ...) on a store backed by Redis: it
 * would change the local tier only, and the next invalidation would undo it. The message names
 * the awaited method that writes through (`put`, `del`).
 */
export class SyncWriteError extends KeyshareError {
  constructor(storeName: string, method: string, instead: string) {
    super('ERR_KEYSHARE_SYNC_WRITE', `store "${storeName}" is backed by Redis: ${method}() would change only this process's copy; use ${instead}, which writes Redis first`);
  }
}

/**
 * The Redis tier failed: the `redis` package is not installed, or a Redis command failed (the
 * original error is `cause`).
 */
export class RedisError extends KeyshareError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_KEYSHARE_REDIS', message);
    if (options !== undefined && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** How many characters of a received string an error message quotes. */
const QUOTED_CHARS = 60;

/** A string in double quotes (JSON escapes), cut after QUOTED_CHARS characters. */
export function quote(text: string): string {
  return text.length > QUOTED_CHARS ? `${JSON.stringify(text.slice(0, QUOTED_CHARS)).slice(0, -1)}…" (length ${text.length})` : JSON.stringify(text);
}

/**
 * A received value as error messages show it: its type, and its value when that is short, so
 * that `"100"` (a string) and `100` (a number) read differently: `the string "100"`,
 * `the number -1`, `an array of length 2`, `null`.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `the string ${quote(value)}`;
    case 'number':
      return `the number ${Object.is(value, -0) ? '-0' : String(value)}`;
    case 'boolean':
      return `the boolean ${String(value)}`;
    case 'bigint':
      return `the bigint ${String(value)}n`;
    case 'undefined':
      return 'undefined';
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (value === null) return 'null';
      if (Array.isArray(value)) return `an array of length ${value.length}`;
      if (value instanceof RegExp) return `the RegExp ${String(value)}`;
      {
        const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
        return typeof name === 'string' && name !== 'Object' && name !== '' ? `an object (${name})` : 'an object';
      }
  }
}
