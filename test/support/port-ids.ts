// Port ids for a whole model compiled at once in tests (the backend's ledger allots its own as
// ports come and go).

/** Stable small ids for ports: kept from `previous`, new ports take the lowest free ones. */
export function assignPortIds(ifnames: readonly string[], previous: ReadonlyMap<string, number>): Map<string, number> {
  const ids = new Map<string, number>();
  for (const n of ifnames) if (previous.has(n)) ids.set(n, previous.get(n)!);
  const used = new Set(ids.values());
  let next = 1;
  for (const n of ifnames) {
    if (ids.has(n)) continue;
    while (used.has(next)) next++;
    if (next > 0xffff) throw new Error('more than 65535 filtered ports');
    ids.set(n, next);
    used.add(next);
  }
  return ids;
}
