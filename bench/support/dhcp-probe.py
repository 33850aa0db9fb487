# A DHCP probe that stays running in a guest namespace, so a probe costs no process start: for
# each line "IFNAME MAC" on stdin it broadcasts a DHCPDISCOVER (broadcast flag set) on IFNAME,
# again every 20 ms until an offer for it arrives (5 s at most), and prints
# "ok MS OFFERED-IP" (ms from the first discover to the offer) or "timeout".
import random, socket, struct, sys, time

SO_BINDTODEVICE = 25

def discover(mac, xid):
    bootp = struct.pack('!BBBBIHH', 1, 1, 6, 0, xid, 0, 0x8000) + bytes(16) + mac + bytes(10) + bytes(192)
    # magic cookie, message type DISCOVER, end
    return bootp + b'\x63\x82\x53\x63' + bytes([53, 1, 1, 255])

for line in sys.stdin:
    ifname, mac_text = line.split()
    mac = bytes.fromhex(mac_text.replace(':', ''))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
    s.bind(('', 68))
    xid = random.getrandbits(32)
    start = time.monotonic()
    offer = None
    while offer is None and time.monotonic() - start < 5:
        s.sendto(discover(mac, xid), ('255.255.255.255', 67))
        resend = time.monotonic() + 0.02
        while offer is None and time.monotonic() < resend:
            s.settimeout(max(resend - time.monotonic(), 0.001))
            try:
                data = s.recv(4096)
            except socket.timeout:
                break
            if len(data) >= 240 and data[0] == 2 and struct.unpack('!I', data[4:8])[0] == xid:
                offer = data
    s.close()
    if offer is None:
        print('timeout', flush=True)
    else:
        print('ok %.3f %s' % ((time.monotonic() - start) * 1000, socket.inet_ntoa(offer[16:20])), flush=True)
