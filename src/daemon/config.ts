// DIR/etc/virtwall/virtwall.conf in libvirt's configuration syntax (virConf): `key = value`
// lines, values quoted strings, integers or lists of strings, `#` comments.
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { invalidInput } from '../errors.js';
import type { FirewallBackendName } from '../network/firewall/plan.js';
import type { NwfilterBackendName } from '../nwfilter/backend.js';
import { printable } from '../util/printable.js';
import { DEFAULT_TLS_PORT, PKI } from './pki.js';

export type ConfValue = string | number | string[];

export interface DaemonConfig {
  networkFirewallBackend: FirewallBackendName;
  nwfilterBackend: NwfilterBackendName;
  /** libvirt's log_level: 1 debug, 2 info, 3 warning, 4 error. */
  logLevel: 1 | 2 | 3 | 4;
  /** Log destination: stderr, or a file path (from log_outputs `N:file:PATH`). */
  logFile?: string;
  /** Optional TLS listener with client certificates (off unless listen_tls = 1). */
  tls?: TlsListener;
  /** Connections served at once over all listeners (the Unix socket has one slot more). */
  maxClients: number;
  /** Seconds a connection may stay without a request in progress before it is closed. */
  idleTimeout: number;
  /** libvirt's RPC protocol on DIR/run/libvirt/virt{network,nwfilter}d-sock[-ro] (libvirt_sockets = 0: off). */
  libvirtSockets: boolean;
  /** Seconds between self-healing checks besides the nftables watch's events; 0 disables. */
  reconcileInterval: number;
  /** Accept rules for networks' traffic in other tables' forward chains with policy drop (Docker's). */
  foreignForwardAccept: boolean;
  /** The daemon owns its nwfilter tables where the kernel lets it (nftables backend); 0: nft processes and the heal. */
  nwfilterTableOwner: boolean;
  /** Read-only Prometheus exposition on /metrics (metrics_listen; off unless set). */
  metricsListen?: ListenAddress;
  /** Read-only dashboard page (dashboard_listen; off unless set). */
  dashboardListen?: ListenAddress;
  /** The fleet: definitions shared through etcd (etcd_endpoints; off unless set). */
  fleet?: FleetConfig;
}

export interface FleetConfig {
  endpoints: string[];
  /** Every key of the fleet starts with it (ends with '/'). */
  prefix: string;
  /** PEM files: the CA of etcd's server certificates, this host's client certificate and key. */
  caFile: string;
  certFile: string;
  keyFile: string;
  /** This host's name in the fleet (its key under PREFIX/hosts/). */
  hostName: string;
}

/** An address a read-only TCP listener binds: an IP literal (IPv6 without brackets) and a port. */
export interface ListenAddress {
  host: string;
  port: number;
}

export interface TlsListener {
  host: string;
  port: number;
  /** PEM files: the server's key and certificate, the CA that signs client certificates. */
  keyFile: string;
  certFile: string;
  caFile: string;
  /** Optional certificate revocation list. */
  crlFile?: string;
}

/** A fleet host name (host_name; other hosts' records are checked against it too). */
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;
const FILE_PATH = /^\/[A-Za-z0-9_.+/-]{1,4095}$/;
/** https only: the fleet's traffic carries the firewall's definitions, so it is always mutual TLS. */
const ETCD_ENDPOINT = String.raw`https://(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]):\d{1,5}`;
const ETCD_ENDPOINTS = new RegExp(`^${ETCD_ENDPOINT}(?:,${ETCD_ENDPOINT})*$`);

/** Every key the daemon reads, with how it is checked: one table for parse and defaults. */
const KEYS: Record<
  string,
  { type: 'string' | 'int'; allowed?: readonly string[]; pattern?: RegExp; min?: number; why?: string }
> = {
  network_firewall_backend: { type: 'string', allowed: ['nftables', 'iptables'] },
  nwfilter_backend: { type: 'string', allowed: ['nftables', 'ebiptables'] },
  log_level: { type: 'int', allowed: ['1', '2', '3', '4'] },
  log_outputs: { type: 'string' },
  // no listener without authentication: libvirt's plain TCP has SASL, virtwall has none
  listen_tcp: {
    type: 'int',
    allowed: ['0'],
    why: 'virtwall has no unauthenticated TCP listener; use listen_tls (mutual TLS)',
  },
  listen_tls: { type: 'int', allowed: ['0', '1'] },
  listen_addr: { type: 'string' },
  tls_port: { type: 'string' },
  key_file: { type: 'string' },
  cert_file: { type: 'string' },
  ca_file: { type: 'string' },
  crl_file: { type: 'string' },
  max_clients: { type: 'int', min: 1 },
  idle_timeout: { type: 'int', min: 1 },
  reconcile_interval: { type: 'int', min: 0 },
  libvirt_sockets: { type: 'int', allowed: ['0', '1'] },
  foreign_forward_accept: { type: 'int', allowed: ['0', '1'] },
  metrics_listen: { type: 'string' },
  dashboard_listen: { type: 'string' },
  nwfilter_table_owner: { type: 'int', allowed: ['0', '1'] },
  // the fleet's values reach etcd's keys, TLS file reads and the log
  etcd_endpoints: { type: 'string', pattern: ETCD_ENDPOINTS, why: '"https://HOST:PORT[,https://HOST:PORT...]"' },
  etcd_prefix: {
    type: 'string',
    pattern: /^\/(?:[A-Za-z0-9_][A-Za-z0-9_.-]*\/)*$/,
    why: 'a key prefix like "/virtwall/"',
  },
  etcd_cacert: { type: 'string', pattern: FILE_PATH, why: 'an absolute file path' },
  etcd_cert: { type: 'string', pattern: FILE_PATH, why: 'an absolute file path' },
  etcd_key: { type: 'string', pattern: FILE_PATH, why: 'an absolute file path' },
  host_name: { type: 'string', pattern: HOST_NAME, why: 'letters, digits, - and . (at most 63)' },
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
    if ((spec.type === 'int') !== (typeof value === 'number'))
      throw invalidInput(`setting '${key}' expects ${spec.type === 'int' ? 'an integer' : 'a string'}`, loc);
    if (spec.allowed && !spec.allowed.includes(String(value)))
      throw invalidInput(
        `setting '${key}' must be one of ${spec.allowed.join(', ')}${spec.why ? `: ${spec.why}` : ''}`,
        loc,
      );
    if (spec.pattern && !spec.pattern.test(String(value)))
      throw invalidInput(`setting '${key}' must be ${spec.why}, not '${printable(String(value))}'`, loc);
    if (spec.min !== undefined && (value as number) < spec.min)
      throw invalidInput(`setting '${key}' must be at least ${spec.min}`, loc);
    out.set(key, value);
  });
  return out;
}

function parseValue(text: string, loc: { file: string; line: number }): ConfValue {
  if (/^-?\d+$/.test(text)) return Number(text);
  const str = /^"([^"]*)"$/.exec(text) ?? /^'([^']*)'$/.exec(text);
  if (str) return str[1]!;
  const list = /^\[(.*)\]$/.exec(text);
  if (list)
    return list[1]!
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => String(parseValue(s, loc)));
  throw invalidInput(`cannot parse value '${text}'`, loc);
}

/** The configuration of the daemon of state root `root` (relative default file paths are under it). */
export function daemonConfig(values: ReadonlyMap<string, ConfValue>, root = '/'): DaemonConfig {
  const str = (k: string) => values.get(k) as string | undefined;
  const int = (k: string) => values.get(k) as number | undefined;
  const outputs = str('log_outputs');
  const fileOut = outputs && /^\d:file:(.+)$/.exec(outputs.split(/\s+/)[0]!);
  return {
    networkFirewallBackend: (str('network_firewall_backend') ?? 'nftables') as FirewallBackendName,
    nwfilterBackend: (str('nwfilter_backend') ?? 'nftables') as NwfilterBackendName,
    logLevel: ((values.get('log_level') as number | undefined) ?? 2) as DaemonConfig['logLevel'],
    logFile: fileOut ? fileOut[1] : undefined,
    tls: int('listen_tls') === 1 ? tlsListener(str, root) : undefined,
    maxClients: int('max_clients') ?? 64,
    idleTimeout: int('idle_timeout') ?? 10,
    reconcileInterval: int('reconcile_interval') ?? 0,
    libvirtSockets: int('libvirt_sockets') !== 0,
    foreignForwardAccept: int('foreign_forward_accept') !== 0,
    metricsListen: listenAddress('metrics_listen', str('metrics_listen')),
    dashboardListen: listenAddress('dashboard_listen', str('dashboard_listen')),
    nwfilterTableOwner: int('nwfilter_table_owner') !== 0,
    fleet: str('etcd_endpoints') ? fleetConfig(str) : undefined,
  };
}

/** With etcd_endpoints set, the client certificate is required: etcd's other ends are other hosts. */
function fleetConfig(str: (k: string) => string | undefined): FleetConfig {
  const file = (k: string) => {
    const f = str(k);
    if (f === undefined) throw invalidInput(`setting '${k}' is required with etcd_endpoints (mutual TLS)`);
    return f;
  };
  const host = str('host_name') ?? hostname();
  if (!HOST_NAME.test(host))
    throw invalidInput(`this machine's hostname '${printable(host)}' is no fleet host name: set host_name`);
  return {
    endpoints: str('etcd_endpoints')!.split(','),
    prefix: str('etcd_prefix') ?? '/virtwall/',
    caFile: file('etcd_cacert'),
    certFile: file('etcd_cert'),
    keyFile: file('etcd_key'),
    hostName: host,
  };
}

/**
 * `"IPV4:PORT"` or `"[IPV6]:PORT"`: an address literal, never a name (what is bound is what the
 * operator reads), and a port; `""` or absent: off.
 */
function listenAddress(keyName: string, text: string | undefined): ListenAddress | undefined {
  if (text === undefined || text === '') return undefined;
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)\]):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || isIP(host!) === 0 || port < 1 || port > 65535)
    throw invalidInput(
      `setting '${keyName}' must be "ADDRESS:PORT" (an IPv4 address, or an IPv6 address in brackets, and a port 1-65535), not '${text}'`,
    );
  return { host: host!, port };
}

function tlsListener(str: (k: string) => string | undefined, root: string): TlsListener {
  const port = str('tls_port') ?? String(DEFAULT_TLS_PORT);
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
    throw invalidInput(`setting 'tls_port' must be a port number, not '${port}'`);
  const crl = str('crl_file');
  return {
    host: str('listen_addr') ?? '127.0.0.1',
    port: Number(port),
    keyFile: str('key_file') ?? join(root, PKI.serverKey),
    certFile: str('cert_file') ?? join(root, PKI.serverCert),
    caFile: str('ca_file') ?? join(root, PKI.caFile),
    crlFile: crl,
  };
}
