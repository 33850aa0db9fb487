// A short line diff for conformance failures: the first differing hunk with some context.

export function shortDiff(expected: string, actual: string, context = 3, maxLines = 40): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length - 1;
  let endB = b.length - 1;
  while (endA >= start && endB >= start && a[endA] === b[endB]) {
    endA--;
    endB--;
  }
  const out: string[] = [`@@ line ${start + 1} @@`];
  for (let i = Math.max(0, start - context); i < start; i++) out.push(`  ${a[i]}`);
  for (let i = start; i <= endA; i++) out.push(`- ${a[i]}`);
  for (let i = start; i <= endB; i++) out.push(`+ ${b[i]}`);
  for (let i = endA + 1; i < Math.min(a.length, endA + 1 + context); i++) out.push(`  ${a[i]}`);
  if (out.length > maxLines)
    return [...out.slice(0, maxLines), `  ... (${out.length - maxLines} more lines)`].join('\n');
  return out.join('\n');
}

export function compareText(expected: string, actual: string): { ok: boolean; detail?: string } {
  return expected === actual ? { ok: true } : { ok: false, detail: shortDiff(expected, actual) };
}
