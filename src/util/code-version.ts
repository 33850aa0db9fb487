// A stamp of the code that is running: every file of the tree this module was loaded from (src/
// under tsx, dist/ when built), as path, size and modification time. State that only caches what
// the code computed (the nftables backend's compiled ports) is trusted only under the same stamp,
// so an upgrade or an edit never reuses what older code built.
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const TREE = fileURLToPath(new URL('..', import.meta.url));

function entries(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return entries(path);
      const st = statSync(path);
      return [`${relative(TREE, path)}\t${st.size}\t${st.mtimeMs}`];
    });
}

let stamp: string | undefined;

export function codeVersion(): string {
  stamp ??= createHash('sha256').update(entries(TREE).join('\n')).digest('base64url');
  return stamp;
}
