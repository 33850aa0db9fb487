// `node --import ./module-log.mjs ...`: appends the URL of every module the process loads through
// the ES module loader (its own files, chunks, packages, node: builtins) to $VWT_MODULE_LOG, one
// per line, so a test can see what a command loaded.
import { register } from 'node:module';

const log = process.env.VWT_MODULE_LOG;
if (log) {
  const hooks = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(log)}, url + '\\n');
  return next(url, context);
}`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`);
}
