// @vitest-environment node
import { describe, expect, it } from "vitest";
import {
  checkAdvertise,
  checkCertFingerprint,
  checkPassphrase,
  checkPort,
  checkRegistryUrl,
  checkUsername,
  isHttps,
  isPlainHttpBeyondLoopback,
} from "./validate";

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

describe("registry link", () => {
  it("warns about plain http beyond loopback only", () => {
    for (const u of ["http://192.168.1.20:5001", "http://[fd00::1]:5001", "http://registry.example.org", "http://nas:5001"]) {
      expect(isPlainHttpBeyondLoopback(u), u).toBe(true);
    }
    for (const u of ["http://127.0.0.1:5001", "http://localhost:5001", "http://[::1]:5001", "https://192.168.1.20:5001", "nonsense"]) {
      expect(isPlainHttpBeyondLoopback(u), u).toBe(false);
    }
    expect(isHttps("https://192.168.1.20:5001")).toBe(true);
    expect(isHttps("http://192.168.1.20:5001")).toBe(false);
  });

  it("reads a certificate fingerprint as people copy it", () => {
    const hex = "ab".repeat(32);
    const grouped = "ABAB ".repeat(16).trim();
    expect(checkCertFingerprint(hex)).toEqual({ ok: true, value: grouped });
    expect(checkCertFingerprint(grouped.toLowerCase())).toEqual({ ok: true, value: grouped });
    expect(checkCertFingerprint(Array(32).fill("AB").join(":"))).toEqual({ ok: true, value: grouped });
    expect(checkCertFingerprint("  ")).toEqual({ ok: true, value: null });
    expect(checkCertFingerprint("abcd")).toEqual({ ok: false, error: "64 hexadecimal digits are needed; this has 4." });
    expect(checkCertFingerprint("zz".repeat(32)).ok).toBe(false);
  });
});
