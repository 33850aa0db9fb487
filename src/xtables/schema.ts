// The schema of a typed xtables rule (rule.ts) as state files hold it.
import * as z from '../util/zod.js';

const WORD = z.string().check(z.maxLength(256));
const OPTION = z.strictObject({ name: WORD, values: z.array(WORD), negated: z.optional(z.literal(true)) });

export const XT_RULE = z.strictObject({
  chain: WORD,
  matches: z.array(z.strictObject({ module: z.optional(WORD), options: z.array(OPTION) })),
  target: z.optional(z.strictObject({ name: WORD, goto: z.optional(z.literal(true)), options: z.array(OPTION) })),
});
