import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` serves the SPA on http://localhost:5173 and forwards /api to spa-auth on its
// default address, so the browser sees one origin, as in production where spa-auth serves
// dist/ itself (`spa-auth serve --spa-dir dist`).
export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/api": "http://localhost:8080",
    },
  },
  build: {
    outDir: "dist",
    // spa-auth's CSP has no 'unsafe-inline' and no data: scripts: keep every asset a file.
    assetsInlineLimit: 0,
  },
});
