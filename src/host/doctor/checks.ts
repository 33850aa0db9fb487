// `virtwall doctor`'s checks: every host condition known to break guests, each with what it
// found and the fix. One table; the runner (run.ts) reads it. A check returns its findings
// (none: all well); `problem` findings make doctor exit 1, `note`s only inform.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { CommandRunner } from '../../exec/runner.js';
import type { DaemonConfig } from '../../daemon/config.js';
import type { NetworkStatus } from '../../network/lifecycle/driver.js';
import { firewallParts } from '../../network/lifecycle/firewall-health.js';
import { hasFirewall } from '../../network/definition.js';
import { parseSave } from '../../xtables/save.js';
import { nwfilterTableStates } from '../../backends/nftables/table-ownership.js';
import { parseDnsmasqVersion } from '../../network/dnsmasq/config.js';
import { closedPathText, closedToOthers } from '../../network/dnsmasq/reach.js';
import type { Firewalld } from '../firewalld.js';
import { LIBVIRT_FIREWALLD_DEFINITIONS } from '../firewalld-zones.js';
import { chainLabel, foreignForwardChains, incompleteForwardPasses } from '../forward-passes.js';

export interface DoctorContext {
  runner: CommandRunner;
  config: DaemonConfig;
  /** Networks the state root records as running. */
  networks: NetworkStatus[];
  firewalld: Firewalld;
  /** A /proc or /sys file's trimmed text, undefined when absent. */
  read(path: string): string | undefined;
}

export interface Finding {
  severity: 'problem' | 'note';
  problem: string;
  fix: string;
}

export interface Check {
  id: string;
  title: string;
  run(ctx: DoctorContext): Promise<Finding[]>;
}

const problem = (text: string, fix: string): Finding => ({ severity: 'problem', problem: text, fix });
const note = (text: string, fix: string): Finding => ({ severity: 'note', problem: text, fix });

const forwarding = (n: NetworkStatus) => n.def.forward.mode === 'nat' || n.def.forward.mode === 'route';

/** Processes of this network namespace: pid and command name. */
function processesHere(): { pid: number; comm: string }[] {
  const self = readlinkSync('/proc/self/ns/net');
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .flatMap((e) => {
      try {
        if (readlinkSync(`/proc/${e}/ns/net`) !== self) return [];
        return [{ pid: Number(e), comm: readFileSync(`/proc/${e}/comm`, 'utf8').trim() }];
      } catch {
        return [];
      }
    });
}

/** nft features the backends use, each checked with `nft -c` (nothing is changed); `needed`: only then. */
const NFT_FEATURES: readonly {
  feature: string;
  usedBy: string;
  script: string;
  needed?: (ctx: DoctorContext) => boolean;
}[] = [
  {
    feature: 'inet tables with a forward hook',
    usedBy: 'the nftables network backend',
    script: 'add table inet vw_probe\nadd chain inet vw_probe c { type filter hook forward priority 0; }\n',
  },
  {
    feature: 'IPv4 NAT (masquerade)',
    usedBy: 'NAT networks',
    script:
      'add table ip vw_probe\nadd chain ip vw_probe c { type nat hook postrouting priority 100; }\nadd rule ip vw_probe c masquerade\n',
  },
  {
    feature: 'bridge family filter hooks',
    usedBy: 'the nftables nwfilter backend',
    script: 'add table bridge vw_probe\nadd chain bridge vw_probe c { type filter hook forward priority 0; }\n',
  },
  {
    feature: 'verdict maps keyed by interface name',
    usedBy: 'the nftables nwfilter backend',
    script: 'add table bridge vw_probe\nadd map bridge vw_probe m { type ifname : verdict; }\n',
  },
  {
    feature: 'conntrack in the bridge family (nf_conntrack_bridge)',
    usedBy: 'nwfilter rules with state matches (nftables backend)',
    script:
      'add table bridge vw_probe\nadd chain bridge vw_probe c { type filter hook forward priority 0; }\nadd rule bridge vw_probe c ct state established accept\n',
    // without it the backend matches states through br_netfilter
    needed: ({ read }) => read('/proc/sys/net/bridge/bridge-nf-call-iptables') === undefined,
  },
];

export const CHECKS: readonly Check[] = [
  {
    id: 'firewalld-zones',
    title: "firewalld has libvirt's zones and our bridges are in them",
    async run({ firewalld, networks }) {
      if (!(await firewalld.registered().catch(() => false))) return [];
      const present = { zone: new Set(await firewalld.zones()), policy: new Set(await firewalld.policies()) };
      const missing = LIBVIRT_FIREWALLD_DEFINITIONS.filter((d) => !present[d.kind].has(d.name)).map(
        (d) => `${d.kind} ${d.name}`,
      );
      const out: Finding[] = [];
      if (missing.length > 0) {
        out.push(
          problem(
            `firewalld runs without libvirt's ${missing.join(', ')}: bridges fall into its default zone, which rejects guests' DHCP, DNS and forwarded traffic`,
            "start a network under virtwalld (it adds them to firewalld's permanent configuration), or install libvirt's firewalld files (libvirt-daemon-system) and run firewall-cmd --reload",
          ),
        );
      }
      for (const n of networks.filter((n) => n.zone !== undefined)) {
        const zone = await firewalld.zoneOf(n.bridge).catch(() => '');
        if (zone !== n.zone)
          out.push(
            problem(
              `bridge ${n.bridge} of network ${n.name} is in firewalld zone '${zone || 'none'}', not '${n.zone}'`,
              `firewall-cmd --zone=${n.zone} --change-interface=${n.bridge} (virtwalld does this when firewalld reloads: is it running?)`,
            ),
          );
      }
      return out;
    },
  },
  {
    id: 'foreign-forward-drop',
    title: "other tables' forward chains do not drop our networks' traffic",
    async run({ runner, config, networks }) {
      const dropping = await foreignForwardChains(runner, true);
      const out: Finding[] = [];
      for (const chain of dropping) {
        if (!config.foreignForwardAccept) {
          out.push(
            problem(
              `${chainLabel(chain)} (another table's forward chain) has policy drop: NAT and routed networks' forwarded traffic is dropped there`,
              "set foreign_forward_accept = 1 in virtwall.conf (virtwalld then adds narrow accepts for its networks), or add accepts for the networks' bridges and subnets to that chain",
            ),
          );
          continue;
        }
        for (const n of networks.filter(forwarding)) {
          if ((await incompleteForwardPasses(runner, n.def, n.bridge, n.firewallBackend, [chain])).length > 0) {
            out.push(
              problem(
                `${chainLabel(chain)} has policy drop and lacks network ${n.name}'s accepts (comment virtwall-forward:${n.bridge})`,
                'virtwalld restores them on the next kernel change: is it running? (kill -HUP its pid to force a reconcile)',
              ),
            );
          }
        }
      }
      return out;
    },
  },
  {
    id: 'iptables-legacy',
    title: 'no iptables-legacy rules beside nftables',
    async run({ runner, read }) {
      const out: Finding[] = [];
      for (const [tool, names] of [
        ['iptables-legacy', '/proc/net/ip_tables_names'],
        ['ip6tables-legacy', '/proc/net/ip6_tables_names'],
      ] as const) {
        // the tables exist only once something used them: nothing to read (or load) otherwise
        if (!read(names)) continue;
        const r = await runner.run([`${tool}-save`]);
        if (r.status !== 0) continue;
        const tables = [...parseSave(r.stdout).values()];
        const rules = tables.reduce((n, t) => n + t.rules.length, 0);
        const policies = tables.flatMap((t) =>
          t.chains.filter((c) => c.policy === 'DROP' || c.policy === 'REJECT').map((c) => `${c.name} ${c.policy}`),
        );
        if (rules + policies.length === 0) continue;
        out.push(
          problem(
            `${tool} holds ${rules} rule(s)${policies.length ? ` and policies ${policies.join(', ')}` : ''}: they apply beside the nftables rules (both run; an accept in one does not pass the other)`,
            `move them to nftables (${tool}-save > rules.v4; iptables-nft-restore < rules.v4) and flush the legacy tables (${tool} -F; ${tool} -X; ${tool} -P FORWARD ACCEPT)`,
          ),
        );
      }
      return out;
    },
  },
  {
    id: 'br-netfilter',
    title: 'bridged guest traffic does not pass IP hooks (br_netfilter)',
    async run({ runner, read, config, networks }) {
      const on = ['iptables', 'ip6tables', 'arptables'].filter(
        (t) => read(`/proc/sys/net/bridge/bridge-nf-call-${t}`) === '1',
      );
      if (on.length === 0) return [];
      // harmless until a forward chain drops: then traffic between guests of one bridge meets it,
      // and only NAT and routed networks get accepts there (foreign_forward_accept)
      const dropping = (await foreignForwardChains(runner, true)).map(chainLabel);
      if (dropping.length === 0) return [];
      const exposed = config.foreignForwardAccept
        ? networks.filter((n) => !forwarding(n)).map((n) => n.name)
        : networks.map((n) => n.name);
      return [
        {
          severity: exposed.length > 0 || !config.foreignForwardAccept ? 'problem' : 'note',
          problem: `br_netfilter passes bridged frames through ${on.map((t) => `net.bridge.bridge-nf-call-${t} = 1`).join(', ')} and ${dropping.join(', ')} drops by policy: traffic between guests on one bridge is dropped there${exposed.length ? ` (networks ${exposed.join(', ')})` : ''}`,
          fix: `sysctl -w ${on.map((t) => `net.bridge.bridge-nf-call-${t}=0`).join(' ')} (the nftables nwfilter backend needs br_netfilter only where the kernel lacks conntrack in the bridge family), or accept bridge-internal traffic in that chain (iifname BR oifname BR accept)`,
        },
      ];
    },
  },
  {
    id: 'ip-forwarding',
    title: 'IP forwarding is on where networks forward',
    async run({ networks, read }) {
      const out: Finding[] = [];
      const fwd = networks.filter(forwarding);
      for (const [family, key, path] of [
        ['ipv4', 'net.ipv4.ip_forward', '/proc/sys/net/ipv4/ip_forward'],
        ['ipv6', 'net.ipv6.conf.all.forwarding', '/proc/sys/net/ipv6/conf/all/forwarding'],
      ] as const) {
        const users = fwd.filter((n) => n.def.ips.some((ip) => ip.family === family)).map((n) => n.name);
        if (users.length > 0 && read(path) === '0')
          out.push(
            problem(
              `${key} is 0 while ${users.join(', ')} forward(s) ${family}: guests cannot reach beyond the host`,
              `sysctl -w ${key}=1 (and find what reset it: /etc/sysctl.d, another network manager)`,
            ),
          );
      }
      return out;
    },
  },
  {
    id: 'ipv6-accept-ra',
    title: 'IPv6 forwarding does not cost the host its RA routes',
    async run({ runner, read }) {
      if (read('/proc/sys/net/ipv6/conf/all/forwarding') !== '1') return [];
      const r = await runner.run(['ip', '-6', '-j', 'route', 'show', 'proto', 'ra']);
      const devs = [
        ...new Set((JSON.parse(r.stdout || '[]') as { dev?: string }[]).flatMap((x) => (x.dev ? [x.dev] : []))),
      ];
      const bad = devs.filter((d) => read(`/proc/sys/net/ipv6/conf/${d}/accept_ra`) !== '2');
      if (bad.length === 0) return [];
      // libvirt's networkCheckRouterAdvertisements wording
      return [
        problem(
          `enabling IPv6 forwarding with RA routes without accept_ra set to 2 is likely to cause routes loss. Interfaces to look at: ${bad.join(' ')}`,
          bad.map((d) => `sysctl -w net.ipv6.conf.${d}.accept_ra=2`).join('; '),
        ),
      ];
    },
  },
  {
    id: 'nft-features',
    title: 'the kernel has the nftables features virtwall uses',
    async run(ctx) {
      const { runner } = ctx;
      const out: Finding[] = [];
      for (const f of NFT_FEATURES.filter((f) => f.needed?.(ctx) ?? true)) {
        const r = await runner.run(['nft', '-c', '-f', '-'], f.script);
        if (r.status !== 0)
          out.push(
            problem(
              `nftables lacks ${f.feature} (used by ${f.usedBy}): ${r.stderr.trim().split('\n')[0]}`,
              'load the kernel module it needs (nf_tables, nft_nat, nf_conntrack_bridge, ...) or use a kernel that has it; the iptables network backend and the ebiptables nwfilter backend are the alternatives',
            ),
          );
      }
      return out;
    },
  },
  {
    id: 'nwfilter-table-owner',
    title: 'virtwalld owns its nwfilter tables: foreign nft commands cannot touch them',
    async run({ config }) {
      if (config.nwfilterBackend !== 'nftables') return [];
      if (!config.nwfilterTableOwner)
        return [
          note(
            "nwfilter_table_owner = 0: a foreign `nft flush ruleset` removes the guests' filters until virtwalld heals them",
            'set nwfilter_table_owner = 1 (the default) and restart virtwalld',
          ),
        ];
      // the daemon decides by the same probe at start
      const states = await nwfilterTableStates();
      if ('unavailable' in states)
        return [
          note(
            `virtwalld cannot own its nwfilter tables here (${states.unavailable}): a foreign \`nft flush ruleset\` removes the guests' filters until it heals them`,
            'Linux 6.9 or later (nftables tables flagged owner and persist) with libnftables.so.1 installed',
          ),
        ];
      return [...states].flatMap(([table, state]): Finding[] => {
        if (state === 'orphaned')
          return [
            note(
              `table ${table} has no owner: virtwalld is not running (it adopts the table when it starts; until then anyone can change it)`,
              'start virtwalld',
            ),
          ];
        if (state === 'unowned')
          return [
            note(
              `table ${table} was created without ownership (by an earlier virtwall or by nft): a foreign flush removes it until virtwalld heals it`,
              `virtwalld creates it owned once it is gone: when no guest is filtered, or (filters lapse meanwhile) stop virtwalld, nft delete table ${table}, start virtwalld`,
            ),
          ];
        return [];
      });
    },
  },
  {
    id: 'dnsmasq',
    title: 'dnsmasq is installed and recent enough',
    async run({ runner }) {
      const r = await runner
        .run(['dnsmasq', '--version'])
        .catch((err: Error) => ({ status: -1, stdout: '', stderr: err.message }));
      if (r.status !== 0)
        return [
          problem(
            `dnsmasq does not run (${r.stderr.trim().split('\n')[0] || `exit ${r.status}`}): networks with DHCP or DNS cannot start`,
            'apt-get install dnsmasq-base',
          ),
        ];
      try {
        parseDnsmasqVersion(r.stdout);
        return [];
      } catch (err) {
        return [problem((err as Error).message, 'install a newer dnsmasq (Debian: dnsmasq-base)')];
      }
    },
  },
  {
    id: 'dnsmasq-hosts-reach',
    title: "dnsmasq can read running networks' hosts files",
    async run({ networks }) {
      return networks.flatMap((n) => {
        const hostsFile = n.files.find((f) => f.endsWith('.hostsfile'));
        const closed = hostsFile === undefined ? undefined : closedToOthers(hostsFile);
        if (!closed) return [];
        const { problem: text, fix } = closedPathText(closed);
        return [problem(`network ${n.name}: ${text}`, fix)];
      });
    },
  },
  {
    id: 'other-dhcp-or-libvirt',
    title: "no other DHCP server or libvirt's daemons beside virtwall's networks",
    async run({ runner, networks }) {
      const out: Finding[] = [];
      const ours = new Set(networks.flatMap((n) => (n.dnsmasqPid !== undefined ? [n.dnsmasqPid] : [])));
      const r = await runner.run(['ss', '-H', '-lunp']);
      for (const line of r.stdout.split('\n')) {
        const local = line.trim().split(/\s+/)[3] ?? '';
        if (!/:(67|547)$/.test(local)) continue;
        for (const [, comm, pid] of line.matchAll(/\("([^"]+)",pid=(\d+)/g)) {
          if (ours.has(Number(pid))) continue;
          out.push(
            problem(
              `${comm} (pid ${pid}) listens for DHCP on ${local}: it can answer our guests or keep a network's dnsmasq from binding`,
              `stop it, or bind it to its own interfaces (dnsmasq: --interface=IF --bind-interfaces / bind-dynamic)`,
            ),
          );
        }
      }
      for (const p of processesHere().filter((p) => ['libvirtd', 'virtnetworkd', 'virtnwfilterd'].includes(p.comm))) {
        out.push(
          problem(
            `libvirt's ${p.comm} (pid ${p.pid}) runs in this network namespace: it manages the same bridges, the libvirt_network tables and libvirt's iptables chains as virtwall`,
            `stop it (systemctl stop ${p.comm}.socket ${p.comm}) or run virtwall in another network namespace`,
          ),
        );
      }
      return out;
    },
  },
  {
    id: 'tables-intact',
    title: "running networks' firewall rules are all in the kernel",
    async run({ runner, networks }) {
      const out: Finding[] = [];
      for (const n of networks.filter((n) => hasFirewall(n.def))) {
        const parts = await firewallParts(n.firewallRemoval, runner);
        if (parts.missing.length > 0)
          out.push(
            problem(
              `network ${n.name} lacks ${parts.missing.length} of its ${parts.missing.length + parts.present.length} firewall rule parts (${n.firewallBackend})`,
              'virtwalld restores them on the next kernel change: is it running? (virtwall daemon; kill -HUP its pid re-applies every network)',
            ),
          );
      }
      return out;
    },
  },
];
