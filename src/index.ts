/**
 * native-keyshare: named key-value stores shared by every worker thread of a Node.js process
 * through one SharedArrayBuffer, with lock-free reads.
 *
 * Loading this module attaches the thread to the process's arena (creating it in the first
 * thread), so `createStore` works synchronously in any thread, at a worker's first line.
 */
import { parseBytes } from './arena';
import { freeSpace, setLimit, usage } from './allocator';
import { setClock } from './clock';
import { codecName } from './codec';
import { InvalidOptionError } from './errors';
import { liveThreadCount } from './threads';

export { createStore, listStores } from './registry';
export { Store } from './store';
import { readRetryCount } from './seqlock';
export type { SetOptions, DeleteOptions, StoreOptions, IntegerField, RedisOptions } from './options';
export { RedisStore } from './near-cache';
export type { PutOptions } from './near-cache';
export type { StoreStats } from './stats';
export type { DumpedEntry } from './cache-read';
export type { FetchOptions, Loader, LoaderContext } from './fetch';
export type { Pattern } from './patterns';
export { RecordView } from './view';
export { layoutRecord } from './records';
export type { RecordLayout, RecordField, RecordFieldSpec, FieldType, ScalarType, AtomicType } from './records';

// ── Schema field types for codegen: plain numbers and strings at run time; the generator maps
// them to fixed-size record fields (see codegen/README.md).
/** A 32-bit signed integer field. */
export type Int32 = number;
/** A 32-bit unsigned integer field. */
export type Uint32 = number;
/** A 16-bit signed integer field. */
export type Int16 = number;
/** A 16-bit unsigned integer field. */
export type Uint16 = number;
/** An 8-bit signed integer field. */
export type Int8 = number;
/** An 8-bit unsigned integer field. */
export type Uint8 = number;
/** A string field of at most N UTF-8 bytes. */
// eslint-disable-next-line @typescript-eslint/no-unused-vars
export type FixedString<N extends number> = string;
export {
  KeyshareError,
  InvalidKeyError,
  InvalidValueError,
  InvalidOptionError,
  InvalidPatternError,
  StoreClosedError,
  OutOfMemoryError,
  LockTimeoutError,
  TooManyThreadsError,
  IncompatibleArenaError,
  CodecError,
  KeyNotFoundError,
  CorruptArenaError,
  SyncWriteError,
  RedisError,
} from './errors';
export type { ErrorCode } from './errors';
export { MAX_KEY_LENGTH, MAX_THREADS } from './layout';
export { verify } from './verify';
export { KeyvNativeKeyshare } from './keyv';
export type { KeyvNativeKeyshareOptions } from './keyv';
export type { VerifyReport, VerifyProblem, ProblemKind } from './verify';

/** Process-wide settings; see {@link configure}. */
export interface ConfigureOptions {
  /**
   * Upper bound of the shared arena in bytes (a number, or a string such as "512mb"), for every
   * thread. Writes that would need more throw OutOfMemoryError. Default 1 GiB, or the
   * NATIVE_KEYSHARE_MAX_MEMORY environment variable of the thread that created the arena;
   * at most 4 GiB.
   */
  maxMemory?: number | string;
  /**
   * The clock TTL deadlines use in *this thread*: epoch milliseconds. For tests; pass
   * `undefined` to restore Date.now.
   */
  clock?: (() => number) | undefined;
}

/** Changes process-wide settings. */
export function configure(options: ConfigureOptions): void {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('configure() needs an options object');
  for (const k in options) if (k !== 'maxMemory' && k !== 'clock') throw new InvalidOptionError(`unknown option "${k}" (known: maxMemory, clock)`);
  if (options.maxMemory !== undefined) {
    const bytes = parseBytes(options.maxMemory, 'options.maxMemory');
    if (bytes > 2 ** 32) throw new InvalidOptionError(`options.maxMemory must be at most 4 GiB, got ${bytes}`);
    setLimit(bytes);
  }
  if ('clock' in options) {
    if (options.clock !== undefined && typeof options.clock !== 'function') throw new InvalidOptionError('options.clock must be a function returning epoch milliseconds');
    setClock(options.clock);
  }
}

/** Process-wide figures: memory of the shared arena, threads attached, codec of this thread. */
export function arenaStats(): {
  bytesInUse: number;
  bytesReserved: number;
  maxMemory: number;
  threads: number;
  codec: 'msgpackr' | 'v8';
  /** Lock-free reads by this thread that had to start over because a writer republished. */
  readRetries: number;
  /** Bytes still free up to maxMemory: freed blocks and never-used space. */
  freeBytes: number;
  /**
   * The largest free part in one piece, in bytes: about the largest value a `set` can store
   * now (less its 8-16 byte header and size-class rounding, at most a fifth). When it is far
   * below `freeBytes`, memory is fragmented. Computed by a walk over the arena's blocks.
   */
  largestFreeBytes: number;
} {
  const u = usage();
  const f = freeSpace();
  return {
    bytesInUse: u.bytesInUse,
    bytesReserved: u.bytesReserved,
    maxMemory: u.maxMemory,
    threads: liveThreadCount(),
    codec: codecName,
    readRetries: readRetryCount(),
    freeBytes: f.freeBytes,
    largestFreeBytes: f.largestFreeBytes,
  };
}
