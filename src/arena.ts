/**
 * The arena: the one growable SharedArrayBuffer of the process, and this thread's views of it.
 *
 * Finding it (`attach`), in order:
 * 1. `worker_threads.getEnvironmentData(ENV_KEY)`: the arena published by the thread that started
 *    this one (or by this thread earlier). Available synchronously at a worker's first line.
 * 2. In a worker that did not inherit one (it was started before any thread loaded the library),
 *    ask the other threads on a BroadcastChannel and drain their replies synchronously with
 *    `receiveMessageOnPort`, sleeping in `Atomics.wait` between polls.
 * 3. Otherwise create a new arena.
 * The thread then publishes the arena with `setEnvironmentData`, so every worker it starts
 * afterwards (and their nested workers) inherits it, and answers requests on the channel.
 *
 * Views: each thread keeps *fixed-length* typed arrays over the buffer. Length-tracking views of
 * a growable SharedArrayBuffer cost ~8x more per element access in Node 20 (measured: 53 ns vs
 * 6.5 ns for a load + an Atomics.load), so when another thread grows the buffer, this thread
 * refreshes its views the first time it meets an offset beyond them (`covers` / `refresh`).
 */
import {
  BroadcastChannel,
  getEnvironmentData,
  isMainThread,
  receiveMessageOnPort,
  setEnvironmentData,
} from 'node:worker_threads';
import {
  HEADER,
  HEAP_START_UNIT,
  INITIAL_ARENA_BYTES,
  LAYOUT_VERSION,
  MAGIC,
  MAX_ARENA_BYTES,
  UNIT,
} from './layout';
import { IncompatibleArenaError, InvalidOptionError, describeValue } from './errors';

/** Environment-data key and channel name; versioned so incompatible layouts never meet. */
export const ENV_KEY = `native-keyshare:arena:v${LAYOUT_VERSION}`;
const DEFAULT_MAX_MEMORY = 1024 * 1024 * 1024;
const ASK_TIMEOUT_MS = 100;

export class Arena {
  readonly sab: SharedArrayBuffer;
  /** Fixed-length views covering the first `viewBytes` bytes. Re-created by `refresh`. */
  i32: Int32Array;
  u8: Uint8Array;
  u16: Uint16Array;
  /** Views for fixed-layout record fields (see records.ts); same extent as the others. */
  u32: Uint32Array;
  i16: Int16Array;
  i8: Int8Array;
  f64: Float64Array;
  viewBytes: number;

  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.viewBytes = sab.byteLength;
    this.i32 = new Int32Array(sab, 0, this.viewBytes >>> 2);
    this.u8 = new Uint8Array(sab, 0, this.viewBytes);
    this.u16 = new Uint16Array(sab, 0, this.viewBytes >>> 1);
    this.u32 = new Uint32Array(sab, 0, this.viewBytes >>> 2);
    this.i16 = new Int16Array(sab, 0, this.viewBytes >>> 1);
    this.i8 = new Int8Array(sab, 0, this.viewBytes);
    this.f64 = new Float64Array(sab, 0, this.viewBytes >>> 3);
  }

  /** Re-creates the views if the buffer grew. Returns true if they changed. */
  refresh(): boolean {
    const n = this.sab.byteLength;
    if (n === this.viewBytes) return false;
    this.viewBytes = n;
    this.i32 = new Int32Array(this.sab, 0, n >>> 2);
    this.u8 = new Uint8Array(this.sab, 0, n);
    this.u16 = new Uint16Array(this.sab, 0, n >>> 1);
    this.u32 = new Uint32Array(this.sab, 0, n >>> 2);
    this.i16 = new Int16Array(this.sab, 0, n >>> 1);
    this.i8 = new Int8Array(this.sab, 0, n);
    this.f64 = new Float64Array(this.sab, 0, n >>> 3);
    return true;
  }

  /** True if bytes [0, end) are addressable through the views, refreshing them if needed. */
  covers(end: number): boolean {
    return end <= this.viewBytes || (this.refresh() && end <= this.viewBytes);
  }

  get maxByteLength(): number {
    return this.sab.maxByteLength;
  }
}

/** Parses a byte size: an integer, or a string such as "512mb" / "2GiB". */
export function parseBytes(value: unknown, what: string): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(value);
    if (!m) throw new InvalidOptionError(`${what} must be a number of bytes or a size like "512mb", got ${describeValue(value)}`);
    const unit = (m[2] ?? 'b').toLowerCase()[0];
    const scale = unit === 'g' ? 2 ** 30 : unit === 'm' ? 2 ** 20 : unit === 'k' ? 2 ** 10 : 1;
    n = Math.floor(Number(m[1]) * scale);
  } else throw new InvalidOptionError(`${what} must be a number of bytes or a size like "512mb", got ${describeValue(value)}`);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidOptionError(`${what} must be a positive integer number of bytes, got ${describeValue(value)}`);
  return n;
}

function createArena(): SharedArrayBuffer {
  const env = process.env.NATIVE_KEYSHARE_MAX_MEMORY;
  const limit = Math.min(env ? parseBytes(env, 'NATIVE_KEYSHARE_MAX_MEMORY') : DEFAULT_MAX_MEMORY, MAX_ARENA_BYTES);
  // Reserve the whole addressable range: a reservation costs address space, not memory, and it
  // lets configure({ maxMemory }) raise the limit later without a new buffer.
  const sab = new SharedArrayBuffer(INITIAL_ARENA_BYTES, { maxByteLength: MAX_ARENA_BYTES });
  const i32 = new Int32Array(sab);
  i32[HEADER.VERSION] = LAYOUT_VERSION;
  i32[HEADER.TOP] = HEAP_START_UNIT;
  i32[HEADER.LIMIT] = Math.floor(limit / UNIT);
  // MAGIC last: a thread that sees it sees an initialised header (the buffer is not shared with
  // anyone before this function returns, so this is belt and braces).
  Atomics.store(i32, HEADER.MAGIC, MAGIC);
  return sab;
}

function isArena(x: unknown): x is SharedArrayBuffer {
  return x instanceof SharedArrayBuffer && x.growable && x.byteLength >= HEAP_START_UNIT * UNIT;
}

function check(sab: SharedArrayBuffer): SharedArrayBuffer {
  const i32 = new Int32Array(sab, 0, 4);
  if (Atomics.load(i32, HEADER.MAGIC) !== MAGIC || i32[HEADER.VERSION] !== LAYOUT_VERSION) {
    throw new IncompatibleArenaError(`the shared arena under "${ENV_KEY}" has an unknown header`);
  }
  return sab;
}

/** Asks the other threads for their arena; see the module comment for when this happens. */
function askPeers(): SharedArrayBuffer | undefined {
  const channel = new BroadcastChannel(ENV_KEY);
  try {
    channel.postMessage({ type: 'arena?' });
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    // Monotonic: a wall-clock step must not cut the wait short or stretch it.
    const deadline = performance.now() + ASK_TIMEOUT_MS;
    while (performance.now() < deadline) {
      for (let msg = receiveMessageOnPort(channel as never); msg; msg = receiveMessageOnPort(channel as never)) {
        const data = (msg as { message: { type?: string; sab?: unknown } }).message;
        if (data && data.type === 'arena' && isArena(data.sab)) return data.sab;
      }
      Atomics.wait(sleeper, 0, 0, 1);
    }
    return undefined;
  } finally {
    channel.close();
  }
}

/** Answers other threads' requests for the arena. Unref'd: it never keeps the process alive. */
function serve(sab: SharedArrayBuffer): void {
  const channel = new BroadcastChannel(ENV_KEY);
  channel.onmessage = (event: unknown) => {
    const data = (event as { data?: { type?: string } }).data;
    if (data && data.type === 'arena?') channel.postMessage({ type: 'arena', sab });
  };
  (channel as unknown as { unref(): void }).unref();
}

/** Finds or creates this process's arena and publishes it for threads started from this one. */
export function attach(): Arena {
  let sab: SharedArrayBuffer | undefined;
  const inherited = getEnvironmentData(ENV_KEY);
  if (isArena(inherited)) sab = check(inherited);
  else if (!isMainThread) {
    const found = askPeers();
    if (found) sab = check(found);
  }
  sab ??= createArena();
  setEnvironmentData(ENV_KEY, sab as never);
  serve(sab);
  return new Arena(sab);
}

/** This thread's arena: attached when the library is first loaded in the thread. */
export const arena: Arena = attach();
