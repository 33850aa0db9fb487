// Tying a kernel rule back to the XML that made it: every rule virtwall loads carries the comment
// "FILTER/.../FILTER prio=N" (the filter path from the bound filter down to the one holding the
// rule, and the rule's priority), so a counter that grows on a drop names its source.

/** nft keeps at most 128 bytes of a rule comment; long paths lose their start. */
const MAX_COMMENT = 127;

export function ruleComment(path: readonly string[], priority: number): string {
  const tail = ` prio=${priority}`;
  let text = path.join('/');
  if (text.length + tail.length > MAX_COMMENT) text = `...${text.slice(text.length + tail.length + 3 - MAX_COMMENT)}`;
  return text + tail;
}

export interface RuleOrigin {
  /** Filter names from the bound filter down; the first is missing when the path was cut. */
  path: string[];
  priority: number;
}

/** The origin named by a listed rule (`nft list` text or just its comment), if it is one of ours. */
export function ruleOrigin(listed: string): RuleOrigin | undefined {
  const m = /(?:^|comment ")([^"]*?) prio=(-?\d+)"?\s*$/.exec(listed.trim());
  if (!m) return undefined;
  return { path: m[1]!.split('/'), priority: Number(m[2]) };
}
