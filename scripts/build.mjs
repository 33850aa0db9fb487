#!/usr/bin/env node
// Builds dist/ from src/: type-checks (tsconfig.build.json), then bundles the CLI with esbuild into
// dist/cli/main.js, one ESM file, plus chunks beside it that load only when a command needs them
// (each command's heavy modules, the daemon, libxml2's schema check...): a command pays for the
// code it runs, not for the whole program. The build is stamped with the sources it was made from
// (source-stamp.mjs); the stamp is taken before building and written only after success, so a
// failed build, or a source edited while it ran, leaves no build that bin/ would run.
// dist/meta.json (esbuild's metafile: which sources went into which file) is for tests, not shipped.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { build } from 'esbuild';
import { DIST, INDEX_FILE, PACKAGE_ROOT, sourceStamp, STAMP_FILE } from './source-stamp.mjs';

const SRC = join(PACKAGE_ROOT, 'src');
const OUT = join(DIST, 'cli');
/** Dependencies that load files of their own at run time (wasm, worker scripts, koffi's native module): kept in node_modules. */
const EXTERNAL = ['libxml2-wasm', 'pino', 'dbus-next', 'prom-client', 'koffi', 'etcd3', 'cockatiel'];

/**
 * Each module finds files of the package (schemas/, filters/, bin/, package.json) relative to its
 * own URL: a source as if it were compiled to dist/ beside its path (src/a/b.ts -> dist/a/b.js), a
 * script (scripts/source-stamp.mjs) where it lies. In the bundle it runs from a chunk in dist/cli/,
 * so its `import.meta.url` is given that URL.
 */
const moduleUrls = {
  name: 'module-urls',
  setup(b) {
    b.onLoad({ filter: /\.(ts|mjs)$/, namespace: 'file' }, (args) => {
      if (relative(PACKAGE_ROOT, args.path).split(sep).includes('node_modules')) return undefined;
      const asRun = args.path.endsWith('.ts')
        ? relative(OUT, join(DIST, relative(SRC, args.path))).replace(/\.ts$/, '.js')
        : relative(OUT, args.path);
      const text = readFileSync(args.path, 'utf8').replaceAll(
        'import.meta.url',
        `new URL(${JSON.stringify(asRun)}, import.meta.url).href`,
      );
      return { contents: text, loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
    });
  },
};

/**
 * Node's built-in modules through `require`, not `import`: an ES import makes Node build the
 * module's namespace, reading every export, and node:http's lazy WebSocket getters (Node 22 and
 * later) then load undici, crypto, TLS, HTTP/2 and zlib: some 100 modules on every command.
 */
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    // only static imports: a dynamic import of CommonJS gives its default export alone. One
    // wrapper per importing file (Node's require returns the same module to each), so a wrapper
    // sits in its importer's chunk rather than being a chunk of its own that every command loads.
    b.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === 'import-statement'
        ? { path: `${relative(PACKAGE_ROOT, args.importer)}>${args.path}`, namespace: 'node-builtin' }
        : { path: args.path, external: true },
    );
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path.split('>').at(-1))});`,
      loader: 'js',
    }));
  },
};

rmSync(DIST, { recursive: true, force: true });
const index = [];
const stamp = sourceStamp(index);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noEmit'], {
  cwd: PACKAGE_ROOT,
  stdio: 'inherit',
});
if (r.status !== 0) process.exit(r.status ?? 1);
const { metafile } = await build({
  absWorkingDir: PACKAGE_ROOT,
  entryPoints: { main: join(SRC, 'cli/main.ts') },
  outdir: OUT,
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  external: EXTERNAL,
  // bundled CommonJS (commander, and the built-in modules above) requires Node's built-in modules
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  plugins: [moduleUrls, builtinsByRequire],
  metafile: true,
  logLevel: 'warning',
});
writeFileSync(join(DIST, 'meta.json'), JSON.stringify(metafile));
writeFileSync(INDEX_FILE, index.join('\n'));
writeFileSync(STAMP_FILE, stamp);
