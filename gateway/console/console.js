// console.js - silk-gateway's console page (--console): the methods of the OpenAPI document, a
// form to call them and sessions to watch, both through silk.js; the registry's instances with
// their health, and plots of /metrics. Vanilla JS, no build step, nothing from elsewhere.
import { call, connect } from './silk.js';

const $ = (id) => document.getElementById(id);
const base = new URL('../', window.location.href); // the gateway's root, also behind a prefix
const OWN_ROUTES = new Set(['/healthz', '/metrics', '/openapi.json', '/_silk/', 'websocket', 'other']);
const SAMPLES = 120; // two minutes of /metrics, one sample a second
const COLORS = ['#1f7a3a', '#b3261e', '#c26a00', '#1f5fa8', '#7a3aa8', '#00838f'];

const state = { token: '', doc: null, ops: [], samples: [], timers: [], sessions: 0 };

// --- small helpers ---

/** Makes an element with attributes and children (strings become text, never HTML). */
function el(tag, attrs = {}, ...children) {
  const ns = ['svg', 'polyline', 'text'].includes(tag) ? 'http://www.w3.org/2000/svg' : null;
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function say(text, bad = false) {
  $('status').textContent = text;
  $('status').className = bad ? 'bad' : 'muted';
}

function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

/** GETs path (relative to the gateway's root) and returns {ok, status, body}; body is JSON when
 * it parses, else text. Network failures throw. */
async function get(path) {
  const res = await fetch(new URL(path, base), { headers: authHeaders(), cache: 'no-store' });
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Prometheus text, or a proxy's page
  }
  return { ok: res.ok, status: res.status, body };
}

/** GETs JSON that must be there; throws an Error saying why not. */
async function getJSON(path) {
  const r = await get(path);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}${r.body?.message ? `: ${r.body.message}` : ''}`);
  return r.body;
}

// --- schemas: what a request or reply looks like ---

function resolve(schema) {
  const ref = schema?.$ref;
  const prefix = '#/components/schemas/';
  return ref?.startsWith(prefix) ? state.doc.components.schemas[ref.slice(prefix.length)] : schema;
}

function typeOf(s) {
  return Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
}

/** An example value of schema: what the form starts from. */
function example(schema, depth = 0) {
  const s = resolve(schema);
  if (!s || depth > 4) return null;
  if (s.anyOf || s.oneOf) return example((s.anyOf || s.oneOf)[0], depth);
  if (s.enum) return s.enum[0];
  const type = typeOf(s);
  if (type === 'object' || s.properties) {
    const out = {};
    for (const [k, v] of Object.entries(s.properties ?? {})) out[k] = example(v, depth + 1);
    return out;
  }
  if (type === 'array') return [];
  if (type === 'string') return /int64$/.test(s.format ?? '') ? '0' : '';
  if (type === 'integer' || type === 'number') return 0;
  if (type === 'boolean') return false;
  return null;
}

/** The shape of schema as JSON whose leaves name the types: what the list shows. */
function shape(schema, depth = 0) {
  const s = resolve(schema);
  if (!s) return 'any';
  if (depth > 4) return '…';
  if (s.anyOf || s.oneOf) return (s.anyOf || s.oneOf).map((x) => shape(x, depth)).join(' | ');
  if (s.enum) return s.enum.join(' | ');
  const type = typeOf(s);
  if (type === 'object' || s.properties) {
    const out = {};
    for (const [k, v] of Object.entries(s.properties ?? {})) out[k] = shape(v, depth + 1);
    if (s.additionalProperties) out['<key>'] = shape(s.additionalProperties, depth + 1);
    return out;
  }
  if (type === 'array') return [shape(s.items, depth + 1)];
  return s.format ? `${type} (${s.format})` : (type ?? 'any');
}

/** Sets obj's value at a dotted path ("page.size"). */
function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys[keys.length - 1]] = value;
}

function getPath(obj, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

/** The request of op as one JSON value: its body's schema, or its parameters as an object. */
function requestExample(op) {
  const body = op.op.requestBody?.content?.['application/json']?.schema;
  if (body) return example(body);
  const out = {};
  for (const p of op.op.parameters ?? []) {
    const param = p.$ref ? state.doc.components.parameters[p.$ref.split('/').pop()] : p;
    if (param.in === 'query' || param.in === 'path') setPath(out, param.name, example(param.schema));
  }
  return out;
}

function replySchema(op) {
  return op.op.responses?.['200']?.content?.['application/json']?.schema;
}

// --- services and methods ---

function operations(doc) {
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [verb, op] of Object.entries(item)) {
      if (op && typeof op === 'object' && op.operationId) {
        ops.push({ id: op.operationId, verb, path, tag: op.tags?.[0] ?? '', op });
      }
    }
  }
  return ops.sort((a, b) => a.id.localeCompare(b.id));
}

function renderMethod(op) {
  const req = op.op.requestBody?.content?.['application/json']?.schema;
  const use = el('button', { type: 'button', 'aria-label': `Call ${op.id}` }, 'Call');
  use.addEventListener('click', () => choose(op.id));
  const open = state.ops.length <= 4 ? '' : undefined; // a few: shown at once
  return el('details', { class: 'method', 'data-method': op.id, open },
    el('summary', {}, el('span', { class: 'verb' }, op.verb.toUpperCase()), ' ',
      el('code', {}, op.id), ' ', el('span', { class: 'muted' }, op.path)),
    op.op.description ? el('p', {}, op.op.description) : '',
    el('h3', {}, 'Request'),
    el('pre', {}, JSON.stringify(req ? shape(req) : shape({ properties: Object.fromEntries(
      (op.op.parameters ?? []).map((p) => [p.name ?? p.$ref?.split('/').pop(), p.schema ?? {}])) }), null, 2)),
    el('h3', {}, 'Reply'),
    el('pre', {}, JSON.stringify(shape(replySchema(op)), null, 2)),
    use);
}

function renderServices() {
  const list = $('service-list');
  list.replaceChildren();
  const tags = new Map((state.doc.tags ?? []).map((t) => [t.name, t.description ?? '']));
  for (const op of state.ops) if (!tags.has(op.tag)) tags.set(op.tag, '');
  for (const [name, description] of tags) {
    const ops = state.ops.filter((o) => o.tag === name);
    list.append(el('article', { class: 'service', 'data-service': name },
      el('h3', {}, name), description ? el('p', { class: 'muted' }, description) : '',
      ops.map(renderMethod)));
  }
  const select = $('call-method');
  select.replaceChildren(...state.ops.map((o) => el('option', { value: o.id }, o.id)));
  if (state.ops.length) choose(state.ops[0].id);
}

// --- calls ---

function choose(id) {
  const op = state.ops.find((o) => o.id === id);
  if (!op) return;
  $('call-method').value = id;
  $('call-body').value = JSON.stringify(requestExample(op), null, 2);
}

/** Calls op with body through silk.js; verbs other than POST go through call's fetch option. */
function invoke(op, body) {
  const bound = [];
  const path = op.path.replace(/\{([^}=]+)(=[^}]*)?\}/g, (_, name, pattern) => {
    bound.push(name);
    const v = String(getPath(body, name) ?? '');
    return pattern ? encodeURI(v) : encodeURIComponent(v);
  });
  const options = { token: state.token || undefined };
  const verb = op.verb.toUpperCase();
  if (verb !== 'POST') {
    const withBody = verb === 'PUT' || verb === 'PATCH';
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(withBody ? {} : body ?? {})) {
      if (bound.includes(k) || v === null || (typeof v === 'object' && !Array.isArray(v))) continue;
      for (const x of [].concat(v)) query.append(k, String(x));
    }
    const qs = query.toString();
    options.fetch = (url, init) => fetch(qs ? `${url}?${qs}` : url,
      { ...init, method: verb, body: withBody ? init.body : undefined });
  }
  return call(base.href, path, withoutBound(body, bound), options);
}

function withoutBound(body, bound) {
  if (!body || typeof body !== 'object' || !bound.length) return body;
  const copy = structuredClone(body);
  for (const name of bound) {
    const keys = name.split('.');
    const parent = keys.length > 1 ? getPath(copy, keys.slice(0, -1).join('.')) : copy;
    if (parent) delete parent[keys[keys.length - 1]];
  }
  return copy;
}

async function onCall(ev) {
  ev.preventDefault();
  const op = state.ops.find((o) => o.id === $('call-method').value);
  const status = $('call-status');
  const result = $('call-result');
  if (!op) return;
  let body;
  try {
    body = JSON.parse($('call-body').value || '{}');
  } catch (e) {
    status.textContent = `not JSON: ${e.message}`;
    status.className = 'bad';
    return;
  }
  status.textContent = `calling ${op.id}…`;
  status.className = 'muted';
  result.textContent = '';
  try {
    const answer = await invoke(op, body);
    status.textContent = `200 OK: ${op.id}`;
    status.className = 'ok';
    result.textContent = JSON.stringify(answer, null, 2);
  } catch (e) {
    status.textContent = `${e.status || 'no answer'} ${e.codeName ?? 'ERROR'} (${e.code ?? '?'}): ${e.message}`;
    status.className = 'bad';
    result.textContent = JSON.stringify({ status: e.status, code: e.code, codeName: e.codeName,
      message: e.message, validErrors: e.validErrors ?? null }, null, 2);
  }
}

// --- sessions ---

function openSession(ev) {
  ev.preventDefault();
  const route = $('session-route').value;
  const businessId = $('session-business').value.trim();
  if (!route || !businessId) return;
  const n = ++state.sessions;
  const id = el('code', { class: 'session-id' }, '');
  const st = el('span', { class: 'session-state muted' }, 'connecting');
  const pushes = el('ol', { class: 'pushes', 'aria-label': `pushes of session ${n}` });
  const close = el('button', { type: 'button', class: 'session-close', 'aria-label': `Close session ${n}` }, 'Close');
  const item = el('li', { id: `session-${n}`, 'data-business': businessId },
    el('div', {}, `#${n} ${route}, business ${businessId}: `, st, ' ', id, ' ', close), pushes);
  $('session-list').append(item);
  const s = connect(new URL(route, base).href, { businessId, token: state.token || undefined });
  s.on('open', (e) => {
    id.textContent = e.sessionId ?? '';
    item.dataset.sessionId = e.sessionId ?? '';
    st.textContent = 'open';
    st.className = 'session-state ok';
  });
  s.on('push', (e) => {
    const text = e.binary ? `(binary, ${e.data.length} bytes)` : e.data;
    pushes.append(el('li', { class: 'push' }, text));
    pushes.scrollTop = pushes.scrollHeight;
  });
  s.on('reply', (e) => pushes.append(el('li', { class: 'reply' }, `reply: ${e.data}`)));
  s.on('reconnecting', (e) => {
    st.textContent = `reconnecting (close ${e.code}${e.reason ? `: ${e.reason}` : ''})`;
    st.className = 'session-state bad';
  });
  s.on('close', (e) => {
    if (e.fatal) {
      st.textContent = `refused: ${e.reason}`;
      st.className = 'session-state bad';
    }
  });
  close.addEventListener('click', () => {
    s.close();
    item.remove();
  });
}

// --- instances and health ---

function instanceTable(list) {
  if (!list?.length) return el('p', { class: 'muted' }, 'no live instance');
  return el('table', {},
    el('thead', {}, el('tr', {}, ['id', 'address', 'version', 'weight', 'started'].map((h) => el('th', {}, h)))),
    el('tbody', {}, list.map((i) => el('tr', { class: 'instance' },
      el('td', {}, el('code', {}, i.id)), el('td', {}, i.address), el('td', {}, i.version || '-'),
      el('td', {}, i.weight), el('td', {}, new Date(i.startedMs).toLocaleString())))));
}

function healthOf(health, name) {
  const h = health?.services?.[name];
  if (h === undefined) return el('span', { class: 'muted' }, '');
  return el('span', { class: h === 'SERVING' ? 'health ok' : 'health bad' }, h);
}

async function refreshInstances() {
  const [view, health] = await Promise.all([getJSON('_silk/instances'),
    get('healthz?deep=1').then((r) => r.body)]);
  $('registry').textContent = view.registry ? `registry ${view.registry}` : `no registry: ${view.error}`;
  $('instance-list').replaceChildren(...view.services.map((s) => el('article', { 'data-service': s.name },
    el('h3', {}, s.route ? `${s.name} ` : `${s.name} (gateways) `, healthOf(health, s.name)),
    s.error ? el('p', { class: 'bad' }, s.error) : instanceTable(s.instances))));
  const routes = view.services.filter((s) => s.websocket).map((s) => s.route);
  const select = $('session-route');
  if (select.options.length !== routes.length) {
    select.replaceChildren(...routes.map((r) => el('option', { value: r }, `/${r}`)));
  }
}

// --- metrics and plots ---

/** Parses Prometheus' text format into [{name, labels, value}]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

function sample(text) {
  const calls = {};
  let sessions = 0;
  let pushes = 0;
  for (const m of parseMetrics(text)) {
    if (m.name === 'silk_gateway_open_sessions') sessions = m.value;
    else if (m.name === 'silk_gateway_pushes_sent_total') pushes = m.value;
    else if (m.name === 'silk_gateway_http_requests_total' && !OWN_ROUTES.has(m.labels.route)) {
      calls[m.labels.status] = (calls[m.labels.status] ?? 0) + m.value;
    }
  }
  return { t: performance.now() / 1000, sessions, pushes, calls };
}

/** The rate of a counter between consecutive samples. */
function rates(samples, value) {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = samples[i].t - samples[i - 1].t;
    out.push(dt > 0 ? Math.max(0, (value(samples[i]) - value(samples[i - 1])) / dt) : 0);
  }
  return out;
}

/** Draws series [{label, points}] into svg (W by H), each a polyline scaled to the max. */
function plot(svg, series) {
  const [W, H] = [600, 100];
  const max = Math.max(1, ...series.flatMap((s) => s.points));
  const children = [el('text', { x: 6, y: 14, 'font-size': 12, fill: '#5b6475' }, `max ${+max.toFixed(2)}`)];
  const step = W / Math.max(1, SAMPLES - 1);
  series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length];
    const x0 = W - (s.points.length - 1) * step;
    const pts = s.points.map((v, j) => `${(x0 + j * step).toFixed(1)},${(H - 4 - (v / max) * (H - 24)).toFixed(1)}`);
    if (pts.length) children.push(el('polyline', { points: pts.join(' '), stroke: color }));
    if (s.label) children.push(el('text', { x: 6 + i * 40, y: H - 6, 'font-size': 12, fill: color }, s.label));
  });
  svg.replaceChildren(...children);
}

function statusColor(status, i) {
  if (status.startsWith('2')) return COLORS[0];
  if (status.startsWith('5')) return COLORS[1];
  return COLORS[2 + (i % 4)];
}

function drawPlots() {
  const s = state.samples;
  const last = s[s.length - 1];
  plot($('plot-sessions'), [{ points: s.map((x) => x.sessions) }]);
  $('plot-sessions-now').textContent = `now ${last.sessions}`;
  const pushes = rates(s, (x) => x.pushes);
  plot($('plot-pushes'), [{ points: pushes }]);
  $('plot-pushes-now').textContent = `now ${(pushes[pushes.length - 1] ?? 0).toFixed(1)}`;
  const statuses = [...new Set(s.flatMap((x) => Object.keys(x.calls)))].sort();
  plot($('plot-calls'), statuses.map((st, i) => ({
    label: st, color: statusColor(st, i), points: rates(s, (x) => x.calls[st] ?? 0),
  })));
  $('plot-calls-legend').textContent = statuses.length ? `(${statuses.join(', ')})` : '(none yet)';
}

async function refreshMetrics() {
  const r = await get('metrics');
  if (!r.ok) throw new Error(`metrics: HTTP ${r.status}`);
  state.samples.push(sample(String(r.body)));
  if (state.samples.length > SAMPLES) state.samples.shift();
  drawPlots();
}

// --- start ---

/** Runs fn now and every ms milliseconds; a failure is shown, not thrown. */
function every(ms, fn) {
  const run = () => fn().catch((e) => say(e.message, true));
  run();
  state.timers.push(setInterval(run, ms));
}

async function load() {
  for (const t of state.timers.splice(0)) clearInterval(t);
  try {
    state.doc = await getJSON('_silk/openapi.json');
  } catch (e) {
    say(`${e.message}${state.token ? '' : ' (this gateway may need a token)'}`, true);
    return;
  }
  state.ops = operations(state.doc);
  renderServices();
  say(`${state.ops.length} method${state.ops.length === 1 ? '' : 's'} of ${state.doc.info?.title ?? 'the gateway'}`);
  every(5000, refreshInstances);
  every(1000, refreshMetrics);
}

async function start() {
  $('call-form').addEventListener('submit', onCall);
  $('call-method').addEventListener('change', (e) => choose(e.target.value));
  $('session-form').addEventListener('submit', openSession);
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('token').value.trim();
    load();
  });
  const config = await getJSON('_silk/config.json');
  $('token-form').hidden = !config.tokenRequired;
  if (config.tokenRequired) {
    say('This gateway verifies tokens (--jwt-key): enter one above to read its data.');
    return;
  }
  await load();
}

start().catch((e) => say(e.message, true));
