import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

/**
 * Starts `spa-auth serve --bind 127.0.0.1:<port> ...args` and resolves with the child process
 * and the base URL it announces. The server names itself as localhost: browsers treat that
 * origin as secure, so they keep the Secure `__Host-` cookie over plain http. `port` 0 (the
 * default) lets the system pick; pass one from `freePort()` when the server must know its own
 * URL beforehand (`SPA_AUTH_PUBLIC_URL`, for the links it mails).
 */
export function startServer(bin, args, env, { port = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const server = spawn(bin, ['serve', '--bind', `127.0.0.1:${port}`, ...args], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 30_000);
    server.stderr.on('data', (chunk) => {
      stderr += chunk;
      const m = stderr.match(/spa-auth listening on (http:\/\/localhost:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ server, url: m[1] });
      }
    });
    server.on('exit', (code) => reject(new Error(`server exited (${code}):\n${stderr}`)));
  });
}

/**
 * Debian's chromium, headless. A test tool's own browser download fails on these machines, and
 * without the background-networking flags chromium keeps dialling hosts the network refuses.
 */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}
