// A restart of a daemon that owns its nwfilter tables lists no table when nothing changed the
// ruleset since the daemon stamped it (src/backends/nftables/kernel-stamp.ts): the tables are
// adopted at the stamped generation and hold the stamped model. Anything that moved the
// ruleset on while the daemon was down (damage to the orphaned tables, a foreign transaction on
// another table) or changed what the model is (a binding record edited) makes it list and
// compare as before, and damage is repaired.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canUseNetns } from '../support/netns.js';
import { NETLINK_NETFILTER, NetlinkSocket } from '../../src/netlink/socket.js';
import { generationOf, getGeneration } from '../../src/nft/ownership.js';
import { waitFor } from '../../src/util/wait-for.js';
import { bindingRecord, cli, daemonFixture, kill9, startDaemon, waitForLog, type DaemonProcess } from './process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';
const PORTS = [2, 3, 4, 5];

describe('virtwalld restarts from its kernel stamp', { skip }, () => {
  it('lists nothing when the ruleset is as stamped, and lists and repairs when it is not', async (t) => {
    const { lab, ns, root, file } = daemonFixture(t, 'ks');
    const dir = join(root, 'run/virtwall/nwfilter-binding');
    mkdirSync(dir, { recursive: true });
    for (const i of PORTS) writeFileSync(join(dir, `vnet${i}.xml`), bindingRecord(i));
    const stampFile = join(root, 'run/virtwall/nwfilter-nftables.stamp.json');
    const stampText = () => (existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : '');
    const nft = (args: string, check = true) => lab.exec(ns, ['nft', ...args.split(' ')], check);
    const tables = () =>
      ['bridge', 'inet']
        .map((f) => nft(`list table ${f} virtwall_nwf`, false).stdout)
        .join('')
        .replace(/counter packets \d+ bytes \d+/g, 'counter');
    /** Starts the daemon once the last one stamped the ruleset as it is; the start-up reconcile's log line. */
    let last: DaemonProcess | undefined;
    /** The namespace's ruleset generation now. */
    const generation = () => {
      const socket = NetlinkSocket.open(NETLINK_NETFILTER, ns);
      try {
        return generationOf(socket.request(getGeneration)[0]!);
      } finally {
        socket.close();
      }
    };
    /** Whether the stamp names the ruleset as it is now, with `ports` ports. */
    const current = (ports: number) => {
      const s = stampText() && (JSON.parse(stampText()) as { generation: number; ids: number[] });
      return s && s.generation === generation() && s.ids.length === ports;
    };
    const restart = async (whileDown: () => void = () => {}, ports = PORTS.length) => {
      if (last) {
        await waitFor(() => current(ports), { what: 'a kernel stamp of the ruleset now', timeout: 10_000 });
        await kill9(last);
      }
      whileDown();
      last = await startDaemon(ns, root);
      const log = await waitForLog(last, /"reason":"start-up"/, 30_000);
      return log.split('\n').find((l) => l.includes('"reason":"start-up"') && l.includes('nwfilter reconcile'))!;
    };

    const cold = await restart();
    if (!last!.log().includes('"nwfilterTableOwnership":"owner"'))
      return t.skip('this kernel cannot own tables: no stamps');
    assert.doesNotMatch(cold, /"stamped"/, 'a first start lists the (absent) tables');
    const held = tables();
    assert.match(held, /vnet5/);

    const warm = await restart();
    assert.match(warm, /"repaired":\[\],"removed":\[\],"compiled":0,"stamped":true/, 'nothing listed');
    assert.equal(tables(), held);

    const again = await restart();
    assert.match(again, /"stamped":true/, 'a stamped start stamps again (its adoption moved the generation on)');
    // the daemon's own other transactions (a network's firewall) are stamped over too
    const network =
      "<network><name>n</name><bridge name='vbr0' stp='off'/><dns enable='no'/><ip address='10.79.0.1' prefix='24'/></network>";
    assert.equal(cli(root, ['net-create', file('n.xml', network)]).status, 0);
    assert.match(await restart(), /"stamped":true/, 'stamped again after the network started');
    // a change right after a stamped start is planned on the ledger the stamped ports build
    assert.equal(cli(root, ['nwfilter-binding-create', file('vnet6.xml', bindingRecord(6))]).status, 0);
    assert.match(tables(), /vnet6/);
    const bound = await restart(undefined, PORTS.length + 1);
    assert.match(bound, /"repaired":\[\],"removed":\[\],"compiled":0,"stamped":true/, 'the change was stamped too');
    assert.equal(cli(root, ['nwfilter-binding-delete', 'vnet6']).status, 0);
    const unbound = tables();
    assert.doesNotMatch(unbound, /vnet6/);
    assert.match(await restart(), /"stamped":true/);
    assert.equal(tables(), unbound);

    // damage while down: the orphaned tables are anyone's
    const chain = /^\tchain (\S+) \{\n(?:\t\t(?!type)[^\n]*\n)*?\t\t\S[^\n]*comment/m.exec(held)?.[1];
    assert.ok(chain, 'a chain with rules to damage');
    const damaged = await restart(() => nft(`flush chain bridge virtwall_nwf ${chain}`));
    assert.doesNotMatch(damaged, /"stamped"/, 'the ruleset moved on: the tables are listed');
    assert.doesNotMatch(damaged, /"repaired":\[\]/, 'and the damage repaired');
    assert.equal(tables(), held);

    // a foreign transaction on another table while down: listed, nothing to repair
    const foreign = await restart(() => nft('add table ip someone_else'));
    assert.match(foreign, /"repaired":\[\],"removed":\[\]/);
    assert.doesNotMatch(foreign, /"stamped"/);

    // a binding edited while down: the model is not the stamped one
    const edited = await restart(() =>
      writeFileSync(join(dir, 'vnet3.xml'), bindingRecord(3).replace("value='10.1.0.3'", "value='10.1.0.33'")),
    );
    assert.doesNotMatch(edited, /"stamped"/);
    assert.match(edited, /"repaired":\["vnet3"\]/);
    assert.match(tables(), /10\.1\.0\.33/);
    assert.doesNotMatch(tables(), /10\.1\.0\.3\b/);

    // a stamp that cannot be read costs the listing, not the ownership of the tables
    const unreadable = await restart(() => {
      rmSync(stampFile);
      mkdirSync(stampFile);
    });
    assert.match(last!.log(), /"nwfilterTableOwnership":"owner"/);
    assert.match(unreadable, /"repaired":\[\],"removed":\[\]/);
    assert.doesNotMatch(unreadable, /"stamped"/);
  });
});
