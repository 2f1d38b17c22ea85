/**
 * Starts a real spa-auth for the tests: a fresh SQLite database in a temp dir, two users
 * created through the CLI, then `spa-auth serve` on a free port. The port is read from the
 * `spa-auth listening on http://localhost:PORT` line the server prints on stderr.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, openSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

const USERNAME = "alice";
const EMAIL = "a@example.com";
// Non-ASCII on purpose: login must send the Basic credentials as UTF-8.
const PASSWORD = "Wonderland-ünïcødé-🐇";
// A second user for tests that change the account (password, sessions), so that they cannot
// disturb the tests that log in as alice.
const ACCOUNT_USER = { username: "bob", email: "b@example.com", password: "Builder-of-bridges-42" };
// A user with roles, and a name and email that a header cannot carry as they are (non-ASCII, `+`):
// for the identity headers of forward auth (other-backend.test.ts).
const ROLES_USER = {
  username: "zoë+orders",
  email: "zoë+orders@example.com",
  password: "Orders-and-more-orders-7",
  roles: ["orders", "café"],
};

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    credentials: { username: string; email: string; password: string };
    accountCredentials: { username: string; email: string; password: string };
    rolesCredentials: { username: string; email: string; password: string; roles: string[] };
    /** The server's binary and database, for tests that change users with the CLI while it runs. */
    cli: { bin: string; databaseUrl: string };
  }
}

const repo = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const bin = process.env.SPA_AUTH_BIN ?? join(repo, "target/debug/spa-auth");

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: run \`cargo build --workspace --bins\` first (or set SPA_AUTH_BIN)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "spa-auth-client-test-"));
  // The server's own settings only: nothing from the caller's SPA_AUTH_* / DATABASE_URL leaks in.
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("SPA_AUTH_") && k !== "DATABASE_URL"),
  );
  Object.assign(env, {
    DATABASE_URL: `sqlite://${join(dir, "t.db")}?mode=rwc`,
    // Cheap hashing: the tests are about the HTTP contract, not argon2 cost.
    SPA_AUTH_ARGON2_MEMORY_KIB: "1024",
    SPA_AUTH_ARGON2_ITERATIONS: "1",
    SPA_AUTH_LOG_FORMAT: "text",
  });

  const users: { username: string; email: string; password: string; roles?: string[] }[] = [
    { username: USERNAME, email: EMAIL, password: PASSWORD },
    ACCOUNT_USER,
    ROLES_USER,
  ];
  for (const u of users) {
    const created = spawnSync(bin, ["user", "create", u.username, "--email", u.email], {
      env,
      input: `${u.password}\n`,
      encoding: "utf8",
      timeout: 30_000,
    });
    if (created.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`spa-auth user create failed (${created.status ?? created.signal}):\n${created.stdout}${created.stderr}`);
    }
    for (const role of u.roles ?? []) {
      const granted = spawnSync(bin, ["user", "grant", u.username, role], { env, encoding: "utf8", timeout: 30_000 });
      if (granted.status !== 0) {
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`spa-auth user grant failed (${granted.status ?? granted.signal}):\n${granted.stdout}${granted.stderr}`);
      }
    }
  }

  const logPath = join(dir, "server.log");
  const log = openSync(logPath, "a");
  const server = spawn(bin, ["serve", "--bind", "127.0.0.1:0"], { env, stdio: ["ignore", log, "pipe"] });
  closeSync(log);
  const serverStderr = server.stderr;
  if (!serverStderr) throw new Error("no stderr pipe");
  const exited = new Promise<void>((res) => server.once("exit", () => res()));

  const teardown = async (): Promise<void> => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill("SIGTERM");
      const killer = setTimeout(() => server.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  let stderr = "";
  try {
    const port = await new Promise<number>((res, rej) => {
      const timer = setTimeout(() => rej(new Error("spa-auth did not print its port within 30 s")), 30_000);
      serverStderr.setEncoding("utf8");
      serverStderr.on("data", (chunk: string) => {
        stderr += chunk;
        const m = /spa-auth listening on http:\/\/localhost:(\d+)/.exec(stderr);
        if (m?.[1]) {
          clearTimeout(timer);
          res(Number(m[1]));
        }
      });
      server.once("exit", (code, signal) => {
        clearTimeout(timer);
        rej(new Error(`spa-auth serve exited early (${code ?? signal})`));
      });
      server.once("error", (e) => {
        clearTimeout(timer);
        rej(e);
      });
    });
    // Keep draining stderr so the server never blocks on a full pipe.
    serverStderr.on("data", () => {});
    project.provide("baseUrl", `http://127.0.0.1:${port}`);
    project.provide("credentials", { username: USERNAME, email: EMAIL, password: PASSWORD });
    project.provide("accountCredentials", ACCOUNT_USER);
    project.provide("rolesCredentials", ROLES_USER);
    project.provide("cli", { bin, databaseUrl: String(env.DATABASE_URL) });
  } catch (e) {
    const out = existsSync(logPath) ? readFileSync(logPath, "utf8") : "";
    await teardown();
    throw new Error(`${(e as Error).message}\n--- stderr ---\n${stderr}\n--- stdout ---\n${out}`);
  }
  return teardown;
}
