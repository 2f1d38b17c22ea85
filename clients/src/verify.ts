/**
 * Server side: a Node (or any `fetch`-capable) backend asks spa-auth who makes the request it
 * holds, by forwarding the browser's `Cookie` to `GET /api/auth/verify` (operation
 * `verifySession`) and reading the identity headers of the answer. Framework-neutral: give it
 * the few request headers it needs, or a Node `IncomingMessage` through {@link verifyIncoming}.
 *
 * Do not use it in a browser: there the `Cookie` header cannot be set, and `me()` of
 * {@link createSpaAuthClient} is what a page wants.
 */
import createClient from "openapi-fetch";
import type { operations, paths } from "./generated/schema.js";
import { SpaAuthError, type FetchLike } from "./index.js";

/** The headers of a 200 from `GET /api/auth/verify`, as the spec declares them (values percent-encoded). */
export type VerifyHeaders = operations["verifySession"]["responses"][200]["headers"];
/** The query of `GET /api/auth/verify`: `role`, repeatable. */
export type VerifyQuery = NonNullable<operations["verifySession"]["parameters"]["query"]>;

/** Where spa-auth is, as seen from the backend (not from the browser). */
export interface VerifyOptions {
  /** Origin (and optional path prefix) of spa-auth for this backend, e.g. `http://spa-auth:8080`. */
  baseUrl: string;
  /** Replaces `globalThis.fetch`. */
  fetch?: FetchLike;
}

/**
 * The parts of the incoming request that spa-auth judges. Give what the request has; `null` or
 * `undefined` is left out. The method and `Origin` / `Sec-Fetch-Site` / host are what the
 * cross-site (CSRF) check of an unsafe method needs: without them a forged cross-site `POST`
 * is judged as a `GET` and passes.
 */
export interface IncomingParts {
  /** The incoming `Cookie` header, as it is (the session cookie among others). */
  cookie?: string | null | undefined;
  /** The incoming method, e.g. `POST`; sent as `X-Forwarded-Method`. Absent: judged as a `GET`. */
  method?: string | null | undefined;
  /** The browser's `Origin` header. */
  origin?: string | null | undefined;
  /** The browser's `Sec-Fetch-Site` header. */
  secFetchSite?: string | null | undefined;
  /** The host the browser addressed (the incoming `Host`); sent as `X-Forwarded-Host`. */
  host?: string | null | undefined;
}

/** Who may pass, beyond "logged in". */
export interface VerifyGate {
  /** Any of these roles lets the user pass; none of them → 403 `forbidden`. Empty or absent: any user. */
  roles?: VerifyQuery["role"];
}

/** Who makes the request: the identity headers of the answer, percent-decoded. */
export interface Identity {
  /** The user's id (a UUID), from `X-Auth-User-Id`. */
  userId: VerifyHeaders["X-Auth-User-Id"];
  /** The username, from `X-Auth-Username`. */
  username: VerifyHeaders["X-Auth-Username"];
  /** The email address, from `X-Auth-Email`; `""` when the user has none. */
  email: VerifyHeaders["X-Auth-Email"];
  /** The user's roles, from `X-Auth-Roles`; `[]` when none. */
  roles: string[];
  /** The session's id (the `id` of `listSessions()`), from `X-Auth-Session-Id`. */
  sessionId: VerifyHeaders["X-Auth-Session-Id"];
  /**
   * The `Set-Cookie` spa-auth sent because this request slid the session's idle expiry. Relay it
   * to the browser (append it to your response) so that the cookie lives as long as the session.
   */
  setCookie?: string;
}

/**
 * Asks spa-auth whether the request the backend holds comes from a live session, and whose.
 *
 * Sends `GET {baseUrl}/api/auth/verify` with the incoming `Cookie`, `X-Forwarded-Method`,
 * `Origin`, `Sec-Fetch-Site` and `X-Forwarded-Host` (those given) and `?role=` per gate role.
 * Nothing is cached: every call asks spa-auth, so a logout or an ended session holds on the
 * backend's very next request, and a role revoked with the CLI on the first request after the
 * CLI returns (it waits out spa-auth's invalidation poll, 50 ms by default, before it does).
 *
 * Rejects with a {@link SpaAuthError}, parsed as every other call of this package: 401
 * `not_authenticated` (no or dead session; its `response` carries the `Set-Cookie` that clears
 * the cookie, relay it), 403 `csrf_rejected` (a cross-site unsafe request) or `forbidden`
 * (none of the gate's roles), 400 `bad_request` (a role name that cannot exist), 503
 * `unavailable`. Answer the browser with its `status` and `{ code, message }`. A 200 without
 * the identity headers (something between rewrote the answer) rejects with a plain `Error`:
 * never treat it as a pass.
 */
export async function verifyRequest(options: VerifyOptions, request: IncomingParts, gate: VerifyGate = {}): Promise<Identity> {
  const raw = createClient<paths>({
    baseUrl: options.baseUrl,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const headers: Record<string, string> = {};
  const put = (name: string, value: string | null | undefined): void => {
    if (value !== null && value !== undefined) headers[name] = value;
  };
  put("Cookie", request.cookie);
  put("X-Forwarded-Method", request.method);
  put("Origin", request.origin);
  put("Sec-Fetch-Site", request.secFetchSite);
  put("X-Forwarded-Host", request.host);
  const roles = gate.roles ?? [];
  const { error, response } = await raw.GET("/api/auth/verify", {
    headers,
    ...(roles.length > 0 ? { params: { query: { role: roles } } } : {}),
    // No body on success; whatever a 200 carries is read as text, never parsed. (An error
    // body is parsed by openapi-fetch as for every other call.)
    parseAs: "text",
  });
  if (!response.ok) throw SpaAuthError.fromResponse(response, error);
  return identityOf(response.headers);
}

/** A Node `IncomingMessage`, or anything with its `method` and lower-cased `headers`. */
export interface IncomingMessageLike {
  method?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * {@link verifyRequest} for a Node `IncomingMessage` (plain `node:http`, Express, Fastify's
 * `request.raw`, ...): takes the `Cookie`, method, `Origin` and `Sec-Fetch-Site` from it, and
 * the host the browser addressed from `X-Forwarded-Host` (its first entry) or else `Host`, as
 * spa-auth itself does. A browser cannot send a forged `X-Forwarded-Host` cross-site without a
 * CORS preflight. Behind a proxy that rewrites `Host` and sets neither, call
 * {@link verifyRequest} with the public host instead (or give spa-auth its `--public-url`).
 */
export function verifyIncoming(options: VerifyOptions, request: IncomingMessageLike, gate: VerifyGate = {}): Promise<Identity> {
  const header = (name: string): string | undefined => {
    const v = request.headers[name];
    return Array.isArray(v) ? v.join(name === "cookie" ? "; " : ", ") : v;
  };
  return verifyRequest(
    options,
    {
      cookie: header("cookie"),
      method: request.method,
      origin: header("origin"),
      secFetchSite: header("sec-fetch-site"),
      host: header("x-forwarded-host")?.split(",")[0]?.trim() ?? header("host"),
    },
    gate,
  );
}

/** The identity from the headers of a 200; throws when one is missing or not percent-encoding. */
function identityOf(h: Headers): Identity {
  const raw = (name: keyof VerifyHeaders & `X-Auth-${string}`): string => {
    const v = h.get(name);
    if (v === null) throw new Error(`spa-auth verify answered 200 without ${name}: refusing the request`);
    return v;
  };
  const roles = raw("X-Auth-Roles");
  const identity: Identity = {
    userId: decodeURIComponent(raw("X-Auth-User-Id")),
    username: decodeURIComponent(raw("X-Auth-Username")),
    email: decodeURIComponent(raw("X-Auth-Email")),
    // Split before decoding: a `,` inside a role would arrive as `%2C`.
    roles: roles === "" ? [] : roles.split(",").map((r) => decodeURIComponent(r)),
    sessionId: decodeURIComponent(raw("X-Auth-Session-Id")),
  };
  const [setCookie] = h.getSetCookie();
  if (setCookie !== undefined) identity.setCookie = setCookie;
  return identity;
}
