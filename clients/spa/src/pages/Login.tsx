import { useEffect, useState, type FormEvent } from "react";
import { isSpaAuthError, isThrottled, isUnauthorized, type SecondFactorMethod } from "@spa-auth/client";
import { describeError, formatWait } from "../api";
import { clearNotice, peekNotice } from "../router";
import { useLogin } from "@spa-auth/react";
import { ResendVerificationForm } from "../resend";
import { Link, Message, Page } from "../ui";
import { SecondStep } from "./SecondStep";

/** `ended`: the session this tab had was ended by the server (elsewhere, expired, password changed). */
export function LoginPage({ ended }: { ended: boolean }) {
  const { login, completeSecondFactor, loginWithPasskey } = useLogin();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  // Ticked by default, as the server assumes without `?remember=`; unticked on a shared
  // computer, the cookie dies with the browser and the session idles out sooner.
  const [remember, setRemember] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  // Right password, but the address is not verified yet (SPA_AUTH_REQUIRE_VERIFIED_EMAIL).
  const [unverified, setUnverified] = useState(false);
  // A message left by the page before, e.g. "Your account is ready" after an invitation.
  const [notice] = useState(() => peekNotice("/login"));
  useEffect(clearNotice, []);
  // When throttled: the time (ms) until which the server refuses, for a live countdown.
  const [retryAt, setRetryAt] = useState<number>();
  const now = useNow(retryAt !== undefined);
  // Set after the right password for an account with a second factor.
  const [secondStep, setSecondStep] = useState<SecondFactorMethod[]>();
  const waiting = retryAt !== undefined && retryAt > now;

  // A passkey the device offers: no username, no password, no second step.
  const withPasskey = async () => {
    setBusy(true);
    setError(undefined);
    setUnverified(false);
    try {
      await loginWithPasskey({ remember });
    } catch (err) {
      if (isThrottled(err)) setRetryAt(Date.now() + (err.retryAfter ?? 60) * 1000);
      else if (isSpaAuthError(err) && err.code === "email_not_verified") setUnverified(true);
      else if (isUnauthorized(err)) setError("That passkey was not accepted.");
      // The browser's passkey dialog was cancelled or failed: no request was made.
      else if (err instanceof DOMException) setError("No passkey was used.");
      else setError(describeError(err));
      setBusy(false);
    }
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (username.includes(":")) {
      setError("A username cannot contain “:”.");
      return;
    }
    setBusy(true);
    setError(undefined);
    setUnverified(false);
    setRetryAt(undefined);
    try {
      // The guard in App.tsx then leaves /login for `?next=`.
      const result = await login(username.trim(), password, { remember });
      if (result.status === "second_factor_required") {
        // The password was right: the second step (SecondStep.tsx) finishes the login.
        setPassword("");
        setSecondStep(result.methods);
        setBusy(false);
        return;
      }
      // Logged in: the session is "authenticated" now (useLogin), and App.tsx moves on.
    } catch (err) {
      setPassword("");
      if (isThrottled(err)) setRetryAt(Date.now() + (err.retryAfter ?? 60) * 1000);
      else if (isSpaAuthError(err) && err.code === "email_not_verified") setUnverified(true);
      else if (isUnauthorized(err)) setError("Wrong username or password.");
      else if (isSpaAuthError(err) && err.status === 503) setError("The server is unavailable right now. Please try again in a moment.");
      else setError(describeError(err));
      setBusy(false);
    }
  };

  let message = error;
  if (waiting) message = `Too many failed attempts. Try again in ${formatWait((retryAt - now) / 1000)}.`;
  else if (!message && unverified) {
    message = "Your email address is not verified yet. Open the link we mailed you, or have a new one sent below.";
  } else if (!message && ended) message = "Your session has ended. Please log in again.";

  if (secondStep) {
    return (
      <Page title="Log in" focusHeading={false}>
        <SecondStep methods={secondStep} complete={completeSecondFactor} />
      </Page>
    );
  }

  return (
    <Page title="Log in" focusHeading={false}>
      {notice && !message && <Message kind="success">{notice}</Message>}
      <form className="form" onSubmit={submit}>
        <label htmlFor="username">Username</label>
        <input
          id="username"
          name="username"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          required
          autoFocus
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <label className="checkbox">
          <input
            id="remember"
            name="remember"
            type="checkbox"
            aria-describedby="remember-hint"
            checked={remember}
            onChange={(e) => setRemember(e.target.checked)}
          />
          Remember me
        </label>
        <p id="remember-hint" className="hint">
          Untick on a shared computer: you are logged out when the browser closes.
        </p>
        <Message kind="error">{message}</Message>
        <button type="submit" disabled={busy || waiting}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
      <button type="button" className="secondary" onClick={() => void withPasskey()} disabled={busy || waiting}>
        Sign in with a passkey
      </button>
      {unverified && <ResendVerificationForm email={username.includes("@") ? username.trim() : ""} />}
      <ul className="links">
        <li>
          <Link href="/forgot-password">Forgot your password?</Link>
        </li>
        <li>
          <Link href="/signup">Create an account</Link>
        </li>
      </ul>
    </Page>
  );
}

/** `Date.now()`, refreshed every second while `ticking`. */
function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ticking) return;
    setNow(Date.now());
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [ticking]);
  return now;
}

