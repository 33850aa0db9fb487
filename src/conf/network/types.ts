// Typed form of libvirt's <network> definition (virNetworkDef, src/conf/network_conf.h).
// Values are parsed (addresses, MACs, numbers); where libvirt's formatter echoes the written
// form (netmask vs prefix) that choice is remembered too. Optional/tristate settings are
// `undefined` when absent, so formatting can leave them out exactly as libvirt does.
import type { XmlElement } from '../../xml/dom.js';
import type { IpAddress, IpFamily } from '../../util/address.js';

export type { IpAddress, IpFamily };

/** libvirt's virNetworkForwardType; 'none' is an isolated network (no <forward>). */
export type ForwardMode = 'none' | 'nat' | 'route' | 'open' | 'bridge' | 'private' | 'vepa' | 'passthrough' | 'hostdev';

export interface NetworkDef {
  name: string;
  /** Lower-case canonical UUID text (generated when the XML has none). */
  uuid: string;
  /** Whether the XML gave the UUID (libvirt's uuid_specified). */
  uuidSpecified: boolean;
  title?: string;
  description?: string;
  /** <metadata> element as written (namespaced children re-emitted verbatim). */
  metadata?: XmlElement;
  /** <network connections=>: guest interfaces attached (live state only). */
  connections?: number;
  /** <network ipv6='yes'>: IPv6 between guests even without an IPv6 gateway address (ipv6nogw). */
  ipv6NoGateway: boolean;
  trustGuestRxFilters?: boolean;
  forward: NetworkForward;
  bridge: NetworkBridge;
  /** <mtu size=>; undefined means the default. */
  mtu?: number;
  /** <mac address=> of the bridge, lower-case text "52:54:00:..". */
  mac?: string;
  domain?: NetworkDomain;
  dns: NetworkDns;
  ips: NetworkIp[];
  routes: NetworkRoute[];
  virtualPort?: VirtualPortProfile;
  portGroups: PortGroup[];
  bandwidth?: Bandwidth;
  vlan?: Vlan;
  /** <port isolated=>. */
  isolatedPort?: boolean;
  /** <dnsmasq:options><dnsmasq:option value=>: extra dnsmasq.conf lines, verbatim. */
  dnsmasqOptions: string[];
}

export interface NetworkBridge {
  /** Bridge device name; may be a template containing %d until the driver picks one. */
  name?: string;
  /** firewalld zone for the bridge. */
  zone?: string;
  /** Spanning tree protocol; libvirt's default is on. */
  stp: boolean;
  /** Forward delay in seconds; default 0. */
  delay: number;
  macTableManager?: 'kernel' | 'libvirt';
}

export interface NetworkForward {
  mode: ForwardMode;
  /** <forward managed=> (hostdev mode). */
  managed: boolean;
  /** <driver name= model=> for hostdev pools. */
  driver?: HostdevDriver;
  /** <pf dev=>: at most one physical function. */
  pfs: { dev: string; connections?: number }[];
  /**
   * Pool of devices: netdevs (<interface dev=>, also where <forward dev=> lands as the first
   * entry) or PCI addresses (<address type='pci'>).
   */
  interfaces: ForwardInterface[];
  nat?: NatOptions;
}

/** <driver name= model=/> of a PCI hostdev (virDeviceHostdevPCIDriverInfo). */
export interface HostdevDriver {
  name?: 'kvm' | 'vfio' | 'xen';
  /** e.g. vfio-pci-igb */
  model?: string;
}

export type ForwardInterface =
  | { type: 'netdev'; dev: string; connections?: number }
  | { type: 'pci'; address: PciAddress; connections?: number };

export interface PciAddress {
  domain: number;
  bus: number;
  slot: number;
  function: number;
}

export interface NatOptions {
  /** <nat><address start= end=/>: SNAT range instead of masquerade. */
  address?: { start: IpAddress; end?: IpAddress };
  /** <nat><port start= end=/>; 0 when not given (libvirt then uses 1024-65535). */
  port?: { start: number; end: number };
  /** <nat ipv6=>: also masquerade IPv6. */
  ipv6?: boolean;
}

export interface NetworkDomain {
  name?: string;
  /** localOnly='yes': names in this domain are never forwarded upstream. */
  localOnly?: boolean;
  /** register='yes': register the domain's hosts with the host's resolver. */
  register?: boolean;
}

export interface NetworkDns {
  /** <dns enable=>; undefined = default (enabled). */
  enable?: boolean;
  forwardPlainNames?: boolean;
  forwarders: DnsForwarder[];
  txts: DnsTxt[];
  hosts: DnsHost[];
  srvs: DnsSrv[];
}

export interface DnsForwarder {
  addr?: IpAddress;
  domain?: string;
}

export interface DnsTxt {
  name: string;
  value?: string;
}

export interface DnsHost {
  ip: IpAddress;
  hostnames: string[];
}

export interface DnsSrv {
  service?: string;
  protocol?: string;
  domain?: string;
  target?: string;
  /** Numbers are undefined when not written (libvirt formats only the ones given). */
  port?: number;
  priority?: number;
  weight?: number;
}

export interface NetworkIp {
  family: IpFamily;
  /** Whether `family=` was written (it is echoed only then). */
  familyWritten: boolean;
  address: IpAddress;
  /**
   * Effective prefix length (virNetworkIPDefPrefix): the written prefix, else the netmask's
   * length, else the classful default (IPv4) or 64 (IPv6). -1 when the netmask is not
   * contiguous or an IPv4 address without mask is beyond class C, as in libvirt.
   */
  prefix: number;
  /** How the XML gave the mask: netmask=, prefix=, or neither (classful default). */
  maskForm: 'netmask' | 'prefix' | 'none';
  /** The netmask as written, when maskForm is 'netmask'. */
  netmask?: IpAddress;
  localPtr?: boolean;
  /** <dhcp><range>s. */
  ranges: DhcpRange[];
  hosts: DhcpHost[];
  tftpRoot?: string;
  bootFile?: string;
  bootServer?: IpAddress;
}

export interface DhcpLease {
  /** 0 means infinite. */
  expiry: number;
  unit: 'seconds' | 'minutes' | 'hours';
}

export interface DhcpRange {
  start: IpAddress;
  end: IpAddress;
  lease?: DhcpLease;
}

export interface DhcpHost {
  /** MAC text as written (libvirt keeps it verbatim; compare with parseMac). */
  mac?: string;
  /** DHCPv6 client id (DUID) text. */
  id?: string;
  name?: string;
  ip?: IpAddress;
  lease?: DhcpLease;
}

export interface NetworkRoute {
  family?: IpFamily;
  address: IpAddress;
  netmask?: IpAddress;
  prefix?: number;
  gateway: IpAddress;
  metric?: number;
}

export interface PortGroup {
  name: string;
  isDefault: boolean;
  trustGuestRxFilters?: boolean;
  virtualPort?: VirtualPortProfile;
  bandwidth?: Bandwidth;
  vlan?: Vlan;
}

/** <bandwidth>: rates in kilobytes/s, burst in kilobytes (virNetDevBandwidth). */
export interface Bandwidth {
  inbound?: BandwidthRate;
  outbound?: BandwidthRate;
}

export interface BandwidthRate {
  average?: number;
  peak?: number;
  floor?: number;
  burst?: number;
}

/** <vlan trunk=><tag id= nativeMode=/>. */
export interface Vlan {
  trunk: boolean;
  tags: number[];
  nativeMode?: 'tagged' | 'untagged';
  nativeTag?: number;
}

/** <virtualport type=><parameters .../> (virNetDevVPortProfile). */
export interface VirtualPortProfile {
  type?: '802.1Qbg' | '802.1Qbh' | 'openvswitch' | 'midonet';
  managerId?: number;
  typeId?: number;
  typeIdVersion?: number;
  instanceId?: string;
  profileId?: string;
  interfaceId?: string;
}
