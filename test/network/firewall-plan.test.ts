// The network firewall's plans as values: from typed listings of the kernel and the wanted rules
// to one restore script per iptables tool (rendered here as iptables-restore reads it) and one nft
// batch — nothing run.
import { forwardJump, libvirtNetworkListing } from './nft-listing.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planNft, planXtables } from '../../src/network/lifecycle/apply-firewall.js';
import { networkChainRules } from '../../src/network/firewall/nftables.js';
import { networkTableRules } from '../../src/network/firewall/xtables.js';
import type { XtablesPart } from '../../src/network/firewall/parts.js';
import { renderBatch } from '../../src/nft/batch.js';
import { renderRestore } from '../../src/xtables/restore.js';
import { parseRuleLine, parseSave } from '../../src/xtables/save.js';
import { ipDef, networkDef, pool } from './defs.js';

const isolated = networkDef('none', { ips: [ipDef('10.20.30.1', 24, pool('10.20.30.100', '10.20.30.199'))] });

describe('network firewall plans', () => {
  it('iptables: only the missing skeleton, the present old rule deleted, the rules inserted at the heads in order', () => {
    const before = parseSave(`*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:LIBVIRT_INP - [0:0]
:LIBVIRT_OUT - [0:0]
:LIBVIRT_FWO - [0:0]
:LIBVIRT_FWI - [0:0]
:LIBVIRT_FWX - [0:0]
-A INPUT -j LIBVIRT_INP
-A OUTPUT -j LIBVIRT_OUT
-A FORWARD -j LIBVIRT_FWX
-A FORWARD -j LIBVIRT_FWI
-A FORWARD -j LIBVIRT_FWO
-A LIBVIRT_FWO -i vbr7 -j REJECT --reject-with icmp-port-unreachable
COMMIT
`);
    const old = (line: string): XtablesPart => ({ tool: 'iptables', table: 'filter', rule: parseRuleLine(line) });
    const replacing = [
      old('-A LIBVIRT_FWO -i vbr7 -j REJECT --reject-with icmp-port-unreachable'),
      old('-A LIBVIRT_FWI -o vbr7 -j REJECT --reject-with icmp-port-unreachable'),
    ];
    const wanted = networkTableRules(isolated).filter(
      (r) =>
        r.tool === 'iptables' &&
        r.rule.chain !== 'LIBVIRT_INP' &&
        r.rule.chain !== 'LIBVIRT_OUT' &&
        r.table === 'filter',
    );
    const { script, created } = planXtables(before, wanted, replacing);
    assert.equal(
      renderRestore('iptables', script),
      [
        '*filter',
        // the gone FWI rule is not deleted: the script would fail
        '-D LIBVIRT_FWO -i vbr7 -j REJECT --reject-with icmp-port-unreachable',
        '-I LIBVIRT_FWO 1 -i vbr7 -j REJECT --reject-with icmp-port-unreachable',
        '-I LIBVIRT_FWI 1 -o vbr7 -j REJECT --reject-with icmp-port-unreachable',
        '-I LIBVIRT_FWX 1 -i vbr7 -o vbr7 -j ACCEPT',
        'COMMIT',
        '*nat',
        ':LIBVIRT_PRT - [0:0]',
        '-I POSTROUTING 1 -j LIBVIRT_PRT',
        'COMMIT',
        '*mangle',
        ':LIBVIRT_PRT - [0:0]',
        '-I POSTROUTING 1 -j LIBVIRT_PRT',
        'COMMIT',
        '',
      ].join('\n'),
    );
    assert.equal(created, 4 + 3);
  });

  it('nftables: the table and its skeleton for a family that has none, the rules inserted in order', () => {
    const ip = libvirtNetworkListing(
      'ip',
      ['forward', 'guest_output', 'guest_input', 'guest_cross', 'guest_nat'],
      ['guest_cross', 'guest_input', 'guest_output'].map((target) => forwardJump(target)),
    );
    const { batch, created } = planNft({ ip, ip6: undefined }, networkChainRules(isolated), []);
    assert.equal(
      renderBatch(batch, 'libvirt_network'),
      [
        'add table ip6 libvirt_network',
        'add chain ip6 libvirt_network forward { type filter hook forward priority 0; policy accept; }',
        'add chain ip6 libvirt_network guest_output',
        'add chain ip6 libvirt_network guest_input',
        'add chain ip6 libvirt_network guest_cross',
        'add chain ip6 libvirt_network guest_nat { type nat hook postrouting priority 100; policy accept; }',
        'insert rule ip6 libvirt_network forward counter jump guest_output',
        'insert rule ip6 libvirt_network forward counter jump guest_input',
        'insert rule ip6 libvirt_network forward counter jump guest_cross',
        'insert rule ip libvirt_network guest_output iif "vbr7" counter reject',
        'insert rule ip libvirt_network guest_input oif "vbr7" counter reject',
        'insert rule ip libvirt_network guest_cross iif "vbr7" oif "vbr7" counter accept',
        '',
      ].join('\n'),
    );
    assert.equal(created, 3 + 1 + 5 + 3);
  });
});
