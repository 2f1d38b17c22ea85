/**
 * A tiny History API router: the current location as React state, and `navigate`.
 * Links are real `<a href>` (see `Link`), so opening in a new tab still works.
 */
import { useSyncExternalStore } from "react";

const NAVIGATED = "spa:navigate";

function subscribe(onChange: () => void): () => void {
  window.addEventListener("popstate", onChange);
  window.addEventListener(NAVIGATED, onChange);
  return () => {
    window.removeEventListener("popstate", onChange);
    window.removeEventListener(NAVIGATED, onChange);
  };
}

const snapshot = () => window.location.pathname + window.location.search;

/** `pathname + search`, e.g. `/login?next=%2Fsessions`; re-renders on every navigation. */
export function useLocation(): string {
  return useSyncExternalStore(subscribe, snapshot);
}

export function navigate(to: string, { replace = false }: { replace?: boolean } = {}): void {
  if (to === snapshot()) return;
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event(NAVIGATED));
}

/**
 * Where to go after logging in: `?next=` when it is a path of this app, else home. Never an
 * absolute or protocol-relative URL (`//evil.example`), which would make an open redirect.
 */
export function nextFrom(location: string): string {
  const next = new URLSearchParams(location.split("?")[1] ?? "").get("next");
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

export function loginPathFor(location: string): string {
  return location === "/" ? "/login" : `/login?next=${encodeURIComponent(location)}`;
}

/** A message for the next page, e.g. "Your account is ready" on the login page after sign-up. */
let notice: { path: string; text: string } | undefined;

/** Navigates to `to` and leaves `text` for the page there to show once. */
export function navigateWithNotice(to: string, text: string): void {
  notice = { path: to.split("?")[0] ?? to, text };
  navigate(to);
}

/** The notice left for `path`, if any (read during render; see `clearNotice`). */
export function peekNotice(path: string): string | undefined {
  return notice?.path === path ? notice.text : undefined;
}

/** Forgets the notice once shown, so that it does not come back on a later visit. */
export function clearNotice(): void {
  notice = undefined;
}
