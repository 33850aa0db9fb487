#!/usr/bin/env bash
# Installs virtwall's OS packages and npm dependencies (Debian 12, as root) and builds dist/
# (bin/virtwall.js runs it while it matches src/, see scripts/source-stamp.mjs). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(nftables libnftables1 iptables ebtables dnsmasq-base iproute2 iputils-ping isc-dhcp-client bind9-dnsutils iperf3 tcpdump procps python3 kmod util-linux libvirt-clients libvirt-daemon python3-libvirt systemd zsh openssl curl prometheus chromium
  firewalld dbus-daemon etcd-server etcd-client)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # firewalld and dbus must not start in the root namespace (tests run them confined to one):
  # without Debian's container policy-rc.d, one refusing service starts is in place for the install
  guard=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$guard"; chmod 755 "$guard"
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ -z "$guard" ] || rm -f "$guard"
fi
npm ci --no-audit --no-fund
# the Node LTS binary npm test runs the unit tests under (lts/package.json)
npm ci --prefix lts --no-audit --no-fund
npm run build --silent
