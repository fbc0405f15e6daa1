// package.test.mjs - clients/js as a package: its version is the project's, its exports and
// "files" hold silk.js, silk.d.ts and README.md, the declarations name every export, and
// `npm install ./clients/js` (offline: there is nothing to fetch) gives an importable
// silk-client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as silk from '../silk.js';
import { hasProgram } from './rig.mjs';

const dir = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));

test('package.json: name, version, ES module, exports, types, files', () => {
  assert.equal(pkg.name, 'silk-client');
  assert.equal(pkg.type, 'module');
  if (process.env.SILK_VERSION) assert.equal(pkg.version, process.env.SILK_VERSION, 'the project version');
  assert.match(pkg.version, /^0\.1\.\d+$/);
  assert.deepEqual(pkg.exports['.'], { types: './silk.d.ts', default: './silk.js' });
  assert.equal(pkg.types, './silk.d.ts');
  assert.deepEqual(pkg.files.sort(), ['README.md', 'silk.d.ts', 'silk.js']);
  assert.equal(pkg.dependencies, undefined, 'no dependencies');
  for (const f of pkg.files) assert.ok(fs.existsSync(path.join(dir, f)), f);
});

test('silk.d.ts declares every export of silk.js', () => {
  const dts = fs.readFileSync(path.join(dir, 'silk.d.ts'), 'utf8');
  const declared = new Set([...dts.matchAll(/^export (?:const|function|class) (\w+)/gm)].map((m) => m[1]));
  assert.deepEqual([...declared].sort(), Object.keys(silk).sort());
});

test('npm install ./clients/js gives an importable silk-client', { skip: !hasProgram('npm') && 'no npm', timeout: 60000 }, async (t) => {
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'silk-js-app-'));
  t.after(() => fs.rmSync(app, { recursive: true, force: true }));
  fs.writeFileSync(path.join(app, 'package.json'), '{"name":"app","private":true,"type":"module"}');
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', dir],
    { cwd: app, stdio: 'pipe', timeout: 50000 });
  const out = execFileSync(process.execPath, ['--input-type=module', '-e',
    "import * as m from 'silk-client'; console.log(Object.keys(m).sort().join(','))"],
  { cwd: app, encoding: 'utf8' });
  assert.equal(out.trim(), Object.keys(silk).sort().join(','));
  const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'],
    { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  assert.deepEqual(packed[0].files.map((f) => f.path).sort(),
    ['README.md', 'package.json', 'silk.d.ts', 'silk.js']);
});
