import { defineConfig } from "vite";

// Multi-page build: the player (`/watch/{channel}`, `/embed/{channel}`) and the console shell.
// Assets get hashed names under /assets/; the onair binary embeds `dist/`.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    // hls.js alone is ~600 kB minified (188 kB gzip).
    chunkSizeWarningLimit: 1024,
    emptyOutDir: true,
    rollupOptions: {
      input: { watch: "watch.html", index: "index.html" },
    },
  },
});
