#!/bin/bash
# Vendored from the libvirt-modular reference recipe (build-libvirt.sh), with libxml2-utils added: meson needs xmllint.
# Build the modular daemons (virtnetworkd, virtnwfilterd, virtqemud) from Debian 12's own libvirt source.
# Debian 12 compiles them but drops them (debian/not-installed: usr/sbin/virtnetworkd, virtnwfilterd, virtqemud).
# ~17 min on 2 cores. Nothing is installed: the daemons run from the build tree (build-dir override loads
# driver modules and helpers from there).
set -euo pipefail
S=${LIBVIRT_MODULAR_DIR:-/var/tmp/libvirt-modular}
apt-get install -y --no-install-recommends meson libxml2-dev libglib2.0-dev libgnutls28-dev libnl-3-dev \
  libnl-route-3-dev libyajl-dev libcap-ng-dev libpcap-dev libxml2-utils xsltproc python3-docutils qemu-system-x86 libtirpc-dev
# deb-src for bookworm through a private apt config (the system's sources are not changed)
A="-o Dir::Etc::SourceList=$S/apt/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$S/apt/lists"
mkdir -p $S/apt/lists/partial $S/src
# the same mirror the system's apt already uses (Debian 12 deb822 sources)
uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1 | awk '{print $2}')
[ -n "$uri" ] || uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[ -n "$uri" ] || { echo "no apt source URI found"; exit 1; }
echo "deb-src $uri bookworm main" > $S/apt/sources.list
apt-get $A update
(cd $S/src && apt-get $A source libvirt=9.0.0-4+deb12u2)
export PATH=/usr/bin:/usr/sbin:/bin:/sbin
cd $S/src/libvirt-9.0.0
meson setup $S/build-pcap -Dprefix=/usr -Dlibdir=lib/x86_64-linux-gnu --libexecdir=/usr/lib/libvirt \
  -Drunstatedir=/run -Dlocalstatedir=/var -Dsysconfdir=/etc -Dauto_features=disabled \
  -Ddriver_qemu=enabled -Ddriver_libvirtd=enabled -Ddriver_remote=enabled -Ddriver_network=enabled \
  -Dremote_default_mode=legacy -Dpolkit=enabled -Dlibpcap=enabled -Dlibnl=enabled -Dyajl=enabled -Dcapng=enabled \
  -Ddocs=disabled -Dtests=disabled -Dqemu_user=root -Dqemu_group=root -Ddriver_test=enabled \
  -Dbuildtype=debugoptimized -Dwerror=false
ninja -C $S/build-pcap -j2
echo "built: $S/build-pcap (set BUILD to it; env.sh does by default)"
