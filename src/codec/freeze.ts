/**
 * deepFreeze: makes a decoded value safe to hand out many times (hot reads), and the read-only
 * Map/Set/Date prototypes it gives such objects (which the scan accepts as their base classes).
 */

function rejectWrite(this: unknown): never {
  throw new TypeError('cannot modify a value returned by the store: it is frozen (copy it first)');
}

/** Prototype for frozen Maps/Sets/Dates: their mutators throw. Still `instanceof Map` etc. */
function readOnlyPrototype(base: object, mutators: readonly string[]): object {
  const descriptors: PropertyDescriptorMap = {};
  for (const name of mutators) descriptors[name] = { value: rejectWrite };
  return Object.freeze(Object.create(base, descriptors));
}
const FrozenMapPrototype = readOnlyPrototype(Map.prototype, ['set', 'delete', 'clear']);
export const FrozenSetPrototype = readOnlyPrototype(Set.prototype, ['add', 'delete', 'clear']);
export const FrozenDatePrototype = readOnlyPrototype(
  Date.prototype,
  Object.getOwnPropertyNames(Date.prototype).filter((name) => name.startsWith('set')),
);

/**
 * Deep-freezes a decoded value so that it can be handed out many times. Returns the value.
 *
 * - Plain objects, arrays, Errors, RegExps: `Object.freeze`, recursively. A frozen RegExp with
 *   the `g` or `y` flag throws on `exec`/`test`, because its `lastIndex` is read-only.
 * - Map, Set, Date: frozen, and given a prototype (inheriting from Map/Set/Date, so `instanceof`
 *   and `constructor` are unchanged) whose mutators (`set`/`add`/`delete`/`clear`, `setTime`
 *   and the other Date setters) throw TypeError. Calling the original method directly, e.g.
 *   `Map.prototype.set.call(map, k, v)`, still mutates: JS offers no way to lock internal slots.
 *   Map keys and values and Set values are frozen too.
 * - Typed arrays and Buffers: JS cannot freeze their elements; they only get
 *   `Object.preventExtensions`. Their contents stay writable. The same holds for the contents
 *   of ArrayBuffers and DataViews (which are frozen as objects).
 *
 * Objects that are already frozen are not entered again (this is what stops at cycles), so
 * deepFreeze is meant for freshly decoded values, not for values frozen elsewhere.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) freezeObject(value);
  return value;
}

function freezeObject(o: object): void {
  if (Object.isFrozen(o)) return;
  if (Array.isArray(o)) {
    Object.freeze(o);
    for (let i = 0; i < o.length; i++) {
      const v: unknown = o[i];
      if (typeof v === 'object' && v !== null) freezeObject(v);
    }
    return;
  }
  if (ArrayBuffer.isView(o) && !(o instanceof DataView)) {
    Object.preventExtensions(o);
    return;
  }
  if (o instanceof Map) {
    Object.setPrototypeOf(o, FrozenMapPrototype);
    Object.freeze(o);
    for (const [k, v] of o as Map<unknown, unknown>) {
      if (typeof k === 'object' && k !== null) freezeObject(k);
      if (typeof v === 'object' && v !== null) freezeObject(v);
    }
    return;
  }
  if (o instanceof Set) {
    Object.setPrototypeOf(o, FrozenSetPrototype);
    Object.freeze(o);
    for (const v of o as Set<unknown>) {
      if (typeof v === 'object' && v !== null) freezeObject(v);
    }
    return;
  }
  if (o instanceof Date) Object.setPrototypeOf(o, FrozenDatePrototype);
  Object.freeze(o);
  // Decoded objects carry only own properties, so for-in visits exactly those.
  for (const key in o) {
    const v = (o as Record<string, unknown>)[key];
    if (typeof v === 'object' && v !== null) freezeObject(v);
  }
}
