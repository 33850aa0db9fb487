# A stand-in for systemd's notification socket (sd_notify(3)): receives datagrams on PATH with
# the sender's credentials, as systemd does, and for each prints one JSON line: the message, the
# PID it came from, and whether the daemon's API socket (API) accepted a connection right then.
import json, socket, struct, sys

path, api = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"listening": path}), flush=True)
while True:
    msg, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = next((struct.unpack("iII", d[:12])[0] for lvl, typ, d in anc if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS), None)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect(api)
        serving = True
    except OSError:
        serving = False
    c.close()
    print(json.dumps({"message": msg.decode(), "pid": pid, "serving": serving}), flush=True)
