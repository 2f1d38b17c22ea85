// Fails when a package's version is not the spec's `info.version`: @spa-auth/client is generated
// from that spec, and @spa-auth/react asks for that client, so the three move together. Bump the
// spec (the workspace version in Cargo.toml), then both package.json files, the react package's
// peer range on the client, and run `npm install` in each to update the lock files.
import { readFileSync } from "node:fs";

const read = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"));
const spec = read("../../openapi/openapi.json").info.version;
const client = read("../package.json");
const react = read("../react/package.json");
const checks = [
  ["clients/package.json version", client.version, spec],
  ["clients/package-lock.json version", read("../package-lock.json").version, spec],
  ["clients/react/package.json version", react.version, spec],
  ["clients/react/package-lock.json version", read("../react/package-lock.json").version, spec],
  ['clients/react peerDependencies["@spa-auth/client"]', react.peerDependencies?.["@spa-auth/client"], `^${spec}`],
];
let failed = false;
for (const [what, actual, expected] of checks) {
  if (actual !== expected) {
    console.error(`check-version: ${what} is ${JSON.stringify(actual)}, the spec's info.version asks for ${JSON.stringify(expected)}`);
    failed = true;
  }
}
if (failed) process.exit(1);
console.log(`@spa-auth/client and @spa-auth/react are at the spec's version ${spec}`);
