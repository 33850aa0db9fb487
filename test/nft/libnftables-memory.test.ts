// The in-process nft (libnftables on koffi's worker thread) gives back to the system what a large
// call used: glibc keeps a worker thread's freed pages in that thread's arena, so without
// malloc_trim a bulk of 10,000 ports left ~90 MB on the daemon's RSS for good.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { inNetns } from '../../src/netlink/socket.js';
import { Libnftables } from '../../src/nft/libnftables.js';
import { waitFor } from '../../src/util/wait-for.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';

const skip = canUseNetns() ? false : 'needs root and network namespaces';
const rssMb = () => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const N = 20000;
const mac = (i: number) =>
  `52:54:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

describe('libnftables in-process memory', { skip }, () => {
  it('a large transaction and a listing of its table leave the RSS about where it was', async (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const lib = inNetns(lab.netns('mem'), () => new Libnftables());
    const run = async (text: string, ...opts: string[]) => {
      const r = await lib.run(['nft', ...opts, '-f', '-'], text);
      assert.equal(r.status, 0, r.stderr);
    };
    await run('add table bridge t\nadd chain bridge t c\nadd map bridge t m { type ifname : verdict; }\n');
    const before = rssMb();
    const sets = [0, 1, 2].map((k) => `add set bridge t s${k} { typeof iifname . ether saddr; }`);
    const elements = [0, 1, 2].map(
      (k) =>
        `add element bridge t s${k} { ${Array.from({ length: N }, (_, i) => `"vnet${i}" . ${mac(i)}`).join(', ')} }`,
    );
    const jumps = `add element bridge t m { ${Array.from({ length: N }, (_, i) => `"vnet${i}" : jump c`).join(', ')} }`;
    await run(`${[...sets, ...elements, jumps].join('\n')}\n`);
    await run('list table bridge t\n', '-j', '-t');
    // the call after a listing frees the cache the listing filled (the ruleset changed since);
    // what stays is mostly the JS strings of the calls (without the trim it grew by ~160 MB)
    await run('add element bridge t m { "x" : jump c }\n');
    // the trim runs on a worker thread after the call answered
    await waitFor(() => rssMb() - before < 50, {
      what: 'the RSS back within 50 MB of where it was',
      timeout: 3000,
      detail: () => `grew by ${(rssMb() - before).toFixed(0)} MB over ${4 * N} elements`,
    });
  });
});
