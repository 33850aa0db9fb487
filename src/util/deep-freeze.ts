// Values shared between readers (cached records): frozen all the way down, so a reader that
// changes one by mistake throws instead of changing what every later reader gets.

/** `v`, with every object and array in it frozen. */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
