/**
 * Who is logged in, for the whole app. At start it asks `/api/me` (the cookie is HttpOnly, so
 * only the server knows whether there is a session); until then the state is "loading". Any 401
 * from any call (see `api.ts`) turns a logged-in state into "logged out: your session ended".
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { isUnauthorized, type User } from "@spa-auth/client";
import { auth, describeError, onUnauthorized } from "./api";

export type SessionState =
  | { status: "loading" }
  /** `/api/me` failed for another reason than 401: the server or the network is down. */
  | { status: "error"; message: string }
  /** `ended`: a session existed in this tab and the server ended it. */
  | { status: "anonymous"; ended: boolean }
  | { status: "authenticated"; user: User };

interface SessionApi {
  state: SessionState;
  /** After a successful login. */
  loggedIn(user: User): void;
  /** After logout (or any call that found the session over). */
  loggedOut(): void;
  /** Asks `/api/me` again, e.g. after "Try again". */
  restore(): void;
}

const SessionContext = createContext<SessionApi | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: "loading" });

  const restore = useCallback(() => {
    let current = true;
    setState({ status: "loading" });
    auth.me().then(
      (user) => current && setState({ status: "authenticated", user }),
      (e: unknown) => {
        if (!current) return;
        setState(isUnauthorized(e) ? { status: "anonymous", ended: false } : { status: "error", message: describeError(e) ?? "" });
      },
    );
    return () => {
      current = false;
    };
  }, []);

  useEffect(() => restore(), [restore]);

  useEffect(
    () =>
      onUnauthorized(() =>
        setState((s) => (s.status === "authenticated" ? { status: "anonymous", ended: true } : s)),
      ),
    [],
  );

  // Stable functions, so that pages can use them in effects.
  const loggedIn = useCallback((user: User) => setState({ status: "authenticated", user }), []);
  const loggedOut = useCallback(() => setState({ status: "anonymous", ended: false }), []);
  const retry = useCallback(() => void restore(), [restore]);
  const value = useMemo<SessionApi>(
    () => ({ state, loggedIn, loggedOut, restore: retry }),
    [state, loggedIn, loggedOut, retry],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionApi {
  const api = useContext(SessionContext);
  if (!api) throw new Error("useSession outside <SessionProvider>");
  return api;
}

/** The logged-in user; only for pages rendered behind the login guard in `App.tsx`. */
export function useUser(): User {
  const { state } = useSession();
  if (state.status !== "authenticated") throw new Error("useUser without a logged-in user");
  return state.user;
}
