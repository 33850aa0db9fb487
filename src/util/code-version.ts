// The stamp of the code that is running (scripts/source-stamp.mjs, the one definition): the
// stamp dist/ was built from when the compiled code runs, else that of the sources tsx runs.
// Both are content digests of the same sources, so a build and its sources share one stamp.
import { fileURLToPath } from 'node:url';
import { builtStamp, DIST, sourceStamp } from '../../scripts/source-stamp.mjs';

let stamp: string | undefined;

export function codeVersion(): string {
  stamp ??= (fileURLToPath(import.meta.url).startsWith(DIST) ? builtStamp() : undefined) ?? sourceStamp();
  return stamp;
}
