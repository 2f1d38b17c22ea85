/**
 * "Forgot your password?": asks for a reset link by address. The server answers the same
 * whether or not an account has that address, and so does this page.
 */
import { useState, type FormEvent } from "react";
import { isSpaAuthError } from "@spa-auth/client";
import { auth, describeError } from "../api";
import { Field, Link, Message, Page } from "../ui";

export function ForgotPasswordPage() {
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [fieldError, setFieldError] = useState<string>();
  const [sentTo, setSentTo] = useState<string>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setFieldError(undefined);
    try {
      await auth.requestPasswordReset(email.trim());
      setSentTo(email.trim());
    } catch (err) {
      if (isSpaAuthError(err) && err.code === "invalid_email") setFieldError("That is not an address mail can be sent to.");
      else if (isSpaAuthError(err) && err.code === "not_enabled") {
        setError("This server sends no mail, so passwords cannot be reset here. Ask an administrator.");
      } else setError(describeError(err));
    }
    setBusy(false);
  };

  if (sentTo !== undefined) {
    return (
      <Page title="Check your email">
        <p>
          If an account has the address <strong>{sentTo}</strong>, a link to choose a new password is on its way.
          It works for a short while only.
        </p>
        <p className="hint">Nothing after a few minutes? Check your spam folder, or try another address.</p>
        <p>
          <Link href="/login">Back to log in</Link>
        </p>
      </Page>
    );
  }

  return (
    <Page title="Forgot your password?" focusHeading={false}>
      <p className="hint">Enter your account's email address and we will mail you a link to choose a new password.</p>
      <form className="form" onSubmit={submit}>
        <Field id="forgot-email" label="Email address" type="email" autoComplete="email" required autoFocus
          maxLength={254} error={fieldError} value={email} onChange={(e) => setEmail(e.target.value)} />
        <Message kind="error">{error}</Message>
        <button type="submit" disabled={busy}>
          {busy ? "Sending…" : "Send me a link"}
        </button>
      </form>
      <p>
        <Link href="/login">Back to log in</Link>
      </p>
    </Page>
  );
}
