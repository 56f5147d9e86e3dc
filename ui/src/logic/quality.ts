// The connection-quality indicator. A call is as good as its worst figure:
// a fast link that drops 10 % of packets still sounds broken. Thresholds
// (also in docs/ui-api.md):
//   good  RTT <= 200 ms, loss <= 2 %, jitter <= 30 ms
//   fair  RTT <= 400 ms, loss <= 8 %, jitter <= 60 ms
//   poor  anything worse
// RTT 400 ms is ~200 ms one way, past the 150 ms that ITU-T G.114 calls
// transparent for conversation; Opus with FEC and redundancy hides a few
// percent of loss, beyond ~8 % gaps become audible. Stats older than
// STALE_MS (the engine sends one per second) give "unknown".
import type { CallStats } from "../api/types";

export type QualityLevel = "good" | "fair" | "poor" | "unknown";

export const THRESHOLDS = {
  good: { rttMs: 200, lossPct: 2, jitterMs: 30 },
  fair: { rttMs: 400, lossPct: 8, jitterMs: 60 },
} as const;

export const STALE_MS = 3000;

export interface Quality {
  level: QualityLevel;
  label: string;
  /** The figures that pulled the level down, for the tooltip and screen readers. */
  reasons: string[];
}

const RANK: Record<Exclude<QualityLevel, "unknown">, number> = { good: 0, fair: 1, poor: 2 };

function grade(value: number, good: number, fair: number): "good" | "fair" | "poor" {
  return value <= good ? "good" : value <= fair ? "fair" : "poor";
}

export function quality(stats: CallStats | null, receivedAt: number | null, now: number): Quality {
  if (stats === null || receivedAt === null || now - receivedAt > STALE_MS) {
    return { level: "unknown", label: "Measuring…", reasons: [] };
  }
  const { good, fair } = THRESHOLDS;
  const parts: { level: "good" | "fair" | "poor"; reason: string }[] = [
    { level: grade(stats.lossPct, good.lossPct, fair.lossPct), reason: `loss ${stats.lossPct.toFixed(1)} %` },
    { level: grade(stats.jitterMs, good.jitterMs, fair.jitterMs), reason: `jitter ${Math.round(stats.jitterMs)} ms` },
  ];
  if (stats.rttMs !== null) {
    parts.push({ level: grade(stats.rttMs, good.rttMs, fair.rttMs), reason: `round trip ${Math.round(stats.rttMs)} ms` });
  }
  const worst = parts.reduce<"good" | "fair" | "poor">((w, p) => (RANK[p.level] > RANK[w] ? p.level : w), "good");
  const reasons = worst === "good" ? [] : parts.filter((p) => p.level === worst).map((p) => p.reason);
  const label = worst === "good" ? "Good connection" : worst === "fair" ? "Fair connection" : "Poor connection";
  return { level: worst, label, reasons };
}
