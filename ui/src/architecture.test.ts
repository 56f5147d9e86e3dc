// @vitest-environment node
// Guards of two rules that review alone would not keep: only ui/src/api/
// talks to Tauri, and no source builds markup from strings or sets inline
// styles (text from peers must stay text; the CSP forbids inline styles).
import { describe, expect, it } from "vitest";

// Vite inlines every source file's text here at build time of the test.
const raw = import.meta.glob<string>(["./**/*.ts", "!./**/*.test.ts"], { query: "?raw", import: "default", eager: true });
const files = Object.entries(raw).map(([path, text]) => ({ path: path.replace(/^\.\//, ""), text }));

describe("architecture", () => {
  it("finds the sources", () => {
    expect(files.map((f) => f.path)).toContain("api/commands.ts");
    expect(files.length).toBeGreaterThan(10);
  });
  it("only ui/src/api imports @tauri-apps/api", () => {
    const offenders = files.filter((f) => !f.path.startsWith("api/") && /from\s+["']@tauri-apps\//.test(f.text)).map((f) => f.path);
    expect(offenders).toEqual([]);
  });
  it("no innerHTML, insertAdjacentHTML, document.write, eval or inline styles", () => {
    const banned = /\.innerHTML\s*=|\.outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(|\.style\.|setAttribute\(\s*["']style/;
    const offenders = files.filter((f) => banned.test(f.text.replace(/^\s*\/\/.*$/gm, ""))).map((f) => f.path);
    expect(offenders).toEqual([]);
  });
});
