#!/bin/bash
# End to end with libvirt's real QEMU driver (not part of `npm test`; run as root):
# virtqemud (libvirt 9.0, built once from Debian 12's source: scripts/e2e-qemu/build-libvirt.sh,
# cached in $LIBVIRT_MODULAR_DIR, default /var/tmp/libvirt-modular) runs in a private mount
# namespace whose /run/libvirt is virtwall's DIR/run/libvirt, so its virtnetworkd-sock and
# virtnwfilterd-sock are virtwall's. A QEMU (TCG) guest with
#   <interface type='network'><source network='default'/><filterref filter='clean-traffic'/>
# starts: virtqemud asks virtwall for the port (its bridge) and the filter binding, plugs the tap;
# virtqemud restarts (it looks the port and binding up again); the guest is destroyed (port and
# binding gone). Everything runs in a network namespace it creates and removes; processes are
# stopped by PID. Prints one line per check and "e2e-qemu: PASS" or "e2e-qemu: FAIL".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
STUDY=${LIBVIRT_MODULAR_DIR:-/var/tmp/libvirt-modular}
BUILD=${BUILD:-$STUDY/build-pcap}
WORK=$(mktemp -d /var/tmp/virtwall-e2e-XXXXXX)
NETNS=vwe2e-$$
ROOT=$WORK/root            # virtwall's state root; $ROOT/run/libvirt is /run/libvirt for virtqemud
NSROOT=$WORK/ns            # private /etc/libvirt, /var/lib, /var/cache, /var/log of the mount namespace
N="network+unix:///system?socket=$ROOT/run/libvirt/virtnetworkd-sock"
F="nwfilter+unix:///system?socket=$ROOT/run/libvirt/virtnwfilterd-sock"
Q="qemu+unix:///system?socket=$ROOT/run/libvirt/virtqemud-sock"
failures=0

check() { # description command...
  if "${@:2}" >/dev/null 2>&1; then echo "ok   $1"; else echo "FAIL $1"; failures=$((failures + 1)); fi
}
inns() { nsenter -t "$(cat $WORK/holder.pid)" -m -n -- "$@"; }
innet() { ip netns exec $NETNS "$@"; }

cleanup() {
  set +e
  for f in $ROOT/run/libvirt/qemu/*.pid; do [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  for p in virtqemud virtwall holder; do [ -s $WORK/$p.pid ] && kill "$(cat $WORK/$p.pid)" 2>/dev/null; done
  sleep 1
  for f in $ROOT/run/virtwall/network/*.pid; do [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  ip netns del $NETNS 2>/dev/null
  [ -n "${KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -x "$BUILD/src/virtqemud" ]; then
  echo "building libvirt 9.0's modular daemons once (about 17 minutes on 2 cores) into $STUDY"
  LIBVIRT_MODULAR_DIR=$STUDY bash "$HERE/e2e-qemu/build-libvirt.sh" > $STUDY.build.log 2>&1 || { echo "build failed: $STUDY.build.log"; exit 1; }
fi
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86 is missing"; exit 1; }

# --- namespaces: a netns, and a mount namespace held by one process (as libvirt's recipe) ---
mkdir -p $ROOT/run/libvirt $NSROOT/{etc-libvirt,var-lib-libvirt,var-cache-libvirt,var-log}
[ -d /etc/libvirt ] && cp -a /etc/libvirt/. $NSROOT/etc-libvirt/
: > $NSROOT/etc-libvirt/virtqemud.conf
cat > $NSROOT/etc-libvirt/qemu.conf <<'EOF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "file"
EOF
ip netns add $NETNS && innet ip link set lo up
# (ip itself, not the innet function, so that $! is the holder: ip and unshare exec)
ip netns exec $NETNS unshare -m --propagation private bash -c '
  set -e
  mount -t tmpfs -o mode=755 tmpfs /run
  mkdir -p /run/libvirt && mount --bind "'"$ROOT"'/run/libvirt" /run/libvirt
  mount --bind "'"$NSROOT"'/etc-libvirt" /etc/libvirt
  for v in lib cache; do
    mkdir -p "'"$NSROOT"'/ovl/$v/upper" "'"$NSROOT"'/ovl/$v/work"
    mount -t overlay overlay -o lowerdir=/var/$v,upperdir="'"$NSROOT"'/ovl/$v/upper",workdir="'"$NSROOT"'/ovl/$v/work" /var/$v
    mkdir -p /var/$v/libvirt && mount --bind "'"$NSROOT"'/var-$v-libvirt" /var/$v/libvirt
  done
  mount --bind "'"$NSROOT"'/var-log" /var/log
  exec sleep infinity' &
echo $! > $WORK/holder.pid
sleep 1
[ "$(readlink /proc/$(cat $WORK/holder.pid)/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] || { echo "the mount namespace holder is not in its own namespace"; exit 1; }

# --- virtwall in the netns, then libvirt's default network through virsh on virtwall's socket ---
ip netns exec $NETNS node "$REPO/bin/virtwall.js" --root $ROOT daemon 2> $WORK/virtwall.log &
echo $! > $WORK/virtwall.pid
for i in $(seq 1 100); do grep -q 'virtwalld ready' $WORK/virtwall.log && break; sleep 0.2; done
check "virtwalld serves virtnetworkd-sock and virtnwfilterd-sock" test -S $ROOT/run/libvirt/virtnetworkd-sock -a -S $ROOT/run/libvirt/virtnwfilterd-sock
cat > $WORK/default.xml <<'EOF'
<network>
  <name>default</name>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
    </dhcp>
  </ip>
</network>
EOF
virsh -q -c "$N" net-define $WORK/default.xml >/dev/null && virsh -q -c "$N" net-start default >/dev/null
check "network default started through virsh" sh -c "virsh -c '$N' net-info default | grep -q 'Active: *yes'"

# --- virtqemud in the mount namespace: its /run/libvirt/virt{network,nwfilter}d-sock are virtwall's ---
start_qemud() {
  nsenter -t "$(cat $WORK/holder.pid)" -m -n -- env LIBVIRT_LOG_OUTPUTS="3:file:/var/log/virtqemud.log" $BUILD/src/virtqemud -f /etc/libvirt/virtqemud.conf >> $WORK/virtqemud.out 2>&1 &
  echo $! > $WORK/virtqemud.pid
  for i in $(seq 1 100); do [ -S $ROOT/run/libvirt/virtqemud-sock ] && break; sleep 0.2; done
  sleep 0.5
}
stop_qemud() {
  local p; p=$(cat $WORK/virtqemud.pid); kill "$p"
  for i in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  rm -f $ROOT/run/libvirt/virtqemud-sock
}
start_qemud
check "virtqemud is up" test -S $ROOT/run/libvirt/virtqemud-sock
virsh -q -c "$Q" define "$HERE/e2e-qemu/domain.xml" >/dev/null
t0=$(date +%s.%N)
check "virsh start rpcvm (QEMU TCG guest, interface on network default with clean-traffic)" virsh -q -c "$Q" start rpcvm
echo "     start took $(echo "$(date +%s.%N) - $t0" | bc) s"
tap=$(virsh -q -c "$Q" domiflist rpcvm | awk '{print $1; exit}')
echo "     guest tap: ${tap:-none}"
port=$(virsh -q -c "$N" net-port-list default | awk '{print $1; exit}')
check "virtwall holds the guest's network port" test -n "$port"
check "the port's plug is virtwall's bridge" sh -c "virsh -c '$N' net-port-dumpxml default $port | grep -q \"<plug type='network' bridge='virbr0'/>\""
check "the tap joined the bridge" sh -c "ip netns exec $NETNS ip -br link show master virbr0 | grep -q '^$tap'"
check "virtwall holds the binding (tap, clean-traffic)" sh -c "virsh -q -c '$F' nwfilter-binding-list | grep -Eq '^ *$tap +clean-traffic'"
check "the binding's rules are in the kernel" sh -c "ip netns exec $NETNS nft list ruleset | grep -q '\"$tap\"'"

# --- virtqemud restarts with the guest running: it finds its port and binding again ---
stop_qemud; start_qemud; sleep 3
check "after virtqemud's restart the guest runs" sh -c "virsh -q -c '$Q' list | grep -q 'rpcvm *running'"
check "the same port is still there" sh -c "virsh -q -c '$N' net-port-list default | grep -q '$port'"
check "the binding is still there" sh -c "virsh -q -c '$F' nwfilter-binding-list | grep -q '$tap'"

# --- destroy: virtqemud deletes the port and the binding ---
check "virsh destroy rpcvm" virsh -q -c "$Q" destroy rpcvm
check "the port is gone" sh -c "[ -z \"\$(virsh -q -c '$N' net-port-list default)\" ]"
check "the binding is gone" sh -c "[ -z \"\$(virsh -q -c '$F' nwfilter-binding-list)\" ]"
check "its rules are gone from the kernel" sh -c "! ip netns exec $NETNS nft list ruleset | grep -q '\"$tap\"'"
check "virtwalld logged no error" sh -c "! grep -q '\"level\":50' $WORK/virtwall.log"

if [ $failures -eq 0 ]; then echo "e2e-qemu: PASS"; else echo "e2e-qemu: FAIL ($failures checks failed; KEEP=1 keeps $WORK)"; exit 1; fi
