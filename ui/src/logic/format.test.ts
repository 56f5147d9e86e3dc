// @vitest-environment node
import { describe, expect, it } from "vitest";
import { stats } from "../test/fixtures";
import { elapsedSecs, endText, formatDuration, formatWhen, levelPercent, networkLines, outcomeText, pathText, statLines } from "./format";
import { quality, STALE_MS } from "./quality";

describe("timer", () => {
  it("formats m:ss and h:mm:ss", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(5.9)).toBe("0:05");
    expect(formatDuration(65)).toBe("1:05");
    expect(formatDuration(3599)).toBe("59:59");
    expect(formatDuration(3600)).toBe("1:00:00");
    expect(formatDuration(3725)).toBe("1:02:05");
    expect(formatDuration(-4)).toBe("0:00");
  });
  it("counts from when the call became active", () => {
    expect(elapsedSecs(null, 5000)).toBe(0);
    expect(elapsedSecs(1000, 62_999)).toBe(61);
    expect(elapsedSecs(5000, 1000)).toBe(0);
  });
});

describe("statLines", () => {
  it("shows each figure with its unit and rounding", () => {
    const lines = Object.fromEntries(statLines(stats({ rttMs: 41.6, lossPct: 12.34, jitterMs: 7.4 })).map((l) => [l.key, l.value]));
    expect(lines).toEqual({
      rtt: "42 ms",
      loss: "12 %",
      jitter: "7 ms",
      bitrate: "↑ 32 kbit/s · ↓ 31 kbit/s",
      buffer: "60 ms",
      repair: "12 recovered · 3 concealed",
    });
  });
  it("says when the round trip is not known yet and keeps a decimal for small loss", () => {
    const lines = statLines(stats({ rttMs: null, lossPct: 0.25 }));
    expect(lines.find((l) => l.key === "rtt")?.value).toBe("measuring…");
    expect(lines.find((l) => l.key === "loss")?.value).toBe("0.3 %");
  });
});

describe("quality", () => {
  const now = 100_000;
  it("is unknown without stats or when they are stale", () => {
    expect(quality(null, null, now).level).toBe("unknown");
    expect(quality(stats(), now - STALE_MS - 1, now).level).toBe("unknown");
    expect(quality(stats(), now - STALE_MS, now).level).toBe("good");
  });
  it("uses the thresholds inclusively", () => {
    expect(quality(stats({ rttMs: 200, lossPct: 2, jitterMs: 30 }), now, now).level).toBe("good");
    expect(quality(stats({ rttMs: 201 }), now, now).level).toBe("fair");
    expect(quality(stats({ lossPct: 8 }), now, now).level).toBe("fair");
    expect(quality(stats({ lossPct: 8.1 }), now, now).level).toBe("poor");
    expect(quality(stats({ jitterMs: 61 }), now, now).level).toBe("poor");
    expect(quality(stats({ rttMs: 401 }), now, now).level).toBe("poor");
  });
  it("takes the worst figure and names it", () => {
    const q = quality(stats({ rttMs: 20, lossPct: 9.5, jitterMs: 45 }), now, now);
    expect(q.level).toBe("poor");
    expect(q.reasons).toEqual(["loss 9.5 %"]);
    expect(q.label).toBe("Poor connection");
    expect(quality(stats(), now, now).reasons).toEqual([]);
  });
  it("judges by loss and jitter until the round trip is measured", () => {
    expect(quality(stats({ rttMs: null }), now, now).level).toBe("good");
    expect(quality(stats({ rttMs: null, jitterMs: 50 }), now, now).level).toBe("fair");
  });
});

describe("wording", () => {
  it("explains how a call ended, adding Rust's detail only for failures", () => {
    expect(endText("rejected", "bob", null)).toBe("bob declined the call.");
    expect(endText("missed", "bob", null, "incoming")).toBe("Missed call from bob.");
    expect(endText("missed", "bob", null, "outgoing")).toBe("bob did not answer.");
    expect(endText("rejected", "bob", null, "incoming")).toBe("You declined the call from bob.");
    expect(endText("connection-lost", "bob", "No packets for 10 s.")).toBe("The connection to bob was lost. No packets for 10 s.");
    expect(endText("hung-up", "bob", "ignored")).toBe("Call with bob ended.");
  });
  it("says a call found no path, with the engine's reason when it gave one", () => {
    expect(endText("no-path", "bob", null)).toBe("Could not reach bob: no network path.");
    expect(endText("no-path", "bob", "could not reach bob: no network path (the registry has no relay configured)")).toBe(
      "Could not reach bob: no network path (the registry has no relay configured).",
    );
    expect(endText("no-path", "bob", "could not reach bob: no network path.")).toBe("Could not reach bob: no network path.");
  });
  it("names the path that carries the call", () => {
    expect(pathText(null)).toBeNull();
    expect(pathText(stats({ path: null, ipVersion: null }))).toBeNull();
    expect(pathText(stats({ path: "direct", ipVersion: 4 }))).toBe("Direct · IPv4");
    expect(pathText(stats({ path: "relayed", ipVersion: 6 }))).toBe("Relayed · IPv6");
    expect(pathText(stats({ path: "relayed", ipVersion: null }))).toBe("Relayed");
  });
  it("describes what the registry offers for calls between homes", () => {
    expect(networkLines({ stun: true, relays: ["udp", "tcp"], error: null })).toEqual([
      "Address discovery (STUN): available; calls learn this network's public address.",
      "Relay (TURN): 2 relays over UDP and TCP.",
    ]);
    expect(networkLines({ stun: true, relays: ["udp"], error: null })[1]).toBe("Relay (TURN): 1 relay over UDP.");
    const none = networkLines({ stun: false, relays: [], error: null });
    expect(none[0]).toMatch(/not offered/);
    expect(none[1]).toMatch(/none configured/);
    expect(networkLines({ stun: false, relays: [], error: "the registry is offline" })).toEqual([
      "Could not ask the registry: the registry is offline",
    ]);
  });
  it("names history outcomes from our side", () => {
    expect(outcomeText("missed", "incoming")).toBe("Missed");
    expect(outcomeText("missed", "outgoing")).toBe("No answer");
    expect(outcomeText("rejected", "incoming")).toBe("Declined");
    expect(outcomeText("answered", "outgoing")).toBe("Outgoing");
  });
  it("dates history rows relative to today", () => {
    const now = new Date(2026, 10, 26, 18, 0).getTime();
    expect(formatWhen(new Date(2026, 10, 26, 9, 5).getTime(), now)).toBe("09:05");
    expect(formatWhen(new Date(2026, 10, 25, 23, 59).getTime(), now)).toBe("Yesterday 23:59");
    expect(formatWhen(new Date(2026, 10, 2, 7, 0).getTime(), now)).toBe("2026-11-02 07:00");
  });
  it("clamps levels", () => {
    expect(levelPercent(0.456)).toBe(46);
    expect(levelPercent(3)).toBe(100);
    expect(levelPercent(-1)).toBe(0);
  });
});
