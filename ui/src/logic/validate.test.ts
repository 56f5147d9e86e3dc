// @vitest-environment node
import { describe, expect, it } from "vitest";
import { checkAdvertise, checkPassphrase, checkPort, checkRegistryUrl, checkUsername } from "./validate";

describe("checkUsername", () => {
  it.each(["bob", "alice_1", "a.b-c", "x".repeat(32), "  bob  "])("accepts %j", (u) => {
    expect(checkUsername(u)).toEqual({ ok: true, value: u.trim() });
  });
  it("refuses too short and too long names with the limit in the message", () => {
    expect(checkUsername("ab")).toEqual({ ok: false, error: "At least 3 characters." });
    expect(checkUsername("x".repeat(33))).toEqual({ ok: false, error: "At most 32 characters." });
    expect(checkUsername("   ")).toMatchObject({ ok: false, error: "Choose a username." });
  });
  it("tells uppercase apart from other bad characters", () => {
    expect(checkUsername("Bob")).toEqual({ ok: false, error: "Use lowercase letters only." });
    for (const bad of ["bo b", "bob!", "bøb", "bob/..", "<b>x"]) {
      expect(checkUsername(bad)).toMatchObject({ ok: false, error: expect.stringContaining("Only letters") });
    }
  });
});

describe("checkRegistryUrl", () => {
  it("normalises good addresses", () => {
    expect(checkRegistryUrl("http://127.0.0.1:5001/")).toEqual({ ok: true, value: "http://127.0.0.1:5001" });
    expect(checkRegistryUrl(" https://reg.example.org ")).toEqual({ ok: true, value: "https://reg.example.org" });
    expect(checkRegistryUrl("https://example.org/pq/")).toEqual({ ok: true, value: "https://example.org/pq" });
    expect(checkRegistryUrl("http://[::1]:5001")).toEqual({ ok: true, value: "http://[::1]:5001" });
  });
  it("adds http:// to a bare host:port", () => {
    expect(checkRegistryUrl("192.168.1.20:5001")).toEqual({ ok: true, value: "http://192.168.1.20:5001" });
    expect(checkRegistryUrl("localhost:5001")).toEqual({ ok: true, value: "http://localhost:5001" });
  });
  it("refuses other schemes, credentials, queries and garbage", () => {
    expect(checkRegistryUrl("")).toMatchObject({ ok: false });
    expect(checkRegistryUrl("ftp://x.org")).toMatchObject({ ok: false, error: expect.stringContaining("http") });
    expect(checkRegistryUrl("javascript://alert(1)")).toMatchObject({ ok: false });
    expect(checkRegistryUrl("http://u:p@x.org")).toMatchObject({ ok: false, error: expect.stringContaining("password") });
    expect(checkRegistryUrl("http://x.org/?a=1")).toMatchObject({ ok: false });
    expect(checkRegistryUrl("http://x.org/#f")).toMatchObject({ ok: false });
    expect(checkRegistryUrl("http://")).toMatchObject({ ok: false });
    expect(checkRegistryUrl("http://exa mple.org")).toMatchObject({ ok: false });
  });
});

describe("other fields", () => {
  it("passphrases must be long enough and typed twice the same", () => {
    expect(checkPassphrase("short", "short")).toMatchObject({ ok: false });
    expect(checkPassphrase("long enough pass", "long enough pas")).toEqual({ ok: false, error: "The two passphrases differ." });
    expect(checkPassphrase("long enough pass", "long enough pass")).toEqual({ ok: true, value: "long enough pass" });
  });
  it("ports are 1..65535 or empty", () => {
    expect(checkPort("")).toEqual({ ok: true, value: null });
    expect(checkPort("5001")).toEqual({ ok: true, value: 5001 });
    expect(checkPort("0")).toMatchObject({ ok: false });
    expect(checkPort("65536")).toMatchObject({ ok: false });
    expect(checkPort("50a")).toMatchObject({ ok: false });
    expect(checkPort("-1")).toMatchObject({ ok: false });
  });
  it("advertised addresses are host:port", () => {
    expect(checkAdvertise("")).toEqual({ ok: true, value: null });
    expect(checkAdvertise("203.0.113.7:40000")).toEqual({ ok: true, value: "203.0.113.7:40000" });
    expect(checkAdvertise("[2001:db8::1]:40000")).toMatchObject({ ok: true });
    expect(checkAdvertise("203.0.113.7")).toMatchObject({ ok: false });
    expect(checkAdvertise("host:70000")).toMatchObject({ ok: false });
    expect(checkAdvertise("http://h:1")).toMatchObject({ ok: false });
  });
});
