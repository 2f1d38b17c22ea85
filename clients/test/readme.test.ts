/**
 * The READMEs of both packages name spa-auth's paths (`GET /api/auth/verify`,
 * `raw.GET("/api/me")`, ...): each must be one the spec has, with that method, so that a
 * newcomer copying from them never meets a 404. Paths of the reader's own backend (`/api/orders`)
 * and wildcards (`/api/auth/*`) are not spa-auth operations and are left out.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const read = (path: string) => readFileSync(new URL(path, import.meta.url), "utf8");
const spec = JSON.parse(read("../../openapi/openapi.json")) as { paths: Record<string, Record<string, unknown>> };

/** Every `METHOD /path`, `METHOD("/path"` and bare `/api/...` path of `text`, with its line. */
function pathsIn(text: string): { line: number; method: string | undefined; path: string }[] {
  const found: { line: number; method: string | undefined; path: string }[] = [];
  text.split("\n").forEach((content, i) => {
    const re = /(?:\b(GET|POST|PUT|PATCH|DELETE)\b[\s("`]{1,3})?(\/(?:api|healthz|livez|readyz|metrics)\b[A-Za-z0-9_/{}.*-]*)/g;
    for (const m of content.matchAll(re)) {
      const path = (m[2] ?? "").replace(/[.]+$/, "");
      if (path.includes("*") || path.startsWith("/api/orders")) continue;
      found.push({ line: i + 1, method: m[1], path });
    }
  });
  return found;
}

describe("READMEs", () => {
  for (const file of ["../README.md", "../react/README.md"]) {
    it(`every spa-auth path in ${file.slice(3)} is in the spec, with its method`, () => {
      const mentioned = pathsIn(read(file));
      expect(mentioned.length).toBeGreaterThan(0);
      const wrong = mentioned
        .filter(({ method, path }) => {
          const operations = spec.paths[path];
          return operations === undefined || (method !== undefined && !(method.toLowerCase() in operations));
        })
        .map(({ line, method, path }) => `line ${line}: ${method ?? ""} ${path}`.replace(": ", ": ").trim());
      expect(wrong).toEqual([]);
    });
  }
});
