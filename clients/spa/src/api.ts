/**
 * The one spa-auth client of the app. Every API call goes through it, so `<AuthProvider>`
 * (main.tsx) sees every 401: whatever call finds the session over (ended elsewhere, expired,
 * password changed on another device), the app goes to the login page once, in one place, and
 * no page has to remember to do it.
 */
import { createSpaAuthClient, isSpaAuthError } from "@spa-auth/client";

// Same origin: spa-auth serves this app (or, in development, Vite proxies /api to it).
export const auth = createSpaAuthClient({ baseUrl: "" });

/** "14 seconds", "3 minutes", "1 hour 5 minutes": a wait for people to read. */
export function formatWait(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (s < 90) return plural(s, "second");
  const minutes = Math.ceil(s / 60);
  if (minutes < 90) return plural(minutes, "minute");
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? plural(h, "hour") : `${plural(h, "hour")} ${plural(m, "minute")}`;
}

/**
 * The message to show for a failed call that no page handles itself: throttling, the server
 * being down, the network. `undefined` for a 401, which the session handles (login page).
 */
export function describeError(e: unknown): string | undefined {
  if (isSpaAuthError(e)) {
    if (e.status === 401) return undefined;
    if (e.status === 429) {
      return e.retryAfter === undefined
        ? "Too many attempts. Please wait a while and try again."
        : `Too many attempts. Try again in ${formatWait(e.retryAfter)}.`;
    }
    if (e.status === 503) return "The server is unavailable right now. Please try again in a moment.";
    return `Something went wrong (${e.message}).`;
  }
  if (e instanceof TypeError) return "Cannot reach the server. Check your connection and try again.";
  return "Something went wrong.";
}
