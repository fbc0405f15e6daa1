"""tls_test.py - silk-gateway-test with --tls-cert/--tls-key, driven by real TLS clients.

Usage: /usr/bin/python3 tls_test.py silk-gateway-test silk-gateway-sm silk-gateway-items
       [unittest args]

Makes a CA and server certificates for 127.0.0.1/localhost with the openssl CLI in a temporary
directory, runs the gateway on a free loopback port with them, and checks: wss with
python3-websockets (a session, pushes through SessionManager, a large push and a large client
message), https with curl (a method of gwtest.Items, Expect: 100-continue, /metrics), plaintext
HTTP and garbage on the TLS port (closed, counted in /metrics, the gateway still serving),
TLS 1.0/1.1 refused, a handshake that never finishes (closed by the idle timeout, counted), a
certificate swapped on SIGHUP with two workers while a session stays open and keeps receiving
pushes, a reload that fails (the old certificate stays), SIGHUP without TLS (logged, nothing
else), and the configurations that must not start: a missing file, a key that does not match,
one flag without the other.
"""
import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

import websockets

import procs

GATEWAY = None
SM_CLIENT = None
ITEMS = None
FAILURES = re.compile(r"\nsilk_gateway_tls_handshake_failures_total (\d+)\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


class Certs:
    """A CA and server certificates it signs, for 127.0.0.1 and localhost, in a directory."""

    def __init__(self, d):
        self.dir = d
        self.ca = os.path.join(d, "ca.crt")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=silk test CA",
                "-days", "2", cwd=d)
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")

    def server(self, name, serial):
        """Makes name.crt (the certificate, then the CA: a chain) and name.key; their paths."""
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
                cwd=self.dir)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-set_serial", str(serial), "-days", "2", "-extfile", "ext.cnf",
                "-out", f"{name}.leaf", cwd=self.dir)
        crt = os.path.join(self.dir, f"{name}.crt")
        with open(crt, "w") as out:
            for part in (f"{name}.leaf", "ca.crt"):
                with open(os.path.join(self.dir, part)) as f:
                    out.write(f.read())
        return crt, os.path.join(self.dir, f"{name}.key")

    def client_context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        return ctx


def run_once(*args, timeout=15):
    """Runs the gateway expecting it not to start; returns (exit code, output)."""
    with tempfile.TemporaryDirectory(prefix="silk-tls-") as d:
        env = dict(os.environ, SILK_REGISTRY=f"file:{d}/registry")
        done = subprocess.run([GATEWAY, "--listen", f"127.0.0.1:{free_port()}", *args],
                              env=env, capture_output=True, text=True, timeout=timeout)
        return done.returncode, done.stdout + done.stderr


class Gateway:
    """One silk-gateway-test process with TLS, and optionally silk-gateway-items behind it."""

    def __init__(self, certs, cert, key, *extra, items=False):
        self.certs = certs
        self.dir = tempfile.TemporaryDirectory(prefix="silk-tls-gw-")
        self.port = free_port()
        self.log = open(os.path.join(self.dir.name, "gateway.log"), "w+")
        self.env = dict(os.environ, SILK_REGISTRY=f"file:{self.dir.name}/registry",
                        SILK_LOG="debug")
        self.proc = subprocess.Popen(
            [GATEWAY, "--listen", f"127.0.0.1:{self.port}", "--id", "gwtls", "--tls-cert", cert,
             "--tls-key", key, *extra], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.svc = None
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                self.get("/healthz")
                break
            except (OSError, ssl.SSLError):
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        else:
            self.close()
            raise RuntimeError("the gateway did not come up:\n" + self.logs())
        if self.proc.poll() is not None:
            raise RuntimeError("the gateway exited:\n" + self.logs())
        if items:
            self.start_items()

    def start_items(self):
        self.svc_log = open(os.path.join(self.dir.name, "items.log"), "w+")
        self.svc = subprocess.Popen([ITEMS], env=self.env, stdout=self.svc_log,
                                    stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.curl("/api/items/ready")[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("gwtest.Items never answered over https:\n" + self.logs())

    def tls_connect(self, ctx=None):
        """A TLS connection to the gateway, handshake done."""
        ctx = ctx or self.certs.client_context()
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return ctx.wrap_socket(raw, server_hostname="localhost")

    def get(self, path):
        """GET path over https with python's ssl; returns (status, body)."""
        with self.tls_connect() as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                      .encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body.decode()

    def curl(self, path, *args):
        """Calls path with curl over https, trusting the test's CA; returns (status, body)."""
        done = subprocess.run(
            ["curl", "-sS", "--max-time", "10", "--cacert", self.certs.ca, "-o", "-",
             "-w", "\n%{http_code}", *args, f"https://localhost:{self.port}{path}",
             "--resolve", f"localhost:{self.port}:127.0.0.1"],
            capture_output=True, text=True, timeout=20)
        body, _, code = done.stdout.rpartition("\n")
        return int(code or 0), body

    def failures(self):
        status, text = self.get("/metrics")
        assert status == 200, status
        return int(FAILURES.search(text).group(1))

    def failures_reach(self, n, timeout=3):
        """The failure count once it reaches n, or what it is after timeout seconds."""
        deadline = time.time() + timeout
        while True:
            got = self.failures()
            if got >= n or time.time() > deadline:
                return got
            time.sleep(0.05)

    def sm(self, *args):
        done = subprocess.run([SM_CLIENT, *args], env=self.env, capture_output=True, text=True,
                              timeout=20)
        assert done.returncode == 0, done.stderr + self.logs()
        return done.stdout

    def logs(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.svc is not None:
            procs.stop(self.svc)
        return procs.stop(self.proc)

    def close(self):
        code = self.stop()
        logs = self.logs()
        self.log.close()
        if self.svc is not None:
            self.svc_log.close()
        self.dir.cleanup()
        return code, logs


def read_text(path):
    with open(path) as f:
        return f.read()


def send_raw(port, data, timeout=5):
    """Sends bytes on a plain connection; returns what came back before the gateway closed it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


class TlsGateway(unittest.TestCase):
    """One gateway with TLS and gwtest.Items behind it."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="silk-tls-certs-")
        cls.certs = Certs(cls.tmp.name)
        cls.cert, cls.key = cls.certs.server("localhost", 0x1001)
        cls.gw = Gateway(cls.certs, cls.cert, cls.key, "--idle-timeout", "3",
                         "--max-queued", str(64 << 20), items=True)

    @classmethod
    def tearDownClass(cls):
        code, logs = cls.gw.close()
        cls.tmp.cleanup()
        for bad in ("runtime error:", "Sanitizer"):
            assert bad not in logs, logs
        assert code == 0, f"the gateway exited {code}:\n{logs}"

    def url(self, bid):
        return f"wss://127.0.0.1:{self.gw.port}/api/wstest?businessId={bid}"

    def test_https_calls(self):
        status, body = self.gw.curl("/healthz")
        self.assertEqual((status, json.loads(body)), (200, {"status": "SERVING"}))
        status, body = self.gw.curl("/api/items", "-H", "Content-Type: application/json",
                                    "--data", '{"id":"1","count":3}')
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"id": "1", "count": 3})
        # Expect: 100-continue: the gateway's "100 Continue" goes through TLS too.
        big = json.dumps({"id": "x" * 100000})
        status, body = self.gw.curl("/api/items", "-H", "Content-Type: application/json",
                                    "-H", "Expect: 100-continue", "--data", big)
        self.assertEqual((status, json.loads(body)), (200, {"id": "x" * 100000}))
        with self.gw.tls_connect() as s:
            self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))

    def test_wss_session_and_pushes(self):
        async def scenario():
            ctx = self.certs.client_context()
            async with websockets.connect(self.url("100"), ssl=ctx, max_size=None) as ws:
                loop = asyncio.get_running_loop()
                out = await loop.run_in_executor(
                    None, lambda: self.gw.sm("business", "100", "api/wstest", "hello"))
                self.assertEqual(out.strip(), "1")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "hello")
                # 16 MiB of pushes while the client reads none: more than the sockets and the
                # client's queue hold, so TLS writes block and are offered again.
                out = await loop.run_in_executor(
                    None, lambda: self.gw.sm("flood", "100", "api/wstest", "65536", "256"))
                self.assertEqual(out.strip(), "256")
                for _ in range(256):
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "f" * 65536)
                # A large message from the client: more than one read's budget, and TLS
                # records decrypted but not yet taken; a ping after it must still be answered.
                await ws.send(b"\x01" * 600000)
                await asyncio.wait_for(await ws.ping(b"after"), 5)
            self.assertEqual(ws.close_code, 1000)
        asyncio.run(scenario())

    def test_plaintext_is_refused_and_counted(self):
        before = self.gw.failures()
        got = send_raw(self.gw.port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertNotIn(b"HTTP/1.1 200", got)
        self.assertEqual(self.gw.failures_reach(before + 1), before + 1)
        self.assertIn('reason="http request"', self.gw.logs())
        self.assertEqual(self.gw.curl("/healthz")[0], 200)

    def test_garbage_is_refused_and_counted(self):
        before = self.gw.failures()
        send_raw(self.gw.port, b"\x16\x03\x01\x00\x10" + bytes(range(200, 216)) + b"\xff" * 64)
        send_raw(self.gw.port, bytes(range(256)))
        self.assertEqual(self.gw.failures_reach(before + 2), before + 2)
        self.assertEqual(self.gw.curl("/healthz")[0], 200)

    def test_old_versions_are_refused(self):
        before = self.gw.failures()
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            ctx = self.certs.client_context()
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():  # deprecated: that is the point
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ctx.maximum_version = version
            with self.assertRaises((ssl.SSLError, ConnectionResetError)):
                self.gw.tls_connect(ctx).close()
        self.assertEqual(self.gw.failures_reach(before + 2), before + 2)
        ctx = self.certs.client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with self.gw.tls_connect(ctx) as s:
            self.assertEqual(s.version(), "TLSv1.2")

    def test_untrusted_client_is_counted(self):
        before = self.gw.failures()
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.gw.tls_connect(ssl.create_default_context()).close()
        self.assertEqual(self.gw.failures_reach(before + 1), before + 1)

    def test_unfinished_handshake_times_out(self):
        before = self.gw.failures()
        start = time.time()
        # Half a ClientHello, then silence: the idle timeout (3 s here) closes it.
        self.assertEqual(send_raw(self.gw.port, b"\x16\x03\x01\x02\x00\x01", timeout=15), b"")
        self.assertLess(time.time() - start, 10)
        self.assertEqual(self.gw.failures_reach(before + 1), before + 1)


class TlsReload(unittest.TestCase):
    """SIGHUP swaps the certificate for new connections on every loop; sessions stay open."""

    def test_sighup_swaps_the_certificate(self):
        with tempfile.TemporaryDirectory(prefix="silk-tls-certs-") as d:
            certs = Certs(d)
            old_crt, old_key = certs.server("old", 0x1001)
            new_crt, new_key = certs.server("new", 0x2002)
            cert, key = os.path.join(d, "live.crt"), os.path.join(d, "live.key")
            for src, dst in ((old_crt, cert), (old_key, key)):
                with open(src, "rb") as f, open(dst, "wb") as out:
                    out.write(f.read())
            gw = Gateway(certs, cert, key, "--workers", "2")
            try:
                self.check_swap(gw, certs, (new_crt, cert), (new_key, key))
            finally:
                code, logs = gw.close()
            for bad in ("runtime error:", "Sanitizer"):
                self.assertNotIn(bad, logs)
            self.assertEqual(code, 0, logs)

    @staticmethod
    def serial(gw):
        with gw.tls_connect() as s:
            return s.getpeercert()["serialNumber"]

    def check_swap(self, gw, certs, *copies):
        async def scenario():
            loop = asyncio.get_running_loop()
            url = f"wss://127.0.0.1:{gw.port}/api/wstest?businessId=500"
            ws = await websockets.connect(url, ssl=certs.client_context())
            peer = ws.transport.get_extra_info("ssl_object").getpeercert()
            self.assertEqual(peer["serialNumber"], "1001")
            for src, dst in copies:
                with open(src, "rb") as f, open(dst, "wb") as out:
                    out.write(f.read())
            gw.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 5
            while await loop.run_in_executor(None, self.serial, gw) != "2002":
                self.assertLess(time.time(), deadline, gw.logs())
                await asyncio.sleep(0.05)
            # Every loop took it: new connections spread over both see only the new one.
            for _ in range(8):
                self.assertEqual(await loop.run_in_executor(None, self.serial, gw), "2002")
            self.assertIn("TLS certificate reloaded", gw.logs())
            # The session opened before stays open and still receives pushes.
            out = await loop.run_in_executor(
                None, lambda: gw.sm("business", "500", "api/wstest", "after reload"))
            self.assertEqual(out.strip(), "1")
            self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "after reload")
            # A reload that fails keeps the certificate in use.
            with open(copies[0][1], "w") as f:
                f.write("not a certificate\n")
            gw.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 5
            while "TLS reload failed" not in gw.logs():
                self.assertLess(time.time(), deadline, gw.logs())
                await asyncio.sleep(0.05)
            self.assertEqual(await loop.run_in_executor(None, self.serial, gw), "2002")
            async with websockets.connect(url, ssl=certs.client_context()) as ws2:
                peer = ws2.transport.get_extra_info("ssl_object").getpeercert()
                self.assertEqual(peer["serialNumber"], "2002")
            await ws.ping()
            await ws.close()
            self.assertEqual(ws.close_code, 1000)
        asyncio.run(scenario())


class TlsRefusesToStart(unittest.TestCase):
    """Configurations that must not start, each with a clear message."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="silk-tls-certs-")
        cls.certs = Certs(cls.tmp.name)
        cls.cert, cls.key = cls.certs.server("a", 0x3003)
        cls.other_cert, cls.other_key = cls.certs.server("b", 0x4004)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_missing_certificate(self):
        code, out = run_once("--tls-cert", "/nonexistent/cert.pem", "--tls-key", self.key)
        self.assertEqual(code, 1, out)
        self.assertIn("cannot load the certificate file=/nonexistent/cert.pem", out)

    def test_bad_key(self):
        code, out = run_once("--tls-cert", self.cert, "--tls-key", self.cert)
        self.assertEqual(code, 1, out)
        self.assertIn("cannot load the private key", out)

    def test_key_of_another_certificate(self):
        code, out = run_once("--tls-cert", self.cert, "--tls-key", self.other_key)
        self.assertEqual(code, 1, out)
        self.assertIn("does not match the certificate", out)

    def test_one_flag_alone(self):
        for args in (("--tls-cert", self.cert), ("--tls-key", self.key)):
            code, out = run_once(*args)
            self.assertEqual(code, 2, out)
            self.assertIn("--tls-cert and --tls-key go together", out)


class PlainHangup(unittest.TestCase):
    """Without TLS, SIGHUP is logged and the gateway goes on serving (it used to end it)."""

    def test_sighup_without_tls(self):
        with tempfile.TemporaryDirectory(prefix="silk-tls-") as d:
            port = free_port()
            env = dict(os.environ, SILK_REGISTRY=f"file:{d}/registry", SILK_LOG="info")
            with open(os.path.join(d, "gateway.log"), "w+") as log:
                proc = subprocess.Popen([GATEWAY, "--listen", f"127.0.0.1:{port}"], env=env,
                                        stdout=log, stderr=subprocess.STDOUT)
                try:
                    deadline = time.time() + 10
                    while "listening on" not in read_text(log.name):
                        self.assertLess(time.time(), deadline)
                        time.sleep(0.05)
                    proc.send_signal(signal.SIGHUP)
                    while "no TLS certificate to reload" not in read_text(log.name):
                        self.assertLess(time.time(), deadline)
                        time.sleep(0.05)
                    got = send_raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    self.assertTrue(got.startswith(b"HTTP/1.1 200"), got)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        code = proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        code = proc.wait()
                self.assertEqual(code, 0, read_text(log.name))


def main():
    global GATEWAY, SM_CLIENT, ITEMS
    GATEWAY, SM_CLIENT, ITEMS = (os.path.abspath(p) for p in sys.argv[1:4])
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)


if __name__ == "__main__":
    main()
