#!/usr/bin/env python3
"""Traffic helper for the nwfilter kernel tests: crafts Ethernet frames with AF_PACKET raw
sockets, counts arrivals, and runs tiny TCP servers/clients. Runs inside a test namespace.

  listen IFACE SECONDS MARKER...   count frames containing each marker for SECONDS; prints JSON
  count IFACE CTL END MARKER...    count frames containing each marker on IFACE until a frame
                                   containing END arrived on CTL (see send); prints JSON
  send IFACE JSON [CTL END]        send frames described by a JSON list (see build()):
                                   ipv4/ipv6 UDP (sport, dport, proto, IPv4 tos), arp/rarp, raw; any
                                   of them 802.1Q-tagged with 'vlan'; then a broadcast frame
                                   containing END on CTL, an interface of the same bridge that no
                                   filter sees
  flood IFACE SECONDS JSON [PAUSE]  send those frames over and over (PAUSE s between rounds); prints the rounds sent
  agent                            runs count and send commands read from stdin, one JSON
                                   object a line ({"op": "count", "iface", "ctl", "end",
                                   "markers"} or {"op": "send", "iface", "frames", "ctl", "end"}),
                                   so a probe starts no process; prints what they print, 'sent'
                                   after a send
  hex JSON                         print the frames a send of that JSON list sends, in hex, one a line
  tcp-serve PORT...                accept on each port, answer b'ok'; runs until killed
  tcp-connect HOST PORT TIMEOUT    exit 0 when the server answered, 1 otherwise
"""
import json
import os
import select
import socket
import struct
import sys
import threading
import time

ETH_P_ALL = 0x0003
# source of the end frames: a locally administered address no guest uses, so the bridge learns
# nothing that would divert the guests' traffic
END_SRC_MAC = '02:00:00:00:e0:0f'


def mac(text):
    return bytes(int(x, 16) for x in text.split(':'))


def ip(text):
    return socket.inet_aton(text)


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ipv4_udp(src_ip, dst_ip, payload, sport=40000, dport=40001, proto=17, tos=0):
    udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, tos, 20 + len(udp), 1, 0, 64, proto, 0, ip(src_ip), ip(dst_ip))
    hdr = hdr[:10] + struct.pack('!H', checksum(hdr)) + hdr[12:]
    return hdr + udp


def ipv6_udp(src_ip, dst_ip, payload, sport=40000, dport=40001, nexthdr=17):
    udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
    src, dst = socket.inet_pton(socket.AF_INET6, src_ip), socket.inet_pton(socket.AF_INET6, dst_ip)
    pseudo = src + dst + struct.pack('!IxxxB', len(udp), 17)
    if nexthdr == 17:
        udp = udp[:6] + struct.pack('!H', checksum(pseudo + udp) or 0xffff) + udp[8:]
    return struct.pack('!IHBB16s16s', 0x60000000, len(udp), nexthdr, 64, src, dst) + udp


def arp(op, sha, spa, tha, tpa):
    return struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, op, mac(sha), ip(spa), mac(tha), ip(tpa))


def build(f):
    """One frame: ethernet header + body; the marker rides in the payload or the padding."""
    marker = f['marker'].encode()
    ports = (f.get('sport', 40000), f.get('dport', 40001))
    if f['kind'] == 'ipv4':
        ethertype, body = 0x0800, ipv4_udp(f['src_ip'], f['dst_ip'], marker, *ports, f.get('proto', 17), f.get('tos', 0))
    elif f['kind'] == 'ipv6':
        ethertype, body = 0x86dd, ipv6_udp(f['src_ip'], f['dst_ip'], marker, *ports, f.get('proto', 17))
    elif f['kind'] in ('arp', 'rarp'):
        ethertype = 0x0806 if f['kind'] == 'arp' else 0x8035
        body = arp(f['op'], f['sha'], f['spa'], f['tha'], f['tpa']) + marker
    else:
        ethertype, body = int(f['ethertype'], 16), marker
    tag = struct.pack('!HH', 0x8100, int(f['vlan'])) if 'vlan' in f else b''
    frame = mac(f['dst_mac']) + mac(f['src_mac']) + tag + struct.pack('!H', ethertype) + body
    return frame.ljust(60, b'\0')


def listen(iface, seconds, markers):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    counts = {m: 0 for m in markers}
    print('ready', flush=True)
    end = time.time() + seconds

    def count(data, addr):
        if addr[2] != socket.PACKET_OUTGOING:
            for m in markers:
                if m.encode() in data:
                    counts[m] += 1

    while True:
        left = end - time.time()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if r:
            count(*s.recvfrom(65535))
    # A busy machine may wake us after the deadline: what already arrived still counts.
    s.setblocking(False)
    while True:
        try:
            count(*s.recvfrom(65535))
        except BlockingIOError:
            break
    print(json.dumps(counts), flush=True)


def count_until(iface, ctl, end, markers, timeout=20.0):
    """Counts like listen, but until END arrives on CTL instead of for a fixed time.

    The sender (send) pins itself to one CPU and sends END on CTL after its frames: each frame
    then passes the bridge, the filters and the veth pairs in the order sent, in that CPU's
    backlog queue (veth hands frames to netif_rx; no GRO/NAPI, no RPS). So once END arrived on
    CTL, every frame sent before it that was not dropped is already in IFACE's queue.
    """
    data = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    data.bind((iface, 0))
    if ctl == iface:
        watch = data
    else:
        watch = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        watch.bind((ctl, 0))
    counts = {m: 0 for m in markers}
    print('ready', flush=True)
    deadline = time.time() + timeout
    ended = False

    def take(sock):
        nonlocal ended
        data_bytes, addr = sock.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:
            return
        if sock is watch and end.encode() in data_bytes:
            ended = True
        if sock is data:
            for m in markers:
                if m.encode() in data_bytes:
                    counts[m] += 1

    while not ended:
        left = deadline - time.time()
        if left <= 0:
            sys.exit('no end frame %s on %s within %s s' % (end, ctl, timeout))
        for sock in select.select(list({data, watch}), [], [], left)[0]:
            take(sock)
    data.setblocking(False)
    while True:
        try:
            take(data)
        except BlockingIOError:
            break
    print(json.dumps(counts), flush=True)


def send(iface, frames, ctl=None, end=None):
    # one CPU: every frame goes through the same backlog queue, in order (see count_until)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for f in frames:
        s.send(build(f))
    if ctl:
        c = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        c.bind((ctl, 0))
        c.send(build({'kind': 'raw', 'marker': end, 'src_mac': END_SRC_MAC, 'dst_mac': 'ff:ff:ff:ff:ff:ff', 'ethertype': '88b6'}))


def flood(iface, seconds, frames, pause=0.0005):
    """Sends the frames over and over for `seconds`, `pause` s between rounds; prints how many rounds went out."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    built = [build(f) for f in frames]
    print('ready', flush=True)
    end, rounds = time.time() + seconds, 0
    while time.time() < end:
        for b in built:
            s.send(b)
        rounds += 1
        if pause:
            time.sleep(pause)
    print(json.dumps({'rounds': rounds}), flush=True)


def agent():
    print('ready', flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd['op'] == 'count':
            count_until(cmd['iface'], cmd['ctl'], cmd['end'], cmd['markers'])
        elif cmd['op'] == 'send':
            send(cmd['iface'], cmd['frames'], cmd['ctl'], cmd['end'])
            print('sent', flush=True)
        else:
            sys.exit('unknown op ' + cmd['op'])


def tcp_serve(ports):
    def serve(srv):
        while True:
            conn, _ = srv.accept()
            conn.sendall(b'ok')
            conn.close()

    for p in ports:
        # listening before 'ready': connections queue until the thread accepts them
        srv = socket.socket(socket.AF_INET6)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        srv.bind(('::', p))
        srv.listen(8)
        threading.Thread(target=serve, args=(srv,), daemon=True).start()
    print('ready', flush=True)
    while True:
        time.sleep(3600)


def tcp_connect(host, port, timeout):
    try:
        with socket.create_connection((host, port), timeout=timeout) as c:
            c.settimeout(timeout)
            sys.exit(0 if c.recv(2) == b'ok' else 1)
    except OSError:
        sys.exit(1)


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'listen':
        listen(args[0], float(args[1]), args[2:])
    elif cmd == 'count':
        count_until(args[0], args[1], args[2], args[3:])
    elif cmd == 'send':
        send(args[0], json.loads(args[1]), *args[2:4])
    elif cmd == 'flood':
        flood(args[0], float(args[1]), json.loads(args[2]), *[float(a) for a in args[3:]])
    elif cmd == 'agent':
        agent()
    elif cmd == 'hex':
        for f in json.loads(args[0]):
            print(build(f).hex())
    elif cmd == 'tcp-serve':
        tcp_serve([int(p) for p in args])
    elif cmd == 'tcp-connect':
        tcp_connect(args[0], int(args[1]), float(args[2]))
    else:
        sys.exit('unknown command ' + cmd)
