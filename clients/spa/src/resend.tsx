import { useState, type FormEvent } from "react";
import { isSpaAuthError } from "@spa-auth/client";
import { auth, describeError } from "./api";
import { Message } from "./ui";

/**
 * "Send a new link": mails a new verification link to an address (the login page and an
 * expired link's page know no address, so the form asks for it). The server answers the same whether or not an account
 * is waiting for that address, and so does this form.
 */
export function ResendVerificationForm({
  email: initial = "",
  title = "Send a new link",
  fixed = false,
}: {
  email?: string;
  title?: string;
  /** The address is the logged-in user's: no field, just the button. */
  fixed?: boolean;
}) {
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
      const address = email.trim();
      await auth.resendVerification(address);
      // The server answers the same whether or not the address waits for a link: only the
      // logged-in user's own address is known to wait.
      setDone(fixed ? `A new link is on its way to ${address}.` : `If an account is waiting to confirm ${address}, a new link is on its way.`);
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
      {fixed ? (
        <p className="hint">Your address is not verified yet. We can mail a new link to {initial}.</p>
      ) : (
        <>
          <label htmlFor="resend-email">Your email address</label>
          <input id="resend-email" name="email" type="email" autoComplete="email" required
            value={email} onChange={(e) => setEmail(e.target.value)} />
        </>
      )}
      {error ? <Message kind="error">{error}</Message> : <Message kind="success">{done}</Message>}
      <button type="submit" disabled={busy}>
        {busy ? "Sending…" : "Send a new link"}
      </button>
    </form>
  );
}
