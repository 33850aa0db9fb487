// virsh's table layout (tools/vsh-table.c): every cell after one space, columns padded to their
// widest cell plus two, a dashed line of (width + 3) per column under the header. Without the
// header (virsh -q) the widths come from the rows alone.
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  withHeader = true,
): string {
  const measured = withHeader ? [header, ...rows] : rows;
  const widths = header.map((_, i) => Math.max(0, ...measured.map((r) => [...(r[i] ?? '')].length)));
  const line = (r: readonly string[]) =>
    `${r.map((c, i) => ` ${c}${i < r.length - 1 ? ' '.repeat(widths[i]! - [...c].length + 2) : ''}`).join('')}\n`;
  const head = withHeader ? `${line(header)}${'-'.repeat(widths.reduce((s, w) => s + w + 3, 0))}\n` : '';
  return head + rows.map(line).join('');
}

/** virsh's `%-15s %s` key/value lines (net-info). */
export function formatInfo(pairs: readonly [string, string][]): string {
  return pairs.map(([k, v]) => `${(`${k}:`).padEnd(15)} ${v}\n`).join('');
}
