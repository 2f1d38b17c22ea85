/**
 * `switch (err.code)` is exhaustive: ErrorCode is the spec's finite union, so a switch that
 * handles every code leaves `never` in its default branch, and one that forgets a code does not
 * compile. `clients/test.sh` runs tsc over this file; the @ts-expect-error below fails the build
 * if forgetting a code ever compiles. A code added to the spec (and regenerated) makes
 * `whatToShow` fail to compile until it is handled: what an app with such a switch wants.
 */
import { describe, expect, it } from "vitest";
import { errorCodeValues } from "../src/generated/schema.js";
import { isErrorCode, SpaAuthError, type ErrorCode } from "../src/index.js";

/** What an app might show for each code: every code of the spec, no more. */
function whatToShow(code: ErrorCode): string {
  switch (code) {
    case "bad_request":
    case "unsupported_media_type":
    case "headers_too_large":
    case "payload_too_large":
    case "method_not_allowed":
    case "not_found":
      return "The app sent something the server does not take.";
    case "invalid_credentials":
      return "Wrong username or password.";
    case "not_authenticated":
      return "Please log in.";
    case "second_factor_required":
      return "Enter the code from your authenticator app.";
    case "reauthentication_required":
      return "Enter your password again.";
    case "csrf_rejected":
    case "forbidden":
      return "Not allowed.";
    case "wrong_current_password":
      return "Your current password is wrong.";
    case "password_rejected":
      return "Choose another password.";
    case "invalid_email":
      return "That is not an email address.";
    case "invalid_token":
      return "This link has expired or was already used.";
    case "invalid_code":
      return "That code is wrong or was already used.";
    case "invalid_challenge":
      return "That took too long, or was already answered: try again.";
    case "username_taken":
    case "email_taken":
    case "conflict":
      return "That is taken.";
    case "email_not_verified":
      return "Verify your address first.";
    case "not_enabled":
      return "Not available here.";
    case "too_many_requests":
      return "Too many attempts: wait a moment.";
    case "request_timeout":
    case "unavailable":
    case "internal":
      return "The server has a problem: try again later.";
    default: {
      const unhandled: never = code;
      return unhandled;
    }
  }
}

/** The same switch with one code forgotten: the default branch is not `never`. */
function forgetful(code: ErrorCode): string {
  switch (code) {
    case "bad_request":
    case "invalid_credentials":
    case "not_authenticated":
    case "csrf_rejected":
    case "forbidden":
    case "wrong_current_password":
    case "password_rejected":
    case "invalid_email":
    case "invalid_token":
    case "username_taken":
    case "email_taken":
    case "email_not_verified":
    case "not_enabled":
    case "second_factor_required":
    case "reauthentication_required":
    case "invalid_code":
    case "conflict":
    case "request_timeout":
    case "not_found":
    case "method_not_allowed":
    case "headers_too_large":
    case "payload_too_large":
    case "unsupported_media_type":
    case "too_many_requests":
    case "unavailable":
      return "handled";
    default: {
      // @ts-expect-error -- "internal" is not handled, so `code` is not `never` here.
      const unhandled: never = code;
      return unhandled;
    }
  }
}

describe("error codes", () => {
  it("a switch over every ErrorCode handles each code the spec lists", () => {
    for (const code of errorCodeValues) expect(whatToShow(code)).not.toBe("");
    expect(forgetful("internal")).toBe("internal");
  });

  it("an error's code narrows to ErrorCode once it is not the http_ fallback", () => {
    const errors = [
      new SpaAuthError({ status: 401, code: "invalid_credentials", message: "no" }),
      new SpaAuthError({ status: 502, code: "http_502", message: "Bad Gateway" }),
    ];
    const shown = errors.map((e) => (isErrorCode(e.code) ? whatToShow(e.code) : `HTTP ${e.status}`));
    expect(shown).toEqual(["Wrong username or password.", "HTTP 502"]);
  });
});
