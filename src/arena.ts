/**
 * The arena: the one growable SharedArrayBuffer of the process, and this thread's views of it.
 *
 * Finding it (`attach`): one arena per process, whichever thread loads the library first.
 * 1. `worker_threads.getEnvironmentData(ENV_KEY)`: the arena published by the thread that started
 *    this one (or by this thread earlier). Available synchronously at a worker's first line; the
 *    common case (the main thread loaded the library before starting workers) costs nothing more.
 * 2. Otherwise (`handshake`): a worker of a pool whose main thread never loaded the library, a
 *    main thread loading it after such workers did, or the first thread of all. If no thread of
 *    the process ever created an arena (no *marker* descriptor open, see `markerOpen`), claim the
 *    right to create it (`claim`: at most one of the threads starting together succeeds) and
 *    create it. Otherwise ask the holders on a BroadcastChannel, draining their answers
 *    synchronously with `receiveMessageOnPort`, and adopt the oldest arena answered; if none
 *    answers within PATIENCE_MS, create a second one and warn (`warnSplit`).
 * The thread then publishes the arena with `setEnvironmentData`, so every worker it starts
 * afterwards (and their nested workers) inherits it, and answers hellos on the channel (`serve`).
 * A worker that created or adopted the arena without inheriting it also starts an answering
 * thread (`startHelper`), since pool workers often cannot answer themselves.
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
  threadId,
  Worker,
} from 'node:worker_threads';
import { closeSync, existsSync, openSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { testKnob } from './faults';
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
/** Environment-data key of the arena's identity (see `ArenaId`). */
const ID_KEY = `${ENV_KEY}:id`;
/** Handshake timing (see `handshake`); the test knob only shortens PATIENCE_MS for tests. */
const HELLO_MS = 2;
const GRACE_MS = 2;
const PATIENCE_MS = testKnob('PATIENCE_MS') || 2000;
const ASK_MS = 100;
const ANSWER_EVERY_MS = 20;
/** Test knob: no answering thread (see `startHelper`), to test the holders' own answers. */
const NO_HELPER = testKnob('NO_HELPER') !== 0;

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

/** An arena's identity: when and by which thread it was created. The older one wins. */
interface ArenaId {
  born: number;
  by: number;
}

function older(a: ArenaId, b: ArenaId): boolean {
  return a.born < b.born || (a.born === b.born && a.by < b.by);
}

function readId(): ArenaId {
  const v = getEnvironmentData(ID_KEY);
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?):(\d+)$/.exec(v) : null;
  return m ? { born: Number(m[1]), by: Number(m[2]) } : { born: 0, by: 0 };
}

const now = (): number => performance.now();

/**
 * The marker: a read-only descriptor on this module's directory, held open by every thread that
 * created an arena, for the life of the process. Descriptors belong to the process, not to a
 * thread: any thread sees them all (Linux: /proc/self/fd), without asking anyone and whether or
 * not their threads still run. The directory, not a file: loading a module opens its file for a
 * moment, which would look like a marker. One descriptor per arena.
 */
let markerFd = -1;
let markerPath: string | undefined;
const FD_DIR = '/proc/self/fd';
/** False where descriptors cannot be listed: threads then rely on the channel alone. */
let seeMarkers: boolean | undefined;
function canSeeMarkers(): boolean {
  return (seeMarkers ??= process.platform === 'linux' && existsSync(FD_DIR));
}

function safe<T>(fn: () => T): T | false {
  try {
    return fn();
  } catch {
    return false;
  }
}

/** Descriptors of this process open on the marker, other than `except`. */
function markers(except = -1): number {
  if (!canSeeMarkers()) return 0;
  markerPath ??= realpathSync.native(__dirname);
  let n = 0;
  for (const fd of safe(() => readdirSync(FD_DIR)) || []) {
    if (Number(fd) !== except && safe(() => readlinkSync(`${FD_DIR}/${fd}`)) === markerPath) n++;
  }
  return n;
}

/** True if some thread of this process created an arena (or is claiming the right to). */
export function markerOpen(): boolean {
  return markers() > 0;
}

/**
 * Claims the right to create the arena: opens this thread's marker, then looks for others. Of
 * threads that claim at once at most one succeeds: the later of two opens precedes the later
 * thread's look, which therefore sees the earlier marker and backs off (both may back off; they
 * retry after a random pause). Where markers cannot be seen, always succeeds.
 */
function claim(): boolean {
  if (!canSeeMarkers()) return true;
  const fd = safe(() => openSync(__dirname, 'r'));
  if (fd === false) return true;
  if (markers(fd) === 0) {
    markerFd = fd;
    return true;
  }
  closeSync(fd);
  return false;
}

let warned = false;
/**
 * Says loudly, once per thread, that the process has (or may have) two arenas: stores of the
 * same name then hold different data in different threads.
 */
function warnSplit(cause: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(
    `native-keyshare: this thread uses a different shared arena than other threads of the process, ` +
      `so stores are NOT shared between them (${cause}). Fix: load native-keyshare in the main ` +
      `thread (require or import it) before starting any worker; every worker then inherits the ` +
      `arena at its first line.`,
    { type: 'NativeKeyshareWarning', code: 'NATIVE_KEYSHARE_SPLIT_ARENA' },
  );
}

type Message = { type?: unknown; id?: unknown; sab?: unknown; born?: unknown; by?: unknown; to?: unknown; helper?: unknown };

function arenaMessage(sab: SharedArrayBuffer, id: ArenaId, to?: number): object {
  return to === undefined ? { type: 'arena', sab, born: id.born, by: id.by } : { type: 'arena', sab, born: id.born, by: id.by, to };
}

/** Creates an arena; the caller holds the marker (`claim`) or was told to go ahead without. */
function create(): { sab: SharedArrayBuffer; id: ArenaId } {
  if (markerFd < 0 && canSeeMarkers()) markerFd = safe(() => openSync(__dirname, 'r')) || -1;
  const sab = createArena();
  return { sab, id: { born: performance.timeOrigin + performance.now(), by: threadId } };
}

/** Answers on `channel` the hellos still queued (see `serve`); set once this thread serves. */
let poll: () => void = () => {};
let lastPoll = 0;

/**
 * Answers hellos queued on the channel without waiting for the event loop. Called from the
 * library's own waits (a lock wait's liveness check), so that a thread blocked in the library
 * still answers late joiners. At most once per 5 ms; cheap when nothing is queued.
 */
export function answerPeers(): void {
  const t = performance.now();
  if (t - lastPoll < 5) return;
  lastPoll = t;
  poll();
}

/**
 * Answers other threads' hellos with the arena, from the event loop and from `answerPeers`.
 * Unref'd: it never keeps the process alive. Each joiner gets at most one answer per
 * ANSWER_EVERY_MS from this thread, and none once another thread has answered it with the same
 * arena (every holder answering every hello would cost N² messages). An answer carrying another
 * arena means the process has two: warn.
 */
function serve(channel: BroadcastChannel, sab: SharedArrayBuffer, id: ArenaId): void {
  const answered = new Map<number, number>();
  const handle = (d: Message | undefined): void => {
    if (!d || typeof d !== 'object') return;
    if (d.type === 'hello' && typeof d.id === 'number') {
      const t = now();
      const last = answered.get(d.id);
      if (last !== undefined && t - last < ANSWER_EVERY_MS) return;
      if (answered.size > 4096) answered.clear();
      answered.set(d.id, t);
      channel.postMessage(arenaMessage(sab, id, d.id));
    } else if (d.type === 'arena' && typeof d.born === 'number' && typeof d.by === 'number') {
      if (d.born === id.born && d.by === id.by) {
        if (typeof d.to === 'number') answered.set(d.to, now());
      } else {
        warnSplit(
          `thread ${d.by} created another arena: it found no thread to answer it in time, because ` +
            `every thread holding the arena was busy, or because threads started before the library was loaded`,
        );
      }
    }
  };
  channel.onmessage = (event: unknown) => handle((event as { data?: Message }).data);
  (channel as unknown as { unref(): void }).unref();
  poll = () => {
    for (let m = receiveMessageOnPort(channel as never); m; m = receiveMessageOnPort(channel as never)) {
      handle((m as { message?: Message }).message);
    }
  };
}

/**
 * The answering thread's code (see `startHelper`): it inherits the arena through environment data
 * and answers hellos as `serve` does, marking its answers, until the process ends.
 */
const HELPER_SOURCE = `
const { BroadcastChannel, getEnvironmentData, workerData } = require('node:worker_threads');
const { key, born, by } = workerData;
const sab = getEnvironmentData(key);
const channel = new BroadcastChannel(key);
const answered = new Map();
channel.onmessage = ({ data: d }) => {
  if (!d || typeof d !== 'object') return;
  if (d.type === 'hello' && typeof d.id === 'number') {
    const t = performance.now();
    const last = answered.get(d.id);
    if (last !== undefined && t - last < ${ANSWER_EVERY_MS}) return;
    if (answered.size > 4096) answered.clear();
    answered.set(d.id, t);
    channel.postMessage({ type: 'arena', sab, born, by, to: d.id, helper: 1 });
  } else if (d.type === 'arena' && d.born === born && d.by === by && typeof d.to === 'number') {
    answered.set(d.to, performance.now());
  }
};
`;

/**
 * Starts the answering thread: a worker that loads nothing but the code above and only answers
 * hellos. Started by a worker that got the arena without inheriting it (its pool's main thread
 * did not load the library) and heard no answering thread. Pool workers often cannot answer
 * themselves: piscina's idle workers block in `Atomics.wait` (its default `atomics: 'sync'`),
 * so their event loops do not run between tasks, and a worker the pool adds later would hear
 * nobody. The answering thread is unref'd (it never keeps the process alive) and ends with the
 * worker that started it; the next worker to join without hearing one starts another.
 */
function startHelper(id: ArenaId): void {
  if (NO_HELPER) return;
  try {
    const helper = new Worker(HELPER_SOURCE, { eval: true, workerData: { key: ENV_KEY, born: id.born, by: id.by }, stdout: true, stderr: true });
    helper.on('error', () => {});
    helper.unref();
  } catch {
    // Out of threads or memory: late joiners then rely on the holders' own answers.
  }
}

/**
 * Finds the arena by asking the other threads, or creates it: for a thread that inherited none.
 *
 * - No marker open (see `markerOpen`): no thread of this process created an arena, so this one
 *   claims the right to (`claim`), creates it and posts it on the channel. Threads that start
 *   together: one claim succeeds, the others see its marker and wait for its arena, which it
 *   posts after creating it (they opened their channels before looking, so they receive it).
 * - A marker is open: the thread posts hellos, first every HELLO_MS then less often (a channel
 *   receives only messages posted after it was created) and drains the channel synchronously with
 *   `receiveMessageOnPort`, sleeping 1 ms in `Atomics.wait` between polls. Holders answer from
 *   their event loop, from lock waits in the library (`answerPeers`), and the answering thread
 *   (`startHelper`) from its own. After the first answer the thread listens GRACE_MS more and
 *   adopts the *oldest* arena it heard of: a rule every thread applies the same way, so late
 *   joiners gather on one arena even if the process has two.
 * - No answer within PATIENCE_MS although a marker is open (every holder busy that long, or all
 *   of them gone): the thread creates a second arena and says so (`warnSplit`).
 */
function handshake(): { sab: SharedArrayBuffer; id: ArenaId; helper: boolean } {
  const channel = new BroadcastChannel(ENV_KEY);
  (channel as unknown as { unref(): void }).unref();
  const me = threadId;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let best: { sab: SharedArrayBuffer; id: ArenaId } | undefined;
  let answeredAt = 0;
  let lastHello = -Infinity;
  let nextLook = 0;
  let looks = 0;
  let helloEvery = HELLO_MS;
  let patientSince = -1;
  let helperAnswered = false;
  let created: { sab: SharedArrayBuffer; id: ArenaId } | undefined;
  let gaveUp = false;
  const take = (m: unknown, t: number): void => {
    const d = (m as { message?: Message }).message;
    if (!d || typeof d !== 'object' || d.type !== 'arena' || !isArena(d.sab) || typeof d.born !== 'number' || typeof d.by !== 'number') return;
    const id = { born: d.born, by: d.by };
    if (!best || older(id, best.id)) best = { sab: d.sab, id };
    if (answeredAt === 0) answeredAt = t;
    if (d.helper === 1) helperAnswered = true;
  };
  for (;;) {
    let t = now();
    for (let m = receiveMessageOnPort(channel as never); m; m = receiveMessageOnPort(channel as never)) take(m, t);
    t = now();
    if (best) {
      if (t - answeredAt >= GRACE_MS) break;
    } else if (!canSeeMarkers()) {
      // No markers to go by (not Linux): as before, a worker asks for ASK_MS, the main thread
      // not at all; then it creates an arena, and any other arena announced later is warned of.
      if (patientSince < 0) patientSince = t;
      if (isMainThread || t - patientSince >= ASK_MS) {
        created = create();
        break;
      }
    } else if (t >= nextLook) {
      // Look for markers at most every few ms (a look lists the process's descriptors), at a
      // random moment so that two threads backing off from each other do not meet again.
      nextLook = t + (looks++ < 5 ? 2 + Math.random() * 6 : 20);
      // The first look claims at once (one listing for a thread alone); later ones claim only
      // when no marker is open (a marker seen after a pause is an arena's, not a claimant's).
      if ((patientSince < 0 || !markerOpen()) && claim()) {
        created = create();
        break;
      }
      if (patientSince < 0) patientSince = t;
      else if (t - patientSince >= PATIENCE_MS) {
        gaveUp = true;
        created = create();
        break;
      }
    }
    if (patientSince >= 0 && t - lastHello >= helloEvery) {
      // Every hello reaches every thread's channel: back off (2, 4, 8 ... 32 ms).
      channel.postMessage({ type: 'hello', id: me });
      lastHello = t;
      helloEvery = Math.min(helloEvery * 2, 32);
    }
    Atomics.wait(sleeper, 0, 0, 1);
  }
  let found: { sab: SharedArrayBuffer; id: ArenaId; helper: boolean };
  if (created) {
    // A worker starts an answering thread for its arena (see `startHelper`).
    found = { ...created, helper: !isMainThread };
    channel.postMessage(arenaMessage(found.sab, found.id));
    if (gaveUp) {
      warnSplit(
        `no thread holding the existing arena answered within ${PATIENCE_MS} ms: they were all busy, ` +
          `or all of them have exited`,
      );
    }
  } else {
    // A worker that heard no answering thread starts one.
    found = { sab: check(best!.sab), id: best!.id, helper: !isMainThread && !helperAnswered };
  }
  serve(channel, found.sab, found.id);
  return found;
}

/** Finds or creates this process's arena and publishes it for threads started from this one. */
export function attach(): Arena {
  let found: { sab: SharedArrayBuffer; id: ArenaId };
  const inherited = getEnvironmentData(ENV_KEY);
  if (isArena(inherited)) {
    found = { sab: check(inherited), id: readId() };
    serve(new BroadcastChannel(ENV_KEY), found.sab, found.id);
  } else {
    found = handshake();
  }
  setEnvironmentData(ENV_KEY, found.sab as never);
  setEnvironmentData(ID_KEY, `${found.id.born}:${found.id.by}` as never);
  if ((found as { helper?: boolean }).helper) startHelper(found.id);
  return new Arena(found.sab);
}

/** This thread's arena: attached when the library is first loaded in the thread. */
export const arena: Arena = attach();
