/**
 * The shell: header with navigation, the login guard, and the routes.
 *
 * Logged out, every page but /login redirects to `/login?next=<where you were>`; logged in,
 * /login redirects to that `next`. So a 401 anywhere (the session turns "anonymous") lands on
 * the login page, and a successful login returns to the page the user was on.
 */
import { useEffect, useState } from "react";
import { isUnauthorized } from "@spa-auth/client";
import { auth, describeError } from "./api";
import { HomePage } from "./pages/Home";
import { LoginPage } from "./pages/Login";
import { NotFoundPage } from "./pages/NotFound";
import { PasswordPage } from "./pages/Password";
import { SecurityPage } from "./pages/Security";
import { SessionsPage } from "./pages/Sessions";
import { loginPathFor, navigate, nextFrom, useLocation } from "./router";
import { useSession } from "./session";
import { Link } from "./ui";

const NAV = [
  { href: "/", label: "Home" },
  { href: "/sessions", label: "My sessions" },
  { href: "/password", label: "Change password" },
  { href: "/security", label: "Security" },
];

export function App() {
  const { state, restore } = useSession();
  const location = useLocation();
  const path = location.split("?")[0] ?? "/";
  const onLogin = path === "/login";

  // The login guard, both ways.
  useEffect(() => {
    if (state.status === "anonymous" && !onLogin) navigate(loginPathFor(location), { replace: true });
    if (state.status === "authenticated" && onLogin) navigate(nextFrom(location), { replace: true });
  }, [state.status, onLogin, location]);

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
    main = onLogin ? <LoginPage ended={state.ended} /> : null;
  } else {
    main = onLogin ? null : route(path);
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
