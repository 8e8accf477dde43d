import { defineConfig } from "vite";

// Preact's JSX through esbuild: no framework plugin needed.
export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // hls.js (about 190 KB gzipped) is imported when a player mounts, in a
    // chunk of its own: the app's own code stays small and is cached apart.
    chunkSizeWarningLimit: 700,
  },
  server: { proxy: { "/api": "http://127.0.0.1:8080", "/cdn": "http://127.0.0.1:8080" } },
});
