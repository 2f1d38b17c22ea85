// The example SPA (clients/spa), built and served by spa-auth itself (--spa-dir) under its
// strict CSP, driven in Debian's headless chromium as a person would use it: logging in (wrong
// password, right password, throttled, with and without "remember me"), staying logged in across a reload with a cookie the page
// cannot read, logging out for real, and two browsers as the same user ending each other's
// session and changing the password. Screenshots of each page go to tests/artifacts/spa-*.png.
import { test, before, after } from 'node:test';
import { launchChromium, startServer } from './server.mjs';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request as playwrightRequest } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = process.env.SPA_AUTH_BIN ?? path.join(root, 'target', 'debug', 'spa-auth');
const spaDir = process.env.SPA_DIST ?? path.join(root, 'clients', 'spa', 'dist');
const artifacts = path.join(root, 'tests', 'artifacts');
const COOKIE = '__Host-session';

// One user per scenario, so that a password change or throttling cannot leak into another test.
const ALICE = { username: 'alice', password: 'correct horse battery staple', email: 'a@example.com' };
const CAROL = { username: 'carol', password: 'two browsers one account', email: 'c@example.com' };
const BOB = { username: 'bob', password: 'bob the careful builder', email: 'b@example.com' };

let dir;
let server;
let base;
let browser;

before(async () => {
  assert.ok(existsSync(path.join(spaDir, 'index.html')), `${spaDir}/index.html is missing: build clients/spa first`);
  mkdirSync(artifacts, { recursive: true });
  dir = mkdtempSync(path.join(tmpdir(), 'spa-auth-spa-'));
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('SPA_AUTH_') && k !== 'DATABASE_URL'),
  );
  Object.assign(env, {
    DATABASE_URL: `sqlite://${dir}/x.db?mode=rwc`,
    RUST_LOG: 'warn',
    // Cheap hashing: these tests are about the SPA, not argon2's cost.
    SPA_AUTH_ARGON2_MEMORY_KIB: '1024',
    SPA_AUTH_ARGON2_ITERATIONS: '1',
  });
  const cli = (args, input) =>
    execFileSync(bin, args, { env, input, stdio: ['pipe', 'ignore', 'inherit'] });
  for (const u of [ALICE, CAROL, BOB]) cli(['user', 'create', u.username, '--email', u.email], `${u.password}\n`);
  cli(['user', 'create', 'dora', '--email', 'd@example.com', '--first-name', 'Dora', '--last-name', 'Explorer'], 'dora explores the map\n');
  cli(['user', 'grant', 'alice', 'staff']);
  cli(['user', 'grant', 'alice', 'auditor']);
  ({ server, url: base } = await startServer(bin, ['--spa-dir', spaDir, '--throttle-per-pair', '3'], env));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * A fresh browser (context) with one page. Records CSP violations, script errors and failed
 * requests to anything but the API's expected 401s; `clean()` asserts there were none.
 */
async function newBrowser() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  // Every step here takes well under a second: fail in 10 s rather than Playwright's 30.
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err}`));
  page.on('request', (req) => {
    if (!req.url().startsWith(`${base}/`)) problems.push(`foreign request: ${req.url()}`);
  });
  return {
    context,
    page,
    clean: () => assert.deepEqual(problems, [], 'no CSP violation, script error or foreign request'),
  };
}

const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `spa-${name}.png`), fullPage: true });
const heading = (page) => page.getByRole('heading', { level: 1 });
const pathOf = (page) => {
  const u = new URL(page.url());
  return u.pathname + u.search;
};

async function fillLogin(page, username, password) {
  await heading(page).filter({ hasText: 'Log in' }).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

async function logIn(page, user) {
  await fillLogin(page, user.username, user.password);
  await heading(page).filter({ hasText: 'Welcome' }).or(heading(page).filter({ hasText: 'My sessions' })).waitFor();
}

/** A login request, whatever its `?remember=`. */
const LOGIN = /\/api\/auth\/login(\?|$)/;

async function sessionCookie(context) {
  return (await context.cookies(base)).find((c) => c.name === COOKIE);
}

test('login: a wrong password shows the message, the server down another, the right one the home page', async () => {
  const { context, page, clean } = await newBrowser();
  const resp = await page.goto(`${base}/`);
  assert.equal(resp.status(), 200);
  assert.match(resp.headers()['content-security-policy'] ?? '', /script-src 'self'/);
  assert.doesNotMatch(resp.headers()['content-security-policy'] ?? '', /unsafe-inline/);

  // Not logged in: the app asks /api/me, gets 401, and shows the login page.
  await heading(page).filter({ hasText: 'Log in' }).waitFor();
  assert.equal(pathOf(page), '/login');
  // The username field has the focus: the keyboard user can type at once.
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'username');
  await shot(page, '1-login');

  await fillLogin(page, ALICE.username, 'not the password');
  await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
  assert.equal(pathOf(page), '/login');
  assert.equal(await sessionCookie(context), undefined, 'no session cookie after a wrong password');
  await shot(page, '2-login-wrong-password');

  // The server unavailable (503) reads differently: stand in for it at the network level.
  await page.route(LOGIN, (route) =>
    route.fulfill({
      status: 503,
      headers: { 'Retry-After': '1' },
      contentType: 'application/json',
      body: JSON.stringify({ code: 'unavailable', message: 'database unavailable' }),
    }),
  );
  await fillLogin(page, ALICE.username, ALICE.password);
  await page.getByRole('alert').filter({ hasText: 'The server is unavailable right now' }).waitFor();
  await shot(page, '3-login-unavailable');
  await page.unroute(LOGIN);

  // With the keyboard only: type, Enter submits.
  await page.getByLabel('Username').fill(ALICE.username);
  await page.getByLabel('Password', { exact: true }).fill(ALICE.password);
  await page.getByLabel('Password', { exact: true }).press('Enter');
  await heading(page).filter({ hasText: 'Welcome, alice' }).waitFor();
  assert.equal(pathOf(page), '/');
  assert.equal(await page.getByTestId('username').innerText(), 'alice');
  assert.deepEqual(
    (await page.getByTestId('roles').getByRole('listitem').allInnerTexts()).sort(),
    ['auditor', 'staff'],
  );
  assert.match(await page.locator('.facts').innerText(), /a@example\.com/);
  await shot(page, '4-home');
  clean();
  await context.close();
});

test('the home page names the user by first and last name when they have one', async () => {
  const { context, page, clean } = await newBrowser();
  await page.goto(`${base}/`);
  await fillLogin(page, 'dora', 'dora explores the map');
  await heading(page).filter({ hasText: 'Welcome, Dora Explorer' }).waitFor();
  assert.equal(await page.getByTestId('roles').innerText(), 'none');
  clean();
  await context.close();
});

test('remember me is ticked by default and gives a cookie with an expiry; unticked, one that dies with the browser', async () => {
  for (const remember of [true, false]) {
    const { context, page, clean } = await newBrowser();
    await page.goto(`${base}/`);
    await heading(page).filter({ hasText: 'Log in' }).waitFor();
    const box = page.getByRole('checkbox', { name: 'Remember me' });
    assert.equal(await box.isChecked(), true, 'ticked by default');
    if (!remember) {
      await box.uncheck();
      await shot(page, '1b-login-not-remembered');
    }
    await fillLogin(page, 'dora', 'dora explores the map');
    await heading(page).filter({ hasText: 'Welcome, Dora Explorer' }).waitFor();

    const cookie = await sessionCookie(context);
    assert.ok(cookie, 'the browser holds the session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true);
    if (remember) {
      const days = (cookie.expires - Date.now() / 1000) / 86_400;
      assert.ok(days > 13.9 && days <= 14, `a remembered cookie lives 14 days, not ${days}`);
    } else {
      // Playwright's word for a cookie without Max-Age or Expires.
      assert.equal(cookie.expires, -1, 'a browser-session cookie');
    }
    // Either kind keeps the user logged in while the browser stays open.
    await page.reload();
    await heading(page).filter({ hasText: 'Welcome, Dora Explorer' }).waitFor();
    clean();
    await context.close();
  }
});

test('a reload keeps the user logged in; the page cannot read the HttpOnly cookie; deep links survive login', async () => {
  const { context, page, clean } = await newBrowser();
  // A deep link while logged out goes to the login page and back to it afterwards.
  await page.goto(`${base}/sessions`);
  await heading(page).filter({ hasText: 'Log in' }).waitFor();
  assert.equal(pathOf(page), '/login?next=%2Fsessions');
  await logIn(page, ALICE);
  await heading(page).filter({ hasText: 'My sessions' }).waitFor();
  assert.equal(pathOf(page), '/sessions');

  const cookie = await sessionCookie(context);
  assert.ok(cookie, 'the browser holds the session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(await page.evaluate(() => document.cookie.includes('__Host-session')), false);
  assert.equal(await page.evaluate(() => document.cookie), '');

  // A reload of a client route: spa-auth serves index.html, the app restores the user from /api/me.
  const resp = await page.reload();
  assert.equal(resp.status(), 200);
  await heading(page).filter({ hasText: 'My sessions' }).waitFor();
  assert.equal(pathOf(page), '/sessions');
  await page.getByRole('link', { name: 'Home' }).click();
  await heading(page).filter({ hasText: 'Welcome, alice' }).waitFor();
  await page.reload();
  await heading(page).filter({ hasText: 'Welcome, alice' }).waitFor();
  assert.equal(pathOf(page), '/');
  // Back and forward work with the History API.
  await page.goBack();
  await heading(page).filter({ hasText: 'My sessions' }).waitFor();
  await page.goForward();
  await heading(page).filter({ hasText: 'Welcome, alice' }).waitFor();
  // An unknown client route is the app's own not-found page, still logged in.
  await page.goto(`${base}/no/such/page`);
  await heading(page).filter({ hasText: 'Page not found' }).waitFor();
  clean();
  await context.close();
});

test('logout returns to the login page; /api/me is then 401, with the old cookie replayed too', async () => {
  const { context, page, clean } = await newBrowser();
  await page.goto(`${base}/`);
  await logIn(page, ALICE);
  const cookie = await sessionCookie(context);
  assert.ok(cookie);
  assert.equal(await page.evaluate(async () => (await fetch('/api/me')).status), 200);

  await page.getByRole('button', { name: 'Log out' }).click();
  await heading(page).filter({ hasText: 'Log in' }).waitFor();
  assert.equal(pathOf(page), '/login');
  // Only a plain logout: no "your session has ended" message.
  assert.equal((await page.getByRole('alert').innerText()).trim(), '');
  await shot(page, '5-logged-out');
  assert.equal(await sessionCookie(context), undefined, 'the cookie is cleared');
  assert.equal(await page.evaluate(async () => (await fetch('/api/me')).status), 401);

  // The copied cookie, replayed from outside the browser, is dead on the server too.
  const outsider = await playwrightRequest.newContext();
  const replay = await outsider.get(`${base}/api/me`, { headers: { Cookie: `${COOKIE}=${cookie.value}` } });
  assert.equal(replay.status(), 401);
  assert.equal((await replay.json()).code, 'not_authenticated');
  await outsider.dispose();

  // A reload stays logged out.
  await page.goto(`${base}/`);
  await heading(page).filter({ hasText: 'Log in' }).waitFor();
  clean();
  await context.close();
});

test('two browsers as one user: ending the other session, then changing the password, logs the other out', async () => {
  const a = await newBrowser();
  const b = await newBrowser();
  for (const { page } of [a, b]) {
    await page.goto(`${base}/`);
    await logIn(page, CAROL);
  }

  // A sees both sessions, its own marked, and ends B's.
  await a.page.getByRole('link', { name: 'My sessions' }).click();
  await heading(a.page).filter({ hasText: 'My sessions' }).waitFor();
  const rows = a.page.locator('table.sessions tbody tr');
  await rows.nth(1).waitFor();
  assert.equal(await rows.count(), 2);
  assert.equal(await a.page.locator('tr.current').count(), 1);
  assert.match(await a.page.locator('tr.current').innerText(), /This session/);
  // The device as people name it, parsed by the server from this very browser's User-Agent
  // (headless chromium on Linux), with the raw header kept for a hover.
  const ua = await a.page.evaluate(() => navigator.userAgent);
  const major = /Chrome\/(\d+)\./.exec(ua)?.[1];
  assert.ok(major, ua);
  assert.equal((await a.page.locator('tr.current td.agent').innerText()).replace('This session', '').trim(), `Chrome ${major} on Linux`);
  assert.equal(await a.page.locator('tr.current td.agent').getAttribute('title'), ua);
  assert.equal(await a.page.locator('tr.current').getByRole('button').count(), 0, 'no End button for the current session');
  await shot(a.page, '6-sessions-two');
  await a.page.locator('tr:not(.current)').getByRole('button', { name: /^End the session/ }).click();
  await a.page.getByRole('status').filter({ hasText: 'The session has ended.' }).waitFor();
  await a.page.locator('table.sessions tbody tr').nth(1).waitFor({ state: 'detached' });
  assert.equal(await rows.count(), 1);
  assert.equal(await a.page.getByRole('button', { name: 'End all other sessions' }).isDisabled(), true);
  await shot(a.page, '7-sessions-ended-other');

  // B's next action finds its session over: login page, then back where it was.
  await b.page.getByRole('link', { name: 'My sessions' }).click();
  await b.page.getByRole('alert').filter({ hasText: 'Your session has ended. Please log in again.' }).waitFor();
  assert.equal(pathOf(b.page), '/login?next=%2Fsessions');
  await shot(b.page, '8-session-ended-elsewhere');
  await logIn(b.page, CAROL);
  await heading(b.page).filter({ hasText: 'My sessions' }).waitFor();
  assert.equal(pathOf(b.page), '/sessions');

  // "End all other sessions" from B ends A's.
  await b.page.locator('table.sessions tbody tr').nth(1).waitFor();
  await b.page.getByRole('button', { name: 'End all other sessions' }).click();
  await b.page.getByRole('status').filter({ hasText: '1 other session has ended.' }).waitFor();
  await a.page.getByRole('link', { name: 'Home' }).click();
  await heading(a.page).filter({ hasText: 'Log in' }).waitFor();
  assert.equal(pathOf(a.page), '/login');
  await logIn(a.page, CAROL);
  assert.equal(pathOf(a.page), '/');

  // A changes the password: first the server's refusals, shown as it gives them.
  await a.page.getByRole('link', { name: 'Change password' }).click();
  await heading(a.page).filter({ hasText: 'Change password' }).waitFor();
  const change = async (current, next, confirm = next) => {
    await a.page.getByLabel('Current password').fill(current);
    await a.page.getByLabel('New password', { exact: true }).fill(next);
    await a.page.getByLabel('New password, again').fill(confirm);
    await a.page.getByRole('button', { name: 'Change password' }).click();
  };
  await change('not my password', 'a fresh new passphrase');
  await a.page.getByRole('alert').filter({ hasText: 'Your current password is wrong.' }).waitFor();
  await change(CAROL.password, 'password');
  await a.page.getByRole('alert').filter({ hasText: 'The new password was not accepted: password is too common.' }).waitFor();
  await shot(a.page, '9-password-rejected');
  await change(CAROL.password, 'short');
  await a.page.getByRole('alert').filter({ hasText: /not accepted: password must be at least 8 characters/ }).waitFor();
  await change(CAROL.password, 'a fresh new passphrase', 'a different passphrase');
  await a.page.getByRole('alert').filter({ hasText: 'The new passwords do not match.' }).waitFor();
  const next = 'a fresh new passphrase';
  await change(CAROL.password, next);
  await a.page.getByRole('status').filter({ hasText: 'Your password has been changed.' }).waitFor();
  assert.equal(await a.page.getByLabel('Current password').inputValue(), '', 'the form is cleared');
  await shot(a.page, '10-password-changed');

  // A goes on under its rotated cookie, across a reload.
  await a.page.reload();
  await heading(a.page).filter({ hasText: 'Change password' }).waitFor();
  await a.page.getByRole('link', { name: 'My sessions' }).click();
  await a.page.locator('tr.current').waitFor();
  assert.equal(await a.page.locator('table.sessions tbody tr').count(), 1);

  // B is logged out on its next action, and only the new password logs in.
  await b.page.getByRole('link', { name: 'Home' }).click();
  await b.page.getByRole('alert').filter({ hasText: 'Your session has ended.' }).waitFor();
  await fillLogin(b.page, CAROL.username, CAROL.password);
  await b.page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
  await logIn(b.page, { ...CAROL, password: next });
  assert.equal(pathOf(b.page), '/');
  a.clean();
  b.clean();
  await a.context.close();
  await b.context.close();
});

test('repeated wrong passwords show the throttling message with the wait', async () => {
  const { context, page, clean } = await newBrowser();
  await page.goto(`${base}/login`);
  const alert = page.getByRole('alert');
  let attempts = 0;
  // The server allows 3 failures per (address, account) here (--throttle-per-pair 3).
  for (; attempts < 6; attempts++) {
    const answered = page.waitForResponse((r) => LOGIN.test(r.url()));
    await fillLogin(page, BOB.username, `wrong-${attempts}`);
    const status = (await answered).status();
    await alert.filter({ hasText: /Wrong username or password\.|Too many failed attempts/ }).waitFor();
    if (status === 429) break;
    assert.equal(status, 401);
  }
  assert.equal(attempts, 3, 'throttled after exactly 3 wrong passwords');
  const text = await alert.innerText();
  assert.match(text, /^Too many failed attempts\. Try again in \d+ (seconds?|minutes?)\.$/);
  // The default window is 15 minutes: the wait is minutes, not a made-up number.
  const [, n, unit] = text.match(/in (\d+) (\w+)/);
  assert.ok(unit.startsWith('minute') && Number(n) >= 1 && Number(n) <= 15, text);
  assert.equal(await page.getByRole('button', { name: 'Log in' }).isDisabled(), true, 'no more tries while throttled');
  await shot(page, '11-login-throttled');

  // Even the right password is refused now: the server says so, not the page.
  const r = await page.evaluate(async ([u, p]) => {
    const res = await fetch('/api/auth/login', { method: 'POST', headers: { Authorization: `Basic ${btoa(`${u}:${p}`)}` } });
    return { status: res.status, retryAfter: res.headers.get('Retry-After') };
  }, [BOB.username, BOB.password]);
  assert.equal(r.status, 429);
  assert.match(r.retryAfter ?? '', /^\d+$/);
  clean();
  await context.close();
});
