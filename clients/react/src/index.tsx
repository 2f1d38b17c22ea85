/**
 * @spa-auth/react — who is logged in, for a whole React app, on top of `@spa-auth/client`.
 *
 * The session cookie is HttpOnly, so only the server knows whether there is a session: the
 * provider asks `GET /api/me` at start (status `loading` until it answers), again whenever the
 * window regains focus (a session ended on another device shows at once), and turns
 * `authenticated` into `anonymous` on any 401 from any call made through the client, whichever
 * page made it.
 */
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from "react";
import {
  isUnauthorized,
  type LoginOptions,
  type LoginResult,
  type SecondFactorProof,
  type SpaAuthClient,
  type User,
} from "@spa-auth/client";

/** What the app knows about the session. */
export type SessionState =
  /** Before the first answer of `/api/me`. */
  | { status: "loading"; user: undefined; error: undefined }
  | { status: "authenticated"; user: User; error: undefined }
  /**
   * No session. `ended`: this tab had one and the server ended it (logged out elsewhere,
   * expired, password changed), as opposed to a plain logout or never having logged in.
   * `error`: `/api/me` failed for another reason than 401 (server or network down), so whether
   * there is a session is unknown: show it with a way to {@link Session.refresh}.
   */
  | { status: "anonymous"; user: undefined; ended: boolean; error: unknown };

/** {@link useSession}: the state and what changes it. */
export type Session = SessionState & {
  /** Asks `/api/me` again; resolves when the state is updated. Never rejects. */
  refresh(): Promise<void>;
  /** Sets the user after a call that returned it (a completed second factor, a changed email). */
  setUser(user: User): void;
  /** Forgets the user after a call that ended the session on purpose (a plain logout, turning TOTP off). */
  clear(): void;
};

const LOADING: SessionState = { status: "loading", user: undefined, error: undefined };
const authenticated = (user: User): SessionState => ({ status: "authenticated", user, error: undefined });
const anonymous = (ended: boolean, error: unknown = undefined): SessionState => ({
  status: "anonymous",
  user: undefined,
  ended,
  error,
});

interface Context {
  client: SpaAuthClient;
  session: Session;
}

const AuthContext = createContext<Context | null>(null);

/** The one middleware type `openapi-fetch` takes, named through the client so no second copy of it is needed. */
type Middleware = Parameters<SpaAuthClient["raw"]["use"]>[0];

export interface AuthProviderProps {
  /** The app's client; every call that should count (401 → anonymous) must go through it. */
  client: SpaAuthClient;
  /** Asks `/api/me` again when the window regains focus. Default `true`. */
  refreshOnFocus?: boolean;
  children?: ReactNode;
}

/** Provides the session to {@link useSession}, {@link useLogin}, {@link useLogout} and {@link RequireAuth}. */
export function AuthProvider({ client, refreshOnFocus = true, children }: AuthProviderProps) {
  const [state, setState] = useState<SessionState>(LOADING);
  // The state as last set, for the callbacks below (a 401's middleware, a late answer) to read
  // without waiting for a render.
  const current = useRef<SessionState>(LOADING);
  // Answers of `/api/me` that arrive after a newer question are dropped: the newest wins.
  const asked = useRef(0);
  // Which session the app is in: counts every login and every end of a session. A 401 to a
  // request sent in an earlier one (a slow `/api/me` of before the login) says nothing about
  // the session of now, and must not end it.
  const generation = useRef(0);
  const commit = useCallback((next: (s: SessionState) => SessionState) => {
    const before = current.current;
    const after = next(before);
    if (after === before) return;
    const userBefore = before.status === "authenticated" ? before.user.id : undefined;
    const userAfter = after.status === "authenticated" ? after.user.id : undefined;
    if (userBefore !== userAfter) generation.current++;
    current.current = after;
    setState(after);
  }, []);

  const refresh = useCallback(async () => {
    const n = ++asked.current;
    try {
      const user = await client.me();
      if (n === asked.current) commit(() => authenticated(user));
    } catch (e) {
      if (n !== asked.current) return;
      if (isUnauthorized(e)) {
        commit((s) => anonymous(s.status === "authenticated" || (s.status === "anonymous" && s.ended)));
      } else {
        // A network blip while logged in is no logout: keep the user, and let the next call tell.
        commit((s) => (s.status === "authenticated" ? s : anonymous(false, e)));
      }
    }
  }, [client, commit]);

  // Before the first /api/me below: effects run in order, and a request goes through the
  // middleware registered when it was sent.
  useEffect(() => {
    // Every 401 but a refused login, to a request sent in this session, means it is over.
    const sentIn = new Map<string, number>();
    const middleware: Middleware = {
      onRequest({ id }) {
        sentIn.set(id, generation.current);
        return undefined;
      },
      onResponse({ id, response, schemaPath }) {
        const sent = sentIn.get(id);
        sentIn.delete(id);
        if (response.status !== 401 || schemaPath === "/api/auth/login" || sent !== generation.current) return undefined;
        commit((s) => (s.status === "authenticated" ? anonymous(true) : s));
        return undefined;
      },
      onError({ id }) {
        sentIn.delete(id);
        return undefined;
      },
    };
    client.raw.use(middleware);
    return () => client.raw.eject(middleware);
  }, [client, commit]);

  useEffect(() => {
    void refresh();
    return () => {
      // An answer for an unmounted provider (StrictMode's double mount) is ignored.
      asked.current++;
    };
  }, [refresh]);

  useEffect(() => {
    if (!refreshOnFocus || typeof window === "undefined") return undefined;
    const onFocus = () => void refresh();
    const onVisible = () => {
      if (document.visibilityState === "visible") void refresh();
    };
    window.addEventListener("focus", onFocus);
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      window.removeEventListener("focus", onFocus);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [refresh, refreshOnFocus]);

  const setUser = useCallback(
    (user: User) => {
      asked.current++;
      commit(() => authenticated(user));
    },
    [commit],
  );
  const clear = useCallback(() => {
    asked.current++;
    commit(() => anonymous(false));
  }, [commit]);
  const value = useMemo<Context>(
    () => ({ client, session: { ...state, refresh, setUser, clear } }),
    [client, state, refresh, setUser, clear],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

function useAuthContext(hook: string): Context {
  const context = useContext(AuthContext);
  if (!context) throw new Error(`${hook} outside <AuthProvider>`);
  return context;
}

/** The session: `loading`, `authenticated` (with `user`) or `anonymous`, and `refresh`, `setUser`, `clear`. */
export function useSession(): Session {
  return useAuthContext("useSession").session;
}

/** The client given to {@link AuthProvider}, for the calls no hook wraps. */
export function useAuthClient(): SpaAuthClient {
  return useAuthContext("useAuthClient").client;
}

/** The logged-in user; throws outside an authenticated session (use it behind {@link RequireAuth}). */
export function useUser(): User {
  const session = useSession();
  if (session.status !== "authenticated") throw new Error("useUser without a logged-in user");
  return session.user;
}

/** A call in progress and its last error, as the login and logout hooks report them. */
interface Pending {
  pending: boolean;
  /** The last call's rejection (a `SpaAuthError`, or a `TypeError` from the network); cleared by the next call. */
  error: unknown;
}

function usePending(): [Pending, <T>(call: () => Promise<T>) => Promise<T>] {
  const [pending, setPending] = useState<Pending>({ pending: false, error: undefined });
  const track = useCallback(async <T,>(call: () => Promise<T>): Promise<T> => {
    setPending({ pending: true, error: undefined });
    try {
      const result = await call();
      setPending({ pending: false, error: undefined });
      return result;
    } catch (e) {
      setPending({ pending: false, error: e });
      throw e;
    }
  }, []);
  return [pending, track];
}

export interface Login extends Pending {
  /**
   * Logs in; on `logged_in` the session becomes `authenticated`. On `second_factor_required`
   * it stays as it was: finish with {@link Login.completeSecondFactor}. Rejects as the client does
   * (401 `invalid_credentials`, 429 with `retryAfter`, ...), and the error is in `error` too.
   */
  login(username: string, password: string, options?: LoginOptions): Promise<LoginResult>;
  /** The second step of a login; the session becomes `authenticated` with the user. */
  completeSecondFactor(proof: SecondFactorProof): Promise<User>;
  /**
   * Browser only: logs in with a passkey the device offers (no username, no password, no
   * second step); the session becomes `authenticated` with the user.
   */
  loginWithPasskey(options?: LoginOptions): Promise<User>;
}

export function useLogin(): Login {
  const { client, session } = useAuthContext("useLogin");
  const { setUser } = session;
  const [pending, track] = usePending();
  const login = useCallback(
    (username: string, password: string, options?: LoginOptions) =>
      track(async () => {
        const result = await client.login(username, password, options);
        if (result.status === "logged_in") setUser(result.user);
        return result;
      }),
    [client, setUser, track],
  );
  const completeSecondFactor = useCallback(
    (proof: SecondFactorProof) =>
      track(async () => {
        const user = await client.completeSecondFactor(proof);
        setUser(user);
        return user;
      }),
    [client, setUser, track],
  );
  const loginWithPasskey = useCallback(
    (options?: LoginOptions) =>
      track(async () => {
        const user = await client.logInWithPasskey(options);
        setUser(user);
        return user;
      }),
    [client, setUser, track],
  );
  return { ...pending, login, completeSecondFactor, loginWithPasskey };
}

export interface Logout extends Pending {
  /**
   * Ends the session on the server, then the state is `anonymous`. A 401 counts as done (the
   * session was already over); any other failure rejects and leaves the state as it was, since
   * the session may still be alive on the server.
   */
  logout(): Promise<void>;
}

export function useLogout(): Logout {
  const { client, session } = useAuthContext("useLogout");
  const { clear } = session;
  const [pending, track] = usePending();
  const logout = useCallback(
    () =>
      track(async () => {
        try {
          await client.logout();
        } catch (e) {
          if (!isUnauthorized(e)) throw e;
        }
        clear();
      }),
    [client, clear, track],
  );
  return { ...pending, logout };
}

/** Whether `user` has at least one of `roles`; no roles asked means any logged-in user. */
export function hasAnyRole(user: User, roles: readonly string[] | undefined): boolean {
  return roles === undefined || roles.length === 0 || roles.some((r) => user.roles.includes(r));
}

export interface RequireAuthProps {
  /** The user needs any one of these roles; omitted or empty: being logged in is enough. */
  roles?: readonly string[];
  /** While the session is `loading`. Default: nothing. */
  loading?: ReactNode;
  /** When `anonymous`, e.g. a login form or a redirect. Default: nothing. */
  fallback?: ReactNode;
  /** When logged in without any of `roles`. Default: nothing. */
  forbidden?: ReactNode;
  children?: ReactNode;
}

/**
 * Renders `children` only for a logged-in user with one of `roles`. The check is for the
 * interface: the server enforces roles on every call whatever the browser shows.
 */
export function RequireAuth({ roles, loading = null, fallback = null, forbidden = null, children }: RequireAuthProps) {
  const session = useSession();
  if (session.status === "loading") return <>{loading}</>;
  if (session.status === "anonymous") return <>{fallback}</>;
  return <>{hasAnyRole(session.user, roles) ? children : forbidden}</>;
}
