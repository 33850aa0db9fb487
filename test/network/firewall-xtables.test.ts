// The network firewall's iptables rules as typed values are exactly what the kernel lists: applied
// in a namespace through *-restore and read back from *-save, every recorded rule equals the rule
// built for it (field by field), for NAT with a forward device, an SNAT range and IPv6.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ignoreDiagnostics } from '../../src/errors.js';
import { SystemRunner } from '../../src/exec/runner.js';
import { applyNetworkFirewall, removeNetworkFirewall } from '../../src/network/lifecycle/apply-firewall.js';
import { firewallParts } from '../../src/network/lifecycle/firewall-health.js';
import { removeUnusedGlobalFirewall } from '../../src/network/lifecycle/global-firewall.js';
import { networkTableRules } from '../../src/network/firewall/xtables.js';
import type { FirewallPart } from '../../src/network/firewall/parts.js';
import { canUseNetns, NetnsLab } from '../support/netns.js';
import { addr, ipDef, networkDef, pool } from './defs.js';

const skip = canUseNetns() ? false : 'needs root and ip netns';

describe('network iptables rules round trip through the kernel', { skip, concurrency: false }, () => {
  const lab = new NetnsLab();
  after(() => lab.cleanup());

  for (const [name, def] of [
    [
      'nat through a device, SNAT range with ports, IPv6 routed',
      networkDef(
        'nat',
        { ips: [ipDef('10.20.30.1', 24, pool('10.20.30.100', '10.20.30.199')), ipDef('fd00:1::1', 64)] },
        {
          interfaces: [{ type: 'netdev', dev: 'up0' }],
          nat: {
            address: { start: addr('192.0.2.10'), end: addr('192.0.2.20') },
            port: { start: 2000, end: 3000 },
            ipv6: false,
          },
        },
      ),
    ],
    [
      'route with IPv6, TFTP',
      networkDef('route', {
        ips: [
          ipDef('10.20.31.1', 24, { ...pool('10.20.31.100', '10.20.31.199'), tftpRoot: '/srv' }),
          ipDef('fd00:2::1', 64),
        ],
      }),
    ],
  ] as const) {
    it(`${name}: the recorded rules equal the built ones; removal leaves the host as it was`, async () => {
      const ns = lab.netns(name.slice(0, 3));
      const runner = new SystemRunner({ netns: ns });
      const before = lab.exec(ns, ['iptables-save']).stdout + lab.exec(ns, ['ip6tables-save']).stdout;
      const applied = await applyNetworkFirewall('iptables', def, runner, ignoreDiagnostics);
      const built = networkTableRules(def);
      // recorded per tool, each tool's in the order built
      const ofTool = (tool: string) => (p: FirewallPart) => 'tool' in p && p.tool === tool;
      for (const tool of ['iptables', 'ip6tables'])
        assert.deepEqual(applied.parts.filter(ofTool(tool)), built.filter(ofTool(tool)), tool);
      assert.equal(applied.parts.length, built.length);
      assert.deepEqual((await firewallParts(applied.parts, runner)).missing, []);
      await removeNetworkFirewall(applied.parts, runner);
      assert.deepEqual((await firewallParts(applied.parts, runner)).present, []);
      await removeUnusedGlobalFirewall('iptables', runner, applied.createdTables);
      const strip = (t: string) =>
        t
          .split('\n')
          .filter((l) => !l.startsWith('#'))
          .join('\n');
      assert.equal(
        strip(lab.exec(ns, ['iptables-save']).stdout + lab.exec(ns, ['ip6tables-save']).stdout),
        strip(before),
      );
    });
  }
});
