// A foreign nftables change heals what lives in the tables it touched, in a namespace this test
// creates: a change to a network's table restores the network's rules without a reconcile of the
// nwfilter tables (at 10,000 ports that compares 80,000 elements), and a change to the nwfilter
// tables reconciles them.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../../src/util/wait-for.js';
import { canUseNetns } from '../support/netns.js';
import { bindingRecord, cliOk, daemonFixture, nft, startDaemon } from './process.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

/** The daemon's reconciles of the nwfilter tables for a foreign change, as logged. */
const nwfilterHeals = (log: string) =>
  log.split('\n').filter((l) => l.includes('"msg":"nwfilter reconcile"') && l.includes('"reason":"kernel change"'))
    .length;

it('a foreign change heals the part whose tables it touched', { skip }, async (t) => {
  const fixture = daemonFixture(t);
  const { ns, root, file } = fixture;
  // tables not owned: a foreign command may delete ours too
  mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
  writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), 'nwfilter_table_owner = 0\n');
  const records = join(root, 'run/virtwall/nwfilter-binding');
  mkdirSync(records, { recursive: true });
  for (let i = 2; i < 12; i++) writeFileSync(join(records, `vnet${i}.xml`), bindingRecord(i));
  const d = await startDaemon(ns, root);
  cliOk(root, [
    'net-create',
    file(
      'net.xml',
      `<network><name>n</name><forward mode='nat'/><bridge name='vbr0' stp='off'/><dns enable='no'/><ip address='10.66.0.1' prefix='24'/></network>`,
    ),
  ]);
  const networkRules = () => nft(ns, 'list table ip libvirt_network').stdout;
  assert.match(networkRules(), /10\.66\.0\.0\/24/);

  // a network's table: its rules come back, the nwfilter tables are not compared
  assert.equal(nft(ns, 'delete table ip libvirt_network').status, 0);
  await waitFor(() => /"reason":"kernel change".*"msg":"network firewall restored"/.test(d.log()), {
    what: "the network's rules restored",
    detail: d.log,
  });
  assert.match(networkRules(), /10\.66\.0\.0\/24/);
  assert.equal(nwfilterHeals(d.log()), 0, d.log());

  // the nwfilter tables: reconciled
  const ours = nft(ns, 'list table bridge virtwall_nwf').stdout;
  assert.equal(nft(ns, 'delete table bridge virtwall_nwf').status, 0);
  await waitFor(() => nft(ns, 'list table bridge virtwall_nwf').stdout === ours, {
    what: 'the nwfilter table restored',
    detail: d.log,
  });
  await waitFor(() => nwfilterHeals(d.log()) === 1, { what: 'one nwfilter reconcile', detail: d.log });
});
