/**
 * The shell: header with navigation, the login guard, and the routes.
 *
 * Logged out, every page but the guest pages (/login, /signup) and the open ones (where mailed
 * links land, /verify-email and /reset-password, and /forgot-password) redirects to
 * `/login?next=<where you were>`; logged in, /login redirects to that `next` (and /signup home). So a 401
 * anywhere (the session turns "anonymous") lands on the login page, and a successful login
 * returns to the page the user was on.
 */
import { useEffect, useState } from "react";
import { isUnauthorized } from "@spa-auth/client";
import { auth, describeError } from "./api";
import { AccountPage } from "./pages/Account";
import { ForgotPasswordPage } from "./pages/ForgotPassword";
import { HomePage } from "./pages/Home";
import { LoginPage } from "./pages/Login";
import { NotFoundPage } from "./pages/NotFound";
import { PasswordPage } from "./pages/Password";
import { ResetPasswordPage } from "./pages/ResetPassword";
import { SecurityPage } from "./pages/Security";
import { SessionsPage } from "./pages/Sessions";
import { SignupPage } from "./pages/Signup";
import { VerifyEmailPage } from "./pages/VerifyEmail";
import { loginPathFor, navigate, nextFrom, useLocation } from "./router";
import { useSession } from "./session";
import { Link } from "./ui";

const NAV = [
  { href: "/", label: "Home" },
  { href: "/sessions", label: "My sessions" },
  { href: "/password", label: "Change password" },
  { href: "/account", label: "Account" },
  { href: "/security", label: "Security" },
];

/** Pages for visitors who are not logged in; a logged-in user is sent on. */
const GUEST_PAGES: ReadonlySet<string> = new Set(["/login", "/signup"]);
/**
 * Pages for anyone: the ones mailed links open (e.g. a logged-in user confirming a new
 * address) and asking for a reset link.
 */
const OPEN_PAGES: ReadonlySet<string> = new Set(["/verify-email", "/reset-password", "/forgot-password"]);

export function App() {
  const { state, restore } = useSession();
  const location = useLocation();
  const path = location.split("?")[0] ?? "/";
  const guestPage = GUEST_PAGES.has(path);
  const publicPage = guestPage || OPEN_PAGES.has(path);

  // The login guard, both ways.
  useEffect(() => {
    if (state.status === "anonymous" && !publicPage) navigate(loginPathFor(location), { replace: true });
    if (state.status === "authenticated" && guestPage) {
      navigate(path === "/login" ? nextFrom(location) : "/", { replace: true });
    }
  }, [state.status, guestPage, publicPage, path, location]);

  let main;
  if (state.status === "loading") {
    main = <p className="loading" role="status">Loading…</p>;
  } else if (state.status === "error") {
    main = (
      <div className="page">
        <p className="message message-error" role="alert">{state.message}</p>
        <button type="button" onClick={restore}>Try again</button>
      </div>
    );
  } else if (state.status === "anonymous") {
    main = path === "/login" ? <LoginPage ended={state.ended} /> : publicPage ? route(path) : null;
  } else {
    main = guestPage ? null : route(path);
  }

  return (
    <>
      <header className="header">
        <span className="brand">spa-auth example</span>
        {state.status === "authenticated" && (
          <nav aria-label="Main">
            <ul>
              {NAV.map((item) => (
                <li key={item.href}>
                  <Link href={item.href} aria-current={item.href === path ? "page" : undefined}>
                    {item.label}
                  </Link>
                </li>
              ))}
              <li>
                <LogoutButton />
              </li>
            </ul>
          </nav>
        )}
      </header>
      <main className="main">{main}</main>
    </>
  );
}

function route(path: string) {
  switch (path) {
    case "/":
      return <HomePage />;
    case "/sessions":
      return <SessionsPage />;
    case "/password":
      return <PasswordPage />;
    case "/account":
      return <AccountPage />;
    case "/signup":
      return <SignupPage />;
    case "/forgot-password":
      return <ForgotPasswordPage />;
    case "/verify-email":
      return <VerifyEmailPage />;
    case "/reset-password":
      return <ResetPasswordPage />;
    case "/security":
      return <SecurityPage />;
    default:
      return <NotFoundPage />;
  }
}

function LogoutButton() {
  const { loggedOut } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const logout = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await auth.logout();
    } catch (e) {
      // A 401 means the session was already over: logged out all the same. Anything else
      // (server down, offline) leaves the session alive on the server, so say so and stay.
      if (!isUnauthorized(e)) {
        setError(describeError(e));
        setBusy(false);
        return;
      }
    }
    navigate("/login", { replace: true });
    loggedOut();
  };
  return (
    <>
      <button type="button" className="link-button" onClick={logout} disabled={busy}>
        Log out
      </button>
      {error && (
        <span className="header-error" role="alert">
          Could not log out: {error}
        </span>
      )}
    </>
  );
}
