// The executable dnsmasq runs on lease changes (--dhcp-script): a small shell script that hands
// the event to `virtwall lease-hook`, which updates the bridge's lease records.
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtwallError } from '../../errors.js';
import { shellEscape } from '../../plan/command.js';
import { applyLeaseEvent, leaseDatabase, readLeases, writeLeases, type LeaseEvent } from './leases.js';
import { isDeviceName } from '../../util/device-name.js';
import { writeFileAtomic } from '../../util/state-file.js';

const CLI = fileURLToPath(new URL('../../../bin/virtwall.js', import.meta.url));
const ACTIONS = new Set(['add', 'old', 'del', 'init', 'tftp', 'arp-add', 'arp-del']);
const LEASE_FILE_SUFFIX = '.leases.json';

/**
 * Writes `<stateDir>/lease-hook` and returns its path. dnsmasq's start waits for the hook's
 * `init` answer; a network starting with no lease records (leaseFile absent or empty) gets the
 * empty database from the shell itself, without starting `command` (node, ~0.1-0.5 s).
 */
export function writeLeaseHookScript(stateDir: string, command: readonly string[] = [process.execPath, CLI]): string {
  const path = join(stateDir, 'lease-hook');
  // leaseFile's name, with the bridge handleLeaseHook picks (VIR_BRIDGE_NAME, else DNSMASQ_INTERFACE)
  const records = `${shellEscape(stateDir)}/"\${VIR_BRIDGE_NAME-$DNSMASQ_INTERFACE}${LEASE_FILE_SUFFIX}"`;
  const script = [
    '#!/bin/sh',
    `if [ "$1" = init ] && [ ! -s ${records} ]; then exit 0; fi`,
    `exec ${command.map(shellEscape).join(' ')} lease-hook --state-dir ${shellEscape(stateDir)} "$@"`,
    '',
  ].join('\n');
  writeFileAtomic(path, script, 0o700);
  chmodSync(path, 0o700);
  return path;
}

export function leaseFile(stateDir: string, bridge: string): string {
  return join(stateDir, `${bridge}${LEASE_FILE_SUFFIX}`);
}

/** Handles one hook call; returns what dnsmasq expects on stdout (the database for `init`). */
export function handleLeaseHook(
  stateDir: string,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  now: number,
): string {
  const [action, mac, ip, hostname] = args;
  if (!action || !ACTIONS.has(action))
    throw new VirtwallError('invalid-input', `unknown lease hook action '${action ?? ''}'`);
  // the driver starts dnsmasq with VIR_BRIDGE_NAME set (as libvirt does): dnsmasq names no
  // interface at init
  const bridge = env.VIR_BRIDGE_NAME ?? env.DNSMASQ_INTERFACE;
  if (!bridge || !isDeviceName(bridge)) return '';
  if (action === 'init') return leaseDatabase(readLeases(leaseFile(stateDir, bridge)), now);
  const file = leaseFile(stateDir, bridge);
  const event: LeaseEvent = { action: action as LeaseEvent['action'], mac, ip, hostname, env };
  writeLeases(file, applyLeaseEvent(readLeases(file), event, now));
  return '';
}
