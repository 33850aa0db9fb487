#!/usr/bin/env bash
# Installs virtwall's OS packages and npm dependencies (Debian 12, as root) and builds dist/
# (bin/virtwall.js runs it while it matches src/, see scripts/source-stamp.mjs). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(nftables libnftables1 iptables ebtables dnsmasq-base iproute2 iputils-ping isc-dhcp-client bind9-dnsutils iperf3 tcpdump procps python3 kmod util-linux libvirt-clients libvirt-daemon python3-libvirt systemd zsh openssl curl)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
npm ci --no-audit --no-fund
npm run build --silent
