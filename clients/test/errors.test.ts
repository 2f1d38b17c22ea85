/**
 * Error mapping and encoding, against a scripted fetch: the live server cannot (yet) be made
 * to answer 429 or an HTML 502 on demand.
 */
import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import {
  basicAuthorization,
  createSpaAuthClient,
  isErrorCode,
  isSpaAuthError,
  isThrottled,
  isUnauthorized,
  parseRetryAfter,
  SpaAuthError,
  type SpaAuthErrorCode,
} from "../src/index.js";

function scripted(response: () => Response): { client: ReturnType<typeof createSpaAuthClient>; seen: Request[] } {
  const seen: Request[] = [];
  const client = createSpaAuthClient({
    baseUrl: "https://auth.example.test/",
    fetch: async (req) => {
      seen.push(req);
      return response();
    },
  });
  return { client, seen };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json; charset=utf-8", ...headers },
  });

async function rejection(p: Promise<unknown>): Promise<SpaAuthError> {
  const e: unknown = await p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );
  if (!isSpaAuthError(e)) throw e;
  return e;
}

describe("SpaAuthError", () => {
  it("429 with Retry-After seconds is throttled, not unauthorized", async () => {
    const { client } = scripted(() =>
      json(429, { code: "too_many_requests", message: "slow down" }, { "Retry-After": "7" }),
    );
    const e = await rejection(client.login("alice", "pw-pw-pw-pw"));
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("SpaAuthError");
    expect([e.status, e.code, e.message, e.retryAfter]).toEqual([429, "too_many_requests", "slow down", 7]);
    expect(isThrottled(e)).toBe(true);
    expect(isUnauthorized(e)).toBe(false);
    expect(e.response?.status).toBe(429);
  });

  it("503 carries Retry-After too", async () => {
    const { client } = scripted(() => json(503, { code: "unavailable", message: "db down" }, { "Retry-After": "1" }));
    const e = await rejection(client.me());
    expect([e.status, e.code, e.retryAfter]).toEqual([503, "unavailable", 1]);
    expect(isThrottled(e) || isUnauthorized(e)).toBe(false);
  });

  it("a body that is not the Error schema still gives a usable error", async () => {
    const { client } = scripted(
      () => new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway", headers: { "Content-Type": "text/html" } }),
    );
    const e = await rejection(client.health());
    expect([e.status, e.code]).toEqual([502, "http_502"]);
    expect(e.message).toBe("<html>bad gateway</html>");
  });

  it("an empty error body falls back to the status text", async () => {
    const { client } = scripted(() => new Response(null, { status: 401, statusText: "Unauthorized" }));
    const e = await rejection(client.logout());
    expect([e.status, e.code, e.message]).toEqual([401, "http_401", "Unauthorized"]);
    expect(isUnauthorized(e)).toBe(true);
  });

  it("a code this client does not know is not passed off as one it does", async () => {
    const { client } = scripted(() => json(400, { code: "from_a_newer_server", message: "something new" }));
    const e = await rejection(client.me());
    expect([e.status, e.code, e.message]).toEqual([400, "http_400", "something new"]);
  });

  it("codes are the spec's ErrorCode union: a misspelt one does not compile", () => {
    // `clients/test.sh` runs tsc over this file: each @ts-expect-error fails the build if the
    // line below it ever compiles, that is, if `code` stops being the union.
    const e = new SpaAuthError({ status: 401, code: "invalid_credentials", message: "no" });
    // @ts-expect-error -- "invalid_credentails" is not an ErrorCode: the comparison cannot be true.
    expect(e.code === "invalid_credentails").toBe(false);
    // @ts-expect-error -- nor can an error be made with it.
    expect(new SpaAuthError({ status: 401, code: "invalid_credentails", message: "no" }).code).toBe("invalid_credentails");
    const valid: SpaAuthErrorCode[] = ["invalid_credentials", "http_401"];
    expect(valid).toContain(e.code);
    expect([isErrorCode("invalid_credentials"), isErrorCode("invalid_credentails"), isErrorCode("http_401"), isErrorCode(1)]).toEqual([
      true,
      false,
      false,
      false,
    ]);
  });

  it("non-errors are not SpaAuthErrors", () => {
    for (const v of [new Error("x"), { status: 401 }, null, undefined, "401"]) {
      expect(isUnauthorized(v)).toBe(false);
      expect(isThrottled(v)).toBe(false);
    }
  });
});

describe("requests", () => {
  it("every call sends credentials: include, to baseUrl without a doubled slash", async () => {
    const { client, seen } = scripted(() => new Response(null, { status: 204 }));
    await client.logout();
    await client.me().catch(() => undefined);
    expect(seen.map((r) => [r.method, r.url, r.credentials])).toEqual([
      ["POST", "https://auth.example.test/api/auth/logout", "include"],
      ["GET", "https://auth.example.test/api/me", "include"],
    ]);
  });
});

describe("parseRetryAfter", () => {
  it("reads delta-seconds and HTTP dates", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter("0")).toBe(0);
    expect(parseRetryAfter(" 120 ")).toBe(120);
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:00:30 GMT", now)).toBe(30);
    expect(parseRetryAfter("Tue, 31 Dec 2024 23:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter("-5")).toBeUndefined();
  });
});

describe("basicAuthorization", () => {
  it("encodes UTF-8, as Buffer does", () => {
    for (const [u, p] of [
      ["alice", "secret"],
      ["bob", "pässwörd-€-🐇"],
      ["zoë", "日本語のパスワード"],
      ["carol", "pw:with:colons"],
    ] as const) {
      expect(basicAuthorization(u, p)).toBe(`Basic ${Buffer.from(`${u}:${p}`, "utf8").toString("base64")}`);
    }
  });

  it("refuses a colon in the username, which Basic cannot carry", () => {
    expect(() => basicAuthorization("a:b", "c")).toThrow(TypeError);
  });
});
