/**
 * The hooks against a live spa-auth (started by ../test/global-setup.ts), rendered in jsdom with
 * Testing Library: what a page built on them shows as the session starts, ends elsewhere, is
 * found over by any call, or is ended by the user.
 */
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, inject, it } from "vitest";
import { createSpaAuthClient, isSpaAuthError, type SpaAuthClient } from "@spa-auth/client";
import { AuthProvider, RequireAuth, useLogin, useLogout, useSession } from "../src/index.js";
import { cookieJarFetch } from "../../test/cookie-jar.js";

const baseUrl = inject("baseUrl");
const alice = inject("credentials");
const zoe = inject("rolesCredentials");

afterEach(cleanup);

function newClient(): SpaAuthClient {
  return createSpaAuthClient({ baseUrl, fetch: cookieJarFetch().fetch });
}

async function loggedIn(who: { username: string; password: string } = alice): Promise<SpaAuthClient> {
  const client = newClient();
  const result = await client.login(who.username, who.password);
  expect(result.status).toBe("logged_in");
  return client;
}

/** What a page shows for each state, in one line a test can wait for. */
function Status() {
  const session = useSession();
  if (session.status === "loading") return <p>loading</p>;
  if (session.status === "authenticated") return <p>signed in as {session.user.username}</p>;
  if (session.error !== undefined) return <p>unknown: server unreachable</p>;
  return <p>{session.ended ? "your session has ended" : "signed out"}</p>;
}

function LoginForm({ password }: { password: string }) {
  const { login, pending, error } = useLogin();
  return (
    <>
      <button type="button" disabled={pending} onClick={() => login(alice.username, password).catch(() => {})}>
        log in
      </button>
      {isSpaAuthError(error) && <p role="alert">login failed: {error.code}</p>}
    </>
  );
}

function LogoutButton() {
  const { logout } = useLogout();
  return (
    <button type="button" onClick={() => void logout()}>
      log out
    </button>
  );
}

describe("useSession", () => {
  it("is loading, then authenticated for a client whose cookie is live", async () => {
    const client = await loggedIn();
    render(
      <AuthProvider client={client}>
        <Status />
      </AuthProvider>,
    );
    expect(screen.getByText("loading")).toBeTruthy();
    await screen.findByText(`signed in as ${alice.username}`);
  });

  it("is anonymous, not ended, without a session", async () => {
    render(
      <AuthProvider client={newClient()}>
        <Status />
      </AuthProvider>,
    );
    await screen.findByText("signed out");
  });

  it("says whether there is a session is unknown when the server cannot be reached", async () => {
    // A port nobody listens on: the network error is no 401, and no login.
    const client = createSpaAuthClient({ baseUrl: "http://127.0.0.1:9", fetch: (r) => fetch(r) });
    render(
      <AuthProvider client={client}>
        <Status />
      </AuthProvider>,
    );
    await screen.findByText("unknown: server unreachable");
  });

  it("turns anonymous, ended, on a 401 from any call of the client", async () => {
    const client = await loggedIn();
    render(
      <AuthProvider client={client} refreshOnFocus={false}>
        <Status />
      </AuthProvider>,
    );
    await screen.findByText(`signed in as ${alice.username}`);

    // Another device of the same user logs out everywhere else: this session is over on the server.
    const other = await loggedIn();
    expect((await other.endOtherSessions()).ended).toBeGreaterThanOrEqual(1);
    // Nothing told the page yet...
    expect(screen.getByText(`signed in as ${alice.username}`)).toBeTruthy();
    // ...until any call through the client finds out: here listing the sessions, not /api/me.
    await act(async () => {
      await expect(client.listSessions()).rejects.toMatchObject({ status: 401 });
    });
    await screen.findByText("your session has ended");
  });

  it("asks the server again when the window regains focus", async () => {
    const client = await loggedIn();
    render(
      <AuthProvider client={client}>
        <Status />
      </AuthProvider>,
    );
    await screen.findByText(`signed in as ${alice.username}`);
    const other = await loggedIn();
    await other.endOtherSessions();
    // Without a focus nothing asks: the page still shows the user a moment later.
    await new Promise((r) => setTimeout(r, 200));
    expect(screen.getByText(`signed in as ${alice.username}`)).toBeTruthy();

    fireEvent.focus(window);
    await screen.findByText("your session has ended");
  });
});

describe("useLogin and useLogout", () => {
  it("a wrong password leaves the page signed out with the error; the right one signs in", async () => {
    const client = newClient();
    function Page() {
      const [password, setPassword] = useState("not the password");
      return (
        <>
          <Status />
          <LoginForm password={password} />
          <button type="button" onClick={() => setPassword(alice.password)}>
            fix password
          </button>
        </>
      );
    }
    render(
      <AuthProvider client={client}>
        <Page />
      </AuthProvider>,
    );
    await screen.findByText("signed out");

    fireEvent.click(screen.getByText("log in"));
    expect((await screen.findByRole("alert")).textContent).toBe("login failed: invalid_credentials");
    // The refused login's 401 is not "your session has ended".
    expect(screen.getByText("signed out")).toBeTruthy();

    fireEvent.click(screen.getByText("fix password"));
    fireEvent.click(screen.getByText("log in"));
    await screen.findByText(`signed in as ${alice.username}`);
    expect(screen.queryByRole("alert")).toBeNull();
    // The cookie the login set is the client's: the server knows it.
    expect((await client.me()).username).toBe(alice.username);
  });

  it("logout signs out, not 'ended', and the server no longer knows the cookie", async () => {
    const client = await loggedIn();
    render(
      <AuthProvider client={client}>
        <Status />
        <LogoutButton />
      </AuthProvider>,
    );
    await screen.findByText(`signed in as ${alice.username}`);
    fireEvent.click(screen.getByText("log out"));
    await screen.findByText("signed out");
    await expect(client.me()).rejects.toMatchObject({ status: 401, code: "not_authenticated" });
  });
});

describe("races", () => {
  it("a 401 to a request sent before the login does not end the session the login opened", async () => {
    // The start's /api/me (no cookie yet: 401) is held back until the login has answered, as
    // on a slow network where the user logs in before the app knew there was no session.
    const jar = cookieJarFetch();
    let releaseMe: () => void = () => {};
    const meHeld = new Promise<void>((r) => (releaseMe = r));
    let heldOnce = false;
    const client = createSpaAuthClient({
      baseUrl,
      fetch: async (request) => {
        const response = await jar.fetch(request);
        if (!heldOnce && new URL(request.url).pathname === "/api/me") {
          heldOnce = true;
          await meHeld;
        }
        return response;
      },
    });
    function Page() {
      const { login } = useLogin();
      return (
        <>
          <Status />
          <button type="button" onClick={() => void login(alice.username, alice.password).then(releaseMe)}>
            log in
          </button>
        </>
      );
    }
    render(
      <AuthProvider client={client} refreshOnFocus={false}>
        <Page />
      </AuthProvider>,
    );
    expect(screen.getByText("loading")).toBeTruthy();
    fireEvent.click(screen.getByText("log in"));
    await screen.findByText(`signed in as ${alice.username}`);
    // The late 401 has arrived by now (released after the login); the session stands.
    await new Promise((r) => setTimeout(r, 200));
    expect(heldOnce).toBe(true);
    expect(screen.getByText(`signed in as ${alice.username}`)).toBeTruthy();
    expect((await client.me()).username).toBe(alice.username);
  });
});

describe("RequireAuth", () => {
  function Guarded({ roles }: { roles?: string[] }) {
    return (
      <RequireAuth
        {...(roles ? { roles } : {})}
        loading={<p>guard: loading</p>}
        fallback={<p>guard: please log in</p>}
        forbidden={<p>guard: not allowed</p>}
      >
        <p>guard: the orders</p>
      </RequireAuth>
    );
  }

  it("shows the fallback to a visitor, after the loading element", async () => {
    render(
      <AuthProvider client={newClient()}>
        <Guarded />
      </AuthProvider>,
    );
    expect(screen.getByText("guard: loading")).toBeTruthy();
    await screen.findByText("guard: please log in");
  });

  it("lets a user with any one of the roles in, and refuses one with none of them", async () => {
    // zoë+orders has the roles "orders" and "café"; alice has none.
    const zoeClient = await loggedIn(zoe);
    const aliceClient = await loggedIn();
    render(
      <>
        <div data-testid="zoe-any-of">
          <AuthProvider client={zoeClient}>
            <Guarded roles={["admin", "orders"]} />
          </AuthProvider>
        </div>
        <div data-testid="zoe-admin">
          <AuthProvider client={zoeClient}>
            <Guarded roles={["admin"]} />
          </AuthProvider>
        </div>
        <div data-testid="alice-orders">
          <AuthProvider client={aliceClient}>
            <Guarded roles={["orders"]} />
          </AuthProvider>
        </div>
        <div data-testid="alice-no-roles">
          <AuthProvider client={aliceClient}>
            <Guarded />
          </AuthProvider>
        </div>
      </>,
    );
    await waitFor(() => {
      expect(screen.getByTestId("zoe-any-of").textContent).toBe("guard: the orders");
      expect(screen.getByTestId("zoe-admin").textContent).toBe("guard: not allowed");
      expect(screen.getByTestId("alice-orders").textContent).toBe("guard: not allowed");
      expect(screen.getByTestId("alice-no-roles").textContent).toBe("guard: the orders");
    });
  });
});
