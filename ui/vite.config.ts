import { defineConfig } from "vitest/config";

// Tauri expects a fixed dev port and an app that works without a server at
// runtime (everything is bundled into ui/dist).
export default defineConfig({
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { outDir: "dist", target: "es2022", sourcemap: false },
  test: { environment: "jsdom", include: ["src/**/*.test.ts"] },
});
