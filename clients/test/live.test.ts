/** The client against a live spa-auth (started by global-setup.ts). */
import { Buffer } from "node:buffer";
import { describe, expect, expectTypeOf, inject, it } from "vitest";
import {
  createSpaAuthClient,
  isSpaAuthError,
  isThrottled,
  isUnauthorized,
  SpaAuthError,
  type Health,
  type LoginOptions,
  type LoginResult,
  type SpaAuthClient,
  type User,
} from "../src/index.js";
import { cookieJarFetch, type CookieJarFetch } from "./cookie-jar.js";

const baseUrl = inject("baseUrl");
const { username, email, password } = inject("credentials");

function newClient(jar?: Map<string, string>): { client: SpaAuthClient } & CookieJarFetch {
  const f = cookieJarFetch(jar);
  return { client: createSpaAuthClient({ baseUrl, fetch: f.fetch }), ...f };
}

/** The user of a login that needed no second factor (this user has none). */
function loggedIn(result: LoginResult): User {
  if (result.status !== "logged_in") throw new Error(`a second factor was asked: ${JSON.stringify(result)}`);
  return result.user;
}

/** The rejection of `p`, which must be a SpaAuthError. */
async function spaAuthError(p: Promise<unknown>): Promise<SpaAuthError> {
  const e: unknown = await p.then(
    (v) => {
      throw new Error(`expected a SpaAuthError, got success: ${JSON.stringify(v)}`);
    },
    (err: unknown) => err,
  );
  if (!isSpaAuthError(e)) throw e;
  return e;
}

describe("health", () => {
  it("answers ok", async () => {
    const { client, requests } = newClient();
    const health = await client.health();
    expectTypeOf(health).toEqualTypeOf<Health>();
    expect(health).toEqual({ status: "ok" });
    expect(requests[0]?.url).toBe(`${baseUrl}/healthz`);
  });
});

describe("login", () => {
  it("returns the typed user and stores a session cookie", async () => {
    const { client, jar, requests, setCookies } = newClient();
    const before = Date.now();
    const result = await client.login(username, password);
    expectTypeOf(result).toEqualTypeOf<LoginResult>();
    const user = loggedIn(result);
    expect(user).toMatchObject({ username, email, first_name: "", last_name: "" });
    expect(user.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(Number.isNaN(Date.parse(user.date_joined))).toBe(false);
    // This login is the last one.
    expect(user.last_login).toBeDefined();
    expect(Date.parse(user.last_login ?? "")).toBeGreaterThanOrEqual(before - 5_000);

    const req = requests[0];
    expect(req?.method).toBe("POST");
    expect(req?.url).toBe(`${baseUrl}/api/auth/login`);
    expect(req?.credentials).toBe("include");
    // UTF-8, not Latin-1: the password has characters outside Latin-1.
    expect(req?.headers.get("Authorization")).toBe(
      `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`,
    );
    expect(setCookies).toHaveLength(1);
    expect(setCookies[0]).toMatch(/HttpOnly/i);
    expect(jar.size).toBe(1);
  });

  it("remember: false gets a cookie without a lifetime and a session that is not persistent", async () => {
    expectTypeOf<LoginOptions["remember"]>().toEqualTypeOf<boolean | undefined>();
    const forgetful = newClient();
    await forgetful.client.login(username, password, { remember: false });
    expect(forgetful.requests[0]?.url).toBe(`${baseUrl}/api/auth/login?remember=false`);
    expect(forgetful.setCookies).toHaveLength(1);
    expect(forgetful.setCookies[0]).toMatch(/HttpOnly/i);
    expect(forgetful.setCookies[0]).not.toMatch(/max-age|expires/i);
    const [mine] = (await forgetful.client.listSessions()).filter((s) => s.current);
    expect(mine?.persistent).toBe(false);

    const remembered = newClient();
    await remembered.client.login(username, password, { remember: true });
    expect(remembered.requests[0]?.url).toBe(`${baseUrl}/api/auth/login?remember=true`);
    expect(remembered.setCookies[0]).toMatch(/Max-Age=[1-9]\d*/i);
    const [theirs] = (await remembered.client.listSessions()).filter((s) => s.current);
    expect(theirs?.persistent).toBe(true);
  });

  it("usernames are case-insensitive", async () => {
    const { client } = newClient();
    const user = loggedIn(await client.login(username.toUpperCase(), password));
    expect(user.username).toBe(username);
  });

  it("wrong password: 401 invalid_credentials, and no session", async () => {
    const { client, jar } = newClient();
    const e = await spaAuthError(client.login(username, `${password}x`));
    expect(e).toBeInstanceOf(SpaAuthError);
    expect(e.status).toBe(401);
    expect(e.code).toBe("invalid_credentials");
    expect(e.message).not.toBe("");
    expect(e.retryAfter).toBeUndefined();
    expect(isUnauthorized(e)).toBe(true);
    expect(isThrottled(e)).toBe(false);
    expect(jar.size).toBe(0);
    expect(isUnauthorized(await spaAuthError(client.me()))).toBe(true);
  });

  it("unknown user: the same 401 invalid_credentials", async () => {
    const { client } = newClient();
    const e = await spaAuthError(client.login("nobody", password));
    expect([e.status, e.code]).toEqual([401, "invalid_credentials"]);
  });

  it("a password that differs only in Unicode is wrong", async () => {
    // Would pass if both sides mangled non-ASCII the same way (e.g. to '?').
    const { client } = newClient();
    const e = await spaAuthError(client.login(username, password.replace("ü", "u")));
    expect([e.status, e.code]).toEqual([401, "invalid_credentials"]);
  });
});

describe("me and logout", () => {
  it("me returns the logged-in user", async () => {
    const { client, requests } = newClient();
    const user = loggedIn(await client.login(username, password));
    const me = await client.me();
    expectTypeOf(me).toEqualTypeOf<User>();
    expect(me.id).toBe(user.id);
    expect(me.username).toBe(username);
    expect(me.email).toBe(email);
    expect(requests.map((r) => r.credentials)).toEqual(["include", "include"]);
  });

  it("without a session, me is 401 not_authenticated", async () => {
    const { client } = newClient();
    const e = await spaAuthError(client.me());
    expect([e.status, e.code]).toEqual([401, "not_authenticated"]);
    expect(isUnauthorized(e)).toBe(true);
  });

  it("logout ends the session: me is then 401, and so is a copy of the old cookie", async () => {
    const { client, jar } = newClient();
    await client.login(username, password);
    const copied = new Map(jar);
    expect(copied.size).toBe(1);

    await expect(client.logout()).resolves.toBeUndefined();
    expect(jar.size).toBe(0); // the server cleared the cookie

    const e = await spaAuthError(client.me());
    expect(isUnauthorized(e)).toBe(true);
    expect(e.code).toBe("not_authenticated");

    // The old cookie, replayed by someone who copied it, is dead on the server too.
    const replay = newClient(copied);
    expect(isUnauthorized(await spaAuthError(replay.client.me()))).toBe(true);
    expect(isUnauthorized(await spaAuthError(replay.client.logout()))).toBe(true);
  });

  it("sessions are independent: logging out one leaves the other alive", async () => {
    const a = newClient();
    const b = newClient();
    await a.client.login(username, password);
    await b.client.login(username, password);
    expect([...a.jar.values()]).not.toEqual([...b.jar.values()]);
    await a.client.logout();
    expect((await b.client.me()).username).toBe(username);
    expect(isUnauthorized(await spaAuthError(a.client.me()))).toBe(true);
  });
});

describe("raw client", () => {
  it("exposes the typed openapi-fetch client for operations not wrapped yet", async () => {
    const { client } = newClient();
    const { data, error, response } = await client.raw.GET("/api/me");
    expect(data).toBeUndefined();
    expect(response.status).toBe(401);
    expect(error).toMatchObject({ code: "not_authenticated" });
  });
});
