import { describe, expect, it } from "vitest";
import { parseAppInfo } from "./api/app";
import { renderError, renderStart } from "./view";

describe("parseAppInfo", () => {
  it("accepts the shape the Rust command returns", () => {
    expect(parseAppInfo({ version: "0.1.0", registryUrl: "http://127.0.0.1:5001" })).toEqual({
      version: "0.1.0",
      registryUrl: "http://127.0.0.1:5001",
    });
  });
  it("rejects anything else", () => {
    expect(() => parseAppInfo(null)).toThrow();
    expect(() => parseAppInfo({ version: 1, registryUrl: "x" })).toThrow();
    expect(() => parseAppInfo({ version: "1" })).toThrow();
  });
});

describe("views", () => {
  it("shows version and registry as text, never as HTML", () => {
    const root = document.createElement("main");
    renderStart(root, { version: "9.9.9", registryUrl: "<b>http://x</b>" });
    expect(root.querySelector("h1")?.textContent).toBe("pqvoice");
    const url = root.querySelector("[data-testid=registry-url]");
    expect(url?.textContent).toBe("<b>http://x</b>");
    expect(root.querySelector("b")).toBeNull();
    expect(root.textContent).toContain("9.9.9");
  });
  it("renders errors as an alert", () => {
    const root = document.createElement("main");
    renderError(root, "boom");
    expect(root.querySelector("[role=alert]")?.textContent).toBe("boom");
  });
});
