import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.tsx"],
    environment: "jsdom",
    // The client package's: a real spa-auth with alice, bob and zoë+orders, on a fresh database.
    globalSetup: ["../test/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
