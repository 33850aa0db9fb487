// The owning nft client on the real kernel, in a namespace: tables it creates refuse every other
// process (a foreign `nft flush ruleset` passes them by, `nft delete table` gets EPERM), survive
// a kill -9 of their owner, and the next owner adopts them. Each client runs in its own process
// in the namespace (owning-driver.ts): the client works in the namespace of its process.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { canUseNetns, NetnsLab } from '../support/netns.js';
import type { CommandResult } from '../../src/exec/runner.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';
const DRIVER = join(import.meta.dirname, 'owning-driver.ts');
const T = 'vwt_owned';
const forward = { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' };

interface Driver {
  /** The first line: {ready: true} or {unavailable: reason}. */
  hello: { ready?: true; unavailable?: string };
  /** The answer's result, of the type the op returns (R). */
  ask<R = unknown>(req: object): Promise<R>;
  kill9(): Promise<void>;
}

async function driver(t: TestContext, ns: string): Promise<Driver> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', DRIVER], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.on('exit', r));
  t.after(() => child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string);
  const hello = await next();
  return {
    hello,
    async ask(req) {
      child.stdin!.write(`${JSON.stringify(req)}\n`);
      const a = await next();
      if (a.error) throw new Error(a.error);
      return a.result;
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

const tableWithChain = (family: string) => [
  { verb: 'add', table: family },
  { verb: 'add', chain: { family, name: 'c', hook: forward } },
];

describe('owning nft client (owner and persist table flags)', { skip }, () => {
  it('keeps our tables from foreign flushes and deletes, through a kill -9, and adopts them again', async (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const ns = lab.netns('own');
    const a = await driver(t, ns);
    if (a.hello.unavailable) {
      // a kernel without `persist`: the probe says so and leaves nothing; the daemon keeps healing
      assert.match(a.hello.unavailable, /kernel refuses/);
      assert.equal(lab.exec(ns, ['nft', 'list', 'ruleset']).stdout.trim(), '');
      t.skip(`this kernel cannot own tables: ${a.hello.unavailable}`);
      return;
    }
    assert.equal(
      lab.exec(ns, ['nft', 'list', 'ruleset']).stdout.trim(),
      '',
      'the ownership probe leaves nothing behind',
    );

    // `add table` of a table we own is our own message: nft's would carry no flags and be refused
    assert.deepEqual(await a.ask({ op: 'apply', table: T, batch: tableWithChain('bridge') }), []);
    assert.equal(
      (await a.ask<CommandResult>({ op: 'nft', argv: ['nft', `add rule bridge ${T} c counter drop`] })).status,
      0,
      'our own socket still changes the table',
    );
    assert.equal(await a.ask({ op: 'check', table: T, batch: tableWithChain('bridge') }), true);
    assert.equal(
      await a.ask({ op: 'apply', table: T, batch: tableWithChain('bridge') }).then(() => 'applied'),
      'applied',
      'adding the table again is no error',
    );
    lab.exec(ns, ['nft', 'add table bridge vwt_other']);
    const other = await a.ask<CommandResult>({ op: 'other', argv: ['nft', `add rule bridge ${T} c counter accept`] });
    assert.match(other.stderr, /Operation not permitted/, 'another socket of the same process is refused');

    const intact = () => {
      const listed = lab.exec(ns, ['nft', 'list', 'table', 'bridge', T], false);
      assert.equal(listed.status, 0, `table bridge ${T} is there: ${listed.stderr}`);
      assert.match(listed.stdout, /counter packets \d+ bytes \d+ drop/);
      assert.doesNotMatch(listed.stdout, /accept$/m);
    };
    lab.exec(ns, ['nft', 'flush', 'ruleset']);
    assert.equal(
      lab.exec(ns, ['nft', 'list', 'table', 'bridge', 'vwt_other'], false).status,
      1,
      'the flush ran: it took the table nobody owns',
    );
    intact();
    assert.match(lab.exec(ns, ['nft', 'delete', 'table', 'bridge', T], false).stderr, /Operation not permitted/);
    assert.match(lab.exec(ns, ['nft', 'flush', 'chain', 'bridge', T, 'c'], false).stderr, /Operation not permitted/);
    intact();

    // a child that outlives its parent does not keep the tables owned (the socket is close-on-exec)
    const child = await a.ask<number>({ op: 'child' });
    t.after(() => process.kill(child, 'SIGKILL'));
    await a.kill9();
    intact();
    const b = await driver(t, ns);
    assert.equal(await b.ask({ op: 'own', family: 'bridge', table: T }), 'owned', 'the orphan is adopted');
    assert.equal(await b.ask({ op: 'own', family: 'inet', table: T }), 'absent');
    assert.equal(lab.exec(ns, ['nft', 'list', 'table', 'inet', T], false).status, 1, 'adopting creates no table');
    lab.exec(ns, ['nft', 'flush', 'ruleset']);
    assert.match(lab.exec(ns, ['nft', 'delete', 'table', 'bridge', T], false).stderr, /Operation not permitted/);
    intact();
    assert.equal(await b.ask({ op: 'list', family: 'bridge', table: T }), 1, 'listed through the owning context');

    // the owner deletes its tables itself
    await b.ask({ op: 'apply', table: T, batch: [{ verb: 'delete', table: 'bridge' }] });
    assert.equal(lab.exec(ns, ['nft', 'list', 'ruleset']).stdout.trim(), '');
  });

  it('changes a table it cannot own (created without ownership) as nft would', async (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const ns = lab.netns('unowned');
    lab.exec(ns, ['nft', `add table bridge ${T}`]);
    const a = await driver(t, ns);
    if (a.hello.unavailable) return t.skip(a.hello.unavailable);
    assert.equal(await a.ask({ op: 'own', family: 'bridge', table: T }), 'not-ownable');
    await a.ask({ op: 'apply', table: T, batch: tableWithChain('bridge') });
    assert.match(lab.exec(ns, ['nft', 'list', 'table', 'bridge', T]).stdout, /chain c/);
    lab.exec(ns, ['nft', 'flush', 'ruleset']);
    assert.equal(
      lab.exec(ns, ['nft', 'list', 'ruleset']).stdout.trim(),
      '',
      'not owned: a flush takes it (the heal puts it back)',
    );
  });
});
