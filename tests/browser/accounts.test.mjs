// The example SPA's account pages (sign-up, verify email, forgot and reset password, change
// email), driven in Debian's headless chromium against the real spa-auth on SQLite, which mails
// its links to a real SMTP server started here (smtp-server + mailparser, mail.mjs). Each flow
// reads the delivered message and follows its link in the browser, as a person would; the
// token in the link's fragment must leave the address bar as soon as the page loads and never
// travel in a URL. Screenshots of each new page go to tests/artifacts/accounts-*.png.
//
// Needs the background mail sender (SMTP delivery of the outbox). Without it, every test that
// waits for a message fails with "no mail to … within 15000 ms".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, launchChromium, startServer } from './server.mjs';
import { linkIn, startSmtpServer } from './mail.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = process.env.SPA_AUTH_BIN ?? path.join(root, 'target', 'debug', 'spa-auth');
const spaDir = process.env.SPA_DIST ?? path.join(root, 'clients', 'spa', 'dist');
const artifacts = path.join(root, 'tests', 'artifacts');
const MAIL_FROM = 'spa-auth tests <no-reply@example.com>';

// Made by an operator (`spa-auth user create`): their addresses count as verified.
const ERIN = { username: 'erin', password: 'erin keeps forgetting', email: 'erin@example.com' };
const FRANK = { username: 'frank', password: 'frank moves house often', email: 'frank@example.com' };

const cleanups = [];
let smtp;
let browser;
/** The main server: open sign-up, verified addresses required to log in. */
let main;

/**
 * A spa-auth on a fresh SQLite database, serving the built SPA, mailing through `smtp` with
 * links to its own origin. `settings` are more SPA_AUTH_* variables; `users` are created first.
 */
async function startSpaAuth({ settings = {}, users = [], mail = true } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'spa-auth-accounts-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('SPA_AUTH_') && k !== 'DATABASE_URL'),
  );
  Object.assign(env, {
    DATABASE_URL: `sqlite://${dir}/x.db?mode=rwc`,
    RUST_LOG: 'warn',
    SPA_AUTH_ARGON2_MEMORY_KIB: '1024',
    SPA_AUTH_ARGON2_ITERATIONS: '1',
    // Every request of these tests comes from 127.0.0.1: room for all of them.
    SPA_AUTH_MAIL_PER_IP: '1000',
    ...(mail
      ? {
          SPA_AUTH_SMTP_URL: smtp.url,
          SPA_AUTH_MAIL_FROM: MAIL_FROM,
          SPA_AUTH_PUBLIC_URL: `http://localhost:${port}`,
          SPA_AUTH_MAIL_POLL: '100ms',
        }
      : {}),
    ...settings,
  });
  const cli = (args, input) => execFileSync(bin, args, { env, input, stdio: ['pipe', 'ignore', 'inherit'] });
  for (const u of users) cli(['user', 'create', u.username, '--email', u.email], `${u.password}\n`);
  const { server, url } = await startServer(bin, ['--spa-dir', spaDir], env, { port });
  cleanups.push(() => server.kill('SIGTERM'));
  assert.equal(url, `http://localhost:${port}`);
  return { url, cli };
}

before(async () => {
  assert.ok(existsSync(path.join(spaDir, 'index.html')), `${spaDir}/index.html is missing: build clients/spa first`);
  mkdirSync(artifacts, { recursive: true });
  smtp = await startSmtpServer();
  main = await startSpaAuth({
    settings: { SPA_AUTH_SIGNUP: 'open', SPA_AUTH_REQUIRE_VERIFIED_EMAIL: 'true' },
    users: [ERIN, FRANK],
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const cleanup of cleanups.reverse()) cleanup();
  await smtp?.close();
});

/**
 * A fresh browser (context) with one page, on the server at `base`. Records CSP violations,
 * script errors, requests to other origins, and every URL the page requested or showed;
 * `clean()` asserts no problem, and that no mailed token ever appeared in a URL.
 */
async function newBrowser(base = main.url) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const problems = [];
  const urls = [];
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err}`));
  page.on('request', (req) => {
    urls.push(req.url());
    if (!req.url().startsWith(`${base}/`)) problems.push(`foreign request: ${req.url()}`);
  });
  return {
    context,
    page,
    /** `tokens`: the secrets of the links followed, which no URL but the link itself may hold. */
    clean: (tokens = []) => {
      assert.deepEqual(problems, [], 'no CSP violation, script error or foreign request');
      for (const token of tokens) {
        // Requests never carry a fragment: the token must not have moved into a path or query.
        const leaks = urls.filter((u) => u.includes(token));
        assert.deepEqual(leaks, [], 'no request or address after loading carried the token');
      }
    },
  };
}

const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `accounts-${name}.png`), fullPage: true });
const heading = (page, text) => page.getByRole('heading', { level: 1 }).filter({ hasText: text });
const pathOf = (page) => {
  const u = new URL(page.url());
  return u.pathname + u.search + u.hash;
};
/** The secret after `#token=` or `#invite=` in a mailed link. */
const secretOf = (link) => new URL(link).hash.replace(/^#(token|invite)=/, '');

/**
 * Opens a mailed link as a click in a mail reader would (a new top-level navigation) and checks
 * that, once the page has loaded, the address bar (so the history entry) holds no token.
 */
async function follow(page, link, title) {
  const url = new URL(link);
  assert.match(url.hash, /^#(token|invite)=[A-Za-z0-9_-]{20,}$/, `a token in the fragment: ${link}`);
  const posted = [];
  const onRequest = (req) => {
    if (req.method() === 'POST') posted.push(req.postData() ?? '');
  };
  page.on('request', onRequest);
  // A fresh document, as from a mail reader (not a same-document jump to a new fragment).
  await page.goto('about:blank');
  await page.goto(link);
  await heading(page, title).waitFor();
  page.off('request', onRequest);
  assert.doesNotMatch(page.url(), /token=|invite=/, 'the token left the address bar');
  assert.equal(pathOf(page), url.pathname);
  assert.equal(await page.evaluate(() => window.location.hash), '');
  return posted;
}

async function fillLogin(page, username, password) {
  await heading(page, 'Log in').waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/** The text of the error line under the field `id` (see `Field` in the SPA's ui.tsx). */
const fieldError = (page, id) => page.locator(`#${id}-error`);

async function signUp(page, { username, email, password, firstName, lastName }) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  if (firstName) await page.getByLabel('First name (optional)').fill(firstName);
  if (lastName) await page.getByLabel('Last name (optional)').fill(lastName);
  await page.getByRole('button', { name: 'Create account' }).click();
}

test('sign-up: the server\'s refusals by the right field, "check your email", the mailed link verifies, then login shows the user', async () => {
  const { context, page, clean } = await newBrowser();
  await page.goto(`${main.url}/login`);
  await page.getByRole('link', { name: 'Create an account' }).click();
  await heading(page, 'Create an account').waitFor();
  assert.equal(pathOf(page), '/signup');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'signup-username');
  await shot(page, '1-signup');

  const GINA = { username: 'gina', email: 'gina@example.com', password: 'gina signs up herself', firstName: 'Gina', lastName: 'Example' };
  // A taken username (case does not matter): by the username field, which takes the focus.
  await signUp(page, { ...GINA, username: 'Erin' });
  await fieldError(page, 'signup-username').filter({ hasText: 'That username is taken.' }).waitFor();
  assert.equal(await page.getByLabel('Username').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'signup-username');
  // An address the browser lets through but mail cannot go to (no top-level domain).
  await signUp(page, { ...GINA, email: 'gina@localhost' });
  await fieldError(page, 'signup-email').filter({ hasText: 'not an address mail can be sent to' }).waitFor();
  assert.equal(await fieldError(page, 'signup-username').count(), 0, 'the username error is gone');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'signup-email');
  // A common password: the server's reason by the password field.
  await signUp(page, { ...GINA, password: 'password' });
  await fieldError(page, 'signup-password').filter({ hasText: 'This password was not accepted: password is too common.' }).waitFor();
  assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '', 'the rejected password is cleared');
  await shot(page, '2-signup-errors');
  assert.equal(smtp.inbox.count(GINA.email), 0, 'nothing is mailed for a refused sign-up');

  // While the server works, the button says so and cannot be pressed twice.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route('**/api/auth/signup', async (route) => {
    await held;
    await route.continue();
  });
  await signUp(page, GINA);
  const busy = page.getByRole('button', { name: 'Creating your account…' });
  await busy.waitFor();
  assert.equal(await busy.isDisabled(), true);
  release();
  await heading(page, 'Check your email').waitFor();
  await page.unroute('**/api/auth/signup');
  assert.match(await page.locator('.page').innerText(), /We sent a link to gina@example\.com/);
  await shot(page, '3-signup-check-your-email');

  const mail = await smtp.inbox.take(GINA.email);
  assert.match(mail.from, /no-reply@example\.com/);
  const link = linkIn(mail, main.url, '/verify-email');
  const posted = await follow(page, link, 'Email address verified');
  assert.ok(posted.some((body) => body.includes(secretOf(link))), 'the token travels in a POST body');
  await shot(page, '4-email-verified');
  // A reload finds no token: it is in neither the address bar nor the history entry.
  await page.reload();
  await heading(page, 'Verify your email address').waitFor();
  await shot(page, '20-verify-email-without-link');

  // The link works once.
  await follow(page, link, 'This link is not valid');
  await shot(page, '5-verify-link-invalid');

  // Verified: the login works, and the home page shows the new user.
  await page.getByRole('link', { name: 'Log in' }).click();
  await fillLogin(page, GINA.username, GINA.password);
  await heading(page, 'Welcome, Gina Example').waitFor();
  assert.equal(await page.getByTestId('username').innerText(), 'gina');
  assert.match(await page.locator('.facts').innerText(), /gina@example\.com/);
  await page.getByRole('link', { name: 'Account' }).click();
  await heading(page, 'Account').waitFor();
  assert.match(await page.getByTestId('account-email').innerText(), /gina@example\.com\s+verified/);
  clean([secretOf(link)]);
  await context.close();
});

test('verified addresses required: logging in before verifying says so and mails a new link; the older link is replaced', async () => {
  const { context, page, clean } = await newBrowser();
  const HANK = { username: 'hank', email: 'hank@example.com', password: 'hank is in a hurry' };
  await page.goto(`${main.url}/signup`);
  await heading(page, 'Create an account').waitFor();
  await signUp(page, HANK);
  await heading(page, 'Check your email').waitFor();
  const first = linkIn(await smtp.inbox.take(HANK.email), main.url, '/verify-email');

  await page.getByRole('link', { name: 'Log in' }).click();
  // A wrong password says nothing about the address.
  await fillLogin(page, HANK.username, 'not the password');
  await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Send a new link' }).count(), 0);
  // The right one, before verifying: the message, and a way to get a new link.
  await fillLogin(page, HANK.username, HANK.password);
  await page.getByRole('alert').filter({ hasText: 'Your email address is not verified yet.' }).waitFor();
  assert.equal(pathOf(page), '/login');
  await page.getByLabel('Your email address').fill(HANK.email);
  await page.getByRole('button', { name: 'Send a new link' }).click();
  await page.getByRole('status').filter({ hasText: 'If an account is waiting to confirm hank@example.com, a new link is on its way.' }).waitFor();
  await shot(page, '6-login-email-not-verified');

  const second = linkIn(await smtp.inbox.take(HANK.email), main.url, '/verify-email');
  assert.notEqual(second, first);
  // Only the newest link works.
  await follow(page, first, 'This link is not valid');
  await follow(page, second, 'Email address verified');
  await page.getByRole('link', { name: 'Log in' }).click();
  await fillLogin(page, HANK.username, HANK.password);
  await heading(page, 'Welcome, hank').waitFor();
  clean([secretOf(first), secretOf(second)]);
  await context.close();
});

test('forgot password: the mailed link sets a new one, every session ends, the old password is refused, the link works once', async () => {
  const { context, page, clean } = await newBrowser();
  // Another browser logged in as erin before the reset: it is logged out by it.
  const other = await newBrowser();
  await other.page.goto(`${main.url}/`);
  await fillLogin(other.page, ERIN.username, ERIN.password);
  await heading(other.page, 'Welcome, erin').waitFor();

  await page.goto(`${main.url}/login`);
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await heading(page, 'Forgot your password?').waitFor();
  assert.equal(pathOf(page), '/forgot-password');
  await shot(page, '7-forgot-password');
  // An address nobody has gets the same answer, and no mail.
  await page.getByLabel('Email address').fill('nobody@example.com');
  await page.getByRole('button', { name: 'Send me a link' }).click();
  await heading(page, 'Check your email').waitFor();
  const answer = (await page.locator('.page').innerText()).replace('nobody@example.com', '<address>');
  await page.goto(`${main.url}/forgot-password`);
  await page.getByLabel('Email address').fill(ERIN.email);
  await page.getByRole('button', { name: 'Send me a link' }).click();
  await heading(page, 'Check your email').waitFor();
  assert.equal((await page.locator('.page').innerText()).replace(ERIN.email, '<address>'), answer, 'the same answer');
  assert.match(answer, /If an account has the address <address>, a link to choose a new password is on its way/);
  await shot(page, '8-forgot-password-sent');

  const link = linkIn(await smtp.inbox.take(ERIN.email), main.url, '/reset-password');
  await follow(page, link, 'Choose a new password');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'reset-password');
  await shot(page, '9-reset-password');
  const setPassword = async (password, again = password) => {
    await page.getByLabel('New password', { exact: true }).fill(password);
    await page.getByLabel('New password, again').fill(again);
    await page.getByRole('button', { name: 'Set new password' }).click();
  };
  await setPassword('a brand new secret', 'a different secret');
  await fieldError(page, 'reset-confirm').filter({ hasText: 'The two passwords do not match.' }).waitFor();
  // The server's rule, shown by the field; the link still works after it.
  await setPassword('password');
  await fieldError(page, 'reset-password').filter({ hasText: 'This password was not accepted: password is too common.' }).waitFor();
  assert.match(await page.locator('#reset-password-hint').innerText(), /At least 8 characters/);
  await shot(page, '10-reset-password-rejected');
  const NEW = 'erin remembers this one';
  await setPassword(NEW);
  await heading(page, 'Password changed').waitFor();
  await shot(page, '11-password-changed');
  // A notice, with no link to reset again.
  const notice = await smtp.inbox.take(ERIN.email);
  assert.doesNotMatch(`${notice.text}${notice.html}`, /reset-password#token=/);

  // The other browser's session ended with the reset.
  await other.page.getByRole('link', { name: 'My sessions' }).click();
  await other.page.getByRole('alert').filter({ hasText: 'Your session has ended.' }).waitFor();

  await page.getByRole('link', { name: 'Log in' }).click();
  await fillLogin(page, ERIN.username, ERIN.password);
  await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
  await fillLogin(page, ERIN.username, NEW);
  await heading(page, 'Welcome, erin').waitFor();

  // The same link again: spent (only the server can tell, so on submitting), with a way to
  // ask for a new one.
  await follow(page, link, 'Choose a new password');
  await setPassword('erin tries the old link again');
  await heading(page, 'This link is not valid').waitFor();
  await shot(page, '12-reset-link-invalid');
  await page.getByRole('link', { name: 'Ask for a new link' }).click();
  await heading(page, 'Forgot your password?').waitFor();
  assert.equal(pathOf(page), '/forgot-password');
  clean([secretOf(link)]);
  other.clean();
  await context.close();
  await other.context.close();
});

test('change email while logged in: a link to the new address, a notice to the old one; the account shows the new address once it is used', async () => {
  const { context, page, clean } = await newBrowser();
  await page.goto(`${main.url}/account`);
  await fillLogin(page, FRANK.username, FRANK.password);
  await heading(page, 'Account').waitFor();
  assert.equal(pathOf(page), '/account');
  assert.match(await page.getByTestId('account-email').innerText(), /^frank@example\.com\s+verified$/);
  await shot(page, '13-account');

  const NEW_EMAIL = 'frank.new@example.com';
  const change = async (email, password) => {
    await page.getByLabel('New email address').fill(email);
    await page.getByLabel('Current password').fill(password);
    await page.getByRole('button', { name: 'Change email address' }).click();
  };
  await change(NEW_EMAIL, 'not my password');
  await fieldError(page, 'change-email-password').filter({ hasText: 'Your current password is wrong.' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'change-email-password');
  await change('FRANK@example.com', FRANK.password);
  await fieldError(page, 'new-email').filter({ hasText: "already the account's address" }).waitFor();
  await change(NEW_EMAIL, FRANK.password);
  await page.getByRole('status').filter({ hasText: `Check your new address: we sent a link to ${NEW_EMAIL}.` }).waitFor();
  assert.equal(await page.getByLabel('Current password').inputValue(), '', 'the form is cleared');
  // Nothing changes before the link is used.
  assert.match(await page.getByTestId('account-email').innerText(), /^frank@example\.com/);
  await shot(page, '14-change-email-sent');

  const link = linkIn(await smtp.inbox.take(NEW_EMAIL), main.url, '/verify-email');
  const notice = await smtp.inbox.take(FRANK.email);
  assert.doesNotMatch(`${notice.text}${notice.html}`, /#token=/, 'the old address gets no link that changes anything');

  await follow(page, link, 'Email address verified');
  await page.getByRole('link', { name: 'Go to your account' }).click();
  await heading(page, 'Account').waitFor();
  await page.getByTestId('account-email').filter({ hasText: NEW_EMAIL }).waitFor();
  assert.match(await page.getByTestId('account-email').innerText(), /^frank\.new@example\.com\s+verified$/);
  await shot(page, '15-account-new-email');
  await page.getByRole('link', { name: 'Home' }).click();
  assert.match(await page.locator('.facts').innerText(), /frank\.new@example\.com/);
  clean([secretOf(link)]);
  await context.close();
});

test('an invitation link opens sign-up without an email field; the account is ready to log in', async () => {
  const invited = await startSpaAuth({ settings: { SPA_AUTH_SIGNUP: 'invite' } });
  const IVY = { username: 'ivy', email: 'ivy@example.com', password: 'ivy was invited in' };
  invited.cli(['invite', 'create', IVY.email]);
  const link = linkIn(await smtp.inbox.take(IVY.email), invited.url, '/signup');
  const { context, page, clean } = await newBrowser(invited.url);
  await follow(page, link, 'Accept your invitation');
  assert.equal(await page.getByLabel('Email address').count(), 0, 'the invited address is used');
  await shot(page, '16-signup-invitation');
  await page.getByLabel('Username').fill(IVY.username);
  await page.getByLabel('Password', { exact: true }).fill(IVY.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await heading(page, 'Log in').waitFor();
  await page.getByRole('status').filter({ hasText: 'Your account ivy is ready. Log in with your password.' }).waitFor();
  await shot(page, '17-login-after-invitation');
  await fillLogin(page, IVY.username, IVY.password);
  await heading(page, 'Welcome, ivy').waitFor();
  assert.match(await page.locator('.facts').innerText(), /ivy@example\.com/);

  // Without an invitation, this server lets nobody sign up (and the invitation is forgotten
  // once its page is left: the form asks for an address again).
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('link', { name: 'Create an account' }).click();
  await heading(page, 'Create an account').waitFor();
  await signUp(page, { username: 'joe', email: 'joe@example.com', password: 'joe was not invited' });
  // 403 `not_enabled`: the server's policy, which the page shows as closed sign-up.
  await heading(page, 'Sign-up is closed').waitFor();
  clean([secretOf(link)]);
  await context.close();
});

test('a server that sends no mail: sign-up is closed, and a reset cannot be asked for', async () => {
  const closed = await startSpaAuth({ mail: false });
  const { context, page, clean } = await newBrowser(closed.url);
  await page.goto(`${closed.url}/login`);
  await page.getByRole('link', { name: 'Create an account' }).click();
  await heading(page, 'Create an account').waitFor();
  await signUp(page, { username: 'kim', email: 'kim@example.com', password: 'kim would like an account' });
  await heading(page, 'Sign-up is closed').waitFor();
  assert.match(await page.locator('.page').innerText(), /Ask an administrator/);
  await shot(page, '18-signup-closed');
  await page.getByRole('link', { name: 'Back to log in' }).click();
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByLabel('Email address').fill('kim@example.com');
  await page.getByRole('button', { name: 'Send me a link' }).click();
  await page.getByRole('alert').filter({ hasText: 'This server sends no mail' }).waitFor();
  // A mailed link's page without its token says what to do.
  await page.goto(`${closed.url}/reset-password`);
  await heading(page, 'This link is not valid').waitFor();
  await page.goto(`${closed.url}/verify-email`);
  await heading(page, 'Verify your email address').waitFor();
  clean();
  await context.close();
});

test('verified addresses not required: an unverified user logs in, the account page says so and mails a new link, used while logged in', async () => {
  const lenient = await startSpaAuth({ settings: { SPA_AUTH_SIGNUP: 'open' } });
  const LEO = { username: 'leo', email: 'leo@example.com', password: 'leo verifies later' };
  const { context, page, clean } = await newBrowser(lenient.url);
  await page.goto(`${lenient.url}/signup`);
  await heading(page, 'Create an account').waitFor();
  await signUp(page, LEO);
  await heading(page, 'Check your email').waitFor();
  const first = linkIn(await smtp.inbox.take(LEO.email), lenient.url, '/verify-email');

  await page.getByRole('link', { name: 'Log in' }).click();
  await fillLogin(page, LEO.username, LEO.password);
  await heading(page, 'Welcome, leo').waitFor();
  await page.getByRole('link', { name: 'Account' }).click();
  await heading(page, 'Account').waitFor();
  assert.match(await page.getByTestId('account-email').innerText(), /^leo@example\.com\s+not verified$/);
  // The address is known: just a button.
  assert.match(await page.locator('.page').innerText(), /We can mail a new link to leo@example\.com\./);
  await page.getByRole('button', { name: 'Send a new link' }).click();
  await page.getByRole('status').filter({ hasText: 'A new link is on its way to leo@example.com.' }).waitFor();
  await shot(page, '19-account-not-verified');
  const second = linkIn(await smtp.inbox.take(LEO.email), lenient.url, '/verify-email');
  assert.notEqual(second, first);

  // Followed while logged in: the session carries on, and the account shows the address verified.
  await follow(page, second, 'Email address verified');
  await page.getByRole('link', { name: 'Go to your account' }).click();
  await heading(page, 'Account').waitFor();
  assert.match(await page.getByTestId('account-email').innerText(), /^leo@example\.com\s+verified$/);
  assert.equal(await page.getByRole('button', { name: 'Send a new link' }).count(), 0);
  clean([secretOf(first), secretOf(second)]);
  await context.close();
});
