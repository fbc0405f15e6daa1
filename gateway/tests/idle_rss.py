"""idle_rss.py - measures the gateway's resident memory per idle WebSocket session.

Usage: /usr/bin/python3 idle_rss.py BIN_DIR [SESSIONS] [GATEWAY FLAGS...]   (default 10000)

Starts silk-gateway-test on a free loopback port, opens 200 sessions to warm it up, reads its
VmRSS, opens SESSIONS more raw sessions (handshake, one ping and its pong, then idle), waits
for the sweep to let them hibernate, and reads VmRSS again: "idle-bytes-per-session <n>" is
the growth divided by SESSIONS. Then it pushes one message to every session with
silk-gateway-sm (SendToBusiness), reads it on every client, waits for the sessions to
hibernate again and prints "after-push-bytes-per-session <n>", the growth over the first
reading divided by SESSIONS. Flags after SESSIONS go to the gateway (--workers 2). The client and the gateway get RLIMIT_NOFILE raised to the hard
limit; clients come from 127.0.0.2, .3, ... so that no source address runs out of ports.
A measurement, not a test.
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
PER_SOURCE = 5000  # connections from one source address
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def open_sessions(port, n, first=0, business="idle", ping=True):
    """Opens n raw sessions of business, each pinging once unless ping is False; the i-th comes
    from 127.0.0.(2 + (first+i) / 5000)."""
    socks = []
    req = (f"GET /api/wstest?businessId={business} HTTP/1.1\r\nHost: x\r\n"
           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           f"Sec-WebSocket-Key: {KEY}\r\n\r\n").encode()
    for i in range(n):
        s = socket.socket()
        s.settimeout(10)
        # The port is chosen at connect(): ports in TIME_WAIT from an earlier run may be reused.
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((f"127.0.0.{2 + (first + i) // PER_SOURCE}", 0))
        s.connect(("127.0.0.1", port))
        s.sendall(req)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError("the gateway closed a connection: " + head.decode())
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(head.decode())
        socks.append(s)
        if not ping:
            continue
        # One ping and its pong, so that the session has framed something before it idles.
        s.sendall(PING)
        pong = head.split(b"\r\n\r\n", 1)[1]
        while len(pong) < 6:
            pong += s.recv(64)
        if pong[0] != 0x8A:
            raise RuntimeError(f"expected a pong, got {pong!r}")
    return socks


def read_message(s, text):
    """Reads one unmasked text frame from s and checks that it holds text."""
    want = 2 + len(text) + (2 if len(text) > 125 else 0)
    got = b""
    while len(got) < want:
        chunk = s.recv(want - len(got))
        if not chunk:
            raise RuntimeError("the gateway closed a session before its push")
        got += chunk
    if got[0] != 0x81 or not got.endswith(text):
        raise RuntimeError(f"expected the push, got {got[:40]!r}")


def start(bin_dir, registry, n, flags=()):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, SILK_REGISTRY=f"file:{registry}", SILK_LOG="warn")
    gw = subprocess.Popen([os.path.join(bin_dir, "silk-gateway-test"), "--listen",
                           f"127.0.0.1:{port}", "--max-connections", str(n + 1000), *flags], env=env)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return gw, port
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def push(bin_dir, registry, business, text):
    """Pushes text to every session of business through SessionManager; the count delivered."""
    env = dict(os.environ, SILK_REGISTRY=f"file:{registry}", SILK_LOG="warn")
    deadline = time.time() + 10
    while True:  # SessionManager registers a moment after the port accepts
        done = subprocess.run([os.path.join(bin_dir, "silk-gateway-sm"), "business", business,
                               "api/wstest", text], env=env, capture_output=True, text=True,
                              timeout=60)
        if done.returncode == 0:
            return int(done.stdout.strip())
        if time.time() > deadline:
            raise RuntimeError("silk-gateway-sm: " + done.stderr)
        time.sleep(0.2)


def main():
    bin_dir = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < n + 500:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} is below {n + 500}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="silk-rss-") as d:
        registry = f"{d}/registry"
        gw, port = start(bin_dir, registry, n, sys.argv[3:])
        try:
            warm = open_sessions(port, 200, business="warm")
            time.sleep(0.5)
            # Warm the push path too (the nng side, the loop's buffers) on the warm-up sessions.
            push(bin_dir, registry, "warm", "warm-up")
            for s in warm:
                read_message(s, b"warm-up")
            time.sleep(1.5)
            before = rss_kib(gw.pid)
            socks = open_sessions(port, n, first=200)
            time.sleep(1.5)
            idle = rss_kib(gw.pid)
            text = b"pushed to every idle session"
            delivered = push(bin_dir, registry, "idle", text.decode())
            if delivered != n:
                raise RuntimeError(f"the push reached {delivered} sessions of {n}")
            for s in socks:
                read_message(s, text)
            time.sleep(1.5)
            pushed = rss_kib(gw.pid)
            print(f"gateway VmRSS {before} KiB with 200 sessions, {idle} KiB with {n + 200}, "
                  f"{pushed} KiB after a push to {n}")
            print(f"idle-bytes-per-session {(idle - before) * 1024 / n:.0f}")
            print(f"after-push-bytes-per-session {(pushed - before) * 1024 / n:.0f}")
            if os.environ.get("IDLE_RSS_PAUSE"):
                input(f"gateway pid {gw.pid}: press Enter to finish ")
            for s in socks + warm:
                s.close()
        finally:
            gw.send_signal(signal.SIGTERM)
            gw.wait(20)


if __name__ == "__main__":
    main()
