// @vitest-environment node
import { describe, expect, it } from "vitest";
import { active, ended, snap, stats } from "../test/fixtures";
import { parseAppInfo } from "./app";
import { ContractError } from "./parse";
import {
  parseAccount,
  parseAudioLevels,
  parseCallSnapshot,
  parseCallStats,
  parseContacts,
  parseDeviceList,
  parseHistory,
  parseHostStatus,
  parseNetworkStatus,
  parseOptionalAccount,
  parseSafetyNumber,
  parseSettings,
} from "./types";

describe("payload parsers", () => {
  it("app_info", () => {
    expect(parseAppInfo({ version: "0.1.0", registryUrl: "http://127.0.0.1:5001" })).toEqual({
      version: "0.1.0",
      registryUrl: "http://127.0.0.1:5001",
    });
    expect(() => parseAppInfo(null)).toThrow(ContractError);
    expect(() => parseAppInfo({ version: 1, registryUrl: "x" })).toThrow(/version/);
    expect(() => parseAppInfo({ version: "1" })).toThrow(/registryUrl/);
  });
  it("accounts, and null before sign-up", () => {
    const a = { username: "alice", registryUrl: "http://r", fingerprint: "ab12" };
    expect(parseOptionalAccount(null)).toBeNull();
    expect(parseOptionalAccount(a)).toEqual(a);
    expect(() => parseOptionalAccount(undefined)).toThrow();
    expect(() => parseAccount({ ...a, username: "" })).toThrow(/username/);
    expect(() => parseAccount([a])).toThrow(/object/);
  });
  it("keeps only the contract's fields", () => {
    const a = parseAccount({ username: "alice", registryUrl: "http://r", fingerprint: "ab", secretKey: "xx" });
    expect(Object.keys(a).sort()).toEqual(["fingerprint", "registryUrl", "username"]);
  });
  it("contacts reject unknown presence or trust values", () => {
    const ok = { username: "bob", presence: "online", trust: "verified", lastCallAt: null };
    expect(parseContacts([ok])).toHaveLength(1);
    expect(parseContacts([{ ...ok, lastCallAt: undefined }])[0]?.lastCallAt).toBeNull();
    expect(() => parseContacts([{ ...ok, presence: "away" }])).toThrow(/presence/);
    // The registry no longer tells anyone who is in a call.
    expect(() => parseContacts([{ ...ok, presence: "in_call" }])).toThrow(/presence/);
    expect(() => parseContacts([{ ...ok, trust: "trusted" }])).toThrow(/trust/);
    expect(() => parseContacts({ 0: ok })).toThrow(/array/);
    expect(() => parseContacts([ok, 5])).toThrow(/\[1\]/);
  });
  it("call snapshots hold their invariants", () => {
    expect(parseCallSnapshot(active())).toEqual(active());
    expect(parseCallSnapshot(ended("busy")).reason).toBe("busy");
    expect(() => parseCallSnapshot(snap({ state: "ended" }))).toThrow(/reason/);
    expect(() => parseCallSnapshot({ ...snap(), reason: "hung-up" })).toThrow(/reason/);
    expect(() => parseCallSnapshot({ ...ended("busy"), reason: "exploded" })).toThrow(/reason/);
    expect(() => parseCallSnapshot(active({ sas: null }))).toThrow(/authentication/);
    expect(() => parseCallSnapshot(active({ sas: [] }))).toThrow(/authentication/);
    expect(() => parseCallSnapshot(active({ activeSince: null }))).toThrow(/active/);
    expect(() => parseCallSnapshot({ ...snap(), state: "ringing" })).toThrow(/state/);
    expect(() => parseCallSnapshot({ ...snap(), callId: "" })).toThrow(/callId/);
    expect(() => parseCallSnapshot({ ...snap(), muted: "no" })).toThrow(/muted/);
  });
  it("stats refuse impossible numbers", () => {
    expect(parseCallStats(stats())).toEqual(stats());
    expect(parseCallStats(stats({ rttMs: null })).rttMs).toBeNull();
    expect(() => parseCallStats(stats({ lossPct: 101 }))).toThrow(/lossPct/);
    expect(() => parseCallStats(stats({ jitterMs: -1 }))).toThrow(/jitterMs/);
    expect(() => parseCallStats(stats({ concealed: 1.5 }))).toThrow(/integer/);
    expect(() => parseCallStats({ ...stats(), sendKbps: Number.NaN })).toThrow(/finite/);
    expect(() => parseCallStats({ ...stats(), recvKbps: "31" })).toThrow(/recvKbps/);
  });
  it("stats name the path once one carries the call", () => {
    expect(parseCallStats(stats({ path: "relayed", ipVersion: 6 }))).toMatchObject({ path: "relayed", ipVersion: 6 });
    expect(parseCallStats({ ...stats(), path: null, ipVersion: null })).toMatchObject({ path: null, ipVersion: null });
    expect(() => parseCallStats({ ...stats(), path: "carrier-pigeon" })).toThrow(/path/);
    expect(() => parseCallStats({ ...stats(), ipVersion: 5 })).toThrow(/ipVersion/);
    expect(() => parseCallStats({ ...stats(), ipVersion: "4" })).toThrow(/ipVersion/);
  });
  it("a call that found no path ends with its own reason", () => {
    expect(parseCallSnapshot(ended("no-path", { message: "could not reach bob: no network path" })).reason).toBe("no-path");
  });
  it("network status: servers, or an error and nothing else", () => {
    expect(parseNetworkStatus({ stun: true, relays: ["udp", "tcp"], error: null })).toEqual({ stun: true, relays: ["udp", "tcp"], error: null });
    expect(parseNetworkStatus({ stun: false, relays: [], error: "offline" }).error).toBe("offline");
    expect(() => parseNetworkStatus({ stun: true, relays: ["tls"], error: null })).toThrow(/relays/);
    expect(() => parseNetworkStatus({ stun: true, relays: [], error: "offline" })).toThrow(/failed/);
    expect(() => parseNetworkStatus({ stun: true, error: null })).toThrow(/relays/);
  });
  it("levels stay within 0..1", () => {
    expect(parseAudioLevels({ mic: 0, speaker: 1 })).toEqual({ mic: 0, speaker: 1 });
    expect(() => parseAudioLevels({ mic: 1.2, speaker: 0 })).toThrow(/mic/);
  });
  it("safety numbers are groups of digits with the whole key fingerprint", () => {
    const fingerprint = "0f".repeat(32);
    const n = { username: "bob", groups: ["12345", "67890"], trust: "unverified", fingerprint };
    expect(parseSafetyNumber(n).groups).toHaveLength(2);
    expect(parseSafetyNumber(n).fingerprint).toBe(fingerprint);
    expect(() => parseSafetyNumber({ ...n, groups: [] })).toThrow(/groups/);
    expect(() => parseSafetyNumber({ ...n, groups: ["12a45"] })).toThrow(/groups/);
    expect(() => parseSafetyNumber({ ...n, fingerprint: undefined })).toThrow(/fingerprint/);
    expect(() => parseSafetyNumber({ ...n, fingerprint: "0f".repeat(8) })).toThrow(/fingerprint/);
  });
  it("devices, settings, history and host status", () => {
    expect(
      parseDeviceList({ inputs: [{ id: "d1", name: "Mic", isDefault: true }], outputs: [], selectedInput: null, selectedOutput: "x" }),
    ).toMatchObject({ selectedOutput: "x" });
    expect(() => parseDeviceList({ inputs: [{ id: "", name: "Mic", isDefault: true }], outputs: [] })).toThrow(/id/);
    const base = { registryUrl: "http://r", registryFingerprint: null, allowInsecureHttp: false, ringSound: true, notifications: true, advertiseAddress: null };
    expect(() => parseSettings({ ...base, ringSound: "yes", alwaysRelay: false, relayStrangers: true })).toThrow(/ringSound/);
    expect(parseSettings({ ...base, alwaysRelay: true, relayStrangers: false })).toMatchObject({ alwaysRelay: true, relayStrangers: false });
    expect(() => parseSettings({ ...base, relayStrangers: true })).toThrow(/alwaysRelay/);
    expect(() => parseSettings({ ...base, alwaysRelay: false })).toThrow(/relayStrangers/);
    const h = { callId: "c", peer: "bob", echo: false, direction: "incoming", outcome: "missed", startedAt: 1, durationSecs: 0 };
    expect(parseHistory([h])).toEqual([h]);
    expect(() => parseHistory([{ ...h, outcome: "lost" }])).toThrow(/outcome/);
    expect(parseHostStatus({ running: false, urls: [], dataDir: null }).running).toBe(false);
    expect(() => parseHostStatus({ running: true, urls: [], fingerprint: "AB12", dataDir: null })).toThrow(/address/);
    const hosted = { running: true, urls: ["https://192.168.1.20:5001"], fingerprint: "AB12 CD34", dataDir: "/d" };
    expect(parseHostStatus(hosted).fingerprint).toBe("AB12 CD34");
    expect(() => parseHostStatus({ ...hosted, fingerprint: null })).toThrow(/fingerprint/);
    const settings = { registryUrl: "https://r", ringSound: true, notifications: true, advertiseAddress: null, alwaysRelay: false, relayStrangers: true };
    expect(parseSettings({ ...settings, registryFingerprint: "AB12", allowInsecureHttp: false })).toMatchObject({
      registryFingerprint: "AB12",
      allowInsecureHttp: false,
    });
    expect(() => parseSettings({ ...settings, registryFingerprint: null })).toThrow(/allowInsecureHttp/);
  });
});
