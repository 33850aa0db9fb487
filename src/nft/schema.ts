// Schemas of the typed nft objects (expr.ts, objects.ts) for what virtwall reads back from its own
// state files: a file that does not hold exactly these shapes is corrupt (util/state-file.ts).
import * as z from '../util/zod.js';
import type { Element, Expr, Statement, Value, Verdict } from './expr.js';
import type { KernelStatement, NftChain, SetMeta } from './objects.js';

const FAMILY = z.enum(['bridge', 'inet', 'ip', 'ip6', 'arp', 'netdev']);
const PORTS = z.readonly(z.tuple([z.int(), z.int()]));

export const EXPR: z.ZodMiniType<Expr> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('payload'), protocol: z.string(), field: z.string() }),
    z.strictObject({
      kind: z.literal('raw'),
      base: z.enum(['ll', 'nh', 'th']),
      offset: z.int(),
      len: z.int(),
    }),
    z.strictObject({ kind: z.literal('meta'), key: z.string() }),
    z.strictObject({ kind: z.literal('ct'), key: z.string(), dir: z.optional(z.enum(['original', 'reply'])) }),
    z.strictObject({ kind: z.literal('tcp option'), option: z.int() }),
    z.strictObject({ kind: z.literal('concat'), parts: z.readonly(z.array(EXPR)) }),
    z.strictObject({ kind: z.literal('and'), expr: EXPR, mask: VALUE }),
  ]),
);

const VERDICT: z.ZodMiniType<Verdict> = z.union([
  z.strictObject({ kind: z.enum(['accept', 'drop', 'return', 'continue']) }),
  z.strictObject({ kind: z.enum(['jump', 'goto']), target: z.string() }),
]);

export const VALUE: z.ZodMiniType<Value> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('string'), text: z.string() }),
    z.strictObject({ kind: z.literal('symbol'), name: z.string() }),
    z.strictObject({ kind: z.literal('number'), value: z.number(), hex: z.optional(z.int()) }),
    z.strictObject({ kind: z.enum(['ether', 'ip', 'ip6']), addr: z.string() }),
    z.strictObject({ kind: z.literal('prefix'), addr: VALUE, len: z.int() }),
    z.strictObject({ kind: z.literal('range'), from: VALUE, to: VALUE }),
    z.strictObject({ kind: z.literal('concat'), parts: z.readonly(z.array(VALUE)) }),
    z.strictObject({ kind: z.literal('flags'), names: z.readonly(z.array(z.string())) }),
    z.strictObject({ kind: z.literal('set'), items: z.readonly(z.array(VALUE)) }),
    z.strictObject({ kind: z.literal('setref'), name: z.string() }),
    z.strictObject({ kind: z.literal('verdict'), verdict: VERDICT }),
    z.strictObject({ kind: z.literal('boolean'), value: z.boolean() }),
    z.strictObject({ kind: z.literal('lookup'), key: EXPR, map: z.string() }),
  ]),
) as z.ZodMiniType<Value>;

export const STATEMENT: z.ZodMiniType<Statement> = z.lazy(() =>
  z.union([
    z.strictObject({ kind: z.literal('match'), op: z.enum(['==', '!=']), left: EXPR, right: VALUE }),
    z.strictObject({ kind: z.literal('counter') }),
    VERDICT,
    z.strictObject({ kind: z.literal('mangle'), key: EXPR, value: VALUE }),
    z.strictObject({ kind: z.literal('vmap'), key: EXPR, map: z.string() }),
    z.strictObject({ kind: z.literal('set add'), set: z.string(), elem: EXPR, stmts: z.readonly(z.array(STATEMENT)) }),
    z.strictObject({ kind: z.literal('ct count'), count: z.int(), over: z.boolean() }),
    z.strictObject({
      kind: z.literal('log'),
      prefix: z.optional(z.string()),
      level: z.optional(z.enum(['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug'])),
      group: z.optional(z.int()),
    }),
    z.strictObject({
      kind: z.literal('limit'),
      rate: z.number(),
      per: z.enum(['second', 'minute', 'hour', 'day']),
      burst: z.optional(z.number()),
      over: z.optional(z.boolean()),
    }),
    z.strictObject({
      kind: z.literal('reject'),
      with: z.optional(
        z.union([
          z.strictObject({ type: z.enum(['icmp', 'icmpv6', 'icmpx']), code: z.string() }),
          z.strictObject({ type: z.literal('tcp reset') }),
        ]),
      ),
    }),
    z.strictObject({ kind: z.literal('masquerade'), ports: z.optional(PORTS) }),
    z.strictObject({
      kind: z.literal('snat'),
      family: z.optional(z.enum(['ip', 'ip6'])),
      addr: VALUE,
      ports: z.optional(PORTS),
    }),
    z.strictObject({ kind: z.literal('notrack') }),
  ]),
);

export const ELEMENT: z.ZodMiniType<Element> = z.strictObject({ key: VALUE, value: z.optional(VALUE) });

/** nft's JSON for one statement as the kernel lists it, checked as JSON (its meaning is the kernel's). */
export const KERNEL_STATEMENT = z.pipe(
  z.record(z.string(), z.json()),
  z.transform((s): KernelStatement => s),
);

export const CHAIN: z.ZodMiniType<NftChain> = z.strictObject({
  family: FAMILY,
  name: z.string(),
  hook: z.optional(
    z.strictObject({
      type: z.literal('filter'),
      hook: z.enum(['prerouting', 'input', 'forward', 'output', 'postrouting']),
      priority: z.number(),
      policy: z.enum(['accept', 'drop']),
    }),
  ),
  rules: z.readonly(
    z.array(
      z.strictObject({
        statements: z.readonly(z.array(STATEMENT)),
        comment: z.string(),
        body: z.optional(z.readonly(z.array(KERNEL_STATEMENT))),
      }),
    ),
  ),
});

export const SET_META: z.ZodMiniType<SetMeta> = z.strictObject({
  family: FAMILY,
  name: z.string(),
  kind: z.enum(['set', 'map']),
  decl: z.strictObject({
    key: z.union([z.strictObject({ typeof: EXPR }), z.strictObject({ type: z.string() })]),
    value: z.optional(z.string()),
    flags: z.optional(z.readonly(z.array(z.enum(['interval', 'dynamic'])))),
    size: z.optional(z.number()),
  }),
});
