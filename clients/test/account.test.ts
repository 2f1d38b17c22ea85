/**
 * Sessions and password change against a live spa-auth (started by global-setup.ts), as the
 * second user ("bob"), so that these account changes cannot disturb the tests logging in as alice.
 * The tests of this file run in order and the last one leaves bob throttled.
 */
import { describe, expect, expectTypeOf, inject, it } from "vitest";
import {
  createSpaAuthClient,
  isSpaAuthError,
  isThrottled,
  isUnauthorized,
  type EndedSessions,
  type SessionInfo,
  type SpaAuthClient,
  type SpaAuthError,
} from "../src/index.js";
import { cookieJarFetch, type CookieJarFetch } from "./cookie-jar.js";

const baseUrl = inject("baseUrl");
const bob = inject("accountCredentials");
// Bob's password as it stands: the password tests change it.
let password = bob.password;

function newClient(jar?: Map<string, string>): { client: SpaAuthClient } & CookieJarFetch {
  const f = cookieJarFetch(jar);
  return { client: createSpaAuthClient({ baseUrl, fetch: f.fetch }), ...f };
}

async function loggedIn(): Promise<{ client: SpaAuthClient } & CookieJarFetch> {
  const c = newClient();
  await c.client.login(bob.username, password);
  return c;
}

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

/** Ends every session of bob but a fresh one, so that each test starts from a known list. */
async function onlyOneSession(): Promise<{ client: SpaAuthClient } & CookieJarFetch> {
  const c = await loggedIn();
  await c.client.endOtherSessions();
  return c;
}

describe("sessions", () => {
  it("listSessions lists the user's live sessions, newest first, the caller's marked current", async () => {
    const a = await onlyOneSession();
    const b = await loggedIn();
    const list = await b.client.listSessions();
    expectTypeOf(list).toEqualTypeOf<SessionInfo[]>();
    expect(list).toHaveLength(2);
    expect(list.map((s) => s.current)).toEqual([true, false]);
    const [mine, other] = list;
    expect(mine?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(mine?.id).not.toBe(other?.id);
    expect(Date.parse(mine?.created_at ?? "")).toBeGreaterThanOrEqual(Date.parse(other?.created_at ?? ""));
    expect(Date.parse(mine?.expires_at ?? "")).toBeGreaterThan(Date.now());
    // Never the token: nothing in the list is the cookie's value.
    const token = [...b.jar.values()][0] ?? "";
    expect(token).not.toBe("");
    expect(JSON.stringify(list)).not.toContain(token);
    // The other client sees the same two, with its own marked.
    const fromA = await a.client.listSessions();
    expect(fromA.find((s) => s.current)?.id).toBe(other?.id);
  });

  it("endSession ends another session: its cookie stops working, this one goes on", async () => {
    const a = await onlyOneSession();
    const b = await loggedIn();
    const other = (await a.client.listSessions()).find((s) => !s.current);
    expect(other).toBeDefined();
    await expect(a.client.endSession(other?.id ?? "")).resolves.toBeUndefined();
    expect(isUnauthorized(await spaAuthError(b.client.me()))).toBe(true);
    expect((await a.client.me()).username).toBe(bob.username);
    expect((await a.client.listSessions()).map((s) => s.current)).toEqual([true]);
  });

  it("endSession of an unknown or already-ended id is 404 not_found", async () => {
    const a = await onlyOneSession();
    const e = await spaAuthError(a.client.endSession("00000000-0000-0000-0000-000000000000"));
    expect([e.status, e.code]).toEqual([404, "not_found"]);
    expect(isUnauthorized(e)).toBe(false);
  });

  it("endSession of the current session logs this client out", async () => {
    const a = await onlyOneSession();
    const [mine] = await a.client.listSessions();
    await a.client.endSession(mine?.id ?? "");
    expect(isUnauthorized(await spaAuthError(a.client.listSessions()))).toBe(true);
  });

  it("endOtherSessions ends all the others and says how many", async () => {
    const a = await onlyOneSession();
    const b = await loggedIn();
    const c = await loggedIn();
    const result = await a.client.endOtherSessions();
    expectTypeOf(result).toEqualTypeOf<EndedSessions>();
    expect(result).toEqual({ ended: 2 });
    for (const other of [b, c]) expect(isUnauthorized(await spaAuthError(other.client.me()))).toBe(true);
    expect((await a.client.listSessions()).length).toBe(1);
    expect(await a.client.endOtherSessions()).toEqual({ ended: 0 });
  });

  it("without a session every one of them is 401", async () => {
    const { client } = newClient();
    // Started one at a time: a rejection that settles before the loop awaits it would be
    // reported as unhandled, and fail the run even though every assertion passed.
    const calls = [() => client.listSessions(), () => client.endOtherSessions(), () => client.endSession("00000000-0000-0000-0000-000000000000")];
    for (const call of calls) {
      const e = await spaAuthError(call());
      expect([e.status, e.code]).toEqual([401, "not_authenticated"]);
    }
  });
});

describe("changePassword", () => {
  it("wrong current password: 403 wrong_current_password, nothing changes", async () => {
    const a = await onlyOneSession();
    const e = await spaAuthError(a.client.changePassword(`${password}x`, "a-brand-new-passphrase"));
    expect([e.status, e.code]).toEqual([403, "wrong_current_password"]);
    expect(isUnauthorized(e)).toBe(false);
    expect((await a.client.me()).username).toBe(bob.username);
    await loggedIn(); // the old password still works
  });

  it("a new password breaking a rule: 400 password_rejected, the message says which", async () => {
    const a = await onlyOneSession();
    for (const [next, why] of [
      ["short", /at least 8/],
      ["password", /common/],
    ] as const) {
      const e = await spaAuthError(a.client.changePassword(password, next));
      expect([e.status, e.code]).toEqual([400, "password_rejected"]);
      expect(e.message).toMatch(why);
    }
    await loggedIn();
  });

  it("changes the password, rotates this session's cookie and ends every other session", async () => {
    const a = await onlyOneSession();
    const b = await loggedIn();
    const before = new Map(a.jar);
    const next = "Another-bridge-to-build-7";
    await expect(a.client.changePassword(password, next)).resolves.toBeUndefined();
    const old = password;
    password = next;

    // This client goes on, under a new cookie; the old cookie and the other session are dead.
    expect((await a.client.me()).username).toBe(bob.username);
    expect([...a.jar.values()]).not.toEqual([...before.values()]);
    expect(isUnauthorized(await spaAuthError(newClient(before).client.me()))).toBe(true);
    expect(isUnauthorized(await spaAuthError(b.client.me()))).toBe(true);
    expect((await a.client.listSessions()).length).toBe(1);

    // Only the new password logs in.
    const e = await spaAuthError(newClient().client.login(bob.username, old));
    expect(e.code).toBe("invalid_credentials");
    await loggedIn();
  });

  // Last: leaves bob throttled for the rest of the run.
  it("too many wrong current passwords: 429 with Retry-After", async () => {
    const a = await onlyOneSession();
    const codes: string[] = [];
    let last: SpaAuthError | undefined;
    while (codes.length < 20 && !isThrottled(last)) {
      last = await spaAuthError(a.client.changePassword(`wrong-${codes.length}-${password}`, "whatever-new-passphrase"));
      codes.push(last.code);
    }
    // Wrong passwords until the limit (5 by default), then throttled.
    expect(codes.slice(0, -1).every((c) => c === "wrong_current_password")).toBe(true);
    expect(codes.length).toBeGreaterThan(1);
    expect(last?.status).toBe(429);
    expect(last?.code).toBe("too_many_requests");
    expect(last?.retryAfter).toBeGreaterThan(0);
    // Throttled, not logged out.
    expect((await a.client.me()).username).toBe(bob.username);
  });
});
