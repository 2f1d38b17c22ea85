#!/usr/bin/env bash
# Installs the two packages as a team outside this repo would: `npm pack` each (dist/ must be
# built: test.sh builds it first), install the tarballs into an empty project in a temp dir,
# then type-check a file that uses them (against their own .d.ts, skipLibCheck off) and import
# them in Node. Fails on a missing `exports` entry, a file left out of `files`, a dependency that
# is only a devDependency, or types that do not compile outside this repo.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

pack() { (cd "$1" && npm pack --ignore-scripts --json --pack-destination "$tmp" | node -e \
  'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].filename))'); }
client_tgz="$tmp/$(pack .)"
react_tgz="$tmp/$(pack react)"
for tgz in "$client_tgz" "$react_tgz"; do
  listing="$(tar -tzf "$tgz")"
  for f in package/package.json package/README.md package/dist/index.js package/dist/index.d.ts; do
    grep -qx "$f" <<<"$listing" || { echo "pack-test: $f is missing from $(basename "$tgz")" >&2; exit 1; }
  done
  if grep -q '^package/test/' <<<"$listing"; then echo "pack-test: $(basename "$tgz") ships its tests" >&2; exit 1; fi
done

# The versions the react package is developed and tested with, so the install is the same each time.
dev() { node -p "require('./react/package.json').devDependencies['$1']"; }
react_version="$(dev react)"
react_types_version="$(dev @types/react)"
mkdir "$tmp/app"
cat >"$tmp/app/package.json" <<'JSON'
{ "name": "consumer", "private": true, "type": "module" }
JSON
(cd "$tmp/app" && npm install --no-audit --no-fund --prefer-offline --loglevel=error \
  "$client_tgz" "$react_tgz" "react@$react_version" "@types/react@$react_types_version")

cat >"$tmp/app/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022", "lib": ["ES2022", "DOM", "DOM.Iterable"],
    "module": "NodeNext", "moduleResolution": "NodeNext",
    "strict": true, "exactOptionalPropertyTypes": true, "noEmit": true, "skipLibCheck": false, "types": []
  },
  "files": ["app.ts"]
}
JSON
cat >"$tmp/app/app.ts" <<'TS'
import { createElement, type ReactElement } from "react";
import { createSpaAuthClient, isSpaAuthError, type ErrorCode, type SessionInfo, type User } from "@spa-auth/client";
import { AuthProvider, RequireAuth, useLogin, useLogout, useSession, type Session } from "@spa-auth/react";

const auth = createSpaAuthClient({ baseUrl: "https://auth.example.com" });
export const app: ReactElement = createElement(
  AuthProvider,
  { client: auth },
  createElement(RequireAuth, { roles: ["admin"], fallback: "please log in" }, "the admin page"),
);
export function useWho(): string {
  const session: Session = useSession();
  const { login } = useLogin();
  const { logout } = useLogout();
  void login;
  void logout;
  const user: User | undefined = session.user;
  return user?.username ?? session.status;
}
export async function devices(): Promise<string[]> {
  const list: SessionInfo[] = await auth.listSessions();
  return list.map((s) => s.device ?? s.user_agent ?? "unknown");
}
export function codeOf(e: unknown): ErrorCode | undefined {
  return isSpaAuthError(e) && !e.code.startsWith("http_") ? (e.code as ErrorCode) : undefined;
}
// @ts-expect-error -- a misspelt code is no ErrorCode, outside this repo too
export const misspelt: ErrorCode = "invalid_credentails";
TS
"$PWD/node_modules/.bin/tsc" -p "$tmp/app"
(cd "$tmp/app" && node --input-type=module -e '
  const client = await import("@spa-auth/client");
  const react = await import("@spa-auth/react");
  for (const [pkg, names] of [[client, ["createSpaAuthClient", "isSpaAuthError", "verifyIncoming"]],
                              [react, ["AuthProvider", "useSession", "useLogin", "useLogout", "RequireAuth"]]])
    for (const name of names) if (typeof pkg[name] !== "function") throw new Error(`${name} is not exported`);
')
echo "pack-test: $(basename "$client_tgz") and $(basename "$react_tgz") install, type-check and import"
