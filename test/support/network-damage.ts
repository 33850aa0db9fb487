// What another tool might do to a running network's firewall rules, per network firewall
// backend (shell commands run in the network's namespace), and the rules as the kernel lists
// them, for "restored exactly" comparisons. Shared by the self-healing test and bench.
import type { FirewallBackendName } from '../../src/network/firewall/plan.js';

export const DAMAGE: Record<FirewallBackendName, string[]> = {
  nftables: [
    'nft flush ruleset',
    'nft delete table ip libvirt_network',
    'nft flush chain ip libvirt_network guest_nat',
    'nft flush chain ip libvirt_network guest_output',
  ],
  iptables: [
    'iptables -F',
    'iptables -t nat -F',
    'iptables -F && iptables -X',
    'iptables -t mangle -F LIBVIRT_PRT',
    // a firewall service restoring its own saved ruleset
    'printf "*filter\\n:INPUT ACCEPT [0:0]\\n:FORWARD ACCEPT [0:0]\\n:OUTPUT ACCEPT [0:0]\\nCOMMIT\\n*nat\\n:POSTROUTING ACCEPT [0:0]\\nCOMMIT\\n" | iptables-restore',
    'nft flush ruleset',
  ],
};

/** The network firewall as the kernel lists it, without counters and handles. */
export function firewallState(run: (argv: string[]) => string, backend: FirewallBackendName): string {
  const text =
    backend === 'nftables'
      ? run(['nft', 'list', 'table', 'ip', 'libvirt_network'])
      : run(['iptables-save']) + run(['ip6tables-save']);
  return text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) =>
      l
        .replace(/ # handle \d+/, '')
        .replace(/packets \d+ bytes \d+/, '')
        .replace(/\[\d+:\d+\]/, ''),
    )
    .join('\n');
}
