/**
 * @spa-auth/client — a typed client for spa-auth.
 *
 * The types come from `src/generated/schema.ts`, generated from the service's OpenAPI spec
 * (`npm run generate`); this file is the thin hand-written layer on top of `openapi-fetch`:
 * cookies on every call, HTTP Basic for login, and one error type for every non-2xx answer.
 */
import createClient, { type Client } from "openapi-fetch";
import { type components, errorCodeValues, type paths } from "./generated/schema.js";

export type { components, operations, paths } from "./generated/schema.js";

/** Every schema of the spec, by name: `Schemas["User"]`. */
export type Schemas = components["schemas"];
/** A user as the API shows it. */
export type User = Schemas["User"];
/** Body of `GET /healthz`. */
export type Health = Schemas["Health"];
/** The body of every error response: `{ code, message }`. */
export type ErrorBody = Schemas["Error"];
/** Every code an error body can carry, from the spec's `ErrorCode`: `"invalid_credentials" | "not_authenticated" | ...`. */
export type ErrorCode = Schemas["ErrorCode"];
/** {@link SpaAuthError.code}: a spec code, or `http_<status>` for an answer that is not an Error body. */
export type SpaAuthErrorCode = ErrorCode | `http_${number}`;
/** One of the logged-in user's sessions, as `GET /api/auth/sessions` lists it. */
export type SessionInfo = Schemas["SessionInfo"];
/** Body of `DELETE /api/auth/sessions`: how many other sessions were ended. */
export type EndedSessions = Schemas["EndedSessions"];
/** Body of `POST /api/auth/signup`. */
export type SignupBody = Schemas["SignupBody"];

/** A second factor the server asks for at login: `totp` (a code from the app) or `recovery_code`. */
export type SecondFactorMethod = Schemas["SecondFactorMethod"];
/** A new TOTP secret from {@link SpaAuthClient.enrollTotp}: `secret` (base32), `otpauth_uri`, `qr_svg`. */
export type TotpEnrolment = Schemas["TotpEnrolment"];
/** The account's second factors, from {@link SpaAuthClient.secondFactors}. */
export type SecondFactorStatus = Schemas["SecondFactorStatus"];
/** One of the user's passkeys, from {@link SpaAuthClient.passkeys}. */
export type PasskeyInfo = Schemas["PasskeyInfo"];
/** A passkey's answer to a ceremony: the ceremony's id and the browser's `credential.toJSON()`. */
export type PasskeyAnswer = Schemas["PasskeyAnswer"];
/** The second step: a code from the authenticator app, one recovery code, or a passkey's answer. */
export type SecondFactorProof = { code: string } | { recovery_code: string } | { passkey: PasskeyAnswer };

/**
 * How a login went: `logged_in` with the user, or `second_factor_required` (the password was
 * right; the session can do nothing but {@link SpaAuthClient.completeSecondFactor} with one of
 * `methods`, within a few minutes).
 */
export type LoginResult =
  | { status: "logged_in"; user: User }
  | { status: "second_factor_required"; methods: SecondFactorMethod[] };

/** How sign-up went: `mail_sent` (confirm the address from the mail), or `created` from an invitation (log in next). */
export type SignupResult = { status: "mail_sent" } | { status: "created"; user: User };

/** Options of {@link SpaAuthClient.login}. */
export interface LoginOptions {
  /**
   * "Remember me". `true` (the server's default when omitted): the session cookie outlives the
   * browser, for the server's idle timeout. `false`: a cookie the browser drops when it closes,
   * and a shorter idle timeout (12 hours by default), for a shared computer.
   */
  remember?: NonNullable<paths["/api/auth/login"]["post"]["parameters"]["query"]>["remember"];
}

/** The `fetch` the client calls: any standard `fetch` fits. */
export type FetchLike = (input: Request) => Promise<Response>;

export interface SpaAuthClientOptions {
  /** Origin (and optional path prefix) of the spa-auth service, e.g. `https://app.example.com`. Use `""` for same-origin. */
  baseUrl: string;
  /** Replaces `globalThis.fetch`, e.g. to add a cookie jar outside browsers. */
  fetch?: FetchLike;
}

/**
 * Any non-2xx answer. `code` and `message` come from the spec's `Error` body; when the body is
 * not one (a proxy's HTML page, say), `code` is `http_<status>` and `message` the status text.
 * A code this client does not know (from a newer server) is not passed off as an
 * {@link ErrorCode} either: it is `http_<status>` too, with the body's message.
 */
export class SpaAuthError extends Error {
  override readonly name = "SpaAuthError";
  /** HTTP status, e.g. 401. */
  readonly status: number;
  /** Stable machine-readable code, e.g. `invalid_credentials`, `not_authenticated`, `too_many_requests`; a misspelt one does not compile. */
  readonly code: SpaAuthErrorCode;
  /** Seconds to wait before retrying, from `Retry-After` (delta-seconds or an HTTP date); `undefined` when absent. */
  readonly retryAfter: number | undefined;
  /** The raw response, for headers such as `X-Request-Id`. Its body has been read. */
  readonly response: Response | undefined;

  constructor(init: { status: number; code: SpaAuthErrorCode; message: string; retryAfter?: number | undefined; response?: Response | undefined }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.retryAfter = init.retryAfter;
    this.response = init.response;
  }

  /** Builds the error from a non-2xx response and its already-read body (parsed JSON, or text). */
  static fromResponse(response: Response, body: unknown): SpaAuthError {
    const parsed = asErrorBody(body);
    const text = typeof body === "string" ? body.trim() : "";
    return new SpaAuthError({
      status: response.status,
      code: parsed !== undefined && isErrorCode(parsed.code) ? parsed.code : `http_${response.status}`,
      message: parsed?.message ?? (text.length > 0 && text.length <= 200 ? text : response.statusText || `HTTP ${response.status}`),
      retryAfter: parseRetryAfter(response.headers.get("Retry-After")),
      response,
    });
  }
}

export function isSpaAuthError(e: unknown): e is SpaAuthError {
  return e instanceof SpaAuthError;
}

/** 401: not logged in, session over, or wrong credentials (see `code`). Send the user to the login form. */
export function isUnauthorized(e: unknown): e is SpaAuthError {
  return isSpaAuthError(e) && e.status === 401;
}

/** 429: too many attempts; wait `e.retryAfter` seconds. */
export function isThrottled(e: unknown): e is SpaAuthError {
  return isSpaAuthError(e) && e.status === 429;
}

const errorCodes: ReadonlySet<string> = new Set(errorCodeValues);

/** Whether `value` is one of the spec's error codes (the generated list, not a copy of it). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && errorCodes.has(value);
}

/** The strings `code` and `message` of an Error body; `code` is not yet checked against the spec. */
function asErrorBody(body: unknown): { code: string; message: string } | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const { code, message } = body as Record<string, unknown>;
  return typeof code === "string" && typeof message === "string" ? { code, message } : undefined;
}

/** `Retry-After` as seconds: delta-seconds, or an HTTP date turned into seconds from now. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  // HTTP-date forms all start with a day name ("Sun, 06 Nov 1994 08:49:37 GMT").
  if (!/^[A-Za-z]{3,9},?\s/.test(v)) return undefined;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** `Basic base64(utf8(username ":" password))`, safe for any Unicode (RFC 7617 with charset UTF-8). */
export function basicAuthorization(username: string, password: string): string {
  if (username.includes(":")) {
    throw new TypeError("a username for HTTP Basic cannot contain ':'");
  }
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

/** What every `openapi-fetch` call resolves to. */
type FetchResult<T> = { data?: T; error?: unknown; response: Response };

/**
 * The data of a successful call, or a thrown {@link SpaAuthError}. Wrap any `raw` call in it:
 * `unwrap(client.raw.GET("/api/me"))` is `Promise<User>`.
 */
export async function unwrap<R extends FetchResult<unknown>>(call: Promise<R>): Promise<Exclude<R, { error: {} }>["data"]> {
  const { data, error, response } = await call;
  if (!response.ok) throw SpaAuthError.fromResponse(response, error);
  return data as Exclude<R, { error: {} }>["data"];
}

export interface SpaAuthClient {
  /**
   * Logs in with HTTP Basic. The session cookie is set by the server (HttpOnly); resolves to
   * `{ status: "logged_in", user }`, or, for an account with a second factor, to
   * `{ status: "second_factor_required", methods }`: call {@link completeSecondFactor} next.
   * `{ remember: false }` asks for a session that ends with the browser ({@link LoginOptions}).
   */
  login(username: string, password: string, options?: LoginOptions): Promise<LoginResult>;
  /**
   * The second step of a login: a TOTP code or a recovery code. Resolves to the user; the
   * server sets a new session cookie. 403 `invalid_code`; 429 after too many wrong codes; 401
   * when the half-open session expired (log in again).
   */
  completeSecondFactor(proof: SecondFactorProof): Promise<User>;
  /** Whether TOTP is on, can be turned on, and how many recovery codes are left. */
  secondFactors(): Promise<SecondFactorStatus>;
  /** Starts turning TOTP on: a new secret and its QR code (SVG). 403 `not_enabled`, `reauthentication_required`. */
  enrollTotp(): Promise<TotpEnrolment>;
  /** Turns TOTP on with a code from the app; resolves to the 10 recovery codes, shown this once. 403 `invalid_code`. */
  confirmTotp(code: string): Promise<string[]>;
  /** Turns TOTP off; every session of the user ends, this one too. 403 `reauthentication_required`. */
  disableTotp(): Promise<void>;
  /** New recovery codes (the old ones stop working). 403 `reauthentication_required`. */
  regenerateRecoveryCodes(): Promise<string[]>;
  /**
   * Proves the user again (the password, and with TOTP a code): step-up operations, which
   * answer 403 `reauthentication_required` otherwise, pass for the server's reauth window.
   */
  reauthenticate(password: string, proof?: SecondFactorProof): Promise<void>;
  /** The user's passkeys, oldest first. */
  passkeys(): Promise<PasskeyInfo[]>;
  /**
   * Browser only: registers a passkey made by the device (`navigator.credentials.create`) under
   * `name`. From then on a password login asks for a second factor. 403
   * `reauthentication_required`, `not_enabled`; 409 `conflict` (already registered).
   */
  registerPasskey(name?: string): Promise<PasskeyInfo>;
  /** Renames one of the user's passkeys. 404 `not_found`. */
  renamePasskey(id: string, name: string): Promise<PasskeyInfo>;
  /** Removes one of the user's passkeys; every session of the user ends, this one too. 403 `reauthentication_required`. */
  removePasskey(id: string): Promise<void>;
  /**
   * Browser only: logs in with a passkey the device offers (`navigator.credentials.get`), no
   * username or password. 401 `invalid_credentials`, `email_not_verified`; 429.
   */
  logInWithPasskey(options?: LoginOptions): Promise<User>;
  /**
   * Browser only: asks the device for one of the session's user's passkeys; the answer is the
   * `passkey` of {@link completeSecondFactor} or {@link reauthenticateWithPasskey}.
   */
  passkeyProof(): Promise<PasskeyAnswer>;
  /** Browser only: re-authenticates with a passkey alone (it is two factors by itself). */
  reauthenticateWithPasskey(): Promise<void>;
  /** The logged-in user; 401 ({@link isUnauthorized}) when there is no live session. */
  me(): Promise<User>;
  /** Ends the session on the server and clears the cookie. */
  logout(): Promise<void>;
  /** `GET /healthz`. */
  health(): Promise<Health>;
  /** The logged-in user's live sessions, newest first; `current` marks the one making the call. */
  listSessions(): Promise<SessionInfo[]>;
  /**
   * Ends one of the user's sessions by its `id` from {@link listSessions}. 404 (`not_found`) when
   * it is not one of theirs or has already ended. Ending the current session logs this client out.
   */
  endSession(id: string): Promise<void>;
  /** "Log out everywhere else": ends every session of the user but this one; resolves to how many ended. */
  endOtherSessions(): Promise<EndedSessions>;
  /**
   * Changes the password. Every other session ends; this one continues under a new cookie set by
   * the server. 403 `wrong_current_password`; 400 `password_rejected` whose `message` says which
   * rule the new password breaks; 429 (see `retryAfter`) after too many wrong passwords.
   */
  changePassword(currentPassword: string, newPassword: string): Promise<void>;
  /**
   * Signs up. Open sign-up resolves to `mail_sent` (a link to confirm the address is on its way,
   * or, if the address has an account, a notice to its owner: the answer cannot tell which);
   * with `invite` (the token of an invitation link) to `created`. Opens no session: log in next.
   * 409 `username_taken`; 400 `invalid_email`, `password_rejected`, `invalid_token`; 403 `not_enabled`.
   */
  signUp(body: SignupBody): Promise<SignupResult>;
  /** Verifies an address with the `token` of the mailed link's fragment. 400 `invalid_token`. */
  verifyEmail(token: string): Promise<void>;
  /** Mails a new verification link if an account with this address is waiting for one (same answer if none is). */
  resendVerification(email: string): Promise<void>;
  /** Mails a password-reset link to the account with this address, if any (same answer if none). */
  requestPasswordReset(email: string): Promise<void>;
  /** Sets a new password with the `token` of a reset link; every session ends. 400 `invalid_token`, `password_rejected`. */
  resetPassword(token: string, newPassword: string): Promise<void>;
  /** Asks to move the account to `newEmail`: it changes once the link mailed there is used. 403 `wrong_current_password`. */
  changeEmail(newEmail: string, currentPassword: string): Promise<void>;
  /**
   * The underlying `openapi-fetch` client, typed from the spec, for operations this layer does not
   * wrap yet. Its calls return `{ data, error, response }`; pass them to {@link unwrap} to throw.
   */
  raw: Client<paths>;
}

/** The browser's answer to a ceremony's options, for `navigator.credentials.get`. */
async function assertion(ceremony: Schemas["PasskeyOptions"]): Promise<PasskeyAnswer> {
  const { ceremony_id, options } = ceremony;
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey as PublicKeyCredentialRequestOptionsJSON);
  return { ceremony_id, credential: await credentialJSON(navigator.credentials.get({ publicKey })) };
}

/** A credential as the JSON the server reads; the user cancelling is an error like any other. */
async function credentialJSON(made: Promise<Credential | null>): Promise<{ [key: string]: unknown }> {
  const credential = await made;
  if (!(credential instanceof PublicKeyCredential)) throw new Error("no passkey was given");
  return credential.toJSON() as { [key: string]: unknown };
}

/** A client that sends the session cookie (`credentials: "include"`) on every call. */
export function createSpaAuthClient(options: SpaAuthClientOptions): SpaAuthClient {
  const raw = createClient<paths>({
    baseUrl: options.baseUrl,
    credentials: "include",
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return {
    raw,
    login: async (username, password, options = {}) => {
      const { data, error, response } = await raw.POST("/api/auth/login", {
        headers: { Authorization: basicAuthorization(username, password) },
        // Only when asked: a plain login stays `/api/auth/login`, the server's default.
        ...(options.remember === undefined ? {} : { params: { query: { remember: options.remember } } }),
      });
      if (!response.ok || data === undefined) throw SpaAuthError.fromResponse(response, error);
      // 202 carries the challenge, 200 the user: the status tells them apart.
      if (response.status === 202 && "methods" in data) {
        return { status: "second_factor_required", methods: data.methods };
      }
      return { status: "logged_in", user: data as User };
    },
    completeSecondFactor: (proof) => unwrap(raw.POST("/api/auth/second-factor", { body: proof })),
    secondFactors: () => unwrap(raw.GET("/api/auth/totp")),
    enrollTotp: () => unwrap(raw.POST("/api/auth/totp")),
    confirmTotp: async (code) => (await unwrap(raw.POST("/api/auth/totp/confirm", { body: { code } }))).recovery_codes,
    disableTotp: async () => {
      await unwrap(raw.DELETE("/api/auth/totp"));
    },
    regenerateRecoveryCodes: async () => (await unwrap(raw.POST("/api/auth/recovery-codes"))).recovery_codes,
    reauthenticate: async (password, proof) => {
      await unwrap(raw.POST("/api/auth/reauthenticate", { body: { password, ...proof } }));
    },
    passkeys: () => unwrap(raw.GET("/api/auth/passkeys")),
    registerPasskey: async (name) => {
      const { ceremony_id, options } = await unwrap(raw.POST("/api/auth/passkeys/options"));
      const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey as PublicKeyCredentialCreationOptionsJSON);
      const credential = await credentialJSON(navigator.credentials.create({ publicKey }));
      return unwrap(raw.POST("/api/auth/passkeys", { body: { ceremony_id, credential, ...(name ? { name } : {}) } }));
    },
    renamePasskey: (id, name) =>
      unwrap(raw.PATCH("/api/auth/passkeys/{id}", { params: { path: { id } }, body: { name } })),
    removePasskey: async (id) => {
      await unwrap(raw.DELETE("/api/auth/passkeys/{id}", { params: { path: { id } } }));
    },
    logInWithPasskey: async (options = {}) => {
      const answer = await assertion(await unwrap(raw.POST("/api/auth/passkey/options")));
      return unwrap(
        raw.POST("/api/auth/passkey/login", {
          body: answer,
          ...(options.remember === undefined ? {} : { params: { query: { remember: options.remember } } }),
        }),
      );
    },
    passkeyProof: async () => assertion(await unwrap(raw.POST("/api/auth/passkey/proof-options"))),
    reauthenticateWithPasskey: async () => {
      const passkey = await assertion(await unwrap(raw.POST("/api/auth/passkey/proof-options")));
      await unwrap(raw.POST("/api/auth/reauthenticate", { body: { passkey } }));
    },
    me: () => unwrap(raw.GET("/api/me")),
    logout: async () => {
      await unwrap(raw.POST("/api/auth/logout"));
    },
    health: () => unwrap(raw.GET("/healthz")),
    listSessions: () => unwrap(raw.GET("/api/auth/sessions")),
    endSession: async (id) => {
      await unwrap(raw.DELETE("/api/auth/sessions/{id}", { params: { path: { id } } }));
    },
    endOtherSessions: () => unwrap(raw.DELETE("/api/auth/sessions")),
    changePassword: async (currentPassword, newPassword) => {
      await unwrap(
        raw.POST("/api/auth/password", { body: { current_password: currentPassword, new_password: newPassword } }),
      );
    },
    signUp: async (body) => {
      const { data, error, response } = await raw.POST("/api/auth/signup", { body });
      if (!response.ok) throw SpaAuthError.fromResponse(response, error);
      return response.status === 201 && data !== undefined ? { status: "created", user: data } : { status: "mail_sent" };
    },
    verifyEmail: async (token) => {
      await unwrap(raw.POST("/api/auth/email/verify", { body: { token } }));
    },
    resendVerification: async (email) => {
      await unwrap(raw.POST("/api/auth/email/resend", { body: { email } }));
    },
    requestPasswordReset: async (email) => {
      await unwrap(raw.POST("/api/auth/password-reset", { body: { email } }));
    },
    resetPassword: async (token, newPassword) => {
      await unwrap(raw.POST("/api/auth/password-reset/confirm", { body: { token, new_password: newPassword } }));
    },
    changeEmail: async (newEmail, currentPassword) => {
      await unwrap(raw.POST("/api/auth/email", { body: { new_email: newEmail, current_password: currentPassword } }));
    },
  };
}


export {
  verifyIncoming,
  verifyRequest,
  type Identity,
  type IncomingMessageLike,
  type IncomingParts,
  type VerifyGate,
  type VerifyHeaders,
  type VerifyOptions,
  type VerifyQuery,
} from "./verify.js";
