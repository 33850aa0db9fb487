#!/bin/sh
# Regenerates iproute2-requests.txt: the netlink requests iproute2's `ip` sends for the
# operations the network driver makes (strace's hex dump of each sendmsg, sequence numbers
# zeroed), in a scratch network namespace. Run as root: sh test/netlink/capture-iproute2.sh
set -eu
ns=vwt-capture-$$
out=$(dirname "$0")/iproute2-requests.txt
trace=$(mktemp)
trap 'ip netns del $ns 2>/dev/null; rm -f $trace' EXIT
ip netns add $ns
capture() {
  ip netns exec $ns strace -o $trace -e trace=sendmsg -e write=all -xx "$@" >/dev/null
  echo "# $*"
  # one line of hex per message: strace dumps each sendmsg's data as lines of 16 bytes
  awk '/^sendmsg/ { if (hex != "") print hex; hex = "" } /^ \| [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f] / { for (i = 3; i <= 18 && $i ~ /^[0-9a-f][0-9a-f]$/; i++) hex = hex $i } END { if (hex != "") print hex }' $trace |
    sed -E 's/^(.{16}).{8}/\100000000/'
}
{
  echo "# $(ip -V)"
  capture ip link add name nb0 address 52:54:00:01:02:03 type bridge forward_delay 200 stp_state 1
  capture ip link add name nb1 type bridge forward_delay 0 stp_state 0
  capture ip link set dev nb0 mtu 9000
  capture ip link set dev nb0 up
  capture ip addr add 192.168.77.1/24 dev nb0
  capture ip addr add 2001:db8::1/64 dev nb0
  capture ip route add 10.9.0.0/16 via 192.168.77.5 dev nb0 metric 7
  capture ip route add 2001:db8:5::/48 via 2001:db8::5 dev nb0
  capture ip link del dev nb1
  capture ip addr del 192.168.77.1/24 dev nb0
  capture ip link set dev nb0 down
  capture ip link set dev nb0 name vw~2 group 1987510273
  capture ip link del group 1987510273
} >"$out"
