// Schemas of the typed nft objects (expr.ts, objects.ts) for what virtwall reads back from its own
// state files: a file that does not hold exactly these shapes is corrupt (util/state-file.ts).
import { z } from 'zod';
import type { Element, Expr, Statement, Value, Verdict } from './expr.js';
import type { KernelStatement, NftChain, SetMeta } from './objects.js';

const FAMILY = z.enum(['bridge', 'inet', 'ip', 'ip6', 'arp', 'netdev']);
const PORTS = z.tuple([z.number().int(), z.number().int()]).readonly();

export const EXPR: z.ZodType<Expr> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('payload'), protocol: z.string(), field: z.string() }),
    z.strictObject({
      kind: z.literal('raw'),
      base: z.enum(['ll', 'nh', 'th']),
      offset: z.number().int(),
      len: z.number().int(),
    }),
    z.strictObject({ kind: z.literal('meta'), key: z.string() }),
    z.strictObject({ kind: z.literal('ct'), key: z.string(), dir: z.enum(['original', 'reply']).optional() }),
    z.strictObject({ kind: z.literal('tcp option'), option: z.number().int() }),
    z.strictObject({ kind: z.literal('concat'), parts: z.array(EXPR).readonly() }),
    z.strictObject({ kind: z.literal('and'), expr: EXPR, mask: VALUE }),
  ]),
);

const VERDICT: z.ZodType<Verdict> = z.union([
  z.strictObject({ kind: z.enum(['accept', 'drop', 'return', 'continue']) }),
  z.strictObject({ kind: z.enum(['jump', 'goto']), target: z.string() }),
]);

export const VALUE: z.ZodType<Value> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('string'), text: z.string() }),
    z.strictObject({ kind: z.literal('symbol'), name: z.string() }),
    z.strictObject({ kind: z.literal('number'), value: z.number(), hex: z.number().int().optional() }),
    z.strictObject({ kind: z.enum(['ether', 'ip', 'ip6']), addr: z.string() }),
    z.strictObject({ kind: z.literal('prefix'), addr: VALUE, len: z.number().int() }),
    z.strictObject({ kind: z.literal('range'), from: VALUE, to: VALUE }),
    z.strictObject({ kind: z.literal('concat'), parts: z.array(VALUE).readonly() }),
    z.strictObject({ kind: z.literal('flags'), names: z.array(z.string()).readonly() }),
    z.strictObject({ kind: z.literal('set'), items: z.array(VALUE).readonly() }),
    z.strictObject({ kind: z.literal('setref'), name: z.string() }),
    z.strictObject({ kind: z.literal('verdict'), verdict: VERDICT }),
    z.strictObject({ kind: z.literal('boolean'), value: z.boolean() }),
    z.strictObject({ kind: z.literal('lookup'), key: EXPR, map: z.string() }),
  ]),
) as z.ZodType<Value>;

export const STATEMENT: z.ZodType<Statement> = z.lazy(() =>
  z.union([
    z.strictObject({ kind: z.literal('match'), op: z.enum(['==', '!=']), left: EXPR, right: VALUE }),
    z.strictObject({ kind: z.literal('counter') }),
    VERDICT,
    z.strictObject({ kind: z.literal('mangle'), key: EXPR, value: VALUE }),
    z.strictObject({ kind: z.literal('vmap'), key: EXPR, map: z.string() }),
    z.strictObject({ kind: z.literal('set add'), set: z.string(), elem: EXPR, stmts: z.array(STATEMENT).readonly() }),
    z.strictObject({ kind: z.literal('ct count'), count: z.number().int(), over: z.boolean() }),
    z.strictObject({
      kind: z.literal('log'),
      prefix: z.string().optional(),
      level: z.enum(['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug']).optional(),
      group: z.number().int().optional(),
    }),
    z.strictObject({
      kind: z.literal('limit'),
      rate: z.number(),
      per: z.enum(['second', 'minute', 'hour', 'day']),
      burst: z.number().optional(),
      over: z.boolean().optional(),
    }),
    z.strictObject({
      kind: z.literal('reject'),
      with: z
        .union([
          z.strictObject({ type: z.enum(['icmp', 'icmpv6', 'icmpx']), code: z.string() }),
          z.strictObject({ type: z.literal('tcp reset') }),
        ])
        .optional(),
    }),
    z.strictObject({ kind: z.literal('masquerade'), ports: PORTS.optional() }),
    z.strictObject({
      kind: z.literal('snat'),
      family: z.enum(['ip', 'ip6']).optional(),
      addr: VALUE,
      ports: PORTS.optional(),
    }),
    z.strictObject({ kind: z.literal('notrack') }),
  ]),
);

export const ELEMENT: z.ZodType<Element> = z.strictObject({ key: VALUE, value: VALUE.optional() });

/** nft's JSON for one statement as the kernel lists it, checked as JSON (its meaning is the kernel's). */
export const KERNEL_STATEMENT = z.record(z.string(), z.json()).transform((s): KernelStatement => s);

export const CHAIN: z.ZodType<NftChain> = z.strictObject({
  family: FAMILY,
  name: z.string(),
  hook: z
    .strictObject({
      type: z.literal('filter'),
      hook: z.enum(['prerouting', 'input', 'forward', 'output', 'postrouting']),
      priority: z.number(),
      policy: z.enum(['accept', 'drop']),
    })
    .optional(),
  rules: z
    .array(
      z.strictObject({
        statements: z.array(STATEMENT).readonly(),
        comment: z.string(),
        body: z.array(KERNEL_STATEMENT).readonly().optional(),
      }),
    )
    .readonly(),
});

export const SET_META: z.ZodType<SetMeta> = z.strictObject({
  family: FAMILY,
  name: z.string(),
  kind: z.enum(['set', 'map']),
  decl: z.strictObject({
    key: z.union([z.strictObject({ typeof: EXPR }), z.strictObject({ type: z.string() })]),
    value: z.string().optional(),
    flags: z
      .array(z.enum(['interval', 'dynamic']))
      .readonly()
      .optional(),
    size: z.number().optional(),
  }),
});
