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

/** The origin a rule's comment names, if it is one of ours (ruleComment's format, read back). */
export function ruleOrigin(comment: string): RuleOrigin | undefined {
  const at = comment.lastIndexOf(' prio=');
  if (at < 0) return undefined;
  const priority = comment.slice(at + ' prio='.length);
  if (!/^-?\d+$/.test(priority)) return undefined;
  return { path: comment.slice(0, at).split('/'), priority: Number(priority) };
}
