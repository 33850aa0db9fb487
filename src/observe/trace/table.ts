// The trace table: `meta nftrace set 1` for packets of the traced ports only, at the head of the
// bridge hooks our filters use (ours are at prerouting -300 and postrouting 300; forward 0 with
// bridge conntrack), in a table of its own that exists only while someone traces. The flag stays
// on the packet, so the inet hooks behind br_netfilter are traced too. Ports are matched through
// a set: other ports' packets pay one set lookup per hook while a trace runs, nothing otherwise.
import { renderBatch, type Batch } from '../../nft/batch.js';
import { match, meta, num, setref, str } from '../../nft/expr.js';
import type { Hook } from '../../nft/objects.js';

export const TRACE_TABLE = 'virtwall_trace';
const SET = 'ports';

const hook = (name: Hook['hook'], priority: number): Hook => ({
  type: 'filter',
  hook: name,
  priority,
  policy: 'accept',
});

/** Per chain: its hook, one before ours, and which interface of the packet names the port. */
const CHAINS = [
  { name: 'from_port', hook: hook('prerouting', -301), port: 'iifname' },
  { name: 'forward_to_port', hook: hook('forward', -1), port: 'oifname' },
  { name: 'to_port', hook: hook('postrouting', 299), port: 'oifname' },
] as const;

const elements = (verb: 'add' | 'delete', ports: readonly string[]): Batch =>
  ports.length ? [{ verb, set: { family: 'bridge', name: SET }, elements: ports.map((p) => ({ key: str(p) })) }] : [];

/** The table's contents for `ports` (`table`: also the `add table`, when nobody created it before). */
export function traceTableScript(ports: readonly string[], table: boolean): string {
  const batch: Batch = [
    ...(table ? [{ verb: 'add', table: 'bridge' } as const] : []),
    { verb: 'add', set: { family: 'bridge', name: SET, kind: 'set', decl: { key: { type: 'ifname' } } } },
    ...CHAINS.flatMap((c) => [
      { verb: 'add', chain: { family: 'bridge', name: c.name, hook: c.hook } } as const,
      {
        verb: 'add',
        chain: { family: 'bridge', name: c.name },
        rule: {
          statements: [match(meta(c.port), setref(SET)), { kind: 'mangle', key: meta('nftrace'), value: num(1) }],
          comment: 'virtwall nwfilter-trace',
        },
      } as const,
    ]),
    ...elements('add', ports),
  ];
  return renderBatch(batch, TRACE_TABLE);
}

/** From one port set to the next (the table exists), in one transaction. */
export function tracePortsScript(before: readonly string[], after: readonly string[]): string {
  const gone = before.filter((p) => !after.includes(p));
  const added = after.filter((p) => !before.includes(p));
  return renderBatch([...elements('delete', gone), ...elements('add', added)], TRACE_TABLE);
}

export const deleteTraceTableScript = renderBatch([{ verb: 'delete', table: 'bridge' }], TRACE_TABLE);
