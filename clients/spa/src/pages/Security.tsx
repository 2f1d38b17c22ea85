import { useEffect, useState, type FormEvent } from "react";
import { isSpaAuthError, type SecondFactorStatus, type TotpEnrolment } from "@spa-auth/client";
import { auth, describeError } from "../api";
import { useSession } from "@spa-auth/react";
import { Message, Page } from "../ui";
import { PasskeysSection } from "./Passkeys";

/**
 * Second factors: passkeys (`Passkeys.tsx`); turn TOTP on (the server's QR code and secret, confirmed with a code), see
 * the recovery codes once, turn it off. Sensitive steps may need the password again
 * (`reauthentication_required`): the page says so rather than guessing.
 */
export function SecurityPage() {
  const { clear } = useSession();
  const [status, setStatus] = useState<SecondFactorStatus>();
  const [enrolment, setEnrolment] = useState<TotpEnrolment>();
  const [code, setCode] = useState("");
  const [recoveryCodes, setRecoveryCodes] = useState<string[]>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const load = async () => {
    try {
      setStatus(await auth.secondFactors());
    } catch (err) {
      setError(describeError(err));
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const explain = (err: unknown) => {
    if (isSpaAuthError(err) && err.code === "reauthentication_required") {
      setError("For this, log out and log in again: your last login is too long ago.");
    } else if (isSpaAuthError(err) && err.code === "invalid_code") setError("That code is wrong or was already used.");
    else setError(describeError(err));
  };

  const run = async (step: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await step();
    } catch (err) {
      explain(err);
    }
    setBusy(false);
  };

  const start = () => run(async () => setEnrolment(await auth.enrollTotp()));
  const confirm = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      setRecoveryCodes(await auth.confirmTotp(code.trim()));
      setEnrolment(undefined);
      setCode("");
      await load();
    });
  };
  const disable = () =>
    run(async () => {
      // Every session ends, this one too.
      await auth.disableTotp();
      clear();
    });

  return (
    <Page title="Security">
      {recoveryCodes && (
        <section aria-label="Recovery codes">
          <Message kind="success">Two-step login is on.</Message>
          <p>Keep these recovery codes somewhere safe. Each works once, and they are shown only now.</p>
          <ul className="recovery-codes">
            {recoveryCodes.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
        </section>
      )}
      {status && !status.totp_available && <p>This server does not offer two-step login.</p>}
      {status?.totp_available && !status.totp_enabled && !enrolment && (
        <button type="button" onClick={start} disabled={busy}>
          Turn on two-step login
        </button>
      )}
      {enrolment && (
        <form className="form" onSubmit={confirm} aria-label="Confirm authenticator">
          <p>Scan this code with your authenticator app, or type the secret in.</p>
          <img
            className="qr"
            alt="QR code of the authenticator secret"
            width={200}
            height={200}
            src={`data:image/svg+xml;utf8,${encodeURIComponent(enrolment.qr_svg)}`}
          />
          <p>
            Secret: <code data-testid="totp-secret">{enrolment.secret}</code>
          </p>
          <label htmlFor="totp-code">Code from the app</label>
          <input id="totp-code" name="code" autoComplete="one-time-code" inputMode="numeric" required
            value={code} onChange={(e) => setCode(e.target.value)} />
          <button type="submit" disabled={busy}>
            Confirm
          </button>
        </form>
      )}
      {status?.totp_enabled && (
        <section aria-label="Two-step login">
          <p>Two-step login is on. Recovery codes left: {status.recovery_codes_left}.</p>
          <button type="button" onClick={disable} disabled={busy}>
            Turn off two-step login
          </button>
        </section>
      )}
      <Message kind="error">{error}</Message>
      <PasskeysSection />
    </Page>
  );
}
