// Network firewall plans beyond what the corpus shows: every mode on both backends, NAT
// address/port ranges, IPv6 NAT, idempotent global setup.
import { forwardJump, libvirtNetworkListing } from './nft-listing.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyPlan } from '../../src/exec/apply.js';
import { FakeRunner } from '../../src/exec/fake.js';
import { BACKEND_NAMES, globalSetupPlan, networkFirewallPlan } from '../../src/network/firewall/backends.js';
import { iptablesGlobalSetup } from '../../src/network/firewall/iptables.js';
import { parseSave } from '../../src/xtables/save.js';
import { nftablesGlobalSetup } from '../../src/network/firewall/nftables.js';
import type { ForwardMode, NetworkDef } from '../../src/conf/network/types.js';
import type { FirewallTransaction } from '../../src/network/firewall/plan.js';
import { addr, ipDef, networkDef, pool } from './defs.js';

function network(
  mode: ForwardMode,
  extra: Partial<NetworkDef> = {},
  forward: Partial<NetworkDef['forward']> = {},
): NetworkDef {
  const ips = [ipDef('10.20.30.1', 24, pool('10.20.30.100', '10.20.30.199')), ipDef('fd00:1::1', 64)];
  return networkDef(mode, { ips, ...extra }, forward);
}

/** What a dry run executes (every command answered with empty output), one line each. */
async function dryRun(groups: FirewallTransaction[]): Promise<string[]> {
  const runner = new FakeRunner();
  await applyPlan(groups, runner);
  return runner.calls;
}

describe('network firewall plans', () => {
  for (const backend of BACKEND_NAMES) {
    it(`${backend}: isolated, nat and route networks get rules; open and bridge get none`, async () => {
      for (const mode of ['none', 'nat', 'route'] as const) {
        const cmds = await dryRun(networkFirewallPlan(network(mode), backend).groups);
        assert.ok(
          cmds.some((l) => l.includes('vbr7') && /REJECT|reject/.test(l)),
          `${mode}: catch-all reject`,
        );
        const forwards = cmds.filter((l) => l.includes('10.20.30.0/24'));
        assert.equal(forwards.length > 0, mode !== 'none', `${mode}: rules for the subnet`);
        assert.equal(
          cmds.some((l) => /MASQUERADE|masquerade/.test(l)),
          mode === 'nat',
          `${mode}: masquerading`,
        );
      }
      for (const mode of ['open', 'bridge'] as const) {
        assert.deepEqual(networkFirewallPlan(network(mode), backend).groups, []);
      }
    });
  }

  it('renders a NAT address range and port range as SNAT on both backends', async () => {
    const net = network(
      'nat',
      {},
      {
        interfaces: [{ type: 'netdev', dev: 'uplink0' }],
        nat: {
          address: { start: addr('198.51.100.10'), end: addr('198.51.100.20') },
          port: { start: 2000, end: 3000 },
        },
      },
    );
    const ipt = await dryRun(networkFirewallPlan(net, 'iptables').groups);
    assert.ok(
      ipt.includes(
        "iptables -w --table nat --insert LIBVIRT_PRT --source 10.20.30.0/24 -p udp '!' --destination 10.20.30.0/24 --out-interface uplink0 --jump SNAT --to-source 198.51.100.10-198.51.100.20:2000-3000",
      ),
    );
    assert.ok(
      ipt.includes(
        "iptables -w --table nat --insert LIBVIRT_PRT --source 10.20.30.0/24 '!' --destination 10.20.30.0/24 --out-interface uplink0 --jump SNAT --to-source 198.51.100.10-198.51.100.20",
      ),
    );
    const nft = await dryRun(networkFirewallPlan(net, 'nftables').groups);
    assert.ok(
      nft.includes(
        "nft -ae insert rule ip libvirt_network guest_nat meta l4proto tcp ip saddr 10.20.30.0/24 ip daddr '!=' 10.20.30.0/24 oifname uplink0 counter snat to 198.51.100.10-198.51.100.20:2000-3000",
      ),
    );
  });

  it('routes through the forward device in both directions', async () => {
    const net = network('route', {}, { interfaces: [{ type: 'netdev', dev: 'uplink0' }] });
    const ipt = await dryRun(networkFirewallPlan(net, 'iptables').groups);
    assert.ok(
      ipt.includes(
        'iptables -w --table filter --insert LIBVIRT_FWO --source 10.20.30.0/24 --in-interface vbr7 --out-interface uplink0 --jump ACCEPT',
      ),
    );
    assert.ok(
      ipt.includes(
        'iptables -w --table filter --insert LIBVIRT_FWI --destination 10.20.30.0/24 --in-interface uplink0 --out-interface vbr7 --jump ACCEPT',
      ),
    );
    const nft = await dryRun(networkFirewallPlan(net, 'nftables').groups);
    assert.ok(
      nft.includes(
        'nft -ae insert rule ip libvirt_network guest_output ip saddr 10.20.30.0/24 iif vbr7 oifname uplink0 counter accept',
      ),
    );
    assert.ok(
      nft.includes(
        'nft -ae insert rule ip libvirt_network guest_input ip daddr 10.20.30.0/24 iifname uplink0 oif vbr7 counter accept',
      ),
    );
  });

  it('rejects a NAT port range libvirt refuses', () => {
    const net = network('nat', {}, { nat: { port: { start: 3000, end: 2000 } } });
    for (const backend of BACKEND_NAMES)
      assert.throws(() => networkFirewallPlan(net, backend), /Invalid port range '3000-2000'/);
  });

  it('masquerades IPv6 with nat ipv6=yes, exempting only link-local multicast', async () => {
    const net = network('nat', {}, { nat: { ipv6: true } });
    const nft = (await dryRun(networkFirewallPlan(net, 'nftables').groups)).filter((l) =>
      l.includes('ip6 saddr fd00:1::/64'),
    );
    assert.ok(nft.some((l) => l.endsWith('counter masquerade')));
    assert.ok(nft.some((l) => l.includes('ip6 daddr ff02::/16 counter return')));
    assert.ok(!nft.some((l) => l.includes('255.255.255.255')));
    const routed = await dryRun(networkFirewallPlan(network('nat'), 'nftables').groups);
    assert.ok(
      routed.includes(
        'nft -ae insert rule ip6 libvirt_network guest_input ip6 daddr fd00:1::/64 oif vbr7 counter accept',
      ),
    );
  });

  it('adds IPv6 catch-all rules for ipv6=yes networks without IPv6 addresses, but no DHCPv6 ones', async () => {
    const net = network('none', { ips: [ipDef('10.20.30.1', 24)], ipv6NoGateway: true });
    const cmds = await dryRun(networkFirewallPlan(net, 'iptables').groups);
    assert.ok(
      cmds.includes(
        'ip6tables -w --table filter --insert LIBVIRT_FWX --in-interface vbr7 --out-interface vbr7 --jump ACCEPT',
      ),
    );
    assert.ok(!cmds.some((l) => l.includes('547')));
    assert.ok(!cmds.some((l) => l.includes('CHECKSUM')), 'no DHCP, no checksum fix');
  });

  it('global setup creates only what the host lacks', async () => {
    const runner = new FakeRunner();
    // the host's tables as the kernel lists them (iptables-save; nft -j list table ip libvirt_network)
    const xt = parseSave(
      '*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:LIBVIRT_INP - [0:0]\n:LIBVIRT_OUT - [0:0]\n-A INPUT -j LIBVIRT_INP\n-A OUTPUT -m comment --comment x -j LIBVIRT_OUT\nCOMMIT\n',
    );
    const nft = libvirtNetworkListing('ip', ['forward', 'guest_output'], [forwardJump('guest_output', 3)]);
    await applyPlan([...iptablesGlobalSetup('ipv4', xt), ...nftablesGlobalSetup('ipv4', nft)], runner);
    const created = runner.calls.filter((l) => !l.includes('list'));
    assert.ok(!created.some((l) => l.includes('--new-chain LIBVIRT_INP') || l.includes('--new-chain LIBVIRT_OUT')));
    assert.ok(!created.includes('iptables -w --table filter --insert INPUT --jump LIBVIRT_INP'));
    assert.ok(created.includes('iptables -w --table filter --insert OUTPUT --jump LIBVIRT_OUT'));
    assert.ok(created.includes('iptables -w --table nat --new-chain LIBVIRT_PRT'));
    assert.ok(
      !created.some((l) => l.startsWith('nft add table') || l.includes('chain ip libvirt_network guest_output')),
    );
    assert.ok(!created.includes('nft insert rule ip libvirt_network forward counter jump guest_output'));
    assert.ok(created.includes('nft add chain ip libvirt_network guest_input'));
  });

  it('global setup covers both families on both backends', async () => {
    for (const backend of BACKEND_NAMES) {
      const cmds = await dryRun(globalSetupPlan(backend));
      assert.ok(
        cmds.some((l) => /^(ip6tables|nft .* ip6 )/.test(l)),
        backend,
      );
    }
  });
});
