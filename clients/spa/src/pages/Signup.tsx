/**
 * Sign-up. Open sign-up mails a link to confirm the address (202: "Check your email"); a link
 * from an invitation (`/signup#invite=…`) creates the account at once for the invited address
 * (201: on to the login page). The SPA cannot know whether the server lets people sign up, so
 * the page is always there and says so when the server answers 403 `not_enabled`.
 */
import { useRef, useState, type FormEvent } from "react";
import { isSpaAuthError } from "@spa-auth/client";
import { auth, describeError } from "../api";
import { useFragmentParam } from "../fragment";
import { navigateWithNotice } from "../router";
import { Field, Link, Message, Page, PASSWORD_RULE } from "../ui";

type FieldName = "username" | "email" | "password";
/** spa-auth's rule for usernames: 1 to 150 letters, digits and `@ . + - _`. */
const USERNAME = /^[\p{Alphabetic}\p{N}@.+\-_]{1,150}$/u;
type Outcome = { kind: "form" } | { kind: "mail_sent"; email: string } | { kind: "closed" };

export function SignupPage() {
  const invite = useFragmentParam("/signup", "invite");
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [firstName, setFirstName] = useState("");
  const [lastName, setLastName] = useState("");
  const [busy, setBusy] = useState(false);
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<FieldName, string>>>({});
  const [error, setError] = useState<string>();
  const [outcome, setOutcome] = useState<Outcome>({ kind: "form" });
  const inputs = {
    username: useRef<HTMLInputElement>(null),
    email: useRef<HTMLInputElement>(null),
    password: useRef<HTMLInputElement>(null),
  };

  /** Shows `message` under `field` and moves the focus there. */
  const fieldError = (field: FieldName, message: string) => {
    setFieldErrors({ [field]: message });
    inputs[field].current?.focus();
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setFieldErrors({});
    // The server's rule, checked here first so that the message is by the field.
    if (!USERNAME.test(username.trim())) {
      fieldError("username", "A username has letters, digits and @ . + - _ only, no spaces.");
      return;
    }
    setBusy(true);
    try {
      const result = await auth.signUp({
        username: username.trim(),
        password,
        ...(invite ? { invite } : { email: email.trim() }),
        ...(firstName.trim() ? { first_name: firstName.trim() } : {}),
        ...(lastName.trim() ? { last_name: lastName.trim() } : {}),
      });
      if (result.status === "created") {
        navigateWithNotice("/login", `Your account ${result.user.username} is ready. Log in with your password.`);
        return;
      }
      setOutcome({ kind: "mail_sent", email: email.trim() });
    } catch (err) {
      setBusy(false);
      if (!isSpaAuthError(err)) {
        setError(describeError(err));
        return;
      }
      switch (err.code) {
        case "username_taken":
          return fieldError("username", "That username is taken. Please choose another.");
        case "bad_request":
          // E.g. a malformed body the form cannot send; the message says what.
          return setError(`Sign-up was refused: ${err.message}.`);
        case "invalid_email":
          return fieldError("email", "That is not an address mail can be sent to.");
        case "password_rejected":
          setPassword("");
          return fieldError("password", `This password was not accepted: ${err.message}.`);
        case "not_enabled":
          return setOutcome({ kind: "closed" });
        case "invalid_token":
          return setError("This invitation is not valid any more: it was used, it expired, or a newer one replaced it. Ask for a new invitation.");
        case "email_taken":
          return setError("The invited address already has an account. Log in, or reset its password.");
        default:
          return setError(describeError(err));
      }
    }
  };

  if (outcome.kind === "closed") {
    return (
      <Page title="Sign-up is closed">
        <p>This server does not let people create their own accounts. Ask an administrator for one, or for an invitation.</p>
        <p>
          <Link href="/login">Back to log in</Link>
        </p>
      </Page>
    );
  }
  if (outcome.kind === "mail_sent") {
    return (
      <Page title="Check your email">
        <p>
          We sent a link to <strong>{outcome.email}</strong>. Open it to confirm your address, then log in.
        </p>
        <p className="hint">
          If this address already has an account, its owner gets a message instead: then{" "}
          <Link href="/forgot-password">reset the password</Link>.
        </p>
        <p>
          <Link href="/login">Log in</Link>
        </p>
      </Page>
    );
  }

  return (
    <Page title={invite ? "Accept your invitation" : "Create an account"} focusHeading={false}>
      {invite && <p className="hint">Your account will use the address the invitation was sent to.</p>}
      <form className="form" onSubmit={submit}>
        <Field id="signup-username" label="Username" ref={inputs.username} error={fieldErrors.username}
          autoComplete="username" autoCapitalize="none" spellCheck={false} required autoFocus maxLength={150}
          hint="Letters, digits and @ . + - _" value={username} onChange={(e) => setUsername(e.target.value)} />
        {!invite && (
          <Field id="signup-email" label="Email address" type="email" ref={inputs.email} error={fieldErrors.email}
            autoComplete="email" required maxLength={254} value={email} onChange={(e) => setEmail(e.target.value)} />
        )}
        <Field id="signup-password" label="Password" type="password" ref={inputs.password} error={fieldErrors.password}
          autoComplete="new-password" required hint={PASSWORD_RULE} value={password}
          onChange={(e) => setPassword(e.target.value)} />
        <Field id="signup-first-name" label="First name (optional)" autoComplete="given-name" maxLength={150}
          value={firstName} onChange={(e) => setFirstName(e.target.value)} />
        <Field id="signup-last-name" label="Last name (optional)" autoComplete="family-name" maxLength={150}
          value={lastName} onChange={(e) => setLastName(e.target.value)} />
        <Message kind="error">{error}</Message>
        <button type="submit" disabled={busy}>
          {busy ? "Creating your account…" : "Create account"}
        </button>
      </form>
      <p>
        Already have an account? <Link href="/login">Log in</Link>
      </p>
    </Page>
  );
}
