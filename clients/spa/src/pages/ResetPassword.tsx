/**
 * Where the mailed reset link lands: `/reset-password#token=…` (the token left the address bar
 * when the app started, see `fragment.ts`). A new password, twice; on success every session of
 * the account has ended, this browser's too, so the next step is logging in.
 */
import { useRef, useState, type FormEvent } from "react";
import { isSpaAuthError } from "@spa-auth/client";
import { auth, describeError } from "../api";
import { useFragmentParam } from "../fragment";
import { useSession } from "@spa-auth/react";
import { Field, Link, Message, Page, PASSWORD_RULE } from "../ui";

export function ResetPasswordPage() {
  const token = useFragmentParam("/reset-password", "token");
  const session = useSession();
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [busy, setBusy] = useState(false);
  const [passwordError, setPasswordError] = useState<string>();
  const [confirmError, setConfirmError] = useState<string>();
  const [error, setError] = useState<string>();
  const [outcome, setOutcome] = useState<"form" | "done" | "invalid">("form");
  const passwordInput = useRef<HTMLInputElement>(null);
  const confirmInput = useRef<HTMLInputElement>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setPasswordError(undefined);
    setConfirmError(undefined);
    if (!token) return;
    if (password !== confirm) {
      setConfirmError("The two passwords do not match.");
      confirmInput.current?.focus();
      return;
    }
    setBusy(true);
    try {
      await auth.resetPassword(token, password);
      // The server ended every session of the account: if this browser was logged in to it,
      // /api/me answers 401 and the app turns logged-out (AuthProvider in main.tsx).
      if (session.status === "authenticated") void session.refresh();
      setOutcome("done");
    } catch (err) {
      setBusy(false);
      if (isSpaAuthError(err) && err.code === "invalid_token") return setOutcome("invalid");
      if (isSpaAuthError(err) && err.code === "password_rejected") {
        // The link still works: choose another password.
        setPassword("");
        setConfirm("");
        setPasswordError(`This password was not accepted: ${err.message}.`);
        passwordInput.current?.focus();
        return;
      }
      setError(describeError(err));
    }
  };

  if (outcome === "done") {
    return (
      <Page title="Password changed">
        <Message kind="success">Your password has been changed, and every session of your account has been logged out.</Message>
        <p>
          <Link href="/login">Log in</Link> with your new password.
        </p>
      </Page>
    );
  }
  if (!token || outcome === "invalid") {
    return (
      <Page title="This link is not valid">
        <p>
          {token
            ? "This reset link does not work any more: it was used already, it expired, a newer link replaced it, or the password was changed since."
            : "To reset your password, open the link from the email we sent you."}
        </p>
        <p>
          <Link href="/forgot-password">Ask for a new link</Link>
        </p>
      </Page>
    );
  }

  return (
    <Page title="Choose a new password" focusHeading={false}>
      <form className="form" onSubmit={submit}>
        <Field id="reset-password" label="New password" type="password" autoComplete="new-password" required autoFocus
          ref={passwordInput} hint={PASSWORD_RULE} error={passwordError} value={password}
          onChange={(e) => setPassword(e.target.value)} />
        <Field id="reset-confirm" label="New password, again" type="password" autoComplete="new-password" required
          ref={confirmInput} error={confirmError} value={confirm} onChange={(e) => setConfirm(e.target.value)} />
        <Message kind="error">{error}</Message>
        <button type="submit" disabled={busy}>
          {busy ? "Saving…" : "Set new password"}
        </button>
      </form>
    </Page>
  );
}
