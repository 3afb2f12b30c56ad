/**
 * The memory layout of the arena: every record's fields as named word offsets, declared once.
 *
 * One growable SharedArrayBuffer (the arena) holds everything. It is addressed in three units:
 * - a **ref** is an offset in 8-byte units (blocks are 8-byte aligned, so an Int32 ref reaches
 *   the whole 4 GiB arena and 0 can mean "none": the header occupies unit 0);
 * - a **word** index into the Int32 view is `ref * 2 + FIELD`;
 * - a **byte** offset is `ref * 8 + FIELD * 4`.
 *
 * ```
 *  byte 0                1024                       66560                              byteLength
 *  ┌─────────────────────┬──────────────────────────┬──────────────────────────────────┬─ ─ ─ ─ ─┐
 *  │ arena header        │ thread table             │ heap: blocks, bump-allocated      │ grows on │
 *  │ locks, top, limit,  │ MAX_THREADS slots of     │ from TOP, recycled through the    │ demand up│
 *  │ store list, free    │ THREAD_SLOT_WORDS words  │ size-class free lists             │ to limit │
 *  │ lists per size class│                          │                                   │          │
 *  └─────────────────────┴──────────────────────────┴──────────────────────────────────┴─ ─ ─ ─ ─┘
 *
 *  every heap block:  [ HDR = kind << 8 | sizeClass ][ payload … ]   (size = classUnits(sizeClass))
 *
 *  STORE  [HDR][NEXT][LOCK][SEQ][INDEX][counts…][SCHEMA][STRUCTS…][INDEX_NEW][INDEX_OLD]
 *         [ 64-byte aligned: 256 write epochs ][NAME_LEN][ name: UTF-16 … ]
 *         ─SCHEMA──►  SCHEMA block: [HDR][LEN][ JSON: record layout, fixed structures ]
 *         ─STRUCTS─►  STRUCTS block: [HDR][LEN][COUNT][ JSON: learned object shapes ]
 *         ─INDEX───►  INDEX block: [HDR][CAPACITY][bucket 0][bucket 1] … (power-of-two buckets)
 *                                            │ bucket = hash tag (3 bits) | entry ref (29 bits)
 *                                            │          | EMPTY | TOMBSTONE
 *                                            ▼
 *  ENTRY  [HDR][KEY_LEN][GEN][SEQ][LOCK][DATA][MIN_BYTES][ key: Latin-1 bytes or UTF-16 … ]
 *                                               │
 *                                               ▼
 *  VALUE  [HDR = tag,flags,kind,class][LEN][ EXPIRES_HI EXPIRES_LO if TTL ][ encoded value bytes … ]
 *  record [HDR][LEN][ record bytes at fixed field offsets, from byte 8 … ]
 * ```
 *
 * Invariants the protocols rely on (see `seqlock.ts` and `read.ts` for the read protocol,
 * `write.ts` for the write protocol):
 * - An ENTRY block is reused only as an ENTRY while its slab lives: entries live in SLAB blocks,
 *   on free lists of their own, so a stale entry ref still points at a GEN word (type-stable
 *   memory, as in Linux's SLAB_TYPESAFE_BY_RCU). That is what lets a thread cache
 *   `key → (ref, gen)` without a lock. A slab whose entries are all free is *retired* and then
 *   returned to the value memory (reclaim.ts): the ENTRY_EPOCH counter moves when that
 *   happens, every reader that followed a ref it obtained before checks the counter before it
 *   trusts what it read, and no writer may be taking a lock through such a ref (its LOCK_HAZARD).
 *
 *  SLAB   [HDR][pad][ENTRY][ENTRY] … [RUN: first never-used entry, SEQ = how many follow] …
 *         (entries of one size class from unit 1 on; the never-used tail is one free-list node,
 *         cut one entry at a time, so making a slab needs no loop a kill could land in)
 *  RETIRED [HDR][ENTRY_EPOCH after retirement] …   (a slab on its way back to the value memory)
 * - A VALUE block is immutable from the moment it is published in an entry's DATA word until it
 *   is freed. Writers never change a published value in place: they publish a new block. The
 *   one exception is a fixed-layout record (VALUE_FLAG.RECORD), whose bytes change in place
 *   with SEQ odd (readers wait) or one integer field at a time by an atomic op.
 * - The arena never shrinks, so any ref below the current length can be read safely; refs read
 *   inside an optimistic section are bounds-checked before they are followed.
 */

/** Bytes per ref unit. */
export const UNIT = 8;
/** Arena magic ("NKS1") and layout version: a mismatch means another library version made it. */
export const MAGIC = 0x4e4b5331;
export const LAYOUT_VERSION = 8;

/**
 * Slab sizing: a new slab of a class holds an eighth as many entries as all that class's slabs
 * so far (so a store of n keys has O(log n) slabs between its values, and at most a ninth of its
 * entries unused), at least
 * SLAB_MIN_ENTRIES and SLAB_MIN_UNITS, at most SLAB_MAX_UNITS.
 */
export const SLAB_MIN_ENTRIES = 16;
export const SLAB_MIN_UNITS = 512;
export const SLAB_MAX_UNITS = 1 << 15;

/** Upper bound of the arena reservation: refs are Int32 units, typed arrays index to 2^32 bytes. */
export const MAX_ARENA_BYTES = 2 ** 32;
/** Initial committed size of a new arena; it grows by doubling. */
export const INITIAL_ARENA_BYTES = 1 << 20;

/** Arena header, Int32 word indices from byte 0. */
export const HEADER = {
  MAGIC: 0,
  VERSION: 1,
  /** Mutex word for the allocator (free lists, TOP, growth). */
  ALLOC_LOCK: 2,
  /** First never-allocated unit: the bump pointer. */
  TOP: 3,
  /** maxMemory in units: allocation beyond it throws OutOfMemoryError. */
  LIMIT: 4,
  /** Mutex word for the store directory (creating a store). */
  DIR_LOCK: 5,
  /** Ref of the first STORE block; stores form a singly linked list, newest first. */
  STORE_HEAD: 6,
  /** Counter that makes thread tokens unique across slot reuse. */
  INCARNATION: 7,
  /** Units currently handed out (allocated and not freed), for stats. */
  UNITS_IN_USE: 8,
  /** Blocks currently handed out. */
  BLOCKS_IN_USE: 9,
  /** Threads whose death was handled (their locks may be recovered). */
  THREADS_RECOVERED: 10,
  /** Blocks freed since the last defragmentation (0: merging again would find nothing). */
  FREED_SINCE_DEFRAG: 11,
  /**
   * 1 while the allocator lock's holder rebuilds free lists (allocator.ts: defragment, the
   * carve of splitLarger): a thread that takes the lock over from a dead holder then rebuilds
   * them from the heap before anything else.
   */
  HEAP_REPAIR: 13,
  /**
   * The loader table of `fetch` (loader.ts): LOAD_LOCK is the mutex of the table and of every
   * LOAD record's NEXT and WAITERS words; LOAD_TABLE the ref of the LOADS block (0 until the
   * first miss of the process); LOAD_TABLE_NEW the block being made into it (recorded by the
   * allocator, cleared once LOAD_TABLE names it), for a thread killed in between.
   */
  LOAD_LOCK: 12,
  LOAD_TABLE: 14,
  LOAD_TABLE_NEW: 15,
  /**
   * Moves each time slabs are retired (reclaim.ts): a thread that obtained an entry ref while
   * it read another value does not trust that ref. Alone on its 64-byte line (words 16..31),
   * which nothing else writes, so that every get can load it from its own L1 cache.
   */
  ENTRY_EPOCH: 16,
  /** Start of the free-list heads: FREE_LISTS + kindList * SIZE_CLASSES + sizeClass. */
  FREE_LISTS: 32,
} as const;
export const HEADER_BYTES = 1024;

/** Which free-list family a block returns to. Entries are type-stable (see above). */
export const FREE_LIST_ENTRY = 0;
export const FREE_LIST_DATA = 1;

/** Block kinds, stored in the HDR word; FREE keeps the size class so a freed block can be walked. */
export const KIND = {
  FREE: 0,
  ENTRY: 1,
  VALUE: 2,
  INDEX: 3,
  STORE: 4,
  /** A DATA-family block carved into ENTRY blocks of one size class. */
  SLAB: 5,
  /**
   * A slab whose entries were all free when it was taken off the entry free lists, waiting until
   * no thread names one of its entries in a hazard word; then it becomes a FREE DATA block.
   * Word 1 holds the ENTRY_EPOCH value its retirement published.
   */
  RETIRED: 6,
  /** The loader table of fetch, a LOAD record, or a load's result (loader.ts; see LOAD below). */
  LOAD: 7,
} as const;
export type BlockKind = (typeof KIND)[keyof typeof KIND];

/** HDR bit of a FREE block of the ENTRY family (so that heap walks can tell the families apart). */
export const FREE_ENTRY_FLAG = 1 << 16;
/**
 * HDR bit of a free ENTRY-family node that starts a slab's never-used tail: its ENTRY.SEQ word
 * holds how many entries of its class the tail has room for, itself included. Popping it hands
 * out its first entry and moves the node one entry on (allocator.ts, popEntry).
 */
export const ENTRY_RUN_FLAG = 1 << 17;
/** Word 1 of a RETIRED slab: the ENTRY_EPOCH its retirement published. */
export const RETIRED_EPOCH = 1;

/** Every heap block: word 0 of the block. */
export const BLOCK = {
  HDR: 0,
  /** While FREE: ref of the next free block of the same list. */
  NEXT_FREE: 1,
} as const;

/** Thread table: one slot per thread that loaded the library. */
export const MAX_THREADS = 512;
export const THREAD_SLOT_BITS = 9;
export const THREAD = {
  /** Token of the thread holding the slot: incarnation << THREAD_SLOT_BITS | slot. */
  TOKEN: 0,
  /** A THREAD_STATE. */
  STATE: 1,
  /** worker_threads.threadId of the holder (0 for the main thread). */
  THREAD_ID: 2,
  /** threadId of the thread that started it (-1 for the main thread). */
  PARENT_ID: 3,
  /**
   * The write in flight, for recovery if the thread dies mid-write: the entry, its value block
   * before the write, and the block about to be published. The allocator fills PENDING_NEW and
   * clears PENDING_OLD inside its own critical section, so a thread killed anywhere leaves a
   * record that says exactly which block to free.
   */
  PENDING_ENTRY: 4,
  PENDING_OLD: 5,
  PENDING_NEW: 6,
  /**
   * A value block this thread retired (replaced) but has not freed yet. Freeing is deferred to
   * the thread's next allocation so that one allocator critical section serves both.
   */
  DEFERRED_FREE: 7,
  /**
   * An entry in limbo: being inserted (allocated, not yet in the index) or being removed
   * (unlinked, not yet freed), in the store PENDING_STORE. Whether the store's index holds it
   * decides its fate at recovery: if not, it (and a value its insert committed) is freed.
   */
  PENDING_LIMBO: 8,
  PENDING_STORE: 9,
  /**
   * In-place record writes (see record-protocol.ts, writeRecordInPlace). REDO_BLOCK is this thread's redo
   * buffer (a VALUE-kind block it owns); while REDO_ENTRY is set, the thread may be changing
   * the record block REDO_DATA of that entry in place, with the entry's SEQ odd, and the redo
   * buffer holds the complete change: recovery re-applies it and makes SEQ even.
   */
  REDO_BLOCK: 10,
  REDO_ENTRY: 11,
  REDO_DATA: 12,
  /**
   * Hazard word of the lock-free record ops (add, compareExchange): the entry whose record
   * block this thread may be about to change. A writer that retires a record block waits until
   * no live thread names its entry here (see record-protocol.ts, waitForAtomicOps).
   */
  HAZARD: 13,
  /**
   * A store being created (registry.ts, openStore): CREATE_BLOCK records its first INDEX block and
   * CREATE_STORE its STORE block, each filled in by the allocator inside its critical section.
   * CREATE_BLOCK is cleared once the STORE block names the index (from then on recovery finds
   * the index there), and CREATE_STORE once the store is in the directory. Recovery frees a
   * recorded store that the directory does not hold, with its index, and leaves one it holds.
   *
   * The same two words record a schema being installed in a published store (schema.ts,
   * openSchema): CREATE_STORE names the store, CREATE_BLOCK the SCHEMA block, which recovery
   * frees unless the store's SCHEMA word names it. The two uses are told apart by whether the
   * directory holds CREATE_STORE: a store's index is never recorded after its publication.
   */
  CREATE_STORE: 14,
  CREATE_BLOCK: 15,
  /**
   * Hazard word of entry locking: the entry whose LOCK word this thread may be about to change
   * through a ref it has not validated yet (write.ts, lockEntry; the bounded expiry sweep). A
   * retired slab is not given back to the value memory while a live thread names one of its
   * entries here (reclaim.ts).
   */
  LOCK_HAZARD: 16,
  /**
   * fetch's loader table (loader.ts): LOAD_NEW is a LOAD record this thread allocated and has
   * not linked into the table yet (filled in by the allocator); LOAD_FREE one it has begun to
   * unlink and free. Recovery unlinks and frees either, under the table's lock.
   */
  LOAD_NEW: 17,
  LOAD_FREE: 18,
} as const;
/**
 * Words per thread slot: 128 bytes, two cache lines, so that a thread's hazard and pending
 * words share no line with another thread's (and there is room for the words to come).
 */
export const THREAD_SLOT_WORDS = 32;
/**
 * FREE: unused. ALIVE: its token holds locks validly. RECOVERING: its thread died and another
 * thread is finishing its write; its locks may be taken over (see threads.ts).
 */
export const THREAD_STATE = { FREE: 0, ALIVE: 1, RECOVERING: 2 } as const;
export const THREAD_TABLE_BYTES = MAX_THREADS * THREAD_SLOT_WORDS * 4;
/** First unit the allocator may hand out. */
export const HEAP_START_UNIT = (HEADER_BYTES + THREAD_TABLE_BYTES) / UNIT;

/** Write-epoch counters per store (see STORE.EPOCHS): 1 KB, 16 cache lines. */
export const EPOCH_STRIPE_BITS = 8;
export const EPOCH_STRIPES = 1 << EPOCH_STRIPE_BITS;

/** STORE block: one per named store. The name follows the fixed fields as UTF-16. */
export const STORE = {
  HDR: 0,
  /** Next store in the directory list. */
  NEXT: 1,
  /** Structural mutex: insert, remove, resize, clear. Taken after an entry lock, never before. */
  LOCK: 2,
  /** Structural sequence: odd while the bucket array is being replaced. */
  SEQ: 3,
  /** Ref of the current INDEX block. */
  INDEX: 4,
  /** Entries in the index (including value-less placeholders that hold a lock). */
  COUNT: 5,
  /** Tombstone buckets in the index; a resize clears them. */
  TOMBSTONES: 6,
  /** Entries whose current value has a TTL: sweeping is skipped while this is 0. */
  TTL_COUNT: 7,
  /** Next bucket the incremental expiry sweep looks at. */
  SWEEP_CURSOR: 8,
  /** Entries that hold a value (COUNT minus lock placeholders), i.e. the store's size. */
  VALUES: 9,
  /**
   * Ref of the store's SCHEMA block (0: none): the msgpackr record structures and/or the
   * fixed record layout every handle of this store must agree on, as JSON text in UTF-16.
   */
  SCHEMA: 10,
  /**
   * Ref of the store's STRUCTS block (0: none yet): the object shapes learned from the values
   * written so far, for msgpackr records (see structures.ts). Replaced, never changed in place.
   */
  STRUCTS: 11,
  /**
   * A table save in flight, under the store lock: the block being built and the block it
   * replaces. A thread that takes the lock over from a dead holder frees whichever of the two
   * the dead thread did not (see structures.ts, repairStructures). 0 outside a save.
   */
  STRUCTS_NEW: 12,
  STRUCTS_OLD: 13,
  /**
   * An index resize in flight, under the store lock: the new bucket array (recorded by the
   * allocator as it hands it out) and the one it replaces. A thread that takes the lock over
   * from a dead holder frees whichever of the two the dead thread did not (see keyindex.ts,
   * repairIndex). 0 outside a resize.
   */
  INDEX_NEW: 14,
  INDEX_OLD: 15,
  /**
   * The write epochs: EPOCH_STRIPES counters, from the first 64-byte boundary at or after this
   * word (see epochWord). Every writer bumps the counter of the entry's stripe before it
   * republishes DATA, so a thread that cached a decoded value can tell from one counter, which
   * stays in its L1 cache while nobody writes, that no entry of the stripe changed (see
   * lookup-cache.ts, hot reads). Aligned so that writers bumping them do not also invalidate the
   * line of the fields above, which every lookup reads.
   */
  EPOCHS: 16,
  /**
   * The store's use counters, each two words (low, high: see stats.ts, add64): gets that found
   * a value and that did not (flushed from per-thread counts, so reads write no shared line),
   * evictions, fetch loads and failed loads. After the epochs and their alignment slack.
   */
  HITS: 16 + EPOCH_STRIPES + 15,
  MISSES: 16 + EPOCH_STRIPES + 17,
  EVICTIONS: 16 + EPOCH_STRIPES + 19,
  LOADS: 16 + EPOCH_STRIPES + 21,
  LOAD_FAILURES: 16 + EPOCH_STRIPES + 23,
  /** The name's length in UTF-16 code units. */
  NAME_LEN: 16 + EPOCH_STRIPES + 25,
  /** UTF-16 name starts here (word index; two code units per word). */
  NAME: 16 + EPOCH_STRIPES + 26,
} as const;

/** Int32 word index of store `store`'s epoch counter 0: the first 16-word (64-byte) boundary in its area. */
export function epochWord(store: number): number {
  return (store * 2 + STORE.EPOCHS + 15) & ~15;
}

/**
 * The epoch stripe of entry `ref`: a multiplicative hash (entries of one slab are adjacent, and
 * should not share a stripe).
 */
export function epochStripe(ref: number): number {
  return Math.imul(ref, 0x9e3779b1) >>> (32 - EPOCH_STRIPE_BITS);
}
export const MAX_STORE_NAME_LENGTH = 256;

/** INDEX block: open addressing with linear probing over a power-of-two bucket array. */
export const INDEX = {
  HDR: 0,
  CAPACITY: 1,
  /** Word index of bucket 0. */
  BUCKETS: 2,
} as const;
/** Bucket values other than an entry ref (refs are always >= HEAP_START_UNIT). */
export const BUCKET_EMPTY = 0;
export const BUCKET_TOMBSTONE = 1;
/**
 * A bucket that names an entry holds, above the ref, the top bits of the entry key's hash: a
 * ref is below 2^29 (MAX_ARENA_BYTES / UNIT), which leaves 3 bits. A probe compares them before
 * it follows the ref, so it visits an entry of another key only once in 8 collisions. At a
 * million keys every entry visited is a cache (and TLB) miss of ~250 ns, and a successful
 * probe at the index's usual load (1/4..3/4) passes 0.2..1.5 other keys' buckets on average.
 * The home bucket comes from the low bits of the hash, so the tag adds information up to 2^29
 * buckets. Both words are bit patterns of an Int32: a tagged bucket may read as negative.
 */
export const BUCKET_TAG_BITS = 0xe0000000 | 0;
export const BUCKET_TAG_SHIFT = 29;
export const BUCKET_REF_MASK = 0x1fffffff;
export const MIN_INDEX_CAPACITY = 16;
/** Resize when (count + tombstones) / capacity would exceed this. */
export const MAX_LOAD = 0.75;

/** ENTRY block: one per key. Its key never changes while GEN is unchanged. */
export const ENTRY = {
  HDR: 0,
  /**
   * Key length in UTF-16 code units, | KEY_ONE_BYTE when every code unit is below 256 and the key
   * is stored one byte per unit (Latin-1: ASCII keys take half the room). (While the block is
   * FREE this word is BLOCK.NEXT_FREE.)
   */
  KEY_LEN: 1,
  /**
   * Life counter: even while the entry is live in an index, odd while free or being set up.
   * Bumped on free and on reuse, never reset, so `(ref, gen)` names one key's entry for good.
   */
  GEN: 2,
  /**
   * Value sequence: +2 each time DATA is republished. A reader that sees the same SEQ before
   * and after copying a value copied one immutable block (or inline slot). Odd values are reserved for writers
   * that change bytes in place (readers wait for even).
   */
  SEQ: 3,
  /** Per-key mutex: 0 when free, else holderToken << 1 | hasWaiters. */
  LOCK: 4,
  /**
   * The current value: the ref of a VALUE block (> 0), an INLINE descriptor (< 0: the value's
   * bytes are in one of the entry's own two slots, see below), or 0 when the entry holds no
   * value (a lock placeholder).
   */
  DATA: 5,
  /**
   * META: the minBufferSize hint in bytes (low 29 bits, 0 when none) and, in a bounded store,
   * the eviction policy's bits (policy.ts): REFERENCED (bit 31), set by a get that finds it
   * clear and cleared by the policy's hand; WINDOW (bit 30), set while the entry waits in the
   * admission window; PROTECTED (bit 29), set while it is in the main area's protected part.
   * Readers change only REFERENCED, with an atomic OR under a hazard
   * (a set bit on an entry that was meanwhile reused only gives its new key a second chance);
   * everything else changes it under the store lock, or under the entry lock with a CAS.
   */
  MIN_BYTES: 6,
  /**
   * Key code units start here (word index): bytes if KEY_ONE_BYTE, else UTF-16 code units. The
   * key's hash is not stored (a resize recomputes it from these units): 28 fixed bytes instead
   * of 32, which with 8-byte blocks saves a unit for most short keys.
   */
  KEY: 7,
} as const;
export const KEY_ONE_BYTE = 1 << 16;
/** ENTRY.MIN_BYTES bits (see there). */
export const META_REFERENCED = 1 << 31;
export const META_WINDOW = 1 << 30;
export const META_PROTECTED = 1 << 29;
export const META_HINT_MASK = (1 << 29) - 1;
export const KEY_LEN_MASK = 0xffff;
export const ENTRY_FIXED_BYTES = ENTRY.KEY * 4;
/** Longest key, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 4096;

/**
 * Inline values. A small value (at most INLINE_MAX_BYTES, no TTL, not a record) lives in the
 * entry itself, so that a get reads one block instead of two: at a million keys each block read
 * is a cache and TLB miss of ~200 ns. An entry made for a small value has two slots of equal
 * size after its key (word-aligned), their size in words in KEY_LEN's INLINE_WORDS bits, fixed
 * for the entry's life:
 *
 *  ENTRY  [HDR][KEY_LEN][GEN][SEQ][LOCK][DATA][MIN_BYTES][ key … ][pad][ slot A ][ slot B ]
 *                                          │                           ▲
 *                                          └── INLINE | len | tag | word offset of A or B
 *
 * A write fills the slot DATA does not name, then publishes DATA and bumps SEQ, exactly as a
 * block write fills a fresh block: the slot a reader may be copying is never written until a
 * later write has moved SEQ on (which that reader's validation sees). So readers never wait,
 * a writer that dies leaves either the old value or the new one, and nothing needs freeing.
 * The second slot costs what a VALUE block's header and size-class slack cost: the same memory
 * for values of 8..12 bytes, up to 16 bytes more per key for values of 13..24 bytes. 24 bytes
 * hold a number (8), short msgpack objects, and strings of up to 11 characters (stored as
 * UTF-16 plus a byte, see codec/strings.ts).
 */
export const INLINE_MAX_BYTES = 24;
/** KEY_LEN bits 17..19: words per inline slot (0: the entry has no slots). */
export const INLINE_WORDS_SHIFT = 17;
export const INLINE_WORDS_MASK = 7;
/** DATA descriptor of an inline value: INLINE | len << 20 | tag << 12 | slot word offset. */
export const INLINE = 1 << 31;
export const INLINE_LEN_SHIFT = 20;
export const INLINE_LEN_MASK = 0x7ff;
export const INLINE_TAG_SHIFT = 12;
export const INLINE_OFFSET_MASK = 0xfff;

/** Words per inline slot of the entry whose KEY_LEN word is `lenWord`. */
export function inlineWords(lenWord: number): number {
  return (lenWord >>> INLINE_WORDS_SHIFT) & INLINE_WORDS_MASK;
}
/** Word offset (from the entry's word 0) of its first inline slot: the word after its key. */
export function inlineSlotA(lenWord: number): number {
  const len = lenWord & KEY_LEN_MASK;
  return ENTRY.KEY + (((lenWord & KEY_ONE_BYTE) !== 0 ? len + 3 : 2 * len + 3) >>> 2);
}
/** The descriptor of a `len`-byte value with codec tag `tag` in the slot at word offset `slot`. */
export function inlineDescriptor(slot: number, tag: number, len: number): number {
  return INLINE | (len << INLINE_LEN_SHIFT) | (tag << INLINE_TAG_SHIFT) | slot;
}
/** The parts of an inline descriptor `d` (DATA < 0): slot word offset, byte length, codec tag. */
export function inlineSlot(d: number): number {
  return d & INLINE_OFFSET_MASK;
}
export function inlineLength(d: number): number {
  return (d >>> INLINE_LEN_SHIFT) & INLINE_LEN_MASK;
}
export function inlineTag(d: number): number {
  return (d >>> INLINE_TAG_SHIFT) & TAG_MASK;
}

/**
 * VALUE block: an immutable snapshot of one value, its encoding tag and its deadline. The tag
 * and the VALUE_FLAG bits share the block's HDR word with its kind and size class (bits 16..):
 * an 8-byte header, so that a number (8 bytes) fits a 16-byte block.
 */
export const VALUE = {
  /** tag << TAG_SHIFT | VALUE_FLAG bits | kind << 8 | sizeClass. */
  HDR: 0,
  /** Encoded length in bytes. */
  LEN: 1,
  /** Deadline in epoch milliseconds, split in two words; present only with VALUE_FLAG.TTL. */
  EXPIRES_HI: 2,
  EXPIRES_LO: 3,
} as const;
/** A TTL value's deadline in epoch milliseconds; `v` is the VALUE block's word index (`ref * 2`). */
export function readDeadline(i32: Int32Array, v: number): number {
  return i32[v + VALUE.EXPIRES_HI] * 4294967296 + (i32[v + VALUE.EXPIRES_LO] >>> 0);
}
/** Stores `expires` (epoch milliseconds, below 2^53) as a VALUE block's deadline words. */
export function writeDeadline(i32: Int32Array, v: number, expires: number): void {
  i32[v + VALUE.EXPIRES_HI] = Math.floor(expires / 4294967296);
  i32[v + VALUE.EXPIRES_LO] = expires % 4294967296;
}
/** Where a value's codec tag sits in its HDR word: `(hdr >>> TAG_SHIFT) & TAG_MASK`. */
export const TAG_SHIFT = 16;
/** Flags in a VALUE block's HDR word, above the tag. */
export const VALUE_FLAG = {
  TTL: 1 << 24,
  /**
   * A fixed-layout record: its bytes start at RECORD_BYTES_OFFSET, 8-byte aligned so fields can
   * be read through Float64Array/Int32Array views, and they may change in place (only with SEQ
   * odd under the entry lock, or one integer field at a time with an atomic op). Never with TTL.
   */
  RECORD: 1 << 25,
} as const;
export const TAG_MASK = 0xff;
/** The HDR bits that are the block's own (kind and size class), kept when a value is written. */
export const BLOCK_BITS = 0xffff;
/** Byte offset of the encoded bytes within a VALUE block, without and with a deadline. */
export const VALUE_BYTES_OFFSET = VALUE.LEN * 4 + 4;
export const VALUE_BYTES_OFFSET_TTL = VALUE.EXPIRES_LO * 4 + 4;
/** Byte offset of a record's bytes within its VALUE block: 8-byte aligned, for Float64Array. */
export const RECORD_BYTES_OFFSET = 8;

/**
 * SCHEMA block: [HDR][LEN = UTF-16 code units][POLICY][ JSON text … ][ policy area ]. Never freed
 * while its store lives. POLICY is the word offset, from the block's word 0, of a bounded
 * store's policy area (policy.ts: its state, admission window and frequency sketch), 64-byte
 * aligned after the text; 0 when the store has no bound.
 */
export const SCHEMA = { HDR: 0, LEN: 1, POLICY: 2, TEXT: 3 } as const;
/**
 * STRUCTS block (a store's learned structures): [HDR][LEN][COUNT][ JSON text, UTF-16 … ].
 * The text is a JSON array of COUNT property-name arrays; id i (msgpackr record 0x40 + i) is
 * element i. Immutable once published in STORE.STRUCTS.
 */
export const STRUCTS = { HDR: 0, LEN: 1, COUNT: 2, TEXT: 3 } as const;
/**
 * REDO block (a thread's redo buffer): [HDR][COUNT][ (offset, length) × COUNT ][ bytes … ].
 * Ranges are byte ranges of the record; the bytes follow the range table, packed in order.
 */
export const REDO = { HDR: 0, COUNT: 1, RANGES: 2 } as const;

/**
 * fetch's loader table (loader.ts), three uses of KIND.LOAD blocks:
 *
 * ```
 *  HEADER.LOAD_TABLE ─► LOADS  [HDR][pad][ head of bucket 0 … LOAD_BUCKETS - 1 ]
 *                                           │ (bucket: hash of key ^ store ref)
 *                                           ▼
 *  LOAD   [HDR][NEXT][STATE][STORE][HASH][RESULT][KEY_LEN][CLOSED][ WAITERS: 16 words, a bit per
 *         thread slot ][ key: UTF-16 … ]
 *  RESULT [HDR][LEN][TAG][ encoded value bytes … ]   or, TAG = RESULT_ERROR, UTF-8 JSON
 *                                                     { name, message, code } of a failed load
 * ```
 * STATE: > 0 the token of the thread running the loader; LOAD_ORPHAN (0) loading, its thread
 * died; LOAD_DONE / LOAD_FAILED final (RESULT names the outcome, 0 for `undefined`).
 * CLOSED: 1 once the owner has begun to store its value; no fetch joins the load from then on.
 */
export const LOADS = { HDR: 0, HEADS: 2 } as const;
export const LOAD_BUCKETS = 64;
export const LOAD = { HDR: 0, NEXT: 1, STATE: 2, STORE: 3, HASH: 4, RESULT: 5, KEY_LEN: 6, CLOSED: 7, WAITERS: 8, KEY: 8 + MAX_THREADS / 32 } as const;
export const LOAD_ORPHAN = 0;
export const LOAD_DONE = -1;
export const LOAD_FAILED = -2;
export const RESULT = { HDR: 0, LEN: 1, TAG: 2, BYTES: 3 } as const;
export const RESULT_ERROR = -1;

// ── Size classes ─────────────────────────────────────────────────────────────────────────────
// Block sizes in units: 2..8 exactly, then four classes per power of two (at most 25% slack).
// A freed block returns to its class's list and is reused first at that class, so a steady
// workload reaches a fixed footprint and stays there. Only when fresh space runs out does the
// allocator split a larger free block, and failing that merge adjacent free value blocks (a heap
// walk; allocator.ts).

export const SIZE_CLASSES = 111;
export const MIN_BLOCK_UNITS = 2;

/** The smallest class whose blocks hold `units` units. */
export function sizeClassOf(units: number): number {
  if (units <= 8) return units <= MIN_BLOCK_UNITS ? 0 : units - MIN_BLOCK_UNITS;
  const p = 31 - Math.clz32(units - 1); // 2^p < units <= 2^(p+1)
  const step = p - 2; // log2 of the class spacing within (2^p, 2^(p+1)]
  const within = ((units - (1 << p) + (1 << step) - 1) >>> step) - 1;
  return 7 + (p - 3) * 4 + within;
}

/** Units in a block of class `c`. */
export function classUnits(c: number): number {
  if (c < 7) return c + MIN_BLOCK_UNITS;
  const p = 3 + ((c - 7) >> 2);
  const within = (c - 7) & 3;
  return 2 ** p + (within + 1) * 2 ** (p - 2);
}

// An inline slot's word offset must fit its descriptor field (longest key, then two slots).
if (inlineSlotA(MAX_KEY_LENGTH) + 2 * INLINE_MAX_BYTES / 4 > INLINE_OFFSET_MASK) throw new Error('layout: inline offsets overflow');
if (INLINE_MAX_BYTES / 4 > INLINE_WORDS_MASK || INLINE_MAX_BYTES >= 1 << (31 - INLINE_LEN_SHIFT)) throw new Error('layout: inline sizes overflow');
// Every ref must fit below a bucket's tag bits.
if (MAX_ARENA_BYTES / UNIT - 1 > BUCKET_REF_MASK) throw new Error('layout: refs overlap bucket tags');
// The header must hold both free-list families.
if (HEADER.FREE_LISTS + 2 * SIZE_CLASSES > HEADER_BYTES / 4) throw new Error('layout: header too small');

/**
 * Arena text: `len` UTF-16 code units at u16 index `at` (store names, schema JSON, structure
 * tables), as a string. Read in chunks, so a long text does not overflow the argument list.
 * The caller has checked that the text lies inside the arena.
 */
export function readArenaText(u16: Uint16Array, at: number, len: number): string {
  let text = '';
  for (let i = 0; i < len; i += 4096) text += String.fromCharCode(...u16.subarray(at + i, at + Math.min(len, i + 4096)));
  return text;
}
