/**
 * "From any other backend" (README): a team's own service, here a plain `node:http` "orders"
 * backend on its own port, forwards the browser's `Cookie` (and the method, `Origin`,
 * `Sec-Fetch-Site`, host) to the live spa-auth's `GET /api/auth/verify` with `verifyIncoming`,
 * and reads who is calling. The browser is a cookie-jar fetch that logged in at spa-auth.
 */
import { spawnSync } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  createSpaAuthClient,
  isSpaAuthError,
  verifyIncoming,
  verifyRequest,
  SpaAuthError,
  type Identity,
  type SpaAuthClient,
} from "../src/index.js";
import { cookieJarFetch, type CookieJarFetch } from "./cookie-jar.js";

const baseUrl = inject("baseUrl");
const alice = inject("credentials");
const zoe = inject("rolesCredentials");
const cli = inject("cli");

/** `spa-auth user <args>` on the running server's database, as an operator would. */
function spaAuthUser(...args: string[]): void {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SPA_AUTH_") && k !== "DATABASE_URL"));
  const run = spawnSync(cli.bin, ["user", ...args], { env: { ...env, DATABASE_URL: cli.databaseUrl }, encoding: "utf8", timeout: 30_000 });
  if (run.status !== 0) throw new Error(`spa-auth user ${args.join(" ")}: ${run.status ?? run.signal}\n${run.stdout}${run.stderr}`);
}

/** The orders backend: `/api/orders` for any user, `/api/orders/admin` for role `orders-admin`, `/api/orders/mine` for role `orders`. */
function ordersHandler(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? "/", "http://orders.invalid").pathname;
  const roles = path === "/api/orders/admin" ? ["orders-admin"] : path === "/api/orders/mine" ? ["nobody", "orders"] : [];
  const send = (status: number, body: unknown, setCookies: string[]): void => {
    if (setCookies.length > 0) res.setHeader("Set-Cookie", setCookies);
    res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
  };
  verifyIncoming({ baseUrl }, req, { roles }).then(
    (identity: Identity) => {
      const { setCookie, ...who } = identity;
      send(200, { ...who, method: req.method, path }, setCookie === undefined ? [] : [setCookie]);
    },
    (e: unknown) => {
      if (isSpaAuthError(e)) {
        // Relay the status, the Error body and any Set-Cookie (a 401 clears the cookie).
        send(e.status, { code: e.code, message: e.message }, e.response?.headers.getSetCookie() ?? []);
      } else {
        // spa-auth unreachable or a broken answer: fail closed.
        send(502, { code: "internal", message: String(e) }, []);
      }
    },
  );
}

let server: Server;
let ordersUrl: string;

beforeAll(async () => {
  server = createServer(ordersHandler);
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  ordersUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((res) => server.close(() => res()));
});

/** A browser: a cookie jar shared by the spa-auth client and the calls to the orders backend. */
interface Browser extends CookieJarFetch {
  auth: SpaAuthClient;
  /** A call to the orders backend with the jar's cookies and the given browser headers. */
  orders(path: string, init?: { method?: string; headers?: Record<string, string> }): Promise<{ status: number; body: Record<string, unknown>; response: Response }>;
}

function browser(): Browser {
  const f = cookieJarFetch();
  return {
    ...f,
    auth: createSpaAuthClient({ baseUrl, fetch: f.fetch }),
    async orders(path, init = {}) {
      const response = await f.fetch(new Request(`${ordersUrl}${path}`, { method: init.method ?? "GET", headers: init.headers ?? {} }));
      return { status: response.status, body: (await response.json()) as Record<string, unknown>, response };
    },
  };
}

async function loggedIn(who: { username: string; password: string }): Promise<Browser> {
  const b = browser();
  await b.auth.login(who.username, who.password);
  expect(b.jar.size).toBe(1);
  return b;
}

/** What a browser sends with a same-origin `fetch` from a page of the orders backend. */
const sameOrigin = (): Record<string, string> => ({ Origin: ordersUrl, "Sec-Fetch-Site": "same-origin" });
/** What a browser sends with a form that evil.example posts to the orders backend. */
const crossSite = { Origin: "https://evil.example", "Sec-Fetch-Site": "cross-site" };

describe("a backend in another process verifies the browser's cookie with spa-auth", () => {
  it("a logged-in browser reaches the backend, which sees its user id, username, email, roles and session id", async () => {
    const b = await loggedIn(alice);
    const me = await b.auth.me();
    const [current] = (await b.auth.listSessions()).filter((s) => s.current);
    const { status, body } = await b.orders("/api/orders");
    expect(status).toBe(200);
    expect(body).toEqual({
      userId: me.id,
      username: alice.username,
      email: alice.email,
      roles: [],
      sessionId: current?.id,
      method: "GET",
      path: "/api/orders",
    });
  });

  it("a username, email and roles that are not header-safe arrive percent-encoded and are decoded", async () => {
    const b = await loggedIn(zoe);
    const { status, body } = await b.orders("/api/orders");
    expect(status).toBe(200);
    expect(body).toMatchObject({ username: zoe.username, email: zoe.email });
    expect([...(body.roles as string[])].sort()).toEqual([...zoe.roles].sort());
  });

  it("the raw identity headers are percent-encoded UTF-8 that decodeURIComponent reads back", async () => {
    const b = await loggedIn(zoe);
    const response = await fetch(`${baseUrl}/api/auth/verify`, {
      headers: { Cookie: [...b.jar].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("X-Auth-Username")).toBe("zo%C3%AB%2Borders");
    expect(decodeURIComponent(response.headers.get("X-Auth-Username") ?? "")).toBe(zoe.username);
    expect(decodeURIComponent(response.headers.get("X-Auth-Email") ?? "")).toBe(zoe.email);
  });

  it("an anonymous request gets 401 not_authenticated", async () => {
    const { status, body } = await browser().orders("/api/orders");
    expect(status).toBe(401);
    expect(body).toEqual({ code: "not_authenticated", message: expect.any(String) });
  });

  it("a stale or forged cookie gets 401 not_authenticated, and the backend relays the Set-Cookie that clears it", async () => {
    const b = await loggedIn(alice);
    const [name] = [...b.jar.keys()];
    b.jar.set(name ?? "", "not-a-session-token");
    const { status, body } = await b.orders("/api/orders");
    expect(status).toBe(401);
    expect(body).toMatchObject({ code: "not_authenticated" });
    expect(b.jar.size).toBe(0);
  });

  it("a cross-site POST is refused with 403 csrf_rejected, while a same-origin POST passes", async () => {
    const b = await loggedIn(alice);
    const forged = await b.orders("/api/orders", { method: "POST", headers: crossSite });
    expect(forged.status).toBe(403);
    expect(forged.body).toMatchObject({ code: "csrf_rejected" });
    const own = await b.orders("/api/orders", { method: "POST", headers: sameOrigin() });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ username: alice.username, method: "POST" });
  });

  it("without Sec-Fetch-Site, a POST whose Origin is the backend's own host passes and another origin is refused", async () => {
    const b = await loggedIn(alice);
    const own = await b.orders("/api/orders", { method: "POST", headers: { Origin: ordersUrl } });
    expect(own.status).toBe(200);
    const forged = await b.orders("/api/orders", { method: "DELETE", headers: { Origin: "https://evil.example" } });
    expect(forged.status).toBe(403);
    expect(forged.body).toMatchObject({ code: "csrf_rejected" });
  });

  it("a cross-site GET passes: only unsafe methods are checked", async () => {
    const b = await loggedIn(alice);
    const { status } = await b.orders("/api/orders", { headers: crossSite });
    expect(status).toBe(200);
  });

  it("a role-gated path is 403 forbidden for a user without the role, and open to one with any of the roles", async () => {
    const a = await loggedIn(alice);
    const refused = await a.orders("/api/orders/mine");
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: "forbidden" });
    const z = await loggedIn(zoe);
    expect((await z.orders("/api/orders/mine")).status).toBe(200);
    const admin = await z.orders("/api/orders/admin");
    expect(admin.status).toBe(403);
    expect(admin.body).toMatchObject({ code: "forbidden" });
  });

  it("a role granted with the CLI opens the gated path within the server's invalidation poll, and revoking it closes it again", async () => {
    const z = await loggedIn(zoe);
    expect((await z.orders("/api/orders/admin")).status).toBe(403);
    // The CLI is another process: the server learns of the change from its invalidation poll
    // (every 50 ms by default), not from the request, so allow it a few polls.
    const within = async (ms: number, want: number): Promise<{ status: number; body: Record<string, unknown> }> => {
      const start = Date.now();
      for (;;) {
        const r = await z.orders("/api/orders/admin");
        if (r.status === want || Date.now() - start > ms) return r;
        await new Promise((res) => setTimeout(res, 10));
      }
    };
    spaAuthUser("grant", zoe.username, "orders-admin");
    try {
      const granted = await within(1_000, 200);
      expect(granted.status).toBe(200);
      expect(granted.body.roles).toContain("orders-admin");
    } finally {
      spaAuthUser("revoke", zoe.username, "orders-admin");
    }
    const revoked = await within(1_000, 403);
    expect(revoked.status).toBe(403);
    expect(revoked.body).toMatchObject({ code: "forbidden" });
  });

  it("after logout the next request to the backend is 401", async () => {
    const b = await loggedIn(alice);
    expect((await b.orders("/api/orders")).status).toBe(200);
    // Keep the cookie, as a copy stolen before the logout would be.
    const cookie = [...b.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    await b.auth.logout();
    expect(b.jar.size).toBe(0);
    expect((await b.orders("/api/orders")).status).toBe(401);
    const replayed = await fetch(`${ordersUrl}/api/orders`, { headers: { Cookie: cookie } });
    expect(replayed.status).toBe(401);
    expect(await replayed.json()).toMatchObject({ code: "not_authenticated" });
  });

  it("a session ended from another device is refused on the backend's next request", async () => {
    const phone = await loggedIn(alice);
    const laptop = await loggedIn(alice);
    const { body } = await phone.orders("/api/orders");
    await laptop.auth.endSession(String(body.sessionId));
    expect((await phone.orders("/api/orders")).status).toBe(401);
    expect((await laptop.orders("/api/orders")).status).toBe(200);
  });
});

describe("verifyRequest", () => {
  it("sends the cookie, the original method, Origin, Sec-Fetch-Site, X-Forwarded-Host and each role, and nothing not given", async () => {
    const seen: Request[] = [];
    const fetchSpy = async (req: Request): Promise<Response> => {
      seen.push(req);
      return fetch(req);
    };
    const b = await loggedIn(zoe);
    const cookie = [...b.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const who = await verifyRequest(
      { baseUrl, fetch: fetchSpy },
      { cookie, method: "PUT", origin: ordersUrl, secFetchSite: "same-origin", host: new URL(ordersUrl).host },
      { roles: ["nobody", "café"] },
    );
    // Any of the roles: zoë has café, not nobody.
    expect(who.username).toBe(zoe.username);
    const req = seen[0];
    expect(req?.method).toBe("GET");
    const url = new URL(req?.url ?? "");
    expect(url.pathname).toBe("/api/auth/verify");
    expect(url.searchParams.getAll("role")).toEqual(["nobody", "café"]);
    expect(req?.headers.get("Cookie")).toBe(cookie);
    expect(req?.headers.get("X-Forwarded-Method")).toBe("PUT");
    expect(req?.headers.get("Origin")).toBe(ordersUrl);
    expect(req?.headers.get("Sec-Fetch-Site")).toBe("same-origin");
    expect(req?.headers.get("X-Forwarded-Host")).toBe(new URL(ordersUrl).host);

    const anonymous = await verifyRequest({ baseUrl, fetch: fetchSpy }, { cookie: null, method: undefined }).catch((e: unknown) => e);
    expect(anonymous).toBeInstanceOf(SpaAuthError);
    expect([(anonymous as SpaAuthError).status, (anonymous as SpaAuthError).code]).toEqual([401, "not_authenticated"]);
    const bare = seen[1];
    for (const h of ["Cookie", "X-Forwarded-Method", "Origin", "Sec-Fetch-Site", "X-Forwarded-Host"]) {
      expect(bare?.headers.has(h)).toBe(false);
    }
    expect(new URL(bare?.url ?? "").search).toBe("");
  });
});

describe("verifyRequest against a scripted spa-auth (what the live one cannot be made to answer on demand)", () => {
  const scripted = (response: Response) => ({ baseUrl: "https://auth.internal.test", fetch: async (): Promise<Response> => response });
  const ok = (headers: Record<string, string>, setCookie?: string): Response => {
    const h = new Headers({
      "X-Auth-User-Id": "00000000-0000-0000-0000-000000000001",
      "X-Auth-Username": "zo%C3%AB%2Borders",
      "X-Auth-Email": "",
      "X-Auth-Roles": "caf%C3%A9,a%2Cb,orders",
      "X-Auth-Session-Id": "00000000-0000-0000-0000-000000000002",
      ...headers,
    });
    if (setCookie !== undefined) h.append("Set-Cookie", setCookie);
    return new Response(null, { status: 200, headers: h });
  };

  it("a renewed session's Set-Cookie is handed back for the backend to relay, and every value is decoded", async () => {
    const cookie = "__Host-session=t; Max-Age=1209600; Path=/; HttpOnly; Secure; SameSite=Lax";
    const who = await verifyRequest(scripted(ok({}, cookie)), { cookie: "__Host-session=t" });
    expect(who).toEqual({
      userId: "00000000-0000-0000-0000-000000000001",
      username: "zoë+orders",
      email: "",
      roles: ["café", "a,b", "orders"],
      sessionId: "00000000-0000-0000-0000-000000000002",
      setCookie: cookie,
    });
    expect("setCookie" in (await verifyRequest(scripted(ok({})), {}))).toBe(false);
  });

  it("verifyIncoming takes the cookie, method, Origin, Sec-Fetch-Site and the browser's host from a Node request", async () => {
    const seen: Request[] = [];
    const options = { baseUrl: "https://auth.internal.test", fetch: async (r: Request): Promise<Response> => (seen.push(r), ok({})) };
    const headers = { cookie: "a=1; __Host-session=t", origin: "https://app.example", "sec-fetch-site": "same-origin", host: "orders:3000" };
    await verifyIncoming(options, { method: "PATCH", headers: { ...headers, "x-forwarded-host": "app.example, orders:3000" } }, { roles: ["orders"] });
    await verifyIncoming(options, { method: "DELETE", headers });
    const [first, second] = seen.map((r) => Object.fromEntries(r.headers));
    expect(first).toMatchObject({
      cookie: "a=1; __Host-session=t",
      "x-forwarded-method": "PATCH",
      origin: "https://app.example",
      "sec-fetch-site": "same-origin",
      "x-forwarded-host": "app.example",
    });
    expect(new URL(seen[0]?.url ?? "").search).toBe("?role=orders");
    expect(second).toMatchObject({ "x-forwarded-method": "DELETE", "x-forwarded-host": "orders:3000" });
  });

  it("a 200 without the identity headers is refused with a plain Error, never taken as a pass", async () => {
    const e: unknown = await verifyRequest(scripted(new Response("<html>welcome</html>", { status: 200 })), {}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect(isSpaAuthError(e)).toBe(false);
    expect(String(e)).toMatch(/X-Auth-/);
  });

  it("a proxy's HTML 502 is a SpaAuthError http_502, as for every other call", async () => {
    const e: unknown = await verifyRequest(scripted(new Response("<html>Bad Gateway</html>", { status: 502, statusText: "Bad Gateway" })), {}).catch(
      (x: unknown) => x,
    );
    expect(isSpaAuthError(e)).toBe(true);
    expect([(e as SpaAuthError).status, (e as SpaAuthError).code]).toEqual([502, "http_502"]);
  });

  it("a 503 keeps its Retry-After", async () => {
    const body = JSON.stringify({ code: "unavailable", message: "the database is unavailable" });
    const e: unknown = await verifyRequest(
      scripted(new Response(body, { status: 503, headers: { "Content-Type": "application/json", "Retry-After": "2" } })),
      {},
    ).catch((x: unknown) => x);
    expect(isSpaAuthError(e)).toBe(true);
    expect([(e as SpaAuthError).code, (e as SpaAuthError).retryAfter]).toEqual(["unavailable", 2]);
  });
});
