import { useCallback, useEffect, useState } from "react";
import { isSpaAuthError, type SessionInfo } from "@spa-auth/client";
import { auth, describeError } from "../api";
import { Message, Page } from "../ui";

const dateTime = (iso: string) => new Date(iso).toLocaleString();
/** What people recognise a session by: the device the server made of the User-Agent, else the header itself. */
const deviceOf = (s: SessionInfo) => s.device ?? s.user_agent ?? "Unknown browser";

export function SessionsPage() {
  const [sessions, setSessions] = useState<SessionInfo[]>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();

  const load = useCallback(async () => {
    try {
      // This session first, then the others as the server lists them (newest first).
      const list = await auth.listSessions();
      setSessions([...list.filter((s) => s.current), ...list.filter((s) => !s.current)]);
    } catch (e) {
      setError(describeError(e)); // a 401 is handled by the session: off to the login page
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  /** Runs an action, then shows `success` (or the error) and reloads the list. */
  const act = async (action: () => Promise<string>) => {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      setDone(await action());
    } catch (e) {
      // 404: it had already ended (elsewhere, or it expired); the reloaded list shows that.
      setError(isSpaAuthError(e) && e.status === 404 ? "That session had already ended." : describeError(e));
    }
    await load();
    setBusy(false);
  };

  const endOne = (s: SessionInfo) =>
    act(async () => {
      await auth.endSession(s.id);
      return "The session has ended.";
    });
  const endOthers = () =>
    act(async () => {
      const { ended } = await auth.endOtherSessions();
      return ended === 1 ? "1 other session has ended." : `${ended} other sessions have ended.`;
    });

  const others = sessions?.filter((s) => !s.current).length ?? 0;
  return (
    <Page title="My sessions">
      <p className="hint">Every browser or device where you are logged in. End any you do not recognise.</p>
      {error ? <Message kind="error">{error}</Message> : <Message kind="success">{done}</Message>}
      {sessions === undefined ? (
        !error && <p className="loading" role="status">Loading…</p>
      ) : (
        <>
          <table className="sessions">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Address</th>
                <th scope="col">Logged in</th>
                <th scope="col">Last active</th>
                <th scope="col">
                  <span className="visually-hidden">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sessions.map((s) => (
                <tr key={s.id} className={s.current ? "current" : undefined} data-session-id={s.id}>
                  {/* "Chrome 156 on Linux" as the server parsed it; the raw header on hover. */}
                  <td className="agent" title={s.user_agent}>
                    {s.current && <strong className="badge">This session</strong>}
                    {deviceOf(s)}
                  </td>
                  <td>{s.ip ?? "—"}</td>
                  <td>{dateTime(s.created_at)}</td>
                  <td>{dateTime(s.last_seen_at)}</td>
                  <td>
                    {!s.current && (
                      <button type="button" className="secondary" disabled={busy} onClick={() => endOne(s)}
                        aria-label={`End the session from ${deviceOf(s)}, last active ${dateTime(s.last_seen_at)}`}>
                        End
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <button type="button" disabled={busy || others === 0} onClick={endOthers}>
            End all other sessions
          </button>
        </>
      )}
    </Page>
  );
}
