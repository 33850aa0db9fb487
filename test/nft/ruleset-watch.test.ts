// run-tests: alone (times how soon a foreign change is reported: within 1 s)
// The in-process watch of nftables' events on the real kernel, in a namespace this test creates:
// another process's changes wake it once each, this process's own (libnftables in-process on
// koffi's worker thread, nft children of our runner) never do, a burst beyond the socket's buffer
// counts as a change, and stop() lets the process exit at once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SystemRunner } from '../../src/exec/runner.js';
import { inNetns } from '../../src/netlink/socket.js';
import { Libnftables } from '../../src/nft/libnftables.js';
import { watchRuleset } from '../../src/nft/ruleset-watch.js';
import { waitFor } from '../../src/util/wait-for.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';
const WATCH = new URL('../../src/nft/ruleset-watch.ts', import.meta.url).href;

/** A script adding `n` elements to a new set of table `name` (one transaction). */
function bulk(name: string, n: number): string {
  const elements = Array.from({ length: n }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  return `add table ip ${name}\nadd set ip ${name} s { type ipv4_addr; }\nadd element ip ${name} s { ${elements.join(', ')} }\n`;
}

async function ok(p: Promise<{ status: number; stderr: string }>): Promise<void> {
  const r = await p;
  assert.equal(r.status, 0, r.stderr);
}

/** This process's sockets and anonymous descriptors (eventfds), as `fd -> what`. */
function descriptors(): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const what = readlinkSync(`/proc/self/fd/${fd}`);
      if (/^(socket|anon_inode):/.test(what)) out.add(`${fd} -> ${what}`);
    } catch {
      // closed while listing
    }
  }
  return out;
}

describe('watching the nftables ruleset in-process', { skip }, () => {
  it('wakes once per foreign transaction and never for our own', async (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const ns = lab.netns('w');
    const foreign: number[] = [];
    const watch = watchRuleset(() => foreign.push(Date.now()), { netns: ns });
    t.after(() => watch.stop());

    // ours: nft children of our runner, and libnftables in this process (a context opened there)
    const runner = new SystemRunner({ netns: ns });
    await ok(runner.run(['nft', 'add table inet vwt_child']));
    await ok(runner.run(['nft', '-f', '-'], bulk('vwt_child_bulk', 5000)));
    const lib = inNetns(ns, () => new Libnftables());
    await ok(lib.run(['nft', 'add table inet vwt_lib']));
    await ok(lib.run(['nft', '-f', '-'], bulk('vwt_lib_bulk', 5000)));
    // a foreign change is reported within milliseconds (below): half a second without one
    await sleep(500);
    assert.deepEqual(foreign, [], 'our own transactions are not foreign');

    for (const [i, command] of [
      ['add', 'table', 'inet', 'vwt_foreign'],
      ['flush', 'ruleset'],
    ].entries()) {
      const before = Date.now();
      lab.exec(ns, ['nft', ...command]);
      await waitFor(() => foreign.length > i, { what: `${command.join(' ')} reported`, interval: 5 });
      await sleep(300);
      assert.equal(foreign.length, i + 1, `${command.join(' ')} is reported once`);
      const ms = foreign[i]! - before;
      t.diagnostic(`${command.join(' ')}: reported ${ms} ms after the command started`);
      assert.ok(ms < 1000, `reported after ${ms} ms`);
    }
  });

  it('counts a burst that overruns its buffer as a change, even one of ours', async (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const ns = lab.netns('o');
    let changes = 0;
    // the kernel's least buffer: one commit's thousands of element events cannot fit
    const watch = watchRuleset(() => changes++, { netns: ns, bufferBytes: 1 });
    t.after(() => watch.stop());
    // loaded synchronously: the main thread, which reads the socket, cannot drain it during the
    // burst, so the overrun does not depend on how fast a loaded machine schedules the reader
    lab.exec(ns, ['nft', '-f', '-'], true, bulk('vwt_burst', 5000));
    await waitFor(() => changes > 0, { what: 'the overrun reported' });
  });

  it('stops at once: its descriptors are closed and nothing keeps the process alive', async (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const ns = lab.netns('s');
    const before = descriptors();
    const watch = watchRuleset(() => undefined, { netns: ns });
    const added = [...descriptors()].filter((d) => !before.has(d));
    assert.deepEqual(
      added.map((d) => d.replace(/.* -> /, '').replace(/\d+/, 'N')).sort(),
      ['anon_inode:[eventfd]', 'socket:[N]'],
      'a netlink socket and an eventfd',
    );
    watch.stop();
    await waitFor(() => !added.some((d) => descriptors().has(d)), {
      what: 'the watch to close its descriptors',
      interval: 5,
      timeout: 1000,
    });

    // a process that watches, then stops (or, the control, does not): how long it lives after
    const child = async (stop: boolean) => {
      const script = `const { watchRuleset } = await import(${JSON.stringify(WATCH)});
        const w = watchRuleset(() => {}, { netns: ${JSON.stringify(ns)} });
        setTimeout(() => { ${stop ? 'w.stop();' : ''} process.stdout.write('stopped'); }, 200);`;
      const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      t.after(() => p.exitCode === null && p.signalCode === null && p.kill('SIGKILL'));
      let stoppedAt = 0;
      p.stdout.on('data', () => (stoppedAt ||= Date.now()));
      const exited = new Promise<number>((resolve) => p.on('exit', () => resolve(Date.now())));
      await waitFor(() => stoppedAt > 0, { what: 'the child to stop its watch', timeout: 30_000 });
      const end = await Promise.race([exited, sleep(1000).then(() => undefined)]);
      return end === undefined ? undefined : end - stoppedAt;
    };
    const after = await child(true);
    assert.ok(after !== undefined, 'a process that stopped its watch exits within a second');
    t.diagnostic(`exited ${after} ms after stop()`);
    assert.equal(await child(false), undefined, 'the control: a watch not stopped keeps its process alive');
  });
});
