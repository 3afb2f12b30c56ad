/**
 * Record views: typed access to one fixed-layout record in shared memory, field by field.
 *
 * A view remembers where its key's entry is, so reading a field costs one lock-free field read
 * (record-protocol.ts, readRecordField) and no lookup. Generated code subclasses it with one getter per
 * field at a constant offset (`get hp(): number { return this.int32(8); }`); by hand, use
 * `field(name)`.
 *
 * Each getter is one consistent read of that field. Two getters are two reads: between them a
 * writer may change the record. For several fields from one moment, use `snapshot()`.
 */
import { KeyNotFoundError, InvalidOptionError } from './errors';
import { type AtomicType, type FieldType, type RecordField, type RecordLayout, type ScalarType } from './records';
import { checkDelta, checkOperand, SCALAR_BYTES } from './records';
import { type IntegerField } from './options';
import { AtomicResult, FIELD_KINDS, FieldKind, readRecordBytes, readRecordField, recordAtomic, type RecordTarget } from './record-protocol';
import { type Ref } from './ref';
import { type Store } from './store';

const SCALAR_KIND: Record<Exclude<ScalarType, 'boolean'>, FieldKind> = FIELD_KINDS;
const ATOMIC_KIND: Record<AtomicType, FieldKind> = FIELD_KINDS;

export class RecordView<T extends object = Record<string, unknown>> implements RecordTarget {
  readonly store: Store<T>;
  readonly key: string;
  /** @internal Entry ref and generation (RecordTarget). */
  ref: Ref;
  /** @internal */
  gen: number;
  /** @internal The ENTRY_EPOCH `ref` is from (RecordTarget). */
  epoch: number;
  private readonly layout: RecordLayout;

  /**
   * A view of `key`'s record. Throws InvalidOptionError if the store is not a store of records,
   * KeyNotFoundError if the key holds no record now.
   */
  constructor(store: Store<T>, key: string) {
    const layout = store.recordLayout;
    if (layout === undefined) throw new InvalidOptionError(`store "${store.name}" is not a store of fixed-layout records (create it with options.record)`);
    const at = store.locate(key);
    if (at === undefined) throw new KeyNotFoundError(store.name, key);
    this.store = store;
    this.key = key;
    this.ref = at.ref;
    this.gen = at.gen;
    this.epoch = at.epoch;
    this.layout = layout;
  }

  /** @internal The entry moved (the key was deleted and set again) or is gone. */
  rebind(): void {
    const at = this.store.locate(this.key);
    if (at === undefined) throw new KeyNotFoundError(this.store.name, this.key);
    this.ref = at.ref;
    this.gen = at.gen;
    this.epoch = at.epoch;
  }

  /** Whether the key holds a record now. */
  get exists(): boolean {
    return this.store.has(this.key);
  }

  /** Every field, read in one consistent step (a copy), or undefined if the key holds none. */
  snapshot(): T | undefined {
    return this.store.get(this.key);
  }

  /** Changes the given fields under the key's lock, all at once for readers (see Store.setFields). */
  set(fields: Partial<T>, options?: { timeout?: number }): boolean {
    return this.store.setFields(this.key, fields, options);
  }

  /**
   * Atomically adds `delta` to an integer field, without a lock; returns the previous value
   * (wrapping like Atomics.add). The view's entry is known, so this skips the key lookup.
   */
  add(field: IntegerField<T>, delta: number): number {
    const f = this.store.atomicField(field as string, 'add');
    checkDelta(f.type, `"${field}"`, delta);
    return this.atomic(f.offset, f.kind, 0, delta, 0);
  }

  /**
   * For generated subclasses: an add on the integer field at a constant `offset` of type
   * `type`, without looking the field up by name.
   */
  protected addAt(offset: number, type: AtomicType, delta: number): number {
    checkDelta(type, `at byte ${offset}`, delta);
    return this.atomic(offset, ATOMIC_KIND[type], 0, delta, 0);
  }

  /** For generated subclasses: compareExchange on the integer field at a constant `offset`. */
  protected compareExchangeAt(offset: number, type: AtomicType, expected: number, replacement: number): number {
    checkOperand(type, `at byte ${offset}`, 'expected', expected);
    checkOperand(type, `at byte ${offset}`, 'replacement', replacement);
    return this.atomic(offset, ATOMIC_KIND[type], 1, expected, replacement);
  }

  private atomic(offset: number, kind: FieldKind, op: 0 | 1, a: number, b: number): number {
    for (;;) {
      const old = recordAtomic(this.ref, this.gen, this.epoch, offset, kind, op, a, b);
      if (old === AtomicResult.Missing) throw new KeyNotFoundError(this.store.name, this.key);
      if (old !== AtomicResult.Stale) return old;
      this.rebind();
    }
  }

  /** Atomically sets an integer field to `replacement` if it holds `expected`; returns the previous value. */
  compareExchange(field: IntegerField<T>, expected: number, replacement: number): number {
    return this.store.compareExchange(this.key, field, expected, replacement);
  }

  /** One field by name (generated subclasses have a getter per field instead). */
  field(name: string): unknown {
    const f = this.layout.fields.find((x) => x.name === name);
    if (f === undefined) throw new InvalidOptionError(`store "${this.store.name}" records have no field "${name}" (fields: ${this.layout.fields.map((x) => x.name).join(', ')})`);
    return this.read(f);
  }

  private read(f: RecordField): unknown {
    const t: FieldType = f.type;
    if (typeof t === 'string') return t === 'boolean' ? this.boolean(f.offset) : readRecordField(this, f.offset, SCALAR_KIND[t]);
    if ('enum' in t) return this.enumOf(f.offset, t.enum);
    if ('string' in t) return this.string(f.offset, t.string);
    return this.array(f.offset, t.array, t.length);
  }

  // ── Field readers for generated getters: each is one consistent read at a constant offset ──

  protected float64(offset: number): number {
    return readRecordField(this, offset, FieldKind.Float64);
  }
  protected int32(offset: number): number {
    return readRecordField(this, offset, FieldKind.Int32);
  }
  protected uint32(offset: number): number {
    return readRecordField(this, offset, FieldKind.Uint32);
  }
  protected int16(offset: number): number {
    return readRecordField(this, offset, FieldKind.Int16);
  }
  protected uint16(offset: number): number {
    return readRecordField(this, offset, FieldKind.Uint16);
  }
  protected int8(offset: number): number {
    return readRecordField(this, offset, FieldKind.Int8);
  }
  protected uint8(offset: number): number {
    return readRecordField(this, offset, FieldKind.Uint8);
  }
  protected boolean(offset: number): boolean {
    return readRecordField(this, offset, FieldKind.Uint8) !== 0;
  }
  /** An enum field: the member whose index is stored (uint8 up to 256 members, else uint16). */
  protected enumOf<E extends string>(offset: number, values: readonly E[]): E {
    return values[readRecordField(this, offset, values.length <= 256 ? FieldKind.Uint8 : FieldKind.Uint16)];
  }
  /** A string field of at most `maxBytes` UTF-8 bytes (stored as a uint16 length and the bytes). */
  protected string(offset: number, maxBytes: number): string {
    const b = readRecordBytes(this, offset, 2 + maxBytes);
    const n = Math.min(b[0] | (b[1] << 8), maxBytes);
    return Buffer.from(b.buffer, b.byteOffset, 2 + n).toString('utf8', 2, 2 + n);
  }
  /** A fixed-length array field of a scalar type, as a new array. */
  protected array(offset: number, type: 'boolean', length: number): boolean[];
  protected array(offset: number, type: Exclude<ScalarType, 'boolean'>, length: number): number[];
  protected array(offset: number, type: ScalarType, length: number): (number | boolean)[];
  protected array(offset: number, type: ScalarType, length: number): (number | boolean)[] {
    const el = SCALAR_BYTES[type];
    const b = readRecordBytes(this, offset, el * length);
    const dv = new DataView(b.buffer, b.byteOffset, el * length);
    const out = new Array<number | boolean>(length);
    for (let i = 0; i < length; i++) {
      const at = i * el;
      switch (type) {
        case 'float64': out[i] = dv.getFloat64(at, true); break;
        case 'int32': out[i] = dv.getInt32(at, true); break;
        case 'uint32': out[i] = dv.getUint32(at, true); break;
        case 'int16': out[i] = dv.getInt16(at, true); break;
        case 'uint16': out[i] = dv.getUint16(at, true); break;
        case 'int8': out[i] = dv.getInt8(at); break;
        case 'uint8': out[i] = dv.getUint8(at); break;
        case 'boolean': out[i] = dv.getUint8(at) !== 0; break;
      }
    }
    return out;
  }
}
