"""openapi_test.py - silk's OpenAPI 3.1 documents, validated by independent tools and read.

The documents: silkc --openapi of the seed (samples/wstest), of each proto of the codegen corpus
and of them all, and of shapes.proto (every shape of the JSON mapping); the seed gateway's and
silk-gateway-shapes' GET /openapi.json, fetched with curl, plain, with --jwt-key and with
--wrap-response. Each is linted by Redocly (redocly.yaml) and has every schema compiled by Ajv
(validate.mjs); then what they say is checked: the seed's Echo, each JSON shape, the parameters,
the bearer scheme and public methods, the wrapped bodies; and the gateway's real answers (replies
and errors) are validated against the schemas the document gives them.

Without node, or without the validators in --node-modules (make openapi-deps installs them; it
needs the npm registry once), it says so and exits 77, which ctest counts as skipped.
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None
VALIDATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "validate.mjs")
NODE_MIN = (20, 19)  # @redocly/cli 2.77.0 takes 20.19 and later, or 22.12 and later
SCHEMAS = "#/components/schemas/"


def skip_reason():
    """Why the validators cannot run here, or None."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed (make deps installs it with npm)"
    out = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    try:
        version = tuple(int(x) for x in out.lstrip("v").split(".")[:2])
    except ValueError:
        return f"cannot read node's version ({out!r})"
    if version < NODE_MIN or (21 <= version[0] < 22) or version[:2] == (22, 11):
        return f"node {out} is too old for @redocly/cli 2.77.0 (20.19+ or 22.12+)"
    for pkg in ("@redocly/cli", "ajv", "ajv-formats"):
        if not os.path.isfile(os.path.join(ARGS.node_modules, pkg, "package.json")):
            return (f"{pkg} is not installed in {ARGS.node_modules}: run `make openapi-deps` "
                    "(npm ci from tests/openapi/package-lock.json; it needs the npm registry)")
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pointer(*parts):
    """A JSON pointer to parts of a document."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def deref(doc, schema):
    """The component a {"$ref": ...} schema names, or the schema itself."""
    ref = schema.get("$ref", "")
    return doc["components"]["schemas"][ref[len(SCHEMAS):]] if ref.startswith(SCHEMAS) else schema


class Stack:
    """Processes started for the tests, in a temporary folder with a registry of its own."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="silk-openapi-")
        self.env = dict(os.environ, SILK_REGISTRY=f"file:{self.dir.name}/registry",
                        SILK_LOG="warn")
        self.procs = []
        self.secret = os.urandom(32).hex()
        self.write("hs.secret", self.secret + "\n")

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, name, *args):
        log = open(os.path.join(self.dir.name, f"{name}-{len(self.procs)}.log"), "w")
        p = subprocess.Popen([os.path.join(ARGS.build_dir, "bin", name), *args], env=self.env,
                             stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((p, log))
        return p

    def gateway(self, binary, *flags):
        """Starts a gateway on a free port with flags; returns the port once it answers."""
        port = free_port()
        p = self.start(binary, "--listen", f"127.0.0.1:{port}", "--workers", "1",
                       "--id", f"gwoa{len(self.procs)}", *flags)
        deadline = time.time() + 15
        while time.time() < deadline:
            if p.poll() is not None:
                raise AssertionError(f"{binary} {flags} exited with {p.returncode}")
            try:
                if call(port, "GET", "/healthz")[0] == 200:
                    return port
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{binary} did not answer on {port}")

    def close(self):
        for p, log in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()
        self.dir.cleanup()


def call(port, method, path, body=None, headers=None):
    """One request: (status, the body parsed as JSON or its text, lower-cased headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, str) else json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    try:
        return r.status, json.loads(text), hdrs
    except ValueError:
        return r.status, text, hdrs


class Documents(unittest.TestCase):
    """The documents themselves: silkc's and the gateways', valid and saying what is so."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack()
        cls.tmp = cls.stack.dir.name
        cls.shapes_proto = os.path.join(ARGS.source_dir, "codegen/tests/protos/shapes.proto")
        cls.shapes = cls.silkc("shapes.json", cls.shapes_proto)
        cls.shapes_file = os.path.join(cls.tmp, "shapes.json")
        cls.stack.start("silk-openapi-shapes")
        cls.plain = cls.stack.gateway("silk-gateway-shapes", "--openapi", "--cors-origin", "*")
        cls.jwt = cls.stack.gateway("silk-gateway-shapes", "--openapi", "--jwt-key",
                                    os.path.join(cls.tmp, "hs.secret"))
        cls.wrap = cls.stack.gateway("silk-gateway-shapes", "--openapi", "--wrap-response")
        cls.off = cls.stack.gateway("silk-gateway-shapes")
        deadline = time.time() + 15  # until the service is found through the registry
        while call(cls.plain, "GET", "/healthz?deep=1")[0] != 200:
            if time.time() > deadline:
                raise AssertionError("silk-openapi-shapes is not reached")
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    # --- tools ---

    @classmethod
    def silkc(cls, name, *protos, includes=()):
        out = os.path.join(cls.tmp, name)
        args = [os.path.join(ARGS.build_dir, "bin", "silkc"), "--openapi", out]
        for d in includes:
            args += ["-I", d]
        subprocess.run(args + list(protos), check=True, timeout=60)
        with open(out) as f:
            return json.load(f)

    def node(self, *args):
        env = dict(os.environ, SILK_OPENAPI_NODE_MODULES=ARGS.node_modules)
        return subprocess.run(["node", VALIDATE, *args], env=env, capture_output=True, text=True,
                              timeout=120)

    def assert_valid(self, doc_or_file, name):
        """Redocly's lint passes and every schema compiles."""
        path = doc_or_file
        if not isinstance(doc_or_file, str):
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                json.dump(doc_or_file, f)
        for what in ("lint", "schemas"):
            run = self.node(what, path)
            self.assertEqual(run.returncode, 0, f"{what} {name}:\n{run.stdout}{run.stderr}")

    def assert_instances(self, doc, cases):
        """Each (name, pointer, instance, valid) validates against doc's schema as it says."""
        doc_file = os.path.join(self.tmp, "instances-doc.json")
        cases_file = os.path.join(self.tmp, "instances.json")
        with open(doc_file, "w") as f:
            json.dump(doc, f)
        with open(cases_file, "w") as f:
            json.dump([{"name": n, "pointer": p, "instance": i, "valid": v}
                       for n, p, i, v in cases], f)
        run = self.node("instances", doc_file, cases_file)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)

    def fetch(self, port):
        """GET /openapi.json with curl: (status, content type, document)."""
        out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code} %{content_type}",
                              f"http://127.0.0.1:{port}/openapi.json"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
        body, _, last = out.rpartition("\n")
        status, _, ctype = last.partition(" ")
        return int(status), ctype, json.loads(body)

    # --- the seed ---

    def test_seed(self):
        wstest = os.path.join(ARGS.source_dir, "samples/wstest/wstest.proto")
        doc = self.silkc("wstest.json", wstest)
        self.assert_valid(os.path.join(self.tmp, "wstest.json"), "wstest.json")
        op = doc["paths"]["/api/wstest/echo"]["post"]
        self.assertEqual(op["operationId"], "wstest.WsTest.Echo")
        self.assertTrue(op["description"].startswith(
            'Echo pushes "message:<msg>,sessionId:<id>" to every session of the business;'))
        self.assertIn("NOT_FOUND when the business has none.", op["description"])
        req = deref(doc, op["requestBody"]["content"]["application/json"]["schema"])
        self.assertEqual(req["properties"]["businessId"], {"type": "string"})
        self.assertEqual(req["properties"]["msg"], {"type": "string"})
        self.assertEqual(doc["tags"], [{"name": "wstest.WsTest", "description":
                         "WsTest pushes messages to the WebSocket sessions of a business."}])
        ok = deref(doc, op["responses"]["200"]["content"]["application/json"]["schema"])
        self.assertEqual(ok, {"type": "object", "properties": {}})  # google.protobuf.Empty
        self.assertEqual(op["responses"]["4XX"], {"$ref": "#/components/responses/silk.Error"})

        # The seed's own gateway serves the same document, and where it is.
        port = self.stack.gateway("silk-gateway", "--openapi")
        status, ctype, served = self.fetch(port)
        self.assertEqual((status, ctype), (200, "application/json"))
        self.assertEqual(served.pop("servers")[0]["url"], "/")
        self.assertEqual(served, doc, "the gateway serves what silkc writes")
        self.assert_valid(served, "wstest-served.json")

    # --- the codegen corpus ---

    def test_corpus(self):
        protos = os.path.join(ARGS.source_dir, "codegen/tests/protos")
        files = sorted(os.path.join(root, f) for root, _, names in os.walk(protos)
                       for f in names if f.endswith(".proto"))
        self.assertGreater(len(files), 8)
        for proto in files:
            name = os.path.relpath(proto, protos).replace("/", "_") + ".json"
            with self.subTest(proto=name):
                self.silkc(name, proto, includes=[protos])
                self.assert_valid(os.path.join(self.tmp, name), name)
        doc = self.silkc("corpus.json", *files, includes=[protos])
        self.assert_valid(os.path.join(self.tmp, "corpus.json"), "corpus.json")
        ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
        self.assertEqual(len(ids), len(set(ids)))
        # shop: a public method, a path parameter, a pattern, a DELETE's query.
        get = doc["paths"]["/api/order/items/{id}"]["get"]
        self.assertEqual(get["security"], [])
        self.assertEqual(get["description"], "GetOrder finds one order.")
        patch = doc["paths"]["/api/order/items/{id}"]["patch"]
        self.assertEqual(patch["parameters"][0]["schema"], {"type": "string", "pattern": "^.+$"})
        shard = [p for p in doc["paths"]["/api/order/items/{id}"]["delete"]["parameters"]
                 if p.get("name") == "shard"]
        self.assertEqual(shard[0]["schema"], {"type": "string", "format": "uint64"})
        book = doc["paths"]["/api/v1/catalog/{name}/books/{page.size}"]["get"]
        names = [p.get("name") for p in book["parameters"]]
        self.assertEqual(names[:2], ["name", "page.size"])
        self.assertNotIn("title", names, "a field the path binds is no query parameter")
        self.assertIn("page.pageToken", names)  # [json_name], dotted
        self.assertEqual(book["parameters"][0]["schema"]["pattern"], "^shelves/[^/]+$")

    # --- every JSON shape ---

    def test_shapes(self):
        doc = self.shapes
        self.assert_valid(self.shapes_file, "shapes.json")
        s = doc["components"]["schemas"]
        p = s["shapes.v1.All"]["properties"]
        for name in ("i64", "s64", "sf64"):
            self.assertEqual(p[name]["type"], "string")
            self.assertEqual(p[name]["format"], "int64")
        for name in ("u64", "f64"):
            self.assertEqual((p[name]["type"], p[name]["format"]), ("string", "uint64"))
        self.assertEqual(p["i32"], {"type": "integer", "format": "int32"})
        self.assertEqual(p["u32"], {"type": "integer", "format": "uint32"})
        self.assertEqual(p["i64"]["description"], "written as a string")  # a trailing comment
        self.assertEqual(p["fl"]["anyOf"][1]["enum"], ["NaN", "Infinity", "-Infinity"])
        self.assertEqual(p["blob"]["contentEncoding"], "base64")
        self.assertEqual(s["shapes.v1.Color"]["type"], "string")
        self.assertEqual(s["shapes.v1.Color"]["enum"], ["COLOR_UNSET", "COLOR_RED", "COLOR_BLUE"])
        self.assertIn("`COLOR_BLUE`: the blue one", s["shapes.v1.Color"]["description"])
        self.assertEqual(s["shapes.v1.All.Size"]["enum"], ["SIZE_UNSET", "SIZE_SMALL",
                                                           "SIZE_LARGE"])
        self.assertEqual(p["tags"], {"type": "array", "items": {"type": "string"}})
        self.assertEqual(p["inners"]["items"], {"$ref": SCHEMAS + "shapes.v1.Inner"})
        self.assertEqual(p["counts"], {"type": "object", "additionalProperties":
                                       {"type": "integer", "format": "int32"}})
        self.assertEqual(p["names"]["propertyNames"], {"pattern": "^-?[0-9]+$"})
        self.assertEqual(p["byFlag"]["propertyNames"], {"enum": ["true", "false"]})
        self.assertEqual(p["colorsById"]["additionalProperties"],
                         {"$ref": SCHEMAS + "shapes.v1.Color"})
        self.assertEqual(s["shapes.v1.All"]["dependentSchemas"]["choiceText"],
                         {"properties": {"choiceNum": False, "choiceInner": False}})
        self.assertIn("customName", p)
        self.assertNotIn("renamed", p)
        self.assertEqual((p["at"]["type"], p["at"]["format"]), ("string", "date-time"))
        self.assertEqual(p["took"]["type"], "string")
        self.assertEqual(p["maybeI64"]["type"], ["string", "null"])
        self.assertEqual(p["maybeText"]["type"], ["string", "null"])
        self.assertEqual(p["maybeFlag"]["type"], ["boolean", "null"])
        self.assertEqual(p["maybeI32"]["type"], ["integer", "null"])
        self.assertEqual(p["nothing"], {"$ref": SCHEMAS + "google.protobuf.Empty"})
        self.assertEqual(s["google.protobuf.Empty"], {"type": "object", "properties": {}})
        # libsilk_json maps these as ordinary messages, and so does the document.
        self.assertIn("fields", s["google.protobuf.Struct"]["properties"])
        self.assertEqual(set(s["google.protobuf.Any"]["properties"]), {"typeUrl", "value"})
        self.assertEqual(s["google.protobuf.FieldMask"]["properties"]["paths"]["type"], "array")
        self.assertIn("stringValue", s["google.protobuf.Value"]["properties"])

        get = doc["paths"]["/api/shapes/all/{i32}"]["get"]
        params = {x.get("name"): x for x in get["parameters"]}
        self.assertEqual(params["i32"]["in"], "path")
        self.assertEqual(params["i64"]["in"], "query")
        self.assertEqual(params["tags"]["schema"]["type"], "array")
        self.assertIn("inner.name", params)
        for absent in ("counts", "inners", "doc", "list"):  # a map, repeated messages
            self.assertNotIn(absent, params)
        self.assertNotIn("requestBody", get)
        put = doc["paths"]["/api/shapes/items/{inner.name}/{text}"]["put"]
        self.assertEqual(put["parameters"][1]["schema"]["pattern"], "^docs/.+$")
        self.assertIn("win over the body's", put["requestBody"]["description"])
        drop = doc["paths"]["/api/shapes/inners/{name}/{_any1}"]["delete"]
        self.assertEqual(drop["security"], [])
        self.assertIn({"$ref": "#/components/parameters/silk.BusinessId"}, drop["parameters"])
        self.assertNotIn("security", doc["paths"]["/api/shapes/echo"]["post"])

    # --- the gateway's documents ---

    def test_gateway_plain(self):
        status, ctype, doc = self.fetch(self.plain)
        self.assertEqual((status, ctype), (200, "application/json"))
        self.assertEqual(doc["servers"], [{"url": "/", "description":
                         "This gateway: the address /openapi.json was fetched from."}])
        doc.pop("servers")
        self.assertEqual(doc, self.shapes)
        status, _, hdrs = call(self.plain, "HEAD", "/openapi.json",
                               headers={"Origin": "https://docs.example"})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["access-control-allow-origin"], "*")  # a Swagger UI elsewhere
        self.assertEqual(call(self.plain, "POST", "/openapi.json", {})[0], 405)

    def test_gateway_without_the_flag(self):
        status, body, _ = call(self.off, "GET", "/openapi.json")
        self.assertEqual(status, 404)
        self.assertEqual(body["code"], 5)

    def test_jwt_key(self):
        status, ctype, doc = self.fetch(self.jwt)  # no token
        self.assertEqual((status, ctype), (200, "application/json"))
        self.assert_valid(doc, "jwt.json")
        self.assertEqual(doc["components"]["securitySchemes"]["bearer"]["type"], "http")
        self.assertEqual(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer")
        self.assertEqual(doc["components"]["securitySchemes"]["bearer"]["bearerFormat"], "JWT")
        self.assertEqual(doc["components"]["securitySchemes"]["accessToken"]["in"], "query")
        self.assertEqual(doc["security"], [{"bearer": []}, {"accessToken": []}])
        self.assertEqual(doc["paths"]["/api/shapes/inners/{name}/{_any1}"]["delete"]["security"],
                         [])
        self.assertNotIn("security", doc["paths"]["/api/shapes/echo"]["post"])
        # What the document says is so: the public method needs no token, Echo does.
        self.assertEqual(call(self.jwt, "DELETE", "/api/shapes/inners/x/y")[0], 200)
        status, body, hdrs = call(self.jwt, "POST", "/api/shapes/echo", {})
        self.assertEqual(status, 401)
        self.assertIn("Bearer", hdrs["www-authenticate"])
        self.assert_instances(doc, [("401 is the error body", pointer(
            "components", "schemas", "silk.Error"), body, True)])
        import jwt  # python3-jwt, as gateway/tests/auth_test.py
        token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 600}, self.stack.secret,
                           algorithm="HS256")
        status, body, _ = call(self.jwt, "POST", "/api/shapes/echo", {"text": "t"},
                               {"Authorization": f"Bearer {token}"})
        self.assertEqual((status, body), (200, {"text": "t"}))

    def test_wrap_response(self):
        status, _, doc = self.fetch(self.wrap)
        self.assertEqual(status, 200)
        self.assert_valid(doc, "wrap.json")
        media = doc["paths"]["/api/shapes/echo"]["post"]["responses"]["200"]["content"]
        wrapped = media["application/json"]["schema"]
        self.assertEqual(wrapped["properties"]["result"], {"$ref": SCHEMAS + "shapes.v1.All"})
        self.assertEqual(wrapped["properties"]["status"], {"const": 200})
        self.assertEqual(set(wrapped["required"]),
                         {"result", "status", "code", "errorMessage", "validErrors"})
        err = doc["components"]["responses"]["silk.Error"]["content"]["application/json"]
        self.assertEqual(err["schema"], {"$ref": SCHEMAS + "silk.WrappedError"})
        ok_ptr = pointer("paths", "/api/shapes/echo", "post", "responses", "200", "content",
                         "application/json", "schema")
        err_ptr = pointer("components", "schemas", "silk.WrappedError")
        status, reply, _ = call(self.wrap, "POST", "/api/shapes/echo", {"i64": "5"})
        self.assertEqual(status, 200)
        status, bad, _ = call(self.wrap, "POST", "/api/shapes/echo", {"i32": "x"})
        self.assertEqual(status, 400)
        status, missing, _ = call(self.wrap, "GET", "/api/shapes/nothing")
        self.assertEqual(status, 404)
        self.assert_instances(doc, [
            ("a wrapped reply", ok_ptr, reply, True),
            ("a wrapped 400 with validErrors", err_ptr, bad, True),
            ("a wrapped 404", err_ptr, missing, True),
            ("a plain reply is no wrapped one", ok_ptr, reply["result"], False),
            ("an error is no wrapped reply", ok_ptr, bad, False),
        ])

    # --- the gateway's real JSON against the schemas ---

    def test_answers_match_the_schemas(self):
        doc = self.shapes
        every = {
            "i32": -5, "s32": -6, "sf32": 7, "u32": 4000000000, "f32": 9,
            "i64": "-9007199254740993", "s64": "-7", "sf64": "8", "u64": "18446744073709551615",
            "f64": "10", "fl": 1.5, "db": "NaN", "flag": True, "text": "héllo", "blob": "AAEC/w==",
            "color": "COLOR_RED", "size": "SIZE_LARGE", "inner": {"name": "n", "n": 1,
                                                              "child": {"name": "c"}},
            "nums": [1, 2], "tags": ["a", "b"], "inners": [{"name": "x"}, {}],
            "colors": ["COLOR_BLUE", "COLOR_RED"], "blobs": ["AA=="], "bigs": ["1", "-2"],
            "reals": [0.1, "Infinity", "-Infinity"],
            "counts": {"a": 1}, "names": {"-3": "x"}, "byFlag": {"true": {"n": 2}},
            "colorsById": {"12": "COLOR_BLUE"},
            "choiceInner": {"name": "in"},
            "at": "2020-01-02T03:04:05.678Z", "took": "-1.5s", "nothing": {},
            "maybeI64": "0", "maybeU64": "1", "maybeI32": 0, "maybeU32": 3, "maybeText": "",
            "maybeFlag": False, "maybeDb": 2.5, "maybeFl": "-Infinity", "maybeBlob": "",
            "times": ["1972-01-01T10:00:20.021Z"],
            "doc": {"fields": {"k": {"stringValue": "v"}}}, "value": {"numberValue": 3},
            "list": {"values": [{"boolValue": True}, {"nullValue": "NULL_VALUE"}]},
            "packed": {"typeUrl": "type.googleapis.com/x.Y", "value": "AQI="},
            "mask": {"paths": ["a.b", "c"]}, "customName": 11, "businessId": "b1",
        }
        req_ptr = pointer("paths", "/api/shapes/echo", "post", "requestBody", "content",
                          "application/json", "schema")
        ok = {v: pointer("paths", p, v, "responses", "200", "content", "application/json",
                         "schema")
              for p, v in (("/api/shapes/echo", "post"), ("/api/shapes/all/{i32}", "get"),
                           ("/api/shapes/items/{inner.name}/{text}", "put"),
                           ("/api/shapes/inners/{name}/{_any1}", "delete"))}
        err_ptr = pointer("components", "schemas", "silk.Error")

        status, echoed, _ = call(self.plain, "POST", "/api/shapes/echo", every)
        self.assertEqual(status, 200, echoed)
        self.assertEqual(echoed["i64"], "-9007199254740993")
        status, named, _ = call(self.plain, "POST", "/api/shapes/echo", {"colors": [2, "COLOR_RED"]})
        self.assertEqual(named, {"colors": ["COLOR_BLUE", "COLOR_RED"]})  # read by number too
        query = ("i64=42&color=COLOR_BLUE&tags=a&tags=b&inner.name=q&at=2020-01-01T00:00:00Z"
                 "&maybeI64=7&blob=AQI&flag=true&value.stringValue=s&mask.paths=x&customName=3")
        status, got, _ = call(self.plain, "GET", f"/api/shapes/all/5?{query}")
        self.assertEqual(status, 200, got)
        self.assertEqual((got["i32"], got["i64"], got["tags"], got["inner"], got["maybeI64"]),
                         (5, "42", ["a", "b"], {"name": "q"}, "7"))
        self.assertEqual((got["value"], got["mask"], got["customName"]),
                         ({"stringValue": "s"}, {"paths": ["x"]}, 3))
        status, put, _ = call(self.plain, "PUT", "/api/shapes/items/nm/docs/a/b",
                              {"inner": {"name": "body"}, "text": "body", "i32": 1})
        self.assertEqual(status, 200, put)
        self.assertEqual((put["inner"], put["text"], put["i32"]), ({"name": "nm"}, "docs/a/b", 1))
        status, dropped, _ = call(self.plain, "DELETE", "/api/shapes/inners/x/y?n=2")
        self.assertEqual((status, dropped), (200, {}))
        errors = [call(self.plain, "POST", "/api/shapes/echo", "{nope")[1],
                  call(self.plain, "POST", "/api/shapes/echo", {"i32": "x"})[1],
                  call(self.plain, "GET", "/api/shapes/all/x")[1],
                  call(self.plain, "POST", "/api/shapes/echo", "{}", {"Content-Type": "text/plain"})[1],
                  call(self.plain, "GET", "/nothing/here")[1]]
        self.assert_instances(doc, [
            ("Echo's request", req_ptr, every, True),
            ("Echo's reply", ok["post"], echoed, True),
            ("Get's reply", ok["get"], got, True),
            ("Put's reply", ok["put"], put, True),
            ("Drop's reply", ok["delete"], dropped, True),
            *[(f"error {i}", err_ptr, e, True) for i, e in enumerate(errors)],
            # The schemas refuse what the mapping never writes.
            ("an int64 as a number", req_ptr, {"i64": 5}, False),
            ("an enum by a name it lacks", req_ptr, {"color": "COLOR_GREEN"}, False),
            ("two members of a oneof", req_ptr, {"choiceText": "a", "choiceNum": 1}, False),
            ("a bool map key that is not true or false", req_ptr, {"byFlag": {"yes": {}}}, False),
            ("a Timestamp that is not RFC 3339", req_ptr, {"at": "yesterday"}, False),
            ("a Duration without its s", req_ptr, {"took": "1.5"}, False),
            ("bytes that are not base64", req_ptr, {"blob": "***"}, False),
            ("a string for an int32", req_ptr, {"i32": "1"}, False),
            ("an error without its code", err_ptr, {"message": "x"}, False),
        ])


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--node-modules", required=True)
    ARGS, rest = parser.parse_known_args()
    ARGS.node_modules = os.environ.get("SILK_OPENAPI_NODE_MODULES", ARGS.node_modules)
    why = skip_reason()
    if why is not None:
        print(f"openapi_test: skipped: {why}")
        return 77
    result = unittest.main(argv=[sys.argv[0], *rest], exit=False, verbosity=2).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
