// validate.mjs - the independent checks of an OpenAPI document, for openapi_test.py.
//
//   node validate.mjs lint DOC.json            redocly lint with redocly.yaml beside this file
//   node validate.mjs schemas DOC.json         every schema of the document compiles as JSON
//                                              Schema 2020-12 (Ajv, strict), refs resolved
//   node validate.mjs instances DOC.json CASES.json
//                                              each case {"name", "pointer" (a JSON pointer to a
//                                              schema in DOC), "instance", "valid"} validates, or
//                                              not, as it says
//
// Run from anywhere with NODE_PATH unset: the packages are found in the node_modules folder
// given by SILK_OPENAPI_NODE_MODULES (make openapi-deps installs them into the build tree).
// Exit status 0 when everything holds, 1 when something does not (each said on stdout).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = process.env.SILK_OPENAPI_NODE_MODULES;
if (!modules) {
  console.error("validate.mjs: set SILK_OPENAPI_NODE_MODULES to the validators' node_modules");
  process.exit(2);
}
const require = createRequire(path.join(modules, "index.js"));
const ROOT = "https://openapi.silk.invalid/document";

function readJson(file) {
  return JSON.parse(readFileSync(file, "utf8"));
}

function lint(doc) {
  const cli = path.join(modules, "@redocly", "cli", "bin", "cli.js");
  const run = spawnSync(process.execPath,
    [cli, "lint", "--config", path.join(here, "redocly.yaml"), "--format", "stylish", doc],
    { encoding: "utf8", env: { ...process.env, REDOCLY_TELEMETRY: "off",
                               REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" } });
  process.stdout.write(run.stdout.split("\n").filter((l) => !/[║╔╚]/.test(l)).join("\n"));
  process.stdout.write(run.stderr.split("\n").filter((l) => !/[║╔╚]/.test(l)).join("\n"));
  return run.status === 0;
}

// withRoot rewrites every reference to "#/components/schemas/X" into one to X among the
// $defs of one resource holding them all, so that a schema taken out of the document still
// finds the schemas it refers to.
const SCHEMAS = "#/components/schemas/";
function withRoot(value) {
  if (Array.isArray(value)) return value.map(withRoot);
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [k, v] of Object.entries(value))
    out[k] = k === "$ref" && typeof v === "string" && v.startsWith(SCHEMAS)
      ? `${ROOT}#/$defs/${v.slice(SCHEMAS.length).replaceAll("~", "~0").replaceAll("/", "~1")}`
      : withRoot(v);
  return out;
}

const INT64 = /^-?[0-9]+$/, UINT64 = /^[0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function makeAjv(doc) {
  const Ajv2020 = require("ajv/dist/2020").default;
  const addFormats = require("ajv-formats").default;
  const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true });
  addFormats(ajv);
  // The formats of OpenAPI's registry that the documents use, checked as the mapping writes them.
  ajv.addFormat("int32", { type: "number", validate: (x) => Number.isInteger(x) &&
    x >= -(2 ** 31) && x < 2 ** 31 });
  ajv.addFormat("uint32", { type: "number", validate: (x) => Number.isInteger(x) &&
    x >= 0 && x < 2 ** 32 });
  ajv.addFormat("int64", { type: "string", validate: (s) => INT64.test(s) &&
    BigInt(s) >= -(2n ** 63n) && BigInt(s) < 2n ** 63n });
  ajv.addFormat("uint64", { type: "string", validate: (s) => UINT64.test(s) &&
    BigInt(s) < 2n ** 64n });
  ajv.addFormat("float", { type: "number", validate: () => true });
  ajv.addFormat("double", { type: "number", validate: () => true });
  ajv.addFormat("byte", { type: "string", validate: (s) => BASE64.test(s) });
  // The document itself, as one resource: its components are what references point to.
  ajv.addSchema({ $id: ROOT, $defs: withRoot(doc.components?.schemas || {}) }, ROOT);
  return ajv;
}

// at returns what a JSON pointer names in doc.
function at(doc, pointer) {
  return pointer.split("/").slice(1).reduce((v, part) =>
    v === undefined ? v : v[part.replaceAll("~1", "/").replaceAll("~0", "~")], doc);
}

function compile(ajv, schema, name) {
  try {
    return ajv.compile(withRoot(schema));
  } catch (e) {
    console.log(`FAIL ${name}: ${e.message}`);
    return null;
  }
}

function schemas(doc) {
  const ajv = makeAjv(doc);
  let ok = true;
  for (const [name, schema] of Object.entries(doc.components?.schemas || {}))
    ok = compile(ajv, schema, `components.schemas.${name}`) !== null && ok;
  for (const [p, item] of Object.entries(doc.paths || {})) {
    for (const [verb, op] of Object.entries(item)) {
      for (const param of op.parameters || [])
        if (param.schema) ok = compile(ajv, param.schema, `${verb} ${p} ${param.name}`) && ok;
      for (const [status, r] of Object.entries(op.responses || {})) {
        const s = r.content?.["application/json"]?.schema;
        if (s) ok = compile(ajv, s, `${verb} ${p} ${status}`) !== null && ok;
      }
    }
  }
  console.log(ok ? "ok   every schema compiles" : "FAIL some schemas do not compile");
  return ok;
}

function instances(doc, cases) {
  const ajv = makeAjv(doc);
  let ok = true;
  for (const c of cases) {
    const schema = at(doc, c.pointer);
    const check = schema === undefined ? null : compile(ajv, schema, c.name);
    const valid = check !== null && check(c.instance);
    const right = check !== null && valid === c.valid;
    ok = ok && right;
    const why = check && !valid ? ` ${ajv.errorsText(check.errors)}` : "";
    console.log(`${right ? "ok  " : "FAIL"} ${c.name}: ${valid ? "valid" : "invalid"}${why}` +
      (schema === undefined ? ` (no schema at ${c.pointer})` : ""));
  }
  return ok;
}

const [what, docFile, casesFile] = process.argv.slice(2);
const doc = docFile ? readJson(docFile) : null;
let ok;
if (what === "lint" && doc) ok = lint(docFile);
else if (what === "schemas" && doc) ok = schemas(doc);
else if (what === "instances" && doc && casesFile) ok = instances(doc, readJson(casesFile));
else {
  console.error("usage: validate.mjs lint|schemas DOC.json, or instances DOC.json CASES.json");
  process.exit(2);
}
process.exit(ok ? 0 : 1);
