// What an nwfilter technology driver (ebiptables, nftables) offers the daemon: put the
// instantiated filters of some ports in place and take others away, and bring the kernel back
// to a desired state after a restart or a foreign flush. Backends are the only nwfilter code
// with side effects; they reach the kernel through a CommandRunner.
import type { RuleInstance } from './instantiate.js';
import type { Ruleset } from '../nft/objects.js';
import type { XtTool } from '../xtables/rule.js';
import type { XtTable } from '../xtables/save.js';

export type NwfilterBackendName = 'nftables' | 'ebiptables';

/** One filtered port (a guest's TAP device) as the backend needs it. */
export interface PortFilter {
  /** The port device, e.g. `vnet0`. */
  portdev: string;
  /** The guest's MAC on this port ($MAC). */
  mac: string;
  /** Root filter name of the binding (for rule comments and diagnostics). */
  filter: string;
  /** The instantiated rules (src/nwfilter/instantiate.ts), empty for a MAC-only port. */
  instances: readonly RuleInstance[];
  /**
   * A digest of everything `instances` is computed from (filter definitions, binding, learned
   * addresses): ports with equal digests have equal instances, so a backend may reuse what it built
   * for a digest, also across restarts, without instantiating again (see deferredPortFilter).
   */
  inputsDigest?: string;
  /**
   * libvirt's QEMU `mac_filter`: frames entering from the port with another source MAC are
   * dropped, independently of any nwfilter.
   */
  macFilter?: boolean;
}

/**
 * Instances by inputs digest while anyone holds them: equal digests have equal instances, so a
 * port filter made again for the same inputs takes them instead of instantiating again (a
 * filter's redefinition checks every port it reaches, then applies the same instances).
 */
const instancesByDigest = new Map<string, WeakRef<readonly RuleInstance[]>>();
const instancesGone = new FinalizationRegistry<string>((digest) => {
  if (!instancesByDigest.get(digest)?.deref()) instancesByDigest.delete(digest);
});

/**
 * A port whose instances are computed on first use, so a backend that kept what it built for
 * `inputsDigest` never instantiates. The property is a getter: spreading the object computes it.
 * The instances are held weakly: a backend keeps the port (its name, digest) for as long as it is
 * bound but needs its rule trees only to compile it, and at 10,000 ports they would be a third of
 * the daemon's heap; a later read after the collector took them instantiates again.
 */
export function deferredPortFilter(
  port: Omit<PortFilter, 'instances'> & { inputsDigest: string },
  instantiate: () => readonly RuleInstance[],
): PortFilter {
  const digest = port.inputsDigest;
  return {
    ...port,
    get instances() {
      let instances = instancesByDigest.get(digest)?.deref();
      if (!instances) {
        instances = instantiate();
        instancesByDigest.set(digest, new WeakRef(instances));
        instancesGone.register(instances, digest);
      }
      return instances;
    },
  };
}

export interface PortChange {
  /** Ports whose rules are (re)placed: new bindings, new parameters, redefined filters. */
  set: readonly PortFilter[];
  /** Ports whose rules are removed. */
  remove: readonly string[];
}

export interface ReconcileReport {
  /** Ports whose kernel state differed from the desired one and was repaired. */
  repaired: string[];
  /** Ports found in the kernel that are not desired, and were removed. */
  removed: string[];
  /** How many ports' rules were computed anew rather than reused (backends that keep compiled ports). */
  compiled?: number;
  /** The kernel was known from its stamp (nftables, src/backends/nftables/kernel-stamp.ts): nothing was listed. */
  stamped?: boolean;
}

/**
 * A backend's rules as nwfilter-explain evaluates them: the nftables objects it loads, or the
 * xtables tables its layout lives in as last listed from the kernel.
 */
export type HeldRules = { layout: string } & (
  | { model: Ruleset }
  | { xtables: readonly { tool: XtTool; table: XtTable }[] }
);

export interface NwfilterBackend {
  readonly name: NwfilterBackendName;
  /**
   * The nftables tables (objectKey form) that hold this backend's rules and nothing else's, when
   * it has such tables: a foreign change elsewhere leaves its rules as they are. None: any change
   * may touch them (ebtables and iptables share their tables).
   */
  readonly kernelTables?: readonly string[];
  /**
   * Applies a change. The nftables backend does it as one kernel transaction: no moment in
   * which a port's traffic is unfiltered or half-filtered.
   */
  apply(change: PortChange): Promise<void>;
  /**
   * Makes the kernel hold exactly `desired` (every filtered port), touching only what differs
   * from it. Used when the daemon starts and when someone else changed our rules.
   */
  reconcile(desired: readonly PortFilter[]): Promise<ReconcileReport>;
  /**
   * Starts reading what the kernel holds for the first reconcile, which takes that reading: the
   * daemon calls it before loading its records, so the kernel lists while it parses them.
   */
  prepare?(): void;
  /**
   * Told after each of the daemon's operations (which may have moved the kernel's ruleset on
   * without touching the backend's rules: a network's firewall, a heal): a backend that stamps
   * the kernel (nftables, kernel-stamp.ts) stamps it again.
   */
  restamp?(): void;
  /**
   * What the backend holds the kernel to and the name of its layout, for nwfilter-explain
   * (src/explain); undefined before the first change. Backends without it cannot be explained.
   */
  explainable?(): HeldRules | undefined;
}
