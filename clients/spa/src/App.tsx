/**
 * The shell: header with navigation, the login guard, and the routes.
 *
 * Logged out, every page but the guest pages (/login, /signup) and the open ones (where mailed
 * links land, /verify-email and /reset-password, and /forgot-password) redirects to
 * `/login?next=<where you were>`; logged in, /login redirects to that `next` (and /signup home). So a 401
 * anywhere (`@spa-auth/react` turns the session "anonymous") lands on the login page, and a successful login
 * returns to the page the user was on.
 */
import { useEffect } from "react";
import { useLogout, useSession } from "@spa-auth/react";
import { describeError } from "./api";
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
  const session = useSession();
  // Whether there is a session is unknown (server or network down): neither guard applies.
  const unknown = session.status === "anonymous" && session.error !== undefined;
  const location = useLocation();
  const path = location.split("?")[0] ?? "/";
  const guestPage = GUEST_PAGES.has(path);
  const publicPage = guestPage || OPEN_PAGES.has(path);

  // The login guard, both ways.
  useEffect(() => {
    if (session.status === "anonymous" && !unknown && !publicPage) navigate(loginPathFor(location), { replace: true });
    if (session.status === "authenticated" && guestPage) {
      navigate(path === "/login" ? nextFrom(location) : "/", { replace: true });
    }
  }, [session.status, unknown, guestPage, publicPage, path, location]);

  let main;
  if (session.status === "loading") {
    main = <p className="loading" role="status">Loading…</p>;
  } else if (session.status === "anonymous" && session.error !== undefined) {
    main = (
      <div className="page">
        <p className="message message-error" role="alert">{describeError(session.error)}</p>
        <button type="button" onClick={() => void session.refresh()}>Try again</button>
      </div>
    );
  } else if (session.status === "anonymous") {
    main = path === "/login" ? <LoginPage ended={session.ended} /> : publicPage ? route(path) : null;
  } else {
    main = guestPage ? null : route(path);
  }

  return (
    <>
      <header className="header">
        <span className="brand">spa-auth example</span>
        {session.status === "authenticated" && (
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
  // A 401 counts as logged out (the session was already over); anything else (server down,
  // offline) leaves the session alive on the server: `error` says so and the user stays.
  const { logout: endSession, pending: busy, error: failure } = useLogout();
  const error = failure === undefined ? undefined : describeError(failure);
  const logout = async () => {
    try {
      await endSession();
    } catch {
      return;
    }
    // A plain /login, whether or not the guard already sent the now anonymous page to `?next=`.
    navigate("/login", { replace: true });
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
