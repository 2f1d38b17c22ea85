// Fails when src/generated/schema.ts is not what `npm run generate` makes from the committed
// spec (../openapi/openapi.json). Runs the very command of the "generate" script, with the
// output sent to a temp file, so the two can never disagree about options.
import { execSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const committed = "src/generated/schema.ts";
const generate = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts.generate;
const outFlag = `-o ${committed}`;
if (!generate.includes(outFlag)) {
  console.error(`check-generated: the "generate" script must contain "${outFlag}"; it is: ${generate}`);
  process.exit(2);
}

const tmp = mkdtempSync(join(tmpdir(), "spa-auth-client-gen-"));
try {
  const fresh = join(tmp, "schema.ts");
  execSync(generate.replace(outFlag, `-o ${JSON.stringify(fresh)}`), {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, PATH: `${join(root, "node_modules", ".bin")}${delimiter}${process.env.PATH ?? ""}` },
  });
  let current = "";
  try {
    current = readFileSync(join(root, committed), "utf8");
  } catch {
    // missing: reported as a difference below
  }
  if (current === readFileSync(fresh, "utf8")) {
    console.log(`${committed} matches ../openapi/openapi.json`);
  } else {
    const diff = spawnSync("diff", ["-u", "--label", `${committed} (committed)`, "--label", `${committed} (from ../openapi/openapi.json)`, join(root, committed), fresh], { encoding: "utf8" });
    console.error(diff.stdout || diff.stderr || "(diff unavailable)");
    console.error(`${committed} is out of date with ../openapi/openapi.json.`);
    console.error("Fix: cd clients && npm run generate   (then review and commit src/generated/schema.ts)");
    process.exitCode = 1;
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
