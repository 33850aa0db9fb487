// The build (scripts/build.mjs -> dist/) and bin/virtwall.js's choice between it and the sources:
// in a copy of the package, a fresh build is what runs; any change to src/'s contents (an edited
// or added file) sends the CLI back to the TypeScript through tsx until the next build, while a
// new modification time alone (npm and git set them freely) does not.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

const repo = resolve(import.meta.dirname, '..');
const MARKER = 'ran-compiled-code';

it('bin runs dist/ only while it was built from the current src/', { timeout: 180_000 }, async (t) => {
  const copy = mkdtempSync(join(tmpdir(), 'vwt-build-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  for (const p of [
    'bin',
    'scripts',
    'src',
    'filters',
    'schemas',
    'package.json',
    'tsconfig.json',
    'tsconfig.build.json',
  ])
    cpSync(join(repo, p), join(copy, p), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
  const file = join(copy, 'src/errors.ts');
  const source = readFileSync(file);

  const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: copy, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stdout + build.stderr);
  // the compiled entry announces itself; the sources do not
  appendFileSync(join(copy, 'dist/cli/main.js'), `\nprocess.stderr.write('${MARKER}\\n');\n`);
  const run = () => {
    const r = spawnSync(process.execPath, ['bin/virtwall.js', 'validate', 'filters/clean-traffic.xml'], {
      cwd: copy,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /valid network filter/);
    return r.stderr.includes(MARKER) ? 'dist' : 'src';
  };
  assert.equal(run(), 'dist', 'a fresh build runs (schemas and stock filters found from dist/)');

  utimesSync(file, new Date('2001-01-01T00:00:00Z'), new Date('2001-01-01T00:00:00Z'));
  assert.equal(run(), 'dist', 'a touched source with the same bytes: still dist/');
  appendFileSync(file, '// edited\n');
  assert.equal(run(), 'src', 'an edited source runs from src/');
  writeFileSync(file, source);
  assert.equal(run(), 'dist', 'the same sources as built: dist/ again');

  writeFileSync(join(copy, 'src/added.ts'), 'export {};\n');
  assert.equal(run(), 'src', 'an added source runs from src/');
  rmSync(join(copy, 'src/added.ts'));
  const stamp = (await import(pathToFileURL(join(copy, 'scripts/source-stamp.mjs')).href)) as { STAMP_FILE: string };
  rmSync(stamp.STAMP_FILE);
  assert.equal(run(), 'src', 'no stamp (a failed or interrupted build): src/');
});

describe('a build', () => {
  let copy = '';
  before(
    () => {
      copy = mkdtempSync(join(tmpdir(), 'vwt-build-'));
      for (const p of ['scripts', 'src', 'package.json', 'tsconfig.json', 'tsconfig.build.json'])
        cpSync(join(repo, p), join(copy, p), { recursive: true });
      symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
      const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: copy, encoding: 'utf8' });
      assert.equal(build.status, 0, build.stdout + build.stderr);
    },
    { timeout: 180_000 },
  );
  after(() => rmSync(copy, { recursive: true, force: true }));

  it("every bundled module finds the package's files from its own path, not from its chunk's", () => {
    const out = join(copy, 'dist/cli');
    // the one raw use: the banner's require, which loads built-in modules only
    const banner = '__createRequire(import.meta.url)';
    let mapped = 0;
    for (const chunk of readdirSync(out).filter((f) => f.endsWith('.js'))) {
      const text = readFileSync(join(out, chunk), 'utf8').replaceAll(banner, '');
      for (const m of text.matchAll(/(new URL\("([^"]+)", )?import\.meta\.url/g)) {
        assert.ok(m[2], `${chunk}: a module reads its chunk's URL: ...${text.slice(m.index - 60, m.index + 20)}`);
        // as run: a source's place in dist/ beside its path in src/, a script's own file
        const path = resolve(out, m[2]);
        const origin = path.startsWith(join(copy, 'dist') + sep)
          ? join(copy, 'src', relative(join(copy, 'dist'), path)).replace(/\.js$/, '.ts')
          : path;
        assert.ok(existsSync(origin), `${chunk}: ${m[2]} names no module of the package`);
        mapped++;
      }
    }
    assert.ok(mapped > 5, `only ${mapped} mapped module URLs found`);
  });

  it("bundles zod's functional API (zod/mini), not its classic one (~750 KB, ~30 ms at every start)", () => {
    const meta = JSON.parse(readFileSync(join(copy, 'dist/meta.json'), 'utf8')) as {
      outputs: Record<string, { inputs: Record<string, unknown> }>;
    };
    const inputs = Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs));
    assert.deepEqual(
      inputs.filter((i) => /node_modules\/zod\/v4\/classic\//.test(i)),
      [],
      'modules of classic zod in dist/',
    );
    assert.ok(
      inputs.some((i) => /node_modules\/zod\/v4\/mini\//.test(i)),
      'zod/mini is bundled (the check sees zod)',
    );
  });
});
