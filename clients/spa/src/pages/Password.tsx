import { useState, type FormEvent } from "react";
import { isSpaAuthError } from "@spa-auth/client";
import { auth, describeError } from "../api";
import { Message, Page } from "../ui";

export function PasswordPage() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setDone(undefined);
    if (next !== confirm) {
      setError("The new passwords do not match.");
      return;
    }
    setBusy(true);
    try {
      // The server ends every other session and gives this one a new cookie.
      await auth.changePassword(current, next);
      setCurrent("");
      setNext("");
      setConfirm("");
      setDone("Your password has been changed. Your other sessions have been logged out.");
    } catch (err) {
      if (isSpaAuthError(err) && err.code === "wrong_current_password") setError("Your current password is wrong.");
      // The server says which rule the new password breaks.
      else if (isSpaAuthError(err) && err.code === "password_rejected") setError(`The new password was not accepted: ${err.message}.`);
      else setError(describeError(err));
    }
    setBusy(false);
  };

  return (
    <Page title="Change password">
      <form className="form" onSubmit={submit}>
        <label htmlFor="current-password">Current password</label>
        <input id="current-password" type="password" autoComplete="current-password" required
          value={current} onChange={(e) => setCurrent(e.target.value)} />
        <label htmlFor="new-password">New password</label>
        <input id="new-password" type="password" autoComplete="new-password" required
          aria-describedby="new-password-hint" value={next} onChange={(e) => setNext(e.target.value)} />
        <p id="new-password-hint" className="hint">
          At least 8 characters, not a common password, not your username.
        </p>
        <label htmlFor="confirm-password">New password, again</label>
        <input id="confirm-password" type="password" autoComplete="new-password" required
          value={confirm} onChange={(e) => setConfirm(e.target.value)} />
        {error ? <Message kind="error">{error}</Message> : <Message kind="success">{done}</Message>}
        <button type="submit" disabled={busy}>
          {busy ? "Changing…" : "Change password"}
        </button>
      </form>
    </Page>
  );
}
