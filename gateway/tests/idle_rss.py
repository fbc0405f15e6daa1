"""idle_rss.py - measures the gateway's resident memory per idle WebSocket session.

Usage: /usr/bin/python3 idle_rss.py BIN_DIR [SESSIONS]   (default 10000)

Starts silk-gateway-test on a free loopback port, opens 200 sessions to warm it up, reads its
VmRSS, opens SESSIONS more raw sessions (handshake, one ping and its pong, then idle), waits a moment, reads VmRSS
again and prints "idle-bytes-per-session <n>": the growth divided by SESSIONS. The client and
the gateway get RLIMIT_NOFILE raised to the hard limit. A measurement, not a test.
"""
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
# A masked ping with 4 bytes of payload ("idle" masked with 1 2 3 4).
PING = bytes([0x89, 0x84, 1, 2, 3, 4]) + bytes(b ^ m for b, m in zip(b"idle", b"\1\2\3\4"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def open_sessions(port, n):
    socks = []
    req = (f"GET /api/wstest?businessId=idle HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n"
           "\r\n").encode()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(req)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError("the gateway closed a connection: " + head.decode())
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(head.decode())
        # One ping and its pong, so that the session has framed something before it idles.
        s.sendall(PING)
        pong = head.split(b"\r\n\r\n", 1)[1]
        while len(pong) < 6:
            pong += s.recv(64)
        if pong[0] != 0x8A:
            raise RuntimeError(f"expected a pong, got {pong!r}")
        socks.append(s)
    return socks


def main():
    bin_dir = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < n + 500:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} is below {n + 500}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="silk-rss-") as d:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = dict(os.environ, SILK_REGISTRY=f"file:{d}/registry", SILK_LOG="warn")
        gw = subprocess.Popen([os.path.join(bin_dir, "silk-gateway-test"), "--listen",
                               f"127.0.0.1:{port}", "--max-connections", str(n + 1000)],
                              env=env)
        try:
            deadline = time.time() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.05)
            warm = open_sessions(port, 200)
            time.sleep(0.5)
            before = rss_kib(gw.pid)
            socks = open_sessions(port, n)
            time.sleep(1.0)
            after = rss_kib(gw.pid)
            per = (after - before) * 1024 / n
            print(f"gateway VmRSS {before} KiB with 200 sessions, {after} KiB with {n + 200}")
            print(f"idle-bytes-per-session {per:.0f}")
            for s in socks + warm:
                s.close()
        finally:
            gw.send_signal(signal.SIGTERM)
            gw.wait(20)


if __name__ == "__main__":
    main()
