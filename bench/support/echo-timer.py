# Times ICMP echo round trips to DST the tightest way a guest can: from just before sendto() to
# the reply's arrival. On veths and a bridge the whole path (A's frame over the bridge, B's
# reply, back to A) runs in softirq inside sendto(), on this CPU, so the figure is the kernel's
# work for one round trip plus two syscalls, without the ping tool's sleeps and wakeups.
#
#   python3 echo-timer.py DST COUNT EVICT_MB
#
# EVICT_MB > 0 copies that many MB between round trips, so the path starts with cold caches (as
# after an idle moment, but the same every time). Prints COUNT round trips in ns on one line.
import os, socket, struct, sys, time

dst, count, evict_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(1)
ident = os.getpid() & 0xFFFF
scratch, source = bytearray(evict_mb << 20), bytes(evict_mb << 20)


def echo_request(seq):
    body = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + b'x' * 56
    total = sum(struct.unpack('!%dH' % (len(body) // 2), body))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return body[:2] + struct.pack('!H', ~total & 0xFFFF) + body[4:]


times = []
for seq in range(count):
    packet = echo_request(seq & 0xFFFF)
    if evict_mb:
        scratch[:] = source
    start = time.perf_counter_ns()
    s.sendto(packet, (dst, 0))
    while True:
        reply = s.recv(2048)
        # IPv4 header of 20 bytes, then ICMP type 0 (echo reply) with our identifier and sequence
        if reply[20] == 0 and struct.unpack('!HH', reply[24:28]) == (ident, seq & 0xFFFF):
            break
    times.append(time.perf_counter_ns() - start)
print(' '.join(map(str, times)))
