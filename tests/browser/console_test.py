"""console_test.py - silk-gateway's console (--console): its assets over HTTP, and the page in a browser.

Starts a real WsTest service (samples/wstest) and real gateways on free loopback ports with a
private file registry: one with --console, one without, one with --console and --jwt-key. Assets
(ctest console_assets) checks what /_silk/ serves with http.client: each asset compiled in,
its Content-Type, ETag and 304, HEAD, 404 and 405, the redirect, the data and their token.
Browser (ctest browser_console) runs console.mjs, which drives the page in Debian's headless
Chromium through puppeteer-core (make browser-deps installs it into the build tree): the
methods listed, a session opened, Echo called, its push seen, the session closed and NOT_FOUND
shown, without and with a token, and a screenshot saved in the build tree. Without node,
chromium or puppeteer-core, Browser says so and exits 77, which ctest counts as skipped.
Every process started is stopped, whatever happens.
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import jwt

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "gateway", "tests"))
from procs import Proc, start_gateway, wait_for  # noqa: E402

ARGS = None
STACK = None
ASSETS = {  # name under /_silk/ -> (source file, Content-Type)
    "": ("gateway/console/index.html", "text/html; charset=utf-8"),
    "console.css": ("gateway/console/console.css", "text/css; charset=utf-8"),
    "console.js": ("gateway/console/console.js", "text/javascript; charset=utf-8"),
    "silk.js": ("clients/js/silk.js", "text/javascript; charset=utf-8"),
}


def request(port, method, path, headers=None):
    """One request: (status, body bytes, lower-cased headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


class Stack:
    """The service and the three gateways, in a temporary folder with a registry of its own."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-console-")
        self.procs = []
        self.secret = os.urandom(32).hex()
        key = os.path.join(self.dir.name, "hs.secret")
        with open(key, "w") as f:
            f.write(self.secret + "\n")
        try:
            self.start()
        except BaseException:
            self.close()
            raise

    def start(self):
        bin_dir = os.path.join(ARGS.build_dir, "bin")
        self.procs.append(Proc([os.path.join(bin_dir, "wstest-service")], self.dir.name,
                               "wstest-service"))
        gateway = os.path.join(bin_dir, "silk-gateway")
        for name, flags in (("plain", ["--console"]), ("off", []),
                            ("jwt", ["--console", "--jwt-key",
                                     os.path.join(self.dir.name, "hs.secret")])):
            p = start_gateway(gateway, self.dir.name, f"gwc{name}", "--workers", "1", *flags)
            self.procs.append(p)
            setattr(self, name, p.port)
        wait_for(lambda: request(self.plain, "GET", "/healthz?deep=1")[0] == 200, 15,
                 "wstest.WsTest found through the registry")

    def token(self):
        return jwt.encode({"sub": "console-test", "exp": int(time.time()) + 600}, self.secret,
                          algorithm="HS256")

    def close(self):
        logs = []
        for p in reversed(self.procs):
            p.stop()
            logs.append((p.out.name, p.text()))
            p.close()
        self.dir.cleanup()
        for name, text in logs:  # what a sanitizer build reports (leaks included)
            for mark in ("Sanitizer", "runtime error:"):
                if mark in text:
                    raise AssertionError(f"{name} reports {mark}:\n{text[-4000:]}")


def setUpModule():
    global STACK
    STACK = Stack()


def tearDownModule():
    STACK.close()


class Assets(unittest.TestCase):
    """What /_silk/ serves, read with http.client."""

    def source(self, name):
        with open(os.path.join(ARGS.source_dir, ASSETS[name][0]), "rb") as f:
            return f.read()

    def test_each_asset_is_compiled_in(self):
        for name, (_, content_type) in ASSETS.items():
            with self.subTest(asset=name):
                status, body, h = request(STACK.plain, "GET", "/_silk/" + name)
                self.assertEqual(status, 200)
                self.assertEqual(body, self.source(name))
                self.assertEqual(h["content-type"], content_type)
                self.assertEqual(h["cache-control"], "no-cache")
                self.assertEqual(h["x-content-type-options"], "nosniff")
                digest = hashlib.sha256(body).hexdigest()[:16]
                self.assertEqual(h["etag"], f'"{digest}"')
                self.assertEqual(h.get("content-security-policy") is not None, name == "")

    def test_page_loads_nothing_from_elsewhere(self):
        page = self.source("").decode()
        for mark in ("http:", "https:", "//"):
            self.assertNotIn(f'src="{mark}', page)
            self.assertNotIn(f'href="{mark}', page)
        csp = request(STACK.plain, "GET", "/_silk/")[2]["content-security-policy"]
        self.assertIn("default-src 'none'", csp)
        self.assertIn("connect-src 'self'", csp)

    def test_etag_and_304(self):
        etag = request(STACK.plain, "GET", "/_silk/silk.js")[2]["etag"]
        for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            status, body, h = request(STACK.plain, "GET", "/_silk/silk.js",
                                      {"If-None-Match": value})
            self.assertEqual((status, body), (304, b""), value)
            self.assertEqual(h["etag"], etag)
            self.assertNotIn("content-length", h)
        status, _, _ = request(STACK.plain, "GET", "/_silk/silk.js", {"If-None-Match": '"x"'})
        self.assertEqual(status, 200)

    def test_head(self):
        status, body, h = request(STACK.plain, "HEAD", "/_silk/console.js")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(int(h["content-length"]), len(self.source("console.js")))
        self.assertEqual(h["content-type"], "text/javascript; charset=utf-8")

    def test_unknown_names_and_verbs(self):
        for path in ("/_silk/nope.js", "/_silk/console.js/x", "/_silk/../healthz2"):
            status, body, _ = request(STACK.plain, "GET", path)
            self.assertEqual(status, 404, path)
            self.assertEqual(json.loads(body)["code"], 5)
        for verb in ("POST", "PUT", "DELETE"):
            status, _, h = request(STACK.plain, verb, "/_silk/")
            self.assertEqual(status, 405, verb)
            self.assertEqual(h["allow"], "GET, HEAD")

    def test_redirect(self):
        status, body, h = request(STACK.plain, "GET", "/_silk")
        self.assertEqual((status, body, h["location"]), (301, b"", "/_silk/"))

    def test_nothing_without_the_flag(self):
        for path in ("/_silk/", "/_silk", "/_silk/silk.js", "/_silk/instances",
                     "/_silk/openapi.json"):
            self.assertEqual(request(STACK.off, "GET", path)[0], 404, path)
        self.assertEqual(request(STACK.plain, "GET", "/openapi.json")[0], 404,
                         "--console does not serve /openapi.json: that is --openapi's")

    def test_data(self):
        status, body, h = request(STACK.plain, "GET", "/_silk/openapi.json")
        self.assertEqual(status, 200)
        self.assertEqual(h["cache-control"], "no-store")
        doc = json.loads(body)
        self.assertEqual(doc["paths"]["/api/wstest/echo"]["post"]["operationId"],
                         "wstest.WsTest.Echo")
        config = json.loads(request(STACK.plain, "GET", "/_silk/config.json")[1])
        self.assertEqual(config, {"tokenRequired": False})
        def wstest():  # the view follows the registry's watch, which may lag the health check
            view = json.loads(request(STACK.plain, "GET", "/_silk/instances")[1])
            self.assertTrue(view["registry"].startswith("file:"))
            return {s["name"]: s for s in view["services"]}["wstest.WsTest"]

        wait_for(lambda: len(wstest()["instances"]) == 1, 10, "wstest.WsTest in the view")
        ws = wstest()
        self.assertEqual((ws["route"], ws["websocket"], ws["error"]), ("api/wstest", True, None))
        self.assertEqual(len(ws["instances"]), 1)
        self.assertTrue(ws["instances"][0]["address"].startswith("tcp://127.0.0.1:"))

        def gateways():  # the two started after this one come through its watch
            view = json.loads(request(STACK.plain, "GET", "/_silk/instances")[1])
            sm = next(s for s in view["services"] if s["name"] == "silk.ws.SessionManager")
            return {i["gatewayId"] for i in sm["instances"]}

        wait_for(lambda: gateways() == {"gwcplain", "gwcoff", "gwcjwt"}, 10, "the gateways")

    def test_instances_follow_the_registry(self):
        extra = Proc([os.path.join(ARGS.build_dir, "bin", "wstest-service")], STACK.dir.name,
                     "wstest-service-2")

        def count():
            view = json.loads(request(STACK.plain, "GET", "/_silk/instances")[1])
            ws = next(s for s in view["services"] if s["name"] == "wstest.WsTest")
            return len(ws["instances"])

        try:
            wait_for(lambda: count() == 2, 10, "a second instance in the view")
        finally:
            extra.close()
        wait_for(lambda: count() == 1, 10, "the second instance gone from the view")

    def test_token(self):
        """Assets go to anyone; the data need the token, as /metrics does."""
        for name in ASSETS:
            self.assertEqual(request(STACK.jwt, "GET", "/_silk/" + name)[0], 200, name)
        config = json.loads(request(STACK.jwt, "GET", "/_silk/config.json")[1])
        self.assertEqual(config, {"tokenRequired": True})
        bearer = {"Authorization": f"Bearer {STACK.token()}"}
        for path in ("/_silk/openapi.json", "/_silk/instances", "/metrics"):
            status, body, h = request(STACK.jwt, "GET", path)
            self.assertEqual(status, 401, path)
            self.assertIn("www-authenticate", h)
            self.assertEqual(request(STACK.jwt, "GET", path, bearer)[0], 200, path)
        self.assertEqual(request(STACK.jwt, "GET", "/_silk/openapi.json",
                                 {"Authorization": "Bearer nope"})[0], 401)

    def test_metrics_route(self):
        request(STACK.plain, "GET", "/_silk/")
        text = request(STACK.plain, "GET", "/metrics")[1].decode()
        self.assertIn('silk_gateway_http_requests_total{route="/_silk/",status="200"}', text)

    def test_help(self):
        out = subprocess.run([os.path.join(ARGS.build_dir, "bin", "silk-gateway"), "--help"],
                             capture_output=True, text=True, timeout=10).stdout
        self.assertIn("--console", out)


def browser_skip_reason():
    """Why the browser test cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (make deps installs it)"
    if not os.access(ARGS.chromium, os.X_OK):
        return f"no {ARGS.chromium} (Debian's chromium package; make deps installs it)"
    if not os.path.isfile(os.path.join(ARGS.node_modules, "puppeteer-core", "package.json")):
        return (f"puppeteer-core is not installed in {ARGS.node_modules}: run `make "
                "browser-deps` (npm ci from tests/browser/package-lock.json; it needs the npm "
                "registry)")
    return None


class Browser(unittest.TestCase):
    """The page in headless Chromium, driven by console.mjs."""

    def drive(self, port, token=None, screenshot=None):
        opts = {"url": f"http://127.0.0.1:{port}/_silk/", "chromium": ARGS.chromium,
                "nodeModules": ARGS.node_modules, "screenshot": screenshot, "token": token,
                "businessId": "100"}
        env = dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1")
        # A process group of its own: node and the browser it starts are killed together.
        node = subprocess.Popen(["node", os.path.join(HERE, "console.mjs"), json.dumps(opts)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, start_new_session=True)
        try:
            out, err = node.communicate(timeout=60)
        finally:
            try:
                os.killpg(node.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            node.wait()
        self.assertEqual(node.returncode, 0, out + err)
        seen = json.loads(out.strip().splitlines()[-1])
        self.assertTrue(seen["push"].startswith("message:hello from the console "), seen)
        self.assertTrue(seen["push"].endswith(f",sessionId:{seen['sessionId']}"), seen)
        self.assertTrue(seen["sessionId"].startswith("gwc"), seen)
        return seen

    def test_console(self):
        os.makedirs(ARGS.screenshot_dir, exist_ok=True)
        shot = os.path.join(ARGS.screenshot_dir, "console.png")
        if os.path.exists(shot):
            os.remove(shot)
        self.drive(STACK.plain, screenshot=shot)
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_console_with_token(self):
        self.drive(STACK.jwt, token=STACK.token())


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--node-modules", default=None)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshot-dir", default=None)
    ARGS, rest = parser.parse_known_args()
    ARGS.build_dir = os.path.abspath(ARGS.build_dir)
    ARGS.node_modules = ARGS.node_modules or os.path.join(ARGS.build_dir, "browser",
                                                          "node_modules")
    ARGS.screenshot_dir = ARGS.screenshot_dir or os.path.join(ARGS.build_dir, "tests", "browser")
    if any(a.startswith("Browser") for a in rest):
        why = browser_skip_reason()
        if why is not None:
            print(f"console_test: skipped: {why}")
            return 77
    result = unittest.main(argv=[sys.argv[0], *rest], exit=False, verbosity=2).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
