// Two-step login in the example SPA, in Debian's headless chromium: turning TOTP on from the
// Security page (the server's SVG QR code and the secret, confirmed with a code this test
// computes as an authenticator app would, RFC 6238 with node:crypto), the recovery codes shown
// once, then logging in with password and code, and with a recovery code that works only once.
import { test, before, after } from 'node:test';
import { launchChromium, startServer } from './server.mjs';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = process.env.SPA_AUTH_BIN ?? path.join(root, 'target', 'debug', 'spa-auth');
const spaDir = process.env.SPA_DIST ?? path.join(root, 'clients', 'spa', 'dist');
const artifacts = path.join(root, 'tests', 'artifacts');

const ERIN = { username: 'erin', password: 'erin keeps two keys', email: 'e@example.com' };

let dir;
let server;
let base;
let browser;

before(async () => {
  assert.ok(existsSync(path.join(spaDir, 'index.html')), `${spaDir}/index.html is missing: build clients/spa first`);
  mkdirSync(artifacts, { recursive: true });
  dir = mkdtempSync(path.join(tmpdir(), 'spa-auth-security-'));
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('SPA_AUTH_') && k !== 'DATABASE_URL'),
  );
  Object.assign(env, {
    DATABASE_URL: `sqlite://${dir}/x.db?mode=rwc`,
    RUST_LOG: 'warn',
    SPA_AUTH_ARGON2_MEMORY_KIB: '1024',
    SPA_AUTH_ARGON2_ITERATIONS: '1',
    SPA_AUTH_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
  });
  execFileSync(bin, ['user', 'create', ERIN.username, '--email', ERIN.email], {
    env,
    input: `${ERIN.password}\n`,
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  ({ server, url: base } = await startServer(bin, ['--spa-dir', spaDir], env));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** RFC 4648 base32, as the server shows the secret. */
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    assert.ok(v >= 0, `not base32: ${c}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238: HMAC-SHA1 of the 30-second step, dynamically truncated to 6 digits. */
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

/**
 * An authenticator app: each code for a step the server has not seen (it takes one step either
 * way), never in the last seconds of a step, so the step cannot move under the check.
 */
function authenticator(secret) {
  let last;
  return async () => {
    for (;;) {
      const seconds = Math.floor(Date.now() / 1000);
      const now = Math.floor(seconds / 30);
      if (seconds % 30 >= 27) {
        await new Promise((r) => setTimeout(r, 3_100));
        continue;
      }
      const step = last === undefined ? now - 1 : Math.max(last + 1, now - 1);
      if (step > now + 1) {
        await new Promise((r) => setTimeout(r, (30 - (seconds % 30)) * 1000));
        continue;
      }
      last = step;
      return totp(secret, step);
    }
  };
}

const heading = (page) => page.getByRole('heading', { level: 1 });
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `security-${name}.png`), fullPage: true });

async function fillLogin(page) {
  await heading(page).filter({ hasText: 'Log in' }).waitFor();
  await page.getByLabel('Username').fill(ERIN.username);
  await page.getByLabel('Password', { exact: true }).fill(ERIN.password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

async function logOut(page) {
  await page.getByRole('button', { name: 'Log out' }).click();
  await heading(page).filter({ hasText: 'Log in' }).waitFor();
}

test('TOTP: turned on from the Security page, then logins with a code and with a recovery code, once', async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err}`));

  await page.goto(`${base}/`);
  await fillLogin(page);
  await heading(page).filter({ hasText: 'Welcome' }).waitFor();

  // Turn TOTP on: the server's QR code (an SVG it drew) and the secret, then a code.
  await page.getByRole('link', { name: 'Security' }).click();
  await heading(page).filter({ hasText: 'Security' }).waitFor();
  await page.getByRole('button', { name: 'Turn on two-step login' }).click();
  const secret = (await page.getByTestId('totp-secret').textContent()).trim();
  const qr = page.getByRole('img', { name: 'QR code of the authenticator secret' });
  assert.match(await qr.getAttribute('src'), /^data:image\/svg\+xml/);
  assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR code renders');
  await shot(page, 'enrol');
  const code = authenticator(base32Decode(secret));
  await page.getByLabel('Code from the app').fill(await code());
  await page.getByRole('button', { name: 'Confirm' }).click();
  const list = page.getByRole('region', { name: 'Recovery codes' }).getByRole('listitem');
  await list.first().waitFor();
  const recovery = (await list.allTextContents()).map((c) => c.trim());
  assert.equal(recovery.length, 10);
  await page.getByText('Two-step login is on. Recovery codes left: 10.').waitFor();
  await shot(page, 'recovery-codes');

  // Password, then a code from the app.
  await logOut(page);
  await fillLogin(page);
  await page.getByLabel('Code from your authenticator app').fill(await code());
  await shot(page, 'second-step');
  await page.getByRole('button', { name: 'Continue' }).click();
  await heading(page).filter({ hasText: 'Welcome' }).waitFor();

  // Password, then a recovery code: it works once.
  await logOut(page);
  await fillLogin(page);
  await page.getByRole('button', { name: 'Use a recovery code' }).click();
  await page.getByLabel('Recovery code').fill(recovery[0]);
  await page.getByRole('button', { name: 'Continue' }).click();
  await heading(page).filter({ hasText: 'Welcome' }).waitFor();

  await logOut(page);
  await fillLogin(page);
  await page.getByRole('button', { name: 'Use a recovery code' }).click();
  await page.getByLabel('Recovery code').fill(recovery[0]);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByText('That code is wrong or was already used.').waitFor();
  await shot(page, 'recovery-code-spent');
  assert.equal((await page.evaluate(() => document.cookie)).includes('__Host-session'), false);

  assert.deepEqual(problems, [], 'no CSP violation or script error');
  await context.close();
});
