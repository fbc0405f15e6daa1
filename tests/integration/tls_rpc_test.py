"""tls_rpc_test.py - security between processes: mutual TLS on tls+tcp://, the cluster token at
a gateway's SessionManager, listeners beyond loopback, rogue registry records, Redis AUTH.

Certificates are made in a temporary directory with the openssl CLI: the cluster's CA with a
server and a client certificate, and a second, rogue CA with its own. Every process started
here is stopped by the test that started it, and every wait is bounded.
"""
import argparse
import asyncio
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from registry_support import Process, Redis, free_port, port_open, wait_until  # noqa: E402

ARGS = None
TOKEN = "cluster-secret-9f3b2c"  # looked for in everything a rogue receives


def fields(text):
    out = {}
    for part in text.split():
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_leaf(d, ca, name):
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


def exe(*path):
    return os.path.join(ARGS.build_dir, *path)


class Rogue:
    """A listener that records everything it receives: plain tcp, or TLS with a certificate of
    another CA (then what it records is what it could decrypt)."""

    def __init__(self, tls_context=None):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.ctx = tls_context
        self.scheme = "tls+tcp" if tls_context else "tcp"
        self.address = f"{self.scheme}://127.0.0.1:{self.port}"
        self.connections = 0
        self.handshakes = 0
        self.received = b""
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self.read, args=(conn,), daemon=True).start()

    def read(self, conn):
        conn.settimeout(3)
        try:
            if self.ctx is not None:
                conn = self.ctx.wrap_socket(conn, server_side=True)
                self.handshakes += 1
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                self.received += data
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()


class SecurityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.TemporaryDirectory(prefix="silk-tls-certs-")
        d = cls.certs.name
        make_ca(d, "ca")
        make_leaf(d, "ca", "server")
        make_leaf(d, "ca", "client")
        make_ca(d, "rogue-ca")
        make_leaf(d, "rogue-ca", "rogue")

    @classmethod
    def tearDownClass(cls):
        cls.certs.cleanup()

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-tls-")
        self.registry = os.path.join(self.dir.name, "registry")
        self.env = dict(os.environ, SILK_REGISTRY=f"file:{self.registry}", SILK_LOG="info")
        for name in ("SILK_TOKEN", "SILK_LISTEN", "SILK_INSECURE", "SILK_TLS_CERT", "SILK_TLS_KEY",
                     "SILK_TLS_CA"):
            self.env.pop(name, None)
        self.processes = []
        self.rogues = []

    def tearDown(self):
        for r in self.rogues:
            r.stop()
        for p in self.processes:
            p.stop()
        try:
            for p in self.processes:
                text = p.read_log()
                for mark in ("Sanitizer", "runtime error:"):
                    if mark in text:
                        raise AssertionError(f"{p.log_path} reports {mark}:\n{text[-4000:]}")
        finally:
            self.dir.cleanup()

    # ---- helpers ----

    def pem(self, name):
        return os.path.join(self.certs.name, name)

    def tls_env(self, who="server", ca="ca", **more):
        env = dict(self.env, SILK_TLS_CA=self.pem(f"{ca}.pem"), **more)
        if who is not None:
            env.update(SILK_TLS_CERT=self.pem(f"{who}.pem"), SILK_TLS_KEY=self.pem(f"{who}.key"))
        return env

    def start(self, argv, env, name):
        p = Process(argv, env, os.path.join(self.dir.name, f"{name}.log"))
        self.processes.append(p)
        return p

    def service(self, env, listen=None, name=None, *flags):
        """rpc-probe-service; returns it once it listens, with its address, or once it exited."""
        name = name or f"svc{len(self.processes)}"
        port = free_port()
        listen = listen or f"tls+tcp://127.0.0.1:{port}"
        svc = self.start([exe("tests", "rpc-probe-service"), *flags], dict(env, SILK_LISTEN=listen),
                         name)
        # "server listening address=", not "server listening": the insecure warning is
        # "WARN server listening on ..." and comes first.
        wait_until(lambda: "server listening address=" in svc.read_log() or
                   svc.proc.poll() is not None, 15, f"{name} to start")
        text = svc.read_log()
        svc.address = text.split("server listening address=")[1].split()[0] \
            if "server listening address=" in text else None
        return svc

    def client(self, target, *args, env, timeout=60):
        done = subprocess.run([exe("tests", "rpc-probe-client"), target, *map(str, args)], env=env,
                              capture_output=True, text=True, timeout=timeout)
        self.assertNotIn("Sanitizer", done.stderr)
        return done

    def echo(self, target, env, text="hello"):
        done = self.client(target, "echo", text, env=env)
        return fields(done.stdout), done

    def register_rogue(self, service, rogue, gateway_id=""):
        """Writes a record for rogue into the file registry by hand, as an attacker would."""
        d = os.path.join(self.registry, service)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"rogue-{rogue.port}"), "w") as f:
            f.write(f"address={rogue.address}\nweight=1\nversion=\n"
                    f"started_ms={int(time.time() * 1000)}\ngateway_id={gateway_id}\n")

    def rogue(self, tls=False):
        ctx = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.pem("rogue.pem"), self.pem("rogue.key"))
        r = Rogue(ctx)
        self.rogues.append(r)
        return r

    def assert_rogue_got_nothing(self, r):
        self.assertEqual(r.received, b"", "the rogue read bytes of a frame")
        self.assertNotIn(TOKEN.encode(), r.received)
        self.assertEqual(r.handshakes, 0, "a TLS handshake with the rogue succeeded")

    # ---- mutual TLS ----

    def test_mutual_tls_by_address_and_by_name(self):
        svc = self.service(self.tls_env("server"))
        self.assertTrue(svc.address.startswith("tls+tcp://127.0.0.1:"), svc.read_log())
        got, done = self.echo(svc.address, self.tls_env("client"))
        self.assertEqual(got.get("status"), "OK", done.stdout + done.stderr)
        self.assertEqual(got.get("text"), "hello")
        # The registry advertises the tls+tcp:// address with its real port.
        got, done = self.echo("probe.Probe", self.tls_env("client"))
        self.assertEqual(got.get("status"), "OK", done.stdout + done.stderr)
        done = self.client(svc.address, "concurrent", 40, env=self.tls_env("client"))
        self.assertEqual(fields(done.stdout).get("ok"), "40", done.stdout + done.stderr)

    def test_client_without_certificate_is_refused(self):
        svc = self.service(self.tls_env("server"))
        got, done = self.echo(svc.address, self.tls_env(None))
        self.assertEqual(got.get("status"), "UNAVAILABLE", done.stdout + done.stderr)
        got, done = self.echo(svc.address, self.tls_env("client"))
        self.assertEqual(got.get("status"), "OK", "the server still serves: " + done.stdout)

    def test_client_of_another_ca_is_refused(self):
        svc = self.service(self.tls_env("server"))
        got, done = self.echo(svc.address, self.tls_env("rogue", ca="ca"))
        self.assertEqual(got.get("status"), "UNAVAILABLE", done.stdout + done.stderr)

    def test_tls_without_its_settings(self):
        # A tls+tcp:// listener needs a certificate and its key.
        svc = self.service(self.env, name="nocert")
        self.assertEqual(svc.stop(), 1, svc.read_log())
        self.assertIn("needs SILK_TLS_CERT and SILK_TLS_KEY", svc.read_log())
        # A channel cannot verify a tls+tcp:// server without a CA.
        good = self.service(self.tls_env("server"))
        got, done = self.echo(good.address, self.env)
        self.assertEqual(got.get("status"), "UNAVAILABLE", done.stdout)
        self.assertIn("SILK_TLS_CA", done.stdout)
        # With a CA set, a channel dials tls+tcp:// only.
        plain = self.service(self.env, f"tcp://127.0.0.1:{free_port()}", "plain")
        got, done = self.echo(plain.address, self.tls_env("client"))
        self.assertEqual(got.get("status"), "UNAVAILABLE", done.stdout)
        self.assertIn("dial tls+tcp:// only", done.stdout)

    # ---- listeners beyond loopback ----

    def test_beyond_loopback_needs_token_or_mutual_tls(self):
        anywhere = "tcp://0.0.0.0:0"
        svc = self.service(self.env, anywhere, "open")
        self.assertEqual(svc.stop(), 1, svc.read_log())
        self.assertIn("refusing to listen on tcp://0.0.0.0:0", svc.read_log())
        self.assertIn("SILK_TOKEN", svc.read_log())
        for name, env in (("insecure", dict(self.env, SILK_INSECURE="1")),
                          ("token", dict(self.env, SILK_TOKEN=TOKEN))):
            svc = self.service(env, anywhere, name)
            self.assertIsNotNone(svc.address, svc.read_log())
            self.assertEqual(svc.stop(), 0, svc.read_log())
        self.assertIn("(insecure)", self.processes[1].read_log())
        svc = self.service(self.tls_env("server"), "tls+tcp://0.0.0.0:0", "mtls")
        self.assertIsNotNone(svc.address, svc.read_log())
        # TLS without a CA admits any client: not enough beyond loopback.
        env = dict(self.tls_env("server"))
        env.pop("SILK_TLS_CA")
        svc = self.service(env, "tls+tcp://0.0.0.0:0", "tls-no-ca")
        self.assertEqual(svc.stop(), 1, svc.read_log())
        self.assertIn("refusing to listen", svc.read_log())

    def test_gateway_beyond_loopback(self):
        def gateway(name, *extra):
            gw = self.start([exe("bin", "silk-gateway-test"), "--listen",
                             f"127.0.0.1:{free_port()}", "--id", name, "--rpc-listen",
                             "tcp://0.0.0.0:0", *extra], self.env, name)
            wait_until(lambda: "serving silk.ws.SessionManager" in gw.read_log() or
                       gw.proc.poll() is not None, 15, name)
            return gw

        gw = gateway("gwopen")
        self.assertEqual(gw.proc.wait(timeout=15), 1, gw.read_log())
        self.assertIn("refusing to listen on tcp://0.0.0.0:0", gw.read_log())
        gw = gateway("gwinsecure", "--insecure")
        self.assertIsNone(gw.proc.poll(), gw.read_log())
        self.assertIn("(insecure)", gw.read_log())
        self.assertEqual(gw.stop(), 0, gw.read_log())

    # ---- the cluster token at a gateway's SessionManager ----

    def test_session_manager_needs_the_token(self):
        import websockets
        port = free_port()
        env = dict(self.env, SILK_TOKEN=TOKEN)
        gw = self.start([exe("bin", "silk-gateway-test"), "--listen", f"127.0.0.1:{port}", "--id",
                         "gwtok"], env, "gateway")
        wait_until(lambda: port_open(port) or gw.proc.poll() is not None, 15, "the gateway")

        def sm(*args, token=None):
            e = dict(self.env)
            if token is not None:
                e["SILK_TOKEN"] = token
            return subprocess.run([exe("bin", "silk-gateway-sm"), *args], env=e,
                                  capture_output=True, text=True, timeout=20)

        async def scenario():
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/api/wstest?businessId=100")
            loop = asyncio.get_running_loop()

            async def run(*args, token=None):
                return await loop.run_in_executor(None, lambda: sm(*args, token=token))

            wait_s = time.monotonic() + 10
            sid = ""
            while not sid and time.monotonic() < wait_s:
                sid = (await run("sessions", "100", "api/wstest", token=TOKEN)).stdout.strip()
            self.assertTrue(sid.startswith("gwtok."), gw.read_log())
            for token in (None, "wrong-token"):
                for args in (("sessions", "100", "api/wstest"), ("send", sid, "no"),
                             ("business", "100", "api/wstest", "no"), ("close", sid, "4001")):
                    done = await run(*args, token=token)
                    self.assertEqual(done.returncode, 1, f"{args} {done.stdout}")
                    self.assertIn("UNAUTHENTICATED", done.stderr, args)
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)  # nothing was pushed, nothing closed
            done = await run("send", sid, "yes", token=TOKEN)
            self.assertEqual(done.stdout.strip(), "1", done.stderr)
            self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "yes")
            await ws.close()
        asyncio.run(scenario())
        self.assertNotIn(TOKEN, gw.read_log(), "the token reached a log line")

    # ---- the registry is not a trust root ----

    def test_rogue_records_get_no_call_and_no_token(self):
        env = self.tls_env("server", SILK_TOKEN=TOKEN)
        self.service(env)
        plain, tls = self.rogue(), self.rogue(tls=True)
        self.register_rogue("probe.Probe", plain)
        self.register_rogue("probe.Probe", tls)
        cenv = self.tls_env("client", SILK_TOKEN=TOKEN)
        done = self.client("probe.Probe", "instances", env=cenv)
        self.assertEqual(fields(done.stdout).get("count"), "3", done.stdout)
        done = self.client("probe.Probe", "incr", 30, env=cenv)
        self.assertEqual(fields(done.stdout).get("ok"), "30", done.stdout + done.stderr)
        self.assertEqual(plain.connections, 0, "a channel dialled a plain address under mTLS")
        self.assertGreater(tls.connections, 0, "the TLS rogue was never tried")
        self.assert_rogue_got_nothing(plain)
        self.assert_rogue_got_nothing(tls)

    def test_rogue_session_manager_gets_nothing(self):
        plain, tls = self.rogue(), self.rogue(tls=True)
        self.register_rogue("silk.ws.SessionManager", plain, "evil1")
        self.register_rogue("silk.ws.SessionManager", tls, "evil2")
        cenv = self.tls_env("client", SILK_TOKEN=TOKEN)
        for args in (("ws-sessions", "100"), ("ws-business", "100", "x"),
                     ("sessions", "100"), ("send", "evil1.0123", "x")):
            subprocess.run([exe("bin", "silk-gateway-sm"), *args], env=cenv, capture_output=True,
                           text=True, timeout=30)
        time.sleep(0.3)
        self.assertEqual(plain.connections, 0)
        self.assert_rogue_got_nothing(plain)
        self.assert_rogue_got_nothing(tls)

    def test_redis_auth(self):
        password, alice_pw, wrong = "Redis-Pw-7c1d", "Alice-Pw-5e2a", "Wrong-Pw-0b9f"
        redis = Redis(self.dir.name, "--requirepass", password,
                      "--user", "alice", "on", f">{alice_pw}", "~*", "&*", "+@all")
        try:
            base = f"127.0.0.1:{redis.port}/0"
            for url in (f"redis://:{password}@{base}", f"redis://alice:{alice_pw}@{base}"):
                env = dict(self.env, SILK_REGISTRY=url)
                svc = self.service(env, f"tcp://127.0.0.1:{free_port()}")
                self.assertIsNotNone(svc.address, svc.read_log())
                got, done = self.echo("probe.Probe", env)
                self.assertEqual(got.get("status"), "OK", done.stdout + done.stderr)
                for text in (done.stdout, done.stderr):
                    self.assertNotIn(password, text)
                    self.assertNotIn(alice_pw, text)
                ctl = subprocess.run([exe("bin", "silk-ctl"), "list"], env=env, capture_output=True,
                                     text=True, timeout=20)
                self.assertIn(":***@127.0.0.1", ctl.stdout, ctl.stdout + ctl.stderr)
                self.assertNotIn(password, ctl.stdout + ctl.stderr)
                self.assertNotIn(alice_pw, ctl.stdout + ctl.stderr)
                svc.stop()
            for url in (f"redis://:{wrong}@{base}", f"redis://alice:{wrong}@{base}",
                        f"redis://{base}"):
                env = dict(self.env, SILK_REGISTRY=url)
                svc = self.service(env, f"tcp://127.0.0.1:{free_port()}")
                self.assertEqual(svc.stop(), 1, svc.read_log())
                self.assertIn("refused the credentials", svc.read_log())
                ctl = subprocess.run([exe("bin", "silk-ctl"), "list"], env=env, capture_output=True,
                                     text=True, timeout=20)
                self.assertNotEqual(ctl.returncode, 0)
                self.assertIn("UNAUTHENTICATED", ctl.stderr)
                self.assertNotIn(wrong, ctl.stdout + ctl.stderr)
            for p in self.processes:
                text = p.read_log()
                for secret in (password, alice_pw, wrong):
                    self.assertNotIn(secret, text, f"a password in {p.log_path}")
        finally:
            redis.stop()


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
