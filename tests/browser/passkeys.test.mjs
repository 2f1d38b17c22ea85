// Passkeys in the example SPA, in Debian's headless chromium with its virtual authenticator
// (CDP `WebAuthn.addVirtualAuthenticator`: a platform authenticator with resident keys that
// verifies its user): a passkey registered on the Security page, then a login with it alone
// ("Sign in with a passkey") and as the second step after the password. The relying party is
// `SPA_AUTH_PUBLIC_URL`, http://localhost:<port>, which browsers treat as a secure origin.
import { test, before, after } from 'node:test';
import { freePort, launchChromium, startServer } from './server.mjs';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = process.env.SPA_AUTH_BIN ?? path.join(root, 'target', 'debug', 'spa-auth');
const spaDir = process.env.SPA_DIST ?? path.join(root, 'clients', 'spa', 'dist');
const artifacts = path.join(root, 'tests', 'artifacts');

const FERN = { username: 'fern', password: 'fern prefers passkeys', email: 'f@example.com' };

let dir;
let server;
let base;
let browser;

before(async () => {
  assert.ok(existsSync(path.join(spaDir, 'index.html')), `${spaDir}/index.html is missing: build clients/spa first`);
  mkdirSync(artifacts, { recursive: true });
  dir = mkdtempSync(path.join(tmpdir(), 'spa-auth-passkeys-'));
  const port = await freePort();
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('SPA_AUTH_') && k !== 'DATABASE_URL'),
  );
  Object.assign(env, {
    DATABASE_URL: `sqlite://${dir}/x.db?mode=rwc`,
    RUST_LOG: 'warn',
    SPA_AUTH_ARGON2_MEMORY_KIB: '1024',
    SPA_AUTH_ARGON2_ITERATIONS: '1',
    SPA_AUTH_PUBLIC_URL: `http://localhost:${port}`,
  });
  execFileSync(bin, ['user', 'create', FERN.username, '--email', FERN.email], {
    env,
    input: `${FERN.password}\n`,
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  ({ server, url: base } = await startServer(bin, ['--spa-dir', spaDir], env, { port }));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const heading = (page) => page.getByRole('heading', { level: 1 });
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `passkeys-${name}.png`), fullPage: true });

async function logOut(page) {
  await page.getByRole('button', { name: 'Log out' }).click();
  await heading(page).filter({ hasText: 'Log in' }).waitFor();
}

test('passkeys: registered on the Security page, then a login with it alone and as the second step', async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems = [];
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err}`));
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });

  await page.goto(`${base}/`);
  await heading(page).filter({ hasText: 'Log in' }).waitFor();
  await page.getByLabel('Username').fill(FERN.username);
  await page.getByLabel('Password', { exact: true }).fill(FERN.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await heading(page).filter({ hasText: 'Welcome' }).waitFor();

  // Register: the device makes the key; the page lists it.
  await page.getByRole('link', { name: 'Security' }).click();
  await heading(page).filter({ hasText: 'Security' }).waitFor();
  await page.getByLabel('Name of the new passkey').fill('this laptop');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.getByText('Passkey added.').waitFor();
  const passkeys = page.getByRole('region', { name: 'Passkeys' });
  await passkeys.getByText('this laptop', { exact: true }).waitFor();
  await shot(page, 'registered');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1, 'one credential on the authenticator');
  assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential');

  // Passwordless: no username, no password, no second step.
  await logOut(page);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await heading(page).filter({ hasText: 'Welcome' }).waitFor();
  await shot(page, 'signed-in');

  // The password now asks for a second factor, and the passkey is it.
  await logOut(page);
  await page.getByLabel('Username').fill(FERN.username);
  await page.getByLabel('Password', { exact: true }).fill(FERN.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await heading(page).filter({ hasText: 'Welcome' }).waitFor();

  assert.deepEqual(problems, [], 'no CSP violation or script error');
  await context.close();
});
