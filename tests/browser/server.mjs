import { spawn } from 'node:child_process';

/**
 * Starts `spa-auth serve --bind 127.0.0.1:0 ...args` and resolves with the child process and
 * the base URL it announces. The server names itself as localhost: browsers treat that origin
 * as secure, so they keep the Secure `__Host-` cookie over plain http.
 */
export function startServer(bin, args, env) {
  return new Promise((resolve, reject) => {
    const server = spawn(bin, ['serve', '--bind', '127.0.0.1:0', ...args], {
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
