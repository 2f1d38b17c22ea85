import { useEffect } from "react";
import { useSession, useUser } from "@spa-auth/react";
import { Page } from "../ui";

const dateTime = (iso: string | undefined) => (iso ? new Date(iso).toLocaleString() : "—");

export function HomePage() {
  const user = useUser();
  const { refresh } = useSession();
  // Fresh from the server on every visit: roles can change at any time. (A 401 here, as
  // anywhere, sends the user to the login page; other errors just keep what is shown.)
  useEffect(() => {
    void refresh();
  }, [refresh]);
  const name = [user.first_name, user.last_name].filter(Boolean).join(" ") || user.username;
  return (
    <Page title={`Welcome, ${name}`}>
      <dl className="facts">
        <dt>Username</dt>
        <dd data-testid="username">{user.username}</dd>
        <dt>Email</dt>
        <dd>{user.email || "—"}</dd>
        <dt>Roles</dt>
        <dd data-testid="roles">
          {user.roles.length === 0 ? (
            "none"
          ) : (
            <ul className="roles">
              {user.roles.map((r) => (
                <li key={r}>{r}</li>
              ))}
            </ul>
          )}
        </dd>
        <dt>Member since</dt>
        <dd>{dateTime(user.date_joined)}</dd>
        <dt>Last login</dt>
        <dd>{dateTime(user.last_login)}</dd>
      </dl>
    </Page>
  );
}
