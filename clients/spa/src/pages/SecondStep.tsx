import { useState, type FormEvent } from "react";
import { isSpaAuthError, isThrottled, isUnauthorized, type SecondFactorMethod, type SecondFactorProof, type User } from "@spa-auth/client";
import { describeError, formatWait } from "../api";
import { Message } from "../ui";

/**
 * The second step of a login, after the right password for an account with TOTP: a code from
 * the authenticator app, or one of the recovery codes. `complete` is `useLogin().completeSecondFactor`:
 * once the server upgraded the session (under a new cookie), the session is "authenticated".
 */
export function SecondStep({
  methods,
  complete,
}: {
  methods: SecondFactorMethod[];
  complete: (proof: SecondFactorProof) => Promise<User>;
}) {
  const [useRecovery, setUseRecovery] = useState(!methods.includes("totp"));
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const value = code.trim();
      await complete(useRecovery ? { recovery_code: value } : { code: value });
    } catch (err) {
      setCode("");
      if (isThrottled(err)) setError(`Too many wrong codes. Try again in ${formatWait(err.retryAfter ?? 60)}.`);
      else if (isSpaAuthError(err) && err.code === "invalid_code") setError("That code is wrong or was already used.");
      // The half-open session lives a few minutes.
      else if (isUnauthorized(err)) setError("This took too long. Please reload and log in again.");
      else setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <form className="form" onSubmit={submit} aria-label="Second step">
      <label htmlFor="second-factor-code">{useRecovery ? "Recovery code" : "Code from your authenticator app"}</label>
      <input
        id="second-factor-code"
        name="code"
        autoComplete="one-time-code"
        inputMode={useRecovery ? "text" : "numeric"}
        autoCapitalize="none"
        spellCheck={false}
        required
        autoFocus
        value={code}
        onChange={(e) => setCode(e.target.value)}
      />
      <Message kind="error">{error}</Message>
      <button type="submit" disabled={busy}>
        {busy ? "Checking…" : "Continue"}
      </button>
      {methods.includes("totp") && methods.includes("recovery_code") ? (
        <button type="button" className="link" onClick={() => setUseRecovery(!useRecovery)}>
          {useRecovery ? "Use a code from the app" : "Use a recovery code"}
        </button>
      ) : null}
    </form>
  );
}
