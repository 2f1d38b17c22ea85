// Swagger UI at /docs, driven in Debian's headless chromium as a person would use it:
// the page loads under its strict CSP with every file from spa-auth itself, "Authorize" takes
// Basic credentials, "Try it out" on login answers 200 and sets the HttpOnly cookie, and
// "Try it out" on /api/me then answers 200 because the browser sends that cookie.
import { test, before, after } from 'node:test';
import { launchChromium, startServer } from './server.mjs';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = process.env.SPA_AUTH_BIN ?? path.join(root, 'target', 'debug', 'spa-auth');
const artifacts = path.join(root, 'tests', 'artifacts');
const USER = 'alice';
const PASSWORD = 'correct horse battery staple';

let dir;
let server;
let base;
let browser;
let page;
const cspViolations = [];
const pageErrors = [];
const foreignRequests = [];

async function shot(name) {
  await page.screenshot({ path: path.join(artifacts, `docs-${name}.png`), fullPage: true });
}

/** Clicks Execute in the operation's block and returns the live response's status. */
async function execute(opblock) {
  await opblock.locator('button.execute').click();
  const status = opblock.locator('.live-responses-table tbody .response-col_status').first();
  await status.waitFor({ timeout: 15_000 });
  return (await status.innerText()).trim();
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  dir = mkdtempSync(path.join(tmpdir(), 'spa-auth-browser-'));
  const env = { ...process.env, DATABASE_URL: `sqlite://${dir}/x.db?mode=rwc`, RUST_LOG: 'warn' };
  execFileSync(bin, ['user', 'create', USER, '--email', 'a@example.com'], {
    env,
    input: `${PASSWORD}\n`,
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  ({ server, url: base } = await startServer(bin, [], env));
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
  });
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('request', (req) => {
    if (!req.url().startsWith(base) && !req.url().startsWith('data:')) foreignRequests.push(req.url());
  });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('/docs shows every operation, served by spa-auth alone under a strict CSP', async () => {
  const resp = await page.goto(`${base}/docs`);
  assert.equal(resp.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/docs/');
  const csp = resp.headers()['content-security-policy'] ?? '';
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(resp.headers()['x-frame-options'], 'DENY');

  await page.locator('.opblock').first().waitFor({ timeout: 20_000 });
  for (const id of ['login', 'getMe', 'logout', 'getHealth']) {
    const ops = page.locator(`.opblock:has(.opblock-summary-operation-id:text-is("${id}"))`);
    assert.equal(await ops.count(), 1, `operation ${id} is listed`);
  }
  await shot('1-loaded');
  assert.deepEqual(foreignRequests, [], 'no request leaves spa-auth');
  assert.deepEqual(cspViolations, [], 'no CSP violation');
  assert.deepEqual(pageErrors, [], 'no script error');
});

test('Authorize with Basic, then Try it out: login 200, then /api/me 200', async () => {
  await page.locator('.auth-wrapper button.authorize').click();
  // The cookie box nobody can fill says so, and how to try the API instead.
  const cookieBox = page.locator('.auth-container', { hasText: 'sessionCookie' });
  await cookieBox.waitFor();
  const cookieHelp = await cookieBox.innerText();
  assert.match(cookieHelp, /leave this box empty/);
  assert.match(cookieHelp, /authorize with basicAuth/);
  // Not the cookie scheme's, whose help names basicAuth too.
  const basic = page.locator('.auth-container', { hasText: 'basicAuth', hasNotText: 'leave this box empty' });
  await basic.locator('input[type=text]').fill(USER);
  await basic.locator('input[type=password]').fill(PASSWORD);
  await basic.locator('button.authorize').click();
  await basic.locator('h6', { hasText: 'Authorized' }).waitFor();
  await shot('2-authorized');
  await basic.locator('button.btn-done').click();

  const login = page.locator('.opblock:has(.opblock-summary-operation-id:text-is("login"))');
  await login.locator('.opblock-summary').click();
  assert.equal(await execute(login), '200', 'login answers 200');
  const loginBody = await login.locator('.live-responses-table .response-col_description pre').first().innerText();
  assert.match(loginBody, /"username": "alice"/);
  await shot('3-login');

  // The session cookie is HttpOnly: the page cannot read it, the browser keeps it.
  const cookies = await page.context().cookies(base);
  const session = cookies.find((c) => c.name === '__Host-session');
  assert.ok(session, 'the browser holds the session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(await page.evaluate(() => document.cookie.includes('__Host-session')), false);

  const me = page.locator('.opblock:has(.opblock-summary-operation-id:text-is("getMe"))');
  await me.locator('.opblock-summary').click();
  assert.equal(await execute(me), '200', '/api/me answers 200 with the cookie');
  const meBody = await me.locator('.live-responses-table .response-col_description pre').first().innerText();
  assert.match(meBody, /"username": "alice"/);
  await shot('4-me');
  assert.deepEqual(foreignRequests, [], 'no request leaves spa-auth');
  assert.deepEqual(cspViolations, [], 'no CSP violation');
  assert.deepEqual(pageErrors, [], 'no script error');
});
