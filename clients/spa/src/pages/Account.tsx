/**
 * The account: who you are, whether your address is verified, and changing it. A change takes
 * effect only once the link mailed to the new address is used; the old address is told.
 */
import { useEffect, useRef, useState, type FormEvent } from "react";
import { isSpaAuthError } from "@spa-auth/client";
import { auth, describeError } from "../api";
import { ResendVerificationForm } from "../resend";
import { useSession, useUser } from "@spa-auth/react";
import { Field, Message, Page } from "../ui";

export function AccountPage() {
  const user = useUser();
  const { refresh } = useSession();
  // Fresh from the server on every visit: the address may have been verified in another tab.
  useEffect(() => {
    void refresh();
  }, [refresh]);

  return (
    <Page title="Account">
      <dl className="facts">
        <dt>Username</dt>
        <dd data-testid="account-username">{user.username}</dd>
        <dt>Email</dt>
        <dd data-testid="account-email">
          {user.email || "—"}{" "}
          {user.email &&
            (user.email_verified ? (
              <strong className="badge badge-ok">verified</strong>
            ) : (
              <strong className="badge badge-warn">not verified</strong>
            ))}
        </dd>
      </dl>
      {user.email && !user.email_verified && (
        <ResendVerificationForm email={user.email} title="Verify your address" fixed />
      )}
      <ChangeEmailForm current={user.email} />
    </Page>
  );
}

function ChangeEmailForm({ current }: { current: string }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [emailError, setEmailError] = useState<string>();
  const [passwordError, setPasswordError] = useState<string>();
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const emailInput = useRef<HTMLInputElement>(null);
  const passwordInput = useRef<HTMLInputElement>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setEmailError(undefined);
    setPasswordError(undefined);
    setError(undefined);
    setDone(undefined);
    const next = email.trim();
    try {
      await auth.changeEmail(next, password);
      setEmail("");
      setPassword("");
      setDone(
        `Check your new address: we sent a link to ${next}. Your address changes when you open it` +
          (current ? `; until then it stays ${current}.` : "."),
      );
    } catch (err) {
      setPassword("");
      if (isSpaAuthError(err) && err.code === "wrong_current_password") {
        setPasswordError("Your current password is wrong.");
        passwordInput.current?.focus();
      } else if (isSpaAuthError(err) && err.code === "invalid_email") {
        setEmailError("That is not an address mail can be sent to.");
        emailInput.current?.focus();
      } else if (isSpaAuthError(err) && err.code === "bad_request") {
        // e.g. "this is already the account's address"
        setEmailError(`This address cannot be used: ${err.message}.`);
        emailInput.current?.focus();
      } else if (isSpaAuthError(err) && err.code === "not_enabled") {
        setError("This server sends no mail, so the address cannot be changed here. Ask an administrator.");
      } else setError(describeError(err)); // a 401 is handled by the session: off to the login page
    }
    setBusy(false);
  };

  return (
    <form className="form" onSubmit={submit} aria-labelledby="change-email-title">
      <h2 id="change-email-title">Change your email address</h2>
      <Field id="new-email" label="New email address" type="email" autoComplete="email" required maxLength={254}
        ref={emailInput} error={emailError} value={email} onChange={(e) => setEmail(e.target.value)} />
      <Field id="change-email-password" label="Current password" type="password" autoComplete="current-password"
        required ref={passwordInput} error={passwordError} value={password} onChange={(e) => setPassword(e.target.value)} />
      {error ? <Message kind="error">{error}</Message> : <Message kind="success">{done}</Message>}
      <button type="submit" disabled={busy}>
        {busy ? "Sending…" : "Change email address"}
      </button>
    </form>
  );
}
