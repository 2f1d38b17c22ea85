import { useEffect, useState, type FormEvent } from "react";
import { isSpaAuthError, type PasskeyInfo } from "@spa-auth/client";
import { auth, describeError } from "../api";
import { useSession } from "@spa-auth/react";
import { Message } from "../ui";

/**
 * The Security page's passkeys: add one (the device makes it), rename, remove. Removing one
 * ends every session, this one too, as turning two-step login off does.
 */
export function PasskeysSection() {
  const { clear } = useSession();
  const [passkeys, setPasskeys] = useState<PasskeyInfo[]>();
  const [name, setName] = useState("");
  const [renaming, setRenaming] = useState<{ id: string; name: string }>();
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string>();
  const [error, setError] = useState<string>();

  const load = async () => {
    try {
      setPasskeys(await auth.passkeys());
    } catch (err) {
      setError(describeError(err));
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const run = async (step: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    try {
      await step();
    } catch (err) {
      // The browser's passkey dialog was cancelled or failed: no request was made.
      if (err instanceof DOMException) setError("No passkey was made.");
      else if (!isSpaAuthError(err)) setError(describeError(err));
      else if (err.code === "reauthentication_required") {
        setError("For this, log out and log in again: your last login is too long ago.");
      } else if (err.code === "not_enabled") setError("This server does not offer passkeys.");
      else if (err.code === "conflict") setError("This passkey is already registered.");
      else setError(describeError(err));
    }
    setBusy(false);
  };

  const add = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await auth.registerPasskey(name.trim() || undefined);
      setName("");
      setNotice("Passkey added.");
      await load();
    });
  };
  const rename = (e: FormEvent) => {
    e.preventDefault();
    if (!renaming) return;
    void run(async () => {
      await auth.renamePasskey(renaming.id, renaming.name.trim());
      setRenaming(undefined);
      await load();
    });
  };
  const remove = (id: string) =>
    run(async () => {
      await auth.removePasskey(id);
      clear();
    });

  return (
    <section aria-label="Passkeys">
      <h2>Passkeys</h2>
      {passkeys && passkeys.length === 0 && <p>No passkeys yet.</p>}
      <ul className="passkeys">
        {passkeys?.map((p) => (
          <li key={p.id}>
            {renaming?.id === p.id ? (
              <form onSubmit={rename} aria-label={`Rename ${p.name}`}>
                <label htmlFor="passkey-rename">New name</label>
                <input id="passkey-rename" required maxLength={64} value={renaming.name}
                  onChange={(e) => setRenaming({ id: p.id, name: e.target.value })} />
                <button type="submit" disabled={busy}>Save</button>
              </form>
            ) : (
              <>
                <span className="passkey-name">{p.name}</span>{" "}
                <span className="hint">
                  {p.last_used_at ? `last used ${new Date(p.last_used_at).toLocaleString()}` : "never used"}
                </span>{" "}
                <button type="button" className="link" onClick={() => setRenaming({ id: p.id, name: p.name })}>
                  Rename
                </button>{" "}
                <button type="button" className="link" onClick={() => void remove(p.id)} disabled={busy}>
                  Remove {p.name}
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      <form className="form" onSubmit={add} aria-label="Add a passkey">
        <label htmlFor="passkey-name">Name of the new passkey</label>
        <input id="passkey-name" maxLength={64} placeholder="Passkey" value={name}
          onChange={(e) => setName(e.target.value)} />
        <button type="submit" disabled={busy}>
          Add a passkey
        </button>
      </form>
      <Message kind="success">{notice}</Message>
      <Message kind="error">{error}</Message>
    </section>
  );
}
