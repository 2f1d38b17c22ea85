/**
 * Sign-up, verification and reset against a live spa-auth that sends no mail (the test server's
 * default): what a SPA sees when the server does not offer them, and that links with a token
 * that is not one are refused with the typed code. The flows with mail are covered by the
 * browser tests (tests/browser) and the Rust tests with a real SMTP server.
 */
import { describe, expect, expectTypeOf, inject, it } from "vitest";
import { createSpaAuthClient, isSpaAuthError, type SignupResult, type SpaAuthError } from "../src/index.js";

const client = createSpaAuthClient({ baseUrl: inject("baseUrl") });

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

describe("accounts people run themselves, on a server that sends no mail", () => {
  it("signUp is refused with not_enabled, and its result type says which outcome a success is", async () => {
    expectTypeOf(client.signUp).returns.resolves.toEqualTypeOf<SignupResult>();
    const e = await spaAuthError(client.signUp({ username: "newbie", email: "newbie@example.com", password: "a long enough passphrase" }));
    expect([e.status, e.code]).toEqual([403, "not_enabled"]);
  });

  it("requestPasswordReset and resendVerification are refused with not_enabled", async () => {
    // Started one at a time: a second promise made up front could reject before it is awaited
    // (an unhandled rejection, which fails the run).
    for (const call of [() => client.requestPasswordReset("a@example.com"), () => client.resendVerification("a@example.com")]) {
      const e = await spaAuthError(call());
      expect([e.status, e.code]).toEqual([403, "not_enabled"]);
    }
  });

  it("a link token that is not one is invalid_token, never a server error", async () => {
    for (const token of ["", "not-a-token", "x".repeat(43)]) {
      const verify = await spaAuthError(client.verifyEmail(token));
      expect([verify.status, verify.code]).toEqual([400, "invalid_token"]);
      const reset = await spaAuthError(client.resetPassword(token, "a long enough passphrase"));
      expect([reset.status, reset.code]).toEqual([400, "invalid_token"]);
    }
  });

  it("closed sign-up is said before the input is judged: a form learns it at once", async () => {
    const e = await spaAuthError(client.signUp({ username: "newbie", email: "nope", password: "a long enough passphrase" }));
    expect(e.code).toBe("not_enabled");
  });
});
