// The schema of a typed xtables rule (rule.ts) as state files hold it.
import { z } from 'zod';

const WORD = z.string().max(256);
const OPTION = z.strictObject({ name: WORD, values: z.array(WORD), negated: z.literal(true).optional() });

export const XT_RULE = z.strictObject({
  chain: WORD,
  matches: z.array(z.strictObject({ module: WORD.optional(), options: z.array(OPTION) })),
  target: z.strictObject({ name: WORD, goto: z.literal(true).optional(), options: z.array(OPTION) }).optional(),
});
