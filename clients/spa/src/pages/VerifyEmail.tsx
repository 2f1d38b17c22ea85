/**
 * Where the mailed "confirm your address" link lands: `/verify-email#token=…`. The token left
 * the address bar when the app started (`fragment.ts`); this page posts it once and says how it
 * went. Without a usable link it offers to mail a new one.
 */
import { useEffect, useState } from "react";
import { isSpaAuthError } from "@spa-auth/client";
import { auth, describeError } from "../api";
import { useFragmentParam } from "../fragment";
import { ResendVerificationForm } from "../resend";
import { useSession } from "@spa-auth/react";
import { Link, Message, Page } from "../ui";

type Result = { kind: "verified" } | { kind: "invalid" } | { kind: "taken" } | { kind: "error"; message: string };

/**
 * One POST per token for the page's lifetime: a token works once, so asking again (React's
 * StrictMode runs effects twice in development, or the user comes back to the page) would turn
 * a success into "invalid link".
 */
const verifications = new Map<string, Promise<Result>>();

function verify(token: string): Promise<Result> {
  let pending = verifications.get(token);
  if (!pending) {
    pending = auth.verifyEmail(token).then(
      (): Result => ({ kind: "verified" }),
      (e: unknown): Result => {
        if (isSpaAuthError(e) && e.code === "invalid_token") return { kind: "invalid" };
        if (isSpaAuthError(e) && e.code === "email_taken") return { kind: "taken" };
        // Worth another try later (server down, offline): forget this attempt.
        verifications.delete(token);
        return { kind: "error", message: describeError(e) ?? "Something went wrong." };
      },
    );
    verifications.set(token, pending);
  }
  return pending;
}

export function VerifyEmailPage() {
  const token = useFragmentParam("/verify-email", "token");
  const session = useSession();
  const { refresh } = session;
  const [result, setResult] = useState<Result>();
  const authenticated = session.status === "authenticated";
  const knownEmail = session.status === "authenticated" ? session.user.email : "";

  useEffect(() => {
    if (!token) return;
    let current = true;
    setResult(undefined);
    void verify(token).then((r) => {
      if (!current) return;
      setResult(r);
      // After an address change the account's address is now the new one: show it.
      if (r.kind === "verified" && authenticated) void refresh();
    });
    return () => {
      current = false;
    };
  }, [token, authenticated, refresh]);

  if (!token) {
    return (
      <Page title="Verify your email address">
        <p>Open the link from the email we sent you. If you cannot find it, we can send a new one.</p>
        <ResendVerificationForm title="Get a new link" email={knownEmail} />
      </Page>
    );
  }
  if (result === undefined) {
    return (
      <Page title="Verifying your email address…">
        <p className="loading" role="status">Checking the link…</p>
      </Page>
    );
  }
  switch (result.kind) {
    case "verified":
      return (
        <Page title="Email address verified">
          <Message kind="success">Thank you: your email address is verified.</Message>
          <p>{authenticated ? <Link href="/account">Go to your account</Link> : <Link href="/login">Log in</Link>}</p>
        </Page>
      );
    case "invalid":
      return (
        <Page title="This link is not valid">
          <p>
            This link does not work any more: it was used already, it expired, or a newer link replaced it.
            If your address is not verified yet, have a new link sent.
          </p>
          <ResendVerificationForm title="Get a new link" email={knownEmail} />
          <p>
            {authenticated ? <Link href="/account">Go to your account</Link> : <Link href="/login">Log in</Link>}
          </p>
        </Page>
      );
    case "taken":
      return (
        <Page title="Address already in use">
          <p>Another account started using this address in the meantime, so it cannot be yours. Use another address.</p>
          <p>{authenticated ? <Link href="/account">Go to your account</Link> : <Link href="/login">Log in</Link>}</p>
        </Page>
      );
    case "error":
      return (
        <Page title="Could not verify your address">
          <Message kind="error">{result.message}</Message>
          <button type="button" onClick={() => void verify(token).then(setResult)}>
            Try again
          </button>
        </Page>
      );
  }
}
