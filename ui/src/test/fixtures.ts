// Valid payloads as Rust must send them (docs/ui-api.md), shared by tests.
import type { CallSnapshot, CallStats, Contact } from "../api/types";

export function snap(over: Partial<CallSnapshot> = {}): CallSnapshot {
  return {
    callId: "c1",
    peer: "bob",
    direction: "outgoing",
    echo: false,
    state: "ringing-out",
    peerTrust: "unverified",
    sas: null,
    activeSince: null,
    muted: false,
    reason: null,
    message: null,
    ...over,
  };
}

export function active(over: Partial<CallSnapshot> = {}): CallSnapshot {
  return snap({ state: "active", sas: ["042", "917"], activeSince: 1_000_000, ...over });
}

export function ended(reason: CallSnapshot["reason"], over: Partial<CallSnapshot> = {}): CallSnapshot {
  return snap({ state: "ended", reason, ...over });
}

export function stats(over: Partial<CallStats> = {}): CallStats {
  return {
    callId: "c1",
    rttMs: 40,
    lossPct: 0.5,
    jitterMs: 8,
    sendKbps: 32,
    recvKbps: 31,
    jitterBufferMs: 60,
    concealed: 3,
    recovered: 12,
    path: "direct",
    ipVersion: 4,
    ...over,
  };
}

export function contact(username: string, over: Partial<Contact> = {}): Contact {
  return { username, presence: "online", trust: "unverified", lastCallAt: null, ...over };
}
