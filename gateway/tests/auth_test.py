"""auth_test.py - JWT at the gateway (issue 13, items 1-5) and the Origin default (item 9).

Usage: /usr/bin/python3 auth_test.py BIN_DIR [unittest args]

BIN_DIR holds silk-gateway-test, silk-gateway-items and silk-gateway-hooks. Keys are made by
the openssl CLI and tokens by python3-jwt (an implementation independent of libjwt), in a temp
dir; gateways and services are real processes on loopback with a private file registry, the
clients raw sockets, http.client and python3-websockets. Every refusal is its own case: no
token, bad signature, alg none, HS256 signed with the RSA public key, expired, nbf in the
future, wrong iss, wrong aud, a business outside the token's claim (403, no session); tokens in
the header and in access_token; HS256, RS256, PS256 and ES256; a session closed with 4001 when
its token expires; a public method without a token; the identity seen by a handler and by
every hook; a client-sent auth-subject ignored; the Origin default. After every case, no token
may appear in any gateway's log.
"""
import asyncio
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import jwt  # python3-jwt
import websockets

from procs import Proc, start_gateway, wait_for

BIN = None
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ISSUER = "https://issuer.test"
AUDIENCE = "silk-gw"
TOKENS = []  # every token made, for the log check


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def keep(token):
    TOKENS.append(token)
    return token


class Stack:
    """Keys, the two services and the gateways, in one temp dir."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-auth-")
        self.procs = []
        self.gateways = []
        d = self.dir.name
        self.secret = os.urandom(32).hex()  # 64 bytes: HS256, HS384 and HS512
        self.path("hs.secret", self.secret + "\n")
        self.openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                     "-out", f"{d}/rsa.key")
        self.openssl("pkey", "-in", f"{d}/rsa.key", "-pubout", "-out", f"{d}/rsa.pub")
        self.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", f"{d}/ec.key")
        self.openssl("pkey", "-in", f"{d}/ec.key", "-pubout", "-out", f"{d}/ec.pub")
        self.rsa_key = self.read("rsa.key")
        self.rsa_pub = self.read("rsa.pub")
        self.ec_key = self.read("ec.key")

    def path(self, name, text=None):
        p = os.path.join(self.dir.name, name)
        if text is not None:
            with open(p, "w") as f:
                f.write(text)
        return p

    def read(self, name):
        with open(self.path(name)) as f:
            return f.read()

    def openssl(self, *args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    def instances(self, service):
        d = os.path.join(self.dir.name, "registry", service)
        return [f for f in os.listdir(d) if not f.startswith(".")] if os.path.isdir(d) else []

    def service(self, name, service):
        p = Proc([os.path.join(BIN, name)], self.dir.name, name)
        self.procs.append(p)
        wait_for(lambda: self.instances(service), what=f"{name} registered")
        return p

    def gateway(self, *extra, gw_id="gwauth"):
        p = start_gateway(os.path.join(BIN, "silk-gateway-test"), self.dir.name, gw_id, *extra)
        self.procs.append(p)
        self.gateways.append(p)
        return p

    def close(self):
        codes = [p.close() for p in reversed(self.procs)]
        self.dir.cleanup()
        return codes


def http_call(port, method, path, token=None, headers=None, body=None):
    """One HTTP request: (status, parsed JSON body or text, headers with lower-cased names)."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if body is not None:
        h["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=h)
        r = conn.getresponse()
        text = r.read().decode()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    try:
        return r.status, json.loads(text), hdrs
    except ValueError:
        return r.status, text, hdrs


def handshake(port, path, headers=None):
    """A raw opening handshake: (status, head text, body text); the socket is closed."""
    h = {"Host": f"127.0.0.1:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
         "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": KEY}
    h.update(headers or {})
    req = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in h.items() if v is not None]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("\r\n".join(req) + "\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1]) if head else 0
        m = re.search(rb"Content-Length: (\d+)", head, re.I)
        want = int(m.group(1)) if m else 0
        while len(rest) < want:
            chunk = s.recv(4096)
            if not chunk:
                break
            rest += chunk
    return status, head.decode(), rest.decode(errors="replace")


class Auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = Stack()
        try:
            st = cls.stack
            cls.items = st.service("silk-gateway-items", "gwtest.Items")
            cls.hooks = st.service("silk-gateway-hooks", "wstest.WsTest")
            time.sleep(0.2)
            cls.hs = st.gateway("--jwt-key", st.path("hs.secret"), "--jwt-issuer", ISSUER,
                                "--jwt-audience", AUDIENCE, "--jwt-leeway", "1",
                                "--jwt-business-claim", "bids", "--forward-header", "x-trace",
                                gw_id="gwhs")
            cls.rs = st.gateway("--jwt-key", st.path("rsa.pub"), gw_id="gwrs")
            cls.ec = st.gateway("--jwt-key", st.path("ec.pub"), gw_id="gwec")
            cls.plain = st.gateway("--forward-header", "x-trace", gw_id="gwplain")
            cls.any_origin = st.gateway("--allow-origin", "*", gw_id="gwany")
        except BaseException:
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        codes = cls.stack.close()
        assert codes == [0] * len(codes), codes

    def tearDown(self):
        # Tokens never appear in a gateway's log, whatever the case did.
        for gw in self.stack.gateways:
            text = gw.text()
            for t in TOKENS:
                self.assertNotIn(t, text, "a token was logged")
                sig = t.split(".")[-1]
                if sig:
                    self.assertNotIn(sig, text, "a token's signature was logged")
            self.assertNotIn(self.stack.secret, text, "the HMAC secret was logged")

    # --- tokens ---

    def claims(self, **over):
        now = int(time.time())
        c = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600,
             "bids": ["b1", "b2"]}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def hs256(self, secret=None, **over):
        return keep(jwt.encode(self.claims(**over), secret or self.stack.secret,
                               algorithm="HS256"))

    def signed(self, key, alg, **over):
        return keep(jwt.encode(self.claims(**over), key, algorithm=alg))

    def get_item(self, gw, token=None, bid="b1", headers=None, query=""):
        path = f"/api/items/7?businessId={bid}{query}"
        return http_call(gw.port, "GET", path, token, headers)

    def assert_unauthenticated(self, status, body, hdrs, why=None):
        self.assertEqual(status, 401, body)
        self.assertEqual(hdrs.get("www-authenticate"), 'Bearer error="invalid_token"')
        self.assertEqual(body["code"], 16, body)
        if why is not None:
            self.assertIn(why, body["message"])

    def assert_ok_as(self, status, body, subject="alice"):
        self.assertEqual(status, 200, body)
        self.assertEqual(body.get("seenSubject", ""), subject, body)

    # --- valid tokens, each algorithm ---

    def test_hs256_valid(self):
        token = self.hs256()
        status, body, _ = self.get_item(self.hs, token)
        self.assert_ok_as(status, body)
        self.assertEqual(json.loads(body["seenClaims"])["bids"], ["b1", "b2"])
        self.assertEqual(json.loads(body["seenClaims"])["sub"], "alice")

    def test_hs512_valid(self):
        status, body, _ = self.get_item(self.hs, self.signed(self.stack.secret, "HS512"))
        self.assert_ok_as(status, body)

    def test_rs256_valid(self):
        status, body, _ = self.get_item(self.rs, self.signed(self.stack.rsa_key, "RS256"))
        self.assert_ok_as(status, body)

    def test_ps256_valid(self):
        status, body, _ = self.get_item(self.rs, self.signed(self.stack.rsa_key, "PS256"))
        self.assert_ok_as(status, body)

    def test_ps512_valid(self):
        status, body, _ = self.get_item(self.rs, self.signed(self.stack.rsa_key, "PS512"))
        self.assert_ok_as(status, body)

    def test_es256_valid(self):
        status, body, _ = self.get_item(self.ec, self.signed(self.stack.ec_key, "ES256"))
        self.assert_ok_as(status, body)

    def test_token_in_access_token_parameter(self):
        token = self.hs256(sub="bob")
        status, body, _ = self.get_item(self.hs, query=f"&access_token={token}")
        self.assert_ok_as(status, body, "bob")

    def test_audience_in_an_array(self):
        token = self.hs256(aud=["other", AUDIENCE])
        self.assert_ok_as(*self.get_item(self.hs, token)[:2])

    def test_nbf_within_the_leeway(self):
        token = self.hs256(nbf=int(time.time()) + 1)  # --jwt-leeway 1
        self.assert_ok_as(*self.get_item(self.hs, token)[:2])

    # --- refusals, one case each ---

    def test_no_token(self):
        self.assert_unauthenticated(*self.get_item(self.hs), "a bearer token is required")

    def test_not_a_bearer(self):
        self.assert_unauthenticated(*self.get_item(self.hs, headers={"Authorization": "Basic eA=="}),
                                    "a bearer token is required")

    def test_malformed_token(self):
        self.assert_unauthenticated(*self.get_item(self.hs, keep("not.a.jwt-at-all")),
                                    "header is not base64url JSON")

    def test_bad_signature(self):
        self.assert_unauthenticated(*self.get_item(self.hs, self.hs256(secret="x" * 64)),
                                    "signature does not verify")

    def test_tampered_payload(self):
        head, _, sig = self.hs256().split(".")
        forged = keep(f"{head}.{b64url(json.dumps(self.claims(sub='root')).encode())}.{sig}")
        self.assert_unauthenticated(*self.get_item(self.hs, forged), "signature does not verify")

    def test_alg_none(self):
        unsigned = (b64url(b'{"alg":"none","typ":"JWT"}') + "." +
                    b64url(json.dumps(self.claims()).encode()))
        for gw in (self.hs, self.rs):
            for sig, why in (("", "not a compact JWS"),  # as RFC 7519 6.1 writes it
                             (b64url(b"anything"), "algorithm is not accepted")):
                self.assert_unauthenticated(*self.get_item(gw, keep(unsigned + "." + sig)), why)

    def test_hs256_signed_with_the_rsa_public_key(self):
        # The algorithm-confusion attack: the public key's PEM used as an HMAC secret.
        signing_input = (b64url(b'{"alg":"HS256","typ":"JWT"}') + "." +
                         b64url(json.dumps(self.claims()).encode()))
        mac = hmac.new(self.stack.rsa_pub.encode(), signing_input.encode(), hashlib.sha256)
        token = keep(signing_input + "." + b64url(mac.digest()))
        self.assert_unauthenticated(*self.get_item(self.rs, token), "algorithm is not accepted")

    def test_header_naming_alg_twice(self):
        # libjwt keeps the last member, the gateway's check would read another: refused.
        signing_input = (b64url(b'{"alg":"HS256","alg":"none"}') + "." +
                         b64url(json.dumps(self.claims()).encode()))
        mac = hmac.new(self.stack.secret.encode(), signing_input.encode(), hashlib.sha256)
        token = keep(signing_input + "." + b64url(mac.digest()))
        self.assert_unauthenticated(*self.get_item(self.hs, token), "header is not base64url JSON")

    def test_business_claim_of_another_type(self):
        self.assert_unauthenticated(*self.get_item(self.hs, self.hs256(bids=[1, 2])),
                                    "business claim")

    def test_claims_too_large_for_metadata(self):
        self.assert_unauthenticated(*self.get_item(self.hs, self.hs256(note="x" * 5000)),
                                    "too large")

    def test_rs256_against_an_ec_key(self):
        self.assert_unauthenticated(*self.get_item(self.ec, self.signed(self.stack.rsa_key,
                                                                        "RS256")),
                                    "algorithm is not accepted")

    def test_expired(self):
        self.assert_unauthenticated(*self.get_item(self.hs, self.hs256(exp=int(time.time()) - 30)),
                                    "expired")

    def test_nbf_in_the_future(self):
        self.assert_unauthenticated(*self.get_item(self.hs, self.hs256(nbf=int(time.time()) + 60)),
                                    "not valid yet")

    def test_wrong_issuer(self):
        self.assert_unauthenticated(*self.get_item(self.hs, self.hs256(iss="https://evil.test")),
                                    "issuer")

    def test_wrong_audience(self):
        self.assert_unauthenticated(*self.get_item(self.hs, self.hs256(aud="someone-else")),
                                    "audience")

    def test_business_outside_the_claim_call(self):
        status, body, _ = self.get_item(self.hs, self.hs256(), bid="b3")
        self.assertEqual(status, 403, body)
        self.assertEqual(body["code"], 7, body)

    # --- what is open, what is protected ---

    def test_public_method_without_a_token(self):
        status, body, _ = http_call(self.hs.port, "GET", "/api/public/items?businessId=b9")
        self.assertEqual(status, 200, body)
        self.assertNotIn("seenSubject", body)

    def test_healthz_is_open(self):
        self.assertEqual(http_call(self.hs.port, "GET", "/healthz")[0], 200)

    def test_metrics_need_a_token(self):
        self.assert_unauthenticated(*http_call(self.hs.port, "GET", "/metrics"))
        status, text, _ = http_call(self.hs.port, "GET", "/metrics", self.hs256())
        self.assertEqual(status, 200)
        self.assertIn("silk_gateway_open_sessions", text)

    def test_no_key_no_check(self):
        status, body, _ = self.get_item(self.plain)
        self.assertEqual(status, 200, body)

    # --- identity in metadata ---

    def test_client_sent_auth_subject_is_ignored(self):
        for gw, token in ((self.hs, self.hs256()), (self.plain, None)):
            status, body, _ = self.get_item(gw, token, headers={"Auth-Subject": "mallory",
                                                                "Auth-Claims": "{}",
                                                                "X-Trace": "t1"})
            self.assertEqual(status, 200, body)
            self.assertEqual(body.get("seenSubject", ""), "alice" if token else "")
            self.assertEqual(body["seenTrace"], "t1")
        status, _, _ = self.get_item(self.plain, query="&auth-subject=mallory")
        self.assertEqual(status, 400)  # a query parameter fills fields only: there is none

    def test_forwarding_auth_metadata_is_refused(self):
        for name in ("auth-subject", "Auth-Claims"):
            done = subprocess.run([os.path.join(BIN, "silk-gateway-test"), "--forward-header",
                                   name], capture_output=True, text=True, timeout=10)
            self.assertEqual(done.returncode, 2, done.stderr)

    def test_bad_key_files_are_refused(self):
        st = self.stack
        for path in (st.path("rsa.key"), st.path("short.secret", "too short\n"),
                     st.path("missing.pem")):
            done = subprocess.run([os.path.join(BIN, "silk-gateway-test"), "--jwt-key", path],
                                  capture_output=True, text=True, timeout=10)
            self.assertEqual(done.returncode, 2, done.stderr)
            self.assertIn("--jwt-key", done.stderr)
        done = subprocess.run([os.path.join(BIN, "silk-gateway-test"), "--jwt-issuer", "x"],
                              capture_output=True, text=True, timeout=10)
        self.assertEqual(done.returncode, 2)

    # --- sessions ---

    def ws_url(self, gw, bid, query=""):
        return f"ws://127.0.0.1:{gw.port}/api/wstest?businessId={bid}{query}"

    def test_session_without_a_token(self):
        status, head, body = handshake(self.hs.port, "/api/wstest?businessId=b1")
        self.assertEqual(status, 401, head)
        self.assertIn('WWW-Authenticate: Bearer error="invalid_token"', head)
        self.assertEqual(json.loads(body)["code"], 16)

    def test_session_with_an_expired_token(self):
        token = self.hs256(exp=int(time.time()) - 30)
        status, head, _ = handshake(self.hs.port, "/api/wstest?businessId=b1",
                                    {"Authorization": f"Bearer {token}"})
        self.assertEqual(status, 401, head)

    def open_sessions(self, gw):
        text = http_call(gw.port, "GET", "/metrics", self.hs256())[1]
        return int(re.search(r"^silk_gateway_open_sessions (\d+)$", text, re.M).group(1))

    def test_session_for_a_business_outside_the_claim(self):
        token = self.hs256(bids="b1")  # a string claim
        status, head, body = handshake(self.hs.port, "/api/wstest?businessId=b7",
                                       {"Authorization": f"Bearer {token}"})
        self.assertEqual(status, 403, head)
        self.assertEqual(json.loads(body)["code"], 7)
        self.assertNotIn("business_id=b7", self.hooks.text())  # OnOpen never asked
        wait_for(lambda: self.open_sessions(self.hs) == 0, what="no session")

    def test_session_identity_reaches_every_hook(self):
        token = self.hs256(sub="carol")

        async def scenario():
            async with websockets.connect(self.ws_url(self.hs, "b2"), extra_headers={
                    "Authorization": f"Bearer {token}", "Auth-Subject": "mallory"}) as ws:
                sid = ws.response_headers["Silk-Session-Id"]
                await ws.send("whoami")
                return sid, await asyncio.wait_for(ws.recv(), 5)
        sid, reply = asyncio.run(scenario())
        self.assertTrue(reply.startswith("whoami:subject=carol;claims="), reply)
        self.assertEqual(json.loads(reply.split(";claims=", 1)[1])["sub"], "carol")
        wait_for(lambda: f"onclose session_id={sid}" in self.hooks.text(), what="OnClose")
        text = self.hooks.text()
        opened = re.search(rf"onopen session_id={re.escape(sid)} .*", text).group(0)
        self.assertIn("auth_subject=carol auth_claims={", opened)
        self.assertIn('"sub":"carol"', opened)
        self.assertIn(f"onclose session_id={sid} business_id=b2", text)
        self.assertIn("auth_subject=carol", re.search(rf"onclose session_id={re.escape(sid)} .*",
                                                      text).group(0))

    def test_session_token_in_access_token(self):
        token = self.hs256(sub="dave")

        async def scenario():
            async with websockets.connect(self.ws_url(self.hs, "b1",
                                                      f"&access_token={token}&x=1")) as ws:
                await ws.send("whoami")
                return ws.response_headers["Silk-Session-Id"], await asyncio.wait_for(
                    ws.recv(), 5)
        sid, reply = asyncio.run(scenario())
        self.assertTrue(reply.startswith("whoami:subject=dave;"), reply)
        wait_for(lambda: f"onopen session_id={sid}" in self.hooks.text(), what="OnOpen")
        opened = re.search(rf"onopen session_id={re.escape(sid)} .*", self.hooks.text()).group(0)
        self.assertIn("query=businessId=b1&x=1 ", opened)  # the token is not passed on

    def test_session_closed_when_its_token_expires(self):
        token = self.hs256(exp=int(time.time()) + 2)  # + --jwt-leeway 1

        async def scenario():
            async with websockets.connect(self.ws_url(self.hs, "b1"), extra_headers={
                    "Authorization": f"Bearer {token}"}) as ws:
                opened = time.time()
                with self.assertRaises(websockets.ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), 8)
                return ws.close_code, ws.close_reason, time.time() - opened
        code, reason, after = asyncio.run(scenario())
        self.assertEqual((code, reason), (4001, "token expired"))
        self.assertLess(after, 6)
        self.assertGreater(after, 0.5)

    def test_session_on_a_public_service_without_a_token(self):
        status, head, _ = handshake(self.hs.port, "/api/lobby?businessId=b9")
        self.assertEqual(status, 101, head)

    # --- the Origin default ---

    def test_evil_origin_refused_by_default(self):
        status, head, body = handshake(self.plain.port, "/api/wstest?businessId=o1",
                                       {"Origin": "https://evil.example"})
        self.assertEqual(status, 403, head)
        self.assertEqual(json.loads(body)["code"], 7)

    def test_own_origin_accepted_by_default(self):
        port = self.plain.port
        for origin, host in ((f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"),
                             (f"HTTP://LOCALHOST:{port}", f"localhost:{port}"),
                             ("https://gw.example", "gw.example:443")):
            status, head, _ = handshake(port, "/api/wstest?businessId=o2",
                                        {"Origin": origin, "Host": host})
            self.assertEqual(status, 101, (origin, head))

    def test_no_origin_accepted(self):
        status, head, _ = handshake(self.plain.port, "/api/wstest?businessId=o3")
        self.assertEqual(status, 101, head)

    def test_any_origin_with_a_star(self):
        status, head, _ = handshake(self.any_origin.port, "/api/wstest?businessId=o4",
                                    {"Origin": "https://evil.example"})
        self.assertEqual(status, 101, head)


if __name__ == "__main__":
    BIN = sys.argv.pop(1)
    unittest.main()
