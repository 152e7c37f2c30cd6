// The build writes the page into the gateway's static folder (served at / and /static/),
// flat, so the Python package data pattern `static/*` covers every file.
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "/static/",
  build: {
    outDir: "../gateway_svc/static",
    emptyOutDir: true,
    assetsDir: "",
    sourcemap: true,
    chunkSizeWarningLimit: 1000,
  },
  test: {
    environment: "node",
    include: ["test/**/*.test.ts"],
    // The page's style sheet as its text (tests read its rules), not the empty stand-in.
    css: { include: [/style\.css/] },
  },
});
