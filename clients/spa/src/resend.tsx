import { useState, type FormEvent } from "react";
import { isSpaAuthError } from "@spa-auth/client";
import { auth, describeError } from "./api";
import { Message } from "./ui";

/**
 * "Send a new link": mails a new verification link to an address (the login page and an
 * expired link's page know no address, so the form asks for it). The server answers the same whether or not an account
 * is waiting for that address, and so does this form.
 */
export function ResendVerificationForm({ email: initial = "", title = "Send a new link" }: { email?: string; title?: string }) {
  const [email, setEmail] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      await auth.resendVerification(email.trim());
      setDone(`If an account is waiting to confirm ${email.trim()}, a new link is on its way.`);
    } catch (err) {
      if (isSpaAuthError(err) && err.code === "invalid_email") setError("That is not an address mail can be sent to.");
      else if (isSpaAuthError(err) && err.code === "not_enabled") setError("This server sends no mail.");
      else setError(describeError(err));
    }
    setBusy(false);
  };
  return (
    <form className="form resend" onSubmit={submit} aria-labelledby="resend-title">
      <h2 id="resend-title">{title}</h2>
      <label htmlFor="resend-email">Your email address</label>
      <input id="resend-email" name="email" type="email" autoComplete="email" required
        value={email} onChange={(e) => setEmail(e.target.value)} />
      {error ? <Message kind="error">{error}</Message> : <Message kind="success">{done}</Message>}
      <button type="submit" disabled={busy}>
        {busy ? "Sending…" : "Send a new link"}
      </button>
    </form>
  );
}
