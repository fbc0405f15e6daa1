// console.mjs - drives silk-gateway's console page in Debian's headless Chromium (puppeteer-core).
//
//   node console.mjs '{"url": "http://127.0.0.1:PORT/_silk/", "chromium": "/usr/bin/chromium",
//                      "nodeModules": "build/browser/node_modules", "screenshot": "console.png",
//                      "token": null, "businessId": "100"}'
//
// console_test.py starts the gateway and the service and runs this once per case. It loads
// the page, checks it lists wstest.WsTest.Echo, opens a session for the business from the
// session panel, calls Echo from the form and waits for the push "message:<msg>,sessionId:<the
// session's id>" in that session's list, takes the screenshot, closes the session and sees the
// call answer NOT_FOUND. With a token it first enters it in the token field. Every page error,
// console error and failed request fails it, but the 404 of the NOT_FOUND call it makes on
// purpose. It prints one JSON line of what it saw and exits 0, or prints why and exits 1; the
// browser is closed whatever happens, and killed if it does not close.
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const opts = JSON.parse(process.argv[2]);
// puppeteer-core is in the build tree (make browser-deps), not beside this file.
const puppeteer = createRequire(join(resolve(opts.nodeModules), 'index.js'))('puppeteer-core');
const STEP_MS = 8000; // the longest any one step may wait
const problems = [];
const expected = new Set(); // the URLs answered >= 400 on purpose (the NOT_FOUND call)

function watch(page) {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location()?.url ?? '';
    if (m.text().startsWith('Failed to load resource') && expected.has(url)) return;
    problems.push(`console.error: ${m.text()} (${url})`);
  });
  page.on('requestfailed', (r) => {
    // A WebSocket closed by the page, or a fetch the page aborted, is not a failure.
    if (r.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !expected.has(r.url())) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
}

function check() {
  if (problems.length) throw new Error(problems.join('\n'));
}

/** Waits for the text of selector to match re; returns it. */
async function waitText(page, selector, re) {
  const handle = await page.waitForFunction((sel, source) => {
    const e = document.querySelector(sel);
    return e && new RegExp(source).test(e.textContent) ? e.textContent : false;
  }, { timeout: STEP_MS, polling: 50 }, selector, re.source);
  return handle.jsonValue();
}

async function callEcho(page, msg) {
  await page.select('#call-method', 'wstest.WsTest.Echo');
  await page.$eval('#call-body', (e, body) => { e.value = body; },
    JSON.stringify({ businessId: opts.businessId, msg }));
  await page.$eval('#call-status', (e) => { e.textContent = ''; });
  await page.click('#call-send');
  return waitText(page, '#call-status', /^(200|[1-5]\d\d|no answer) /);
}

async function scenario(page) {
  await page.goto(opts.url, { waitUntil: 'load', timeout: STEP_MS });
  if (opts.token) {
    await page.waitForSelector('#token-form:not([hidden])', { timeout: STEP_MS });
    await page.type('#token', opts.token);
    await page.click('#token-use');
  }
  await page.waitForSelector('[data-method="wstest.WsTest.Echo"]', { timeout: STEP_MS });
  const listed = await page.$eval('#service-list', (e) => e.textContent);
  if (!listed.includes('WsTest.Echo') || !listed.includes('Echo pushes')) {
    throw new Error(`the methods listed: ${listed}`);
  }
  const prefilled = JSON.parse(await page.$eval('#call-body', (e) => e.value));
  if (!('businessId' in prefilled) || !('msg' in prefilled)) {
    throw new Error(`the form is not prefilled from EchoRequest: ${JSON.stringify(prefilled)}`);
  }

  await page.waitForSelector('#session-route option[value="api/wstest"]', { timeout: STEP_MS });
  await page.$eval('#session-business', (e, b) => { e.value = b; }, opts.businessId);
  await page.click('#session-open');
  const sessionId = await waitText(page, '#session-1 .session-id', /^[A-Za-z0-9_-]+\.[0-9a-f]{32}$/);

  const msg = `hello from the console ${Date.now()}`;
  const ok = await callEcho(page, msg);
  if (!ok.startsWith('200 OK')) throw new Error(`Echo with a session open: ${ok}`);
  const push = `message:${msg},sessionId:${sessionId}`;
  await page.waitForFunction((text) => [...document.querySelectorAll('#session-1 .push')]
    .some((li) => li.textContent === text), { timeout: STEP_MS, polling: 50 }, push);
  await waitText(page, '#plot-sessions-now', /now 1/); // the plot sampled /metrics
  await page.waitForSelector('#instance-list tr.instance', { timeout: STEP_MS });
  const health = await waitText(page, '#instance-list [data-service="wstest.WsTest"] .health', /SERVING/);
  if (opts.screenshot) { // a few seconds of the plots first: the picture in docs/gateway.md
    await page.waitForFunction(() => (document.querySelector('#plot-calls polyline')
      ?.getAttribute('points').split(' ').length ?? 0) >= 4, { timeout: STEP_MS, polling: 100 });
    await page.screenshot({ path: opts.screenshot, fullPage: true });
  }

  await page.click('#session-1 .session-close');
  await page.waitForFunction(() => !document.querySelector('#session-1'), { timeout: STEP_MS });
  expected.add(new URL('/api/wstest/echo', opts.url).href);
  let gone = '';
  for (const deadline = Date.now() + STEP_MS; Date.now() < deadline;) {
    gone = await callEcho(page, 'nobody there'); // the gateway may not have dropped it yet
    if (!gone.startsWith('200')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!/^404 NOT_FOUND \(5\): no session for businessId/.test(gone)) {
    throw new Error(`Echo with no session open: ${gone}`);
  }
  const shown = JSON.parse(await page.$eval('#call-result', (e) => e.textContent));
  if (shown.status !== 404 || shown.code !== 5 || !('validErrors' in shown)) {
    throw new Error(`the error shown: ${JSON.stringify(shown)}`);
  }
  return { sessionId, push, health, notFound: gone };
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: opts.chromium,
    headless: true,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--no-first-run',
      '--no-default-browser-check', '--disable-extensions', '--disable-background-networking'],
    timeout: STEP_MS * 2,
    protocolTimeout: STEP_MS * 2,
  });
  const proc = browser.process();
  const killer = setTimeout(() => proc?.kill('SIGKILL'), 60000);
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    watch(page);
    const seen = await scenario(page);
    await new Promise((r) => setTimeout(r, 200)); // late errors
    check();
    console.log(JSON.stringify(seen));
  } finally {
    await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]);
    proc?.kill('SIGKILL');
    clearTimeout(killer);
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(`console.mjs: ${e.message}${problems.length ? `\n${problems.join('\n')}` : ''}`);
  process.exit(1);
});
