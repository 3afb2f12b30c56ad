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
  threadId,
  Worker,
} from 'node:worker_threads';
import { openSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
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
/** Handshake timing (see `handshake`); the test knobs only lengthen PATIENCE_MS for tests. */
const HELLO_MS = 2;
const WINDOW_MS = 30;
const GRACE_MS = 3;
const SILENT_MS = 60;
const PATIENCE_MS = testKnob('PATIENCE_MS') || 2000;
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
 * The marker: a read-only descriptor on this module's own file, opened by every thread that
 * creates an arena and never closed. Descriptors belong to the process, not to a thread, and
 * outlive a terminated worker, so any thread can tell (Linux: /proc/self/fd) whether an arena was
 * ever created in this process, without asking anyone. Costs one descriptor per arena.
 */
let markerFd = -1;
let markerPath: string | undefined;

function openMarker(): void {
  if (markerFd >= 0) return;
  try {
    markerFd = openSync(__filename, 'r');
  } catch {
    // No marker: other threads then learn of this arena only by asking (see `handshake`).
  }
}

/** True if some thread of this process opened the marker; false if it cannot be told. */
export function markerOpen(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    markerPath ??= realpathSync(__filename);
    const dir = '/proc/self/fd';
    for (const fd of readdirSync(dir)) {
      try {
        if (readlinkSync(`${dir}/${fd}`) === markerPath) return true;
      } catch {
        // Closed meanwhile (the readdir descriptor itself, among others).
      }
    }
  } catch {
    // No /proc: no evidence.
  }
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

function create(): { sab: SharedArrayBuffer; id: ArenaId } {
  const sab = createArena();
  openMarker();
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
  const t = Date.now();
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
 * The thread posts a hello every HELLO_MS (a channel receives only messages posted after it was
 * created, so a peer that opened its channel after our first hello still hears us) and drains
 * the channel synchronously with `receiveMessageOnPort`, sleeping 1 ms in `Atomics.wait`
 * between polls.
 * - Any holder answers with its arena (and its identity). After the first answer the thread
 *   listens GRACE_MS more and adopts the *oldest* arena it heard of: a rule every thread applies
 *   the same way, so that late joiners gather on one arena even if the process has two.
 * - No answer: if no arena was ever created in this process (no marker, see `markerOpen`), the
 *   threads that start together elect one after WINDOW_MS: the lowest threadId among those heard
 *   within SILENT_MS (the main thread's is 0). It creates the arena and posts it after its last
 *   hello; the others wait for it, and drop it if it falls silent (it died mid-handshake).
 * - If an arena exists somewhere (the marker is open) the thread waits up to PATIENCE_MS for an
 *   answer: its holders answer only from their event loop or a wait inside the library. Past
 *   that, the same election runs and the elected thread creates a second arena, and says so
 *   (`warnSplit`).
 */
function handshake(): { sab: SharedArrayBuffer; id: ArenaId; helper: boolean } {
  const channel = new BroadcastChannel(ENV_KEY);
  (channel as unknown as { unref(): void }).unref();
  const me = threadId;
  const peers = new Map<number, number>();
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const start = now();
  let best: { sab: SharedArrayBuffer; id: ArenaId } | undefined;
  let answeredAt = 0;
  let lastHello = -Infinity;
  let lastCheck = start;
  let patient = markerOpen();
  let helperAnswered = false;
  const take = (m: unknown, t: number): void => {
    const d = (m as { message?: Message }).message;
    if (!d || typeof d !== 'object') return;
    if (d.type === 'hello' && typeof d.id === 'number') peers.set(d.id, t);
    else if (d.type === 'arena' && isArena(d.sab) && typeof d.born === 'number' && typeof d.by === 'number') {
      const id = { born: d.born, by: d.by };
      if (!best || older(id, best.id)) best = { sab: d.sab, id };
      if (answeredAt === 0) answeredAt = t;
      if (d.helper === 1) helperAnswered = true;
    }
  };
  for (;;) {
    let t = now();
    if (t - lastHello >= HELLO_MS) {
      channel.postMessage({ type: 'hello', id: me });
      lastHello = t;
    }
    for (let m = receiveMessageOnPort(channel as never); m; m = receiveMessageOnPort(channel as never)) take(m, t);
    t = now();
    if (best) {
      if (t - answeredAt >= GRACE_MS) break;
    } else {
      if (!patient && t - lastCheck >= 5) {
        lastCheck = t;
        patient = markerOpen();
      }
      const waited = t - start;
      if (waited >= (patient ? PATIENCE_MS : WINDOW_MS)) {
        let lowest = me;
        for (const [p, seen] of peers) if (p < lowest && t - seen < SILENT_MS) lowest = p;
        // The elected thread creates; the others wait for its arena (bounded all the same).
        // A last look before creating: a thread descheduled between its drain and here (a
        // loaded machine) may have missed an arena created meanwhile, which opened the marker.
        if ((lowest === me || waited >= PATIENCE_MS * 2) && (patient || !(patient = markerOpen()))) {
          const m = receiveMessageOnPort(channel as never);
          if (m === undefined) break;
          take(m, t); // and go round again: drain the rest, then decide anew
          continue;
        }
      }
    }
    Atomics.wait(sleeper, 0, 0, 1);
  }
  let found: { sab: SharedArrayBuffer; id: ArenaId; helper: boolean };
  // A worker that found no answering thread starts one (see `startHelper`).
  if (best) found = { sab: check(best.sab), id: best.id, helper: !isMainThread && !helperAnswered };
  else {
    const existed = patient;
    found = { ...create(), helper: !isMainThread };
    // After our last hello, on the same channel: a peer that heard us hears this too.
    channel.postMessage(arenaMessage(found.sab, found.id));
    if (existed) {
      warnSplit(
        `no thread holding the existing arena answered within ${PATIENCE_MS} ms: they were all busy, ` +
          `or all of them have exited`,
      );
    }
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
  } else if (isMainThread && !markerOpen()) {
    // The main thread, and no thread of this process ever created an arena: nobody can hold
    // one, and every worker started from now on inherits ours. Nothing to ask. The announcement
    // lets a thread that holds another arena all the same (no marker: not Linux) warn.
    found = create();
    const channel = new BroadcastChannel(ENV_KEY);
    channel.postMessage(arenaMessage(found.sab, found.id));
    serve(channel, found.sab, found.id);
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
