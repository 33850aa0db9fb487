// A fleet on real parts: a three-member etcd cluster with mutual TLS (a CA and certificates made
// with openssl in a temporary folder per run) in a namespace `etcd` that holds the fleet's LAN
// bridge, and virtwall daemons each in a namespace of its own, joined to that bridge by a veth.
// A host is partitioned by taking its LAN link down. Everything (namespaces, etcd members,
// daemons, folders) is removed by cleanup(), which tests register with t.after.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FleetConfig } from '../../src/daemon/config.js';
import { waitFor } from '../../src/util/wait-for.js';
import { NetnsLab } from '../support/netns.js';
import { cli, startDaemon, stopAll, type DaemonProcess } from '../daemon/process.js';

const LAN = '10.77.0';
const ETCD_IP = `${LAN}.1`;
const MEMBERS = ['m1', 'm2', 'm3'] as const;
const clientPort = (i: number) => 2379 + i * 100;
const peerPort = (i: number) => 2380 + i * 100;

/** A filter dropping TCP to `port` from the guest (`extra`: more rules). */
export const filterXml = (name: string, port: number, extra = '') => `<filter name='${name}' chain='root'>
  <rule action='drop' direction='out' priority='500'><tcp dstportstart='${port}'/></rule>${extra}
</filter>
`;

export interface FleetHost {
  name: string;
  ns: string;
  root: string;
  daemon?: DaemonProcess;
}

export class FleetLab {
  readonly lab = new NetnsLab();
  readonly dir = mkdtempSync(join(tmpdir(), 'virtwall-fleet-'));
  readonly etcdNs: string;
  readonly members = new Map<string, ChildProcess>();
  readonly hosts: FleetHost[] = [];
  readonly endpoints = MEMBERS.map((_, i) => `https://${ETCD_IP}:${clientPort(i)}`);
  readonly prefix = '/virtwall-test/';

  constructor() {
    this.etcdNs = this.lab.netns('etcd');
    this.lab.bridge(this.etcdNs, 'lan0');
    this.lab.exec(this.etcdNs, ['ip', 'addr', 'add', `${ETCD_IP}/24`, 'dev', 'lan0']);
    this.makeCertificates();
  }

  private pki(name: string): string {
    return join(this.dir, 'pki', name);
  }

  /** A CA; one server/peer certificate for the members' address; one client certificate for the hosts. */
  private makeCertificates(): void {
    mkdirSync(join(this.dir, 'pki'));
    const ssl = (args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: join(this.dir, 'pki'), encoding: 'utf8' });
      assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
    };
    ssl(
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'].concat([
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-subj',
        '/CN=virtwall-test-ca',
      ]),
    );
    for (const [name, ext] of [
      ['server', `subjectAltName=IP:${ETCD_IP},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth`],
      ['client', 'extendedKeyUsage=clientAuth'],
    ] as const) {
      writeFileSync(this.pki(`${name}.ext`), `${ext}\n`);
      ssl(
        ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
          '-keyout',
          `${name}.key`,
          '-out',
          `${name}.csr`,
          '-subj',
          `/CN=virtwall-test-${name}`,
        ]),
      );
      ssl(
        ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
          '-days',
          '2',
          '-out',
          `${name}.pem`,
          '-extfile',
          `${name}.ext`,
        ]),
      );
    }
  }

  /** Starts (or restarts, keeping its data) member i. */
  startMember(i: number, state: 'new' | 'existing' = 'new'): void {
    const name = MEMBERS[i]!;
    const cluster = MEMBERS.map((m, j) => `${m}=https://${ETCD_IP}:${peerPort(j)}`).join(',');
    const child = this.lab.spawn(this.etcdNs, [
      'etcd',
      '--name',
      name,
      '--data-dir',
      join(this.dir, `etcd-${name}`),
      '--listen-client-urls',
      `https://${ETCD_IP}:${clientPort(i)}`,
      '--advertise-client-urls',
      `https://${ETCD_IP}:${clientPort(i)}`,
      '--listen-peer-urls',
      `https://${ETCD_IP}:${peerPort(i)}`,
      '--initial-advertise-peer-urls',
      `https://${ETCD_IP}:${peerPort(i)}`,
      '--initial-cluster',
      cluster,
      '--initial-cluster-token',
      `vwt-${this.lab.tag}`,
      '--initial-cluster-state',
      state,
      '--cert-file',
      this.pki('server.pem'),
      '--key-file',
      this.pki('server.key'),
      '--trusted-ca-file',
      this.pki('ca.pem'),
      '--client-cert-auth',
      '--peer-cert-file',
      this.pki('server.pem'),
      '--peer-key-file',
      this.pki('server.key'),
      '--peer-trusted-ca-file',
      this.pki('ca.pem'),
      '--peer-client-cert-auth',
      '--heartbeat-interval',
      '50',
      '--election-timeout',
      '500',
      '--log-level',
      'error',
    ]);
    child.stderr!.resume();
    child.stdout!.resume();
    this.members.set(name, child);
  }

  /** The three members, up and agreeing (a write through etcdctl succeeds). */
  async startEtcd(): Promise<void> {
    for (let i = 0; i < MEMBERS.length; i++) this.startMember(i);
    await waitFor(() => this.etcdctl(['put', `${this.prefix}probe`, 'x'], false).status === 0, {
      what: 'etcd cluster up',
      timeout: 30_000,
    });
  }

  /** Kills member i (SIGKILL, by its PID). */
  killMember(i: number): void {
    const child = this.members.get(MEMBERS[i]!);
    child?.kill('SIGKILL');
  }

  etcdctl(args: string[], check = true): { status: number; stdout: string; stderr: string } {
    const r = this.lab.exec(
      this.etcdNs,
      [
        'env',
        'ETCDCTL_API=3',
        'etcdctl',
        '--endpoints',
        this.endpoints.join(','),
        '--cacert',
        this.pki('ca.pem'),
        '--cert',
        this.pki('client.pem'),
        '--key',
        this.pki('client.key'),
        '--dial-timeout',
        '2s',
        '--command-timeout',
        '4s',
        ...args,
      ],
      check,
    );
    return r;
  }

  /** What a host's store connects with (the configuration below, as the daemon reads it). */
  storeConfig(host: string): FleetConfig {
    return {
      endpoints: this.endpoints,
      prefix: this.prefix,
      caFile: this.pki('ca.pem'),
      certFile: this.pki('client.pem'),
      keyFile: this.pki('client.key'),
      hostName: host,
    };
  }

  /** The configuration of a fleet host (libvirt's sockets off unless a test uses them). */
  config(host: string, libvirtSockets = false): string {
    return [
      `etcd_endpoints = "${this.endpoints.join(',')}"`,
      `etcd_prefix = "${this.prefix}"`,
      `etcd_cacert = "${this.pki('ca.pem')}"`,
      `etcd_cert = "${this.pki('client.pem')}"`,
      `etcd_key = "${this.pki('client.key')}"`,
      `host_name = "${host}"`,
      `libvirt_sockets = ${libvirtSockets ? 1 : 0}`,
    ].join('\n');
  }

  /** A host: its namespace on the LAN (10.77.0.(10+i)), a state root with the fleet's configuration. */
  addHost(name: string, opts: { libvirtSockets?: boolean } = {}): FleetHost {
    const i = this.hosts.length;
    const ns = this.lab.netns(name);
    const link = `l${this.lab.tag}${i}`;
    this.lab.veth(this.etcdNs, link, ns, 'lan', { bridge: 'lan0' });
    this.lab.exec(ns, ['ip', 'addr', 'add', `${LAN}.${10 + i}/24`, 'dev', 'lan']);
    const root = join(this.dir, `root-${name}`);
    mkdirSync(join(root, 'etc/virtwall'), { recursive: true });
    writeFileSync(join(root, 'etc/virtwall/virtwall.conf'), this.config(name, opts.libvirtSockets));
    const host = { name, ns, root };
    this.hosts.push(host);
    return host;
  }

  async start(host: FleetHost, env: Record<string, string> = {}): Promise<DaemonProcess> {
    host.daemon = await startDaemon(host.ns, host.root, env);
    return host.daemon;
  }

  /** Cuts (or restores) a host's LAN link: it loses (regains) etcd and the other hosts. */
  partition(host: FleetHost, cut: boolean): void {
    this.lab.exec(host.ns, ['ip', 'link', 'set', 'lan', cut ? 'down' : 'up']);
  }

  cli(host: FleetHost, args: readonly string[]) {
    return cli(host.root, args);
  }

  /** The CLI on `host`, which must succeed; its output. */
  ok(host: FleetHost, args: readonly string[]): string {
    const r = this.cli(host, args);
    assert.equal(r.status, 0, `${host.name}: ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** A file of the test's (an XML to define), written in its folder; its path. */
  file(name: string, text: string): string {
    const p = join(this.dir, name);
    writeFileSync(p, text);
    return p;
  }

  /** The definition of filter `name` as `host` keeps it, if it has one. */
  held(host: FleetHost, name: string): string | undefined {
    const f = join(host.root, 'etc/virtwall/nwfilter', `${name}.xml`);
    return existsSync(f) ? readFileSync(f, 'utf8') : undefined;
  }

  cleanup(): void {
    stopAll(...this.hosts.map((h) => h.root));
    this.lab.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
