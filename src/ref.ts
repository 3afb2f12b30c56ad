/**
 * What a number in the engine means. The arena is addressed two ways (layout.ts):
 * - a **Ref** is a block's offset in 8-byte units (`UNIT`): what DATA, buckets, free lists and
 *   thread-slot words hold, so that an Int32 reaches the whole 4 GiB arena and 0 means none;
 * - a **Word** is an index into the arena's Int32Array view: `wordOf(ref) + FIELD` is a field of
 *   the block at `ref`.
 *
 * The brands are optional properties, so a plain number (from an index bucket, a slot word, a
 * layout constant) still passes as either, while a Word passed where a Ref is expected, or the
 * other way round, does not compile: that is the mix-up the `ref * 2` spelled out everywhere
 * invited. They cost nothing at run time.
 */

/** A block's offset in 8-byte units (0: none). */
export type Ref = number & { readonly __unit?: 'ref' };

/** An index into the arena's Int32Array view. */
export type Word = number & { readonly __unit?: 'word' };

/**
 * The word index of the block at `ref` (its HDR word): a unit is two Int32 words. For block refs
 * only (positive, below 2^29): every hot path inlines this one multiply with its one type
 * feedback, and a negative inline descriptor (layout.ts) doubled would make it a double for all.
 */
export function wordOf(ref: Ref): Word {
  return ref * 2;
}
