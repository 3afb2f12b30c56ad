/**
 * The value codec: how a JS value becomes bytes in shared memory and back.
 *
 * Every stored value carries a one-byte {@link Tag} that says how its bytes were made, so values
 * written by msgpackr and by the `node:v8` serializer live side by side in one arena and any
 * thread can read what any other thread wrote, whichever encoder that thread prefers.
 *
 * Choice of encoding, per value:
 * - numbers, `true`, `false`, `null`, and top-level strings need no codec (fast tags);
 * - other values go to msgpackr when it is installed and can reproduce the value exactly;
 * - everything else goes to the `node:v8` serializer (structured clone), which is exact for more
 *   types but 5-10x slower on small values.
 *
 * What does not survive a round trip (on either path, so the result never depends on which
 * encoder a thread used):
 * - prototypes: class instances come back as plain objects holding their own enumerable string-keyed
 *   properties (methods, getters on the prototype, private fields and `toJSON` are not used);
 *   null-prototype objects come back with `Object.prototype`;
 * - symbol-keyed and non-enumerable properties, and extra non-index properties on arrays;
 * - object identity: a sub-object referenced twice comes back as two equal copies, except in
 *   values that went to v8 (cycles, see {@link encode}), where v8 keeps the references;
 * - typed-array subclasses come back as their base class (Buffer is kept).
 * Getters run when the value is encoded (twice on the msgpackr path: once by the scan).
 *
 * Re-entrancy: user code that runs during an encode (a getter, a Proxy trap, a `toJSON` that
 * msgpackr calls) may itself write to a store, which encodes again before the outer encode has
 * finished. msgpackr's pack() is not re-entrant: the buffer it writes into and the position in it
 * are module variables shared by every Packr of the process, and each Packr keeps the structure
 * bookkeeping of the pack in progress (new record ids, whether to save them) in per-instance
 * variables. A nested pack() therefore shifts or overwrites the outer value's bytes, and with
 * learned structures can give the outer value's new shape an id that the store's table then
 * assigns to another shape. So while an object is being scanned or packed in this thread
 * (`reentry.msgpackrBusy`, codec/msgpackr.ts), nested encodes go to v8, whose serializer is a new object per call
 * and shares nothing with msgpackr: nested values are stored exactly, only encoded the slower way
 * (except a Proxy, which v8 cannot serialize: writing one from there throws InvalidValueError,
 * as it does in a thread that encodes with v8). Records have the same hazard with their own
 * buffers; see encodeRecord in records.ts.
 * Decoding during an encode (a getter that reads a store) is safe as it is: msgpackr's unpack
 * state is separate from its pack state, and the store decodes from its own scratch memory.
 *
 * msgpackr is an optional peer dependency: it is looked up once at module load, and a process
 * without it encodes everything that needs a codec with v8. `NATIVE_KEYSHARE_CODEC=v8` makes this
 * thread encode with v8 even when msgpackr is installed; values that other threads wrote with
 * msgpackr stay readable as long as msgpackr can be loaded.
 *
 * The code is split by job under ./codec/: tag.ts (the tag byte and the encode result),
 * msgpackr.ts (loader, options, re-entrancy guard), strings.ts (the String tag), scan.ts (the
 * routing scan and invalid-value diagnosis), encode.ts (the default encoder), structured.ts
 * (declared and learned record structures), decode.ts, freeze.ts (deepFreeze). This module
 * re-exports what the rest of the package uses.
 */
// Values are re-exported as plain properties (not `export … from`, which compiles to getters):
// store.ts reads `encoded` and calls `decode` on every operation.
import * as decoding from './codec/decode';
import * as encoding from './codec/encode';
import * as freezing from './codec/freeze';
import * as msgpackr from './codec/msgpackr';
import * as structured from './codec/structured';
import * as tag from './codec/tag';

export { Tag } from './codec/tag';
export { LearnedCodec, StructuredCodec, type StructureTable } from './codec/structured';
export const encoded = tag.encoded;
export const Tags = tag.Tags;
export const codecName = msgpackr.codecName;
export const encode = encoding.encode;
export const decode = decoding.decode;
export const deepFreeze = freezing.deepFreeze;
export const MAX_LEARNED_STRUCTURES = structured.MAX_LEARNED_STRUCTURES;
