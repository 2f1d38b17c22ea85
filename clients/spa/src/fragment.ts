import { useSyncExternalStore } from "react";

/**
 * Secrets from a mailed link's fragment (`/verify-email#token=…`, `/reset-password#token=…`,
 * `/signup#invite=…`). Browsers never send a fragment to a server, so the token reaches no
 * log and no `Referer`; this module takes it out of the address bar as soon as the app starts
 * (`history.replaceState`, before anything renders), so it is not left in the history, in a
 * bookmark or on a screen share either. The pages then ask `fragmentParam` for it.
 *
 * Imported for its side effect first thing in `main.tsx`.
 */

/** The fragment parameters this app treats as secrets. */
const SECRET_PARAMS = ["token", "invite"] as const;
export type SecretParam = (typeof SECRET_PARAMS)[number];

interface Captured {
  /** The path the link pointed at: the values are for that page only. */
  path: string;
  values: Map<SecretParam, string>;
}

let captured: Captured | undefined;
const CAPTURED = "spa:fragment";

function capture(): void {
  const hash = window.location.hash;
  if (hash.length <= 1) return;
  const params = new URLSearchParams(hash.slice(1));
  const values = new Map<SecretParam, string>();
  for (const name of SECRET_PARAMS) {
    const value = params.get(name);
    if (value) values.set(name, value);
  }
  if (values.size === 0) return;
  captured = { path: window.location.pathname, values };
  // Keep the path and query; drop the fragment, without adding a history entry.
  window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search);
}

capture();
// A link pasted into the tab that already shows this page changes only the fragment.
window.addEventListener("hashchange", () => {
  capture();
  window.dispatchEvent(new Event(CAPTURED));
});

// Leaving the page the link opened forgets its secret: coming back in-app is a plain visit.
const forgetElsewhere = () => {
  if (captured && captured.path !== window.location.pathname) captured = undefined;
};
window.addEventListener("popstate", forgetElsewhere);
window.addEventListener("spa:navigate", forgetElsewhere);

function subscribe(onChange: () => void): () => void {
  window.addEventListener(CAPTURED, onChange);
  return () => window.removeEventListener(CAPTURED, onChange);
}

/**
 * The value of `#name=…` from the link that opened `path`, or `undefined`. It stays readable
 * (while the page is the one the link opened) after it has left the address bar.
 */
export function useFragmentParam(path: string, name: SecretParam): string | undefined {
  return useSyncExternalStore(subscribe, () => (captured?.path === path ? captured.values.get(name) : undefined));
}
