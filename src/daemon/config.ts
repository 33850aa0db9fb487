// DIR/etc/virtwall/virtwall.conf in libvirt's configuration syntax (virConf): `key = value`
// lines, values quoted strings, integers or lists of strings, `#` comments.
import { invalidInput } from '../errors.js';
import type { BackendName } from '../network/firewall/plan.js';
import type { NwfilterBackendName } from '../nwfilter/backend.js';

export type ConfValue = string | number | string[];

export interface DaemonConfig {
  networkFirewallBackend: BackendName;
  nwfilterBackend: NwfilterBackendName;
  /** libvirt's log_level: 1 debug, 2 info, 3 warning, 4 error. */
  logLevel: 1 | 2 | 3 | 4;
  /** Log destination: stderr, or a file path (from log_outputs `N:file:PATH`). */
  logFile?: string;
  /** Optional TCP listener (off unless listen_tcp = 1). */
  tcp?: { host: string; port: number };
  /** Seconds between self-healing checks besides nft monitor events; 0 disables. */
  reconcileInterval: number;
  /** Accept rules for networks' traffic in other tables' forward chains with policy drop (Docker's). */
  foreignForwardAccept: boolean;
}

/** Every key the daemon reads, with how it is checked: one table for parse and defaults. */
const KEYS: Record<string, { type: 'string' | 'int'; allowed?: readonly string[] }> = {
  network_firewall_backend: { type: 'string', allowed: ['nftables', 'iptables'] },
  nwfilter_backend: { type: 'string', allowed: ['nftables', 'ebiptables'] },
  log_level: { type: 'int', allowed: ['1', '2', '3', '4'] },
  log_outputs: { type: 'string' },
  listen_tcp: { type: 'int', allowed: ['0', '1'] },
  listen_addr: { type: 'string' },
  tcp_port: { type: 'string' },
  reconcile_interval: { type: 'int' },
  foreign_forward_accept: { type: 'int', allowed: ['0', '1'] },
};

/** Parses virConf text into key/values; unknown keys are refused so typos do not pass silently. */
export function parseConf(text: string, file: string): Map<string, ConfValue> {
  const out = new Map<string, ConfValue>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*(#.*)?$/.exec(line);
    const loc = { file, line: i + 1 };
    if (!m) throw invalidInput('expecting key = value', loc);
    const [, key, valueText] = m as unknown as [string, string, string];
    const spec = KEYS[key];
    if (!spec) throw invalidInput(`unknown setting '${key}'`, loc);
    const value = parseValue(valueText, loc);
    if ((spec.type === 'int') !== (typeof value === 'number')) throw invalidInput(`setting '${key}' expects ${spec.type === 'int' ? 'an integer' : 'a string'}`, loc);
    if (spec.allowed && !spec.allowed.includes(String(value))) throw invalidInput(`setting '${key}' must be one of ${spec.allowed.join(', ')}`, loc);
    out.set(key, value);
  });
  return out;
}

function parseValue(text: string, loc: { file: string; line: number }): ConfValue {
  if (/^-?\d+$/.test(text)) return Number(text);
  const str = /^"([^"]*)"$/.exec(text) ?? /^'([^']*)'$/.exec(text);
  if (str) return str[1]!;
  const list = /^\[(.*)\]$/.exec(text);
  if (list) return list[1]!.split(',').map((s) => s.trim()).filter(Boolean).map((s) => String(parseValue(s, loc)));
  throw invalidInput(`cannot parse value '${text}'`, loc);
}

export function daemonConfig(values: ReadonlyMap<string, ConfValue>): DaemonConfig {
  const str = (k: string) => values.get(k) as string | undefined;
  const outputs = str('log_outputs');
  const fileOut = outputs && /^\d:file:(.+)$/.exec(outputs.split(/\s+/)[0]!);
  return {
    networkFirewallBackend: (str('network_firewall_backend') ?? 'nftables') as BackendName,
    nwfilterBackend: (str('nwfilter_backend') ?? 'nftables') as NwfilterBackendName,
    logLevel: ((values.get('log_level') as number | undefined) ?? 2) as DaemonConfig['logLevel'],
    logFile: fileOut ? fileOut[1] : undefined,
    tcp: values.get('listen_tcp') === 1 ? { host: str('listen_addr') ?? '127.0.0.1', port: Number(str('tcp_port') ?? '16590') } : undefined,
    reconcileInterval: (values.get('reconcile_interval') as number | undefined) ?? 0,
    foreignForwardAccept: values.get('foreign_forward_accept') !== 0,
  };
}
