// Text the screens show, computed from contract data. Pure, so that every
// wording and rounding rule is tested once here.
import type { CallStats, Direction, EndReason, NetworkStatus, Outcome, Presence, Trust } from "../api/types";

/** Call timer: m:ss below an hour, h:mm:ss above. Negative input reads 0:00. */
export function formatDuration(totalSecs: number): string {
  const s = Math.max(0, Math.floor(totalSecs));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** Seconds a call has been active at `now` (both in Unix ms). */
export function elapsedSecs(activeSince: number | null, now: number): number {
  return activeSince === null ? 0 : Math.max(0, Math.floor((now - activeSince) / 1000));
}

function fixed(n: number, digits: number): string {
  return n.toFixed(digits);
}

/** One row of the statistics panel. */
export interface StatLine {
  key: "rtt" | "loss" | "jitter" | "bitrate" | "buffer" | "repair";
  label: string;
  value: string;
}

/** The statistics panel, in a fixed order. */
export function statLines(s: CallStats): StatLine[] {
  return [
    { key: "rtt", label: "Round trip", value: s.rttMs === null ? "measuring…" : `${Math.round(s.rttMs)} ms` },
    { key: "loss", label: "Packet loss", value: `${fixed(s.lossPct, s.lossPct < 10 ? 1 : 0)} %` },
    { key: "jitter", label: "Jitter", value: `${Math.round(s.jitterMs)} ms` },
    {
      key: "bitrate",
      label: "Bitrate",
      value: `↑ ${Math.round(s.sendKbps)} kbit/s · ↓ ${Math.round(s.recvKbps)} kbit/s`,
    },
    { key: "buffer", label: "Jitter buffer", value: `${Math.round(s.jitterBufferMs)} ms` },
    { key: "repair", label: "Frames repaired", value: `${s.recovered} recovered · ${s.concealed} concealed` },
  ];
}

export function presenceText(p: Presence): string {
  return p === "online" ? "Online" : "Offline";
}

export function trustText(t: Trust): string {
  return t === "verified" ? "Verified" : t === "key-changed" ? "Safety number changed" : "Not verified";
}

/** What the user reads when a call ends, from our side of it. */
export function endText(reason: EndReason, peer: string, message: string | null, direction: Direction = "outgoing"): string {
  const incoming = direction === "incoming";
  const base: Record<EndReason, string> = {
    "hung-up": `Call with ${peer} ended.`,
    "remote-hung-up": `${peer} hung up.`,
    cancelled: incoming ? `${peer} cancelled the call.` : `Call to ${peer} cancelled.`,
    rejected: incoming ? `You declined the call from ${peer}.` : `${peer} declined the call.`,
    missed: incoming ? `Missed call from ${peer}.` : `${peer} did not answer.`,
    busy: `${peer} is in another call.`,
    offline: `${peer} is offline.`,
    "connection-lost": `The connection to ${peer} was lost.`,
    "no-path": `Could not reach ${peer}: no network path.`,
    failed: `The call with ${peer} failed.`,
  };
  const detail = message !== null && message.length > 0 ? message : null;
  // The engine words a missing path as a whole sentence ("could not reach
  // bob: no network path (the registry has no relay configured)").
  if (reason === "no-path" && detail !== null) return sentence(detail);
  return detail !== null && (reason === "failed" || reason === "connection-lost") ? `${base[reason]} ${detail}` : base[reason];
}

/** `text` with a capital first letter and a final full stop. */
function sentence(text: string): string {
  const t = text.trim();
  const capital = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** The call screen's path badge: "Direct · IPv4", "Relayed · IPv6"; null until a path carries the call. */
export function pathText(s: CallStats | null): string | null {
  if (s === null || s.path === null) return null;
  const how = s.path === "direct" ? "Direct" : "Relayed";
  return s.ipVersion === null ? how : `${how} · IPv${s.ipVersion}`;
}

/** The Settings page's lines about what the registry offers for calls between homes. */
export function networkLines(n: NetworkStatus): string[] {
  if (n.error !== null) return [`Could not ask the registry: ${n.error}`];
  const stun = n.stun
    ? "Address discovery (STUN): available; calls learn this network's public address."
    : "Address discovery (STUN): not offered by this registry.";
  if (n.relays.length === 0) {
    return [stun, "Relay (TURN): none configured. Calls that find no direct path fail, and with “Always relay” on every call fails."];
  }
  const kinds = [...new Set(n.relays)].map((t) => t.toUpperCase()).join(" and ");
  const count = n.relays.length === 1 ? "1 relay" : `${n.relays.length} relays`;
  return [stun, `Relay (TURN): ${count} over ${kinds}.`];
}

export function outcomeText(o: Outcome, direction: Direction): string {
  switch (o) {
    case "answered":
      return direction === "outgoing" ? "Outgoing" : "Incoming";
    case "missed":
      return direction === "incoming" ? "Missed" : "No answer";
    case "rejected":
      return direction === "incoming" ? "Declined" : "Declined by contact";
    case "cancelled":
      return "Cancelled";
    case "busy":
      return "Busy";
    case "failed":
      return "Failed";
  }
}

/** "14:05" for today, "Yesterday 14:05", else "2026-11-24 14:05" (local time). */
export function formatWhen(at: number, now: number): string {
  const d = new Date(at);
  const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  const day = (t: Date) => `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, "0")}-${String(t.getDate()).padStart(2, "0")}`;
  const today = new Date(now);
  if (day(d) === day(today)) return hm;
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (day(d) === day(yesterday)) return `Yesterday ${hm}`;
  return `${day(d)} ${hm}`;
}

/** A level 0..1 as a whole percentage, for meters' accessible text. */
export function levelPercent(level: number): number {
  return Math.round(Math.min(1, Math.max(0, level)) * 100);
}
