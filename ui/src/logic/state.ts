// The screen state machine. Every change, whether it comes from a Rust event,
// a command's result or a click, is an Action folded into State by `reduce`;
// which screen shows is derived from State by `screenOf`. Nothing here
// touches the DOM or Rust, so the whole flow is tested as data.
//
// Calls: Rust is the authority and each `call-state` event carries the whole
// call (a snapshot), so applying one is idempotent. Events and command
// results can race (the echo bot may answer before `start_call` returns), so
// a snapshot never moves a call backwards, and once a call id has ended,
// later snapshots for it are ignored.
import type { AppInfo } from "../api/app";
import type { BackendEvent } from "../api/events";
import type {
  Account,
  AudioLevels,
  CallSnapshot,
  CallState,
  CallStats,
  Contact,
  EndReason,
  IncomingCall,
  RegistryStatus,
  SafetyNumber,
  Trust,
} from "../api/types";
import { endText } from "./format";

export type Tab = "contacts" | "history" | "settings" | "help";
export type Screen = "loading" | "first-run" | "outgoing" | "in-call" | Tab;

export interface Notice {
  tone: "error" | "info";
  text: string;
}

/** A modal over the current screen. */
export type Dialog =
  /** Compare the safety number with a contact, then mark them verified. */
  | { kind: "verify"; username: string; number: SafetyNumber | null }
  /** A contact's key changed: show the new number, accept it or keep blocking. */
  | { kind: "key-change"; username: string; number: SafetyNumber | null };

export interface EndedCall {
  callId: string;
  peer: string;
  reason: EndReason;
  text: string;
}

export interface State {
  phase: "loading" | "first-run" | "main";
  info: AppInfo | null;
  account: Account | null;
  tab: Tab;
  query: string;
  contacts: Contact[];
  /** The call we take part in (placing, connecting or active). */
  call: CallSnapshot | null;
  /** A call ringing on this device, shown as the popup. */
  incoming: IncomingCall | null;
  /** Ids of calls that ended, newest last, bounded: late events for them are dropped. */
  endedIds: string[];
  lastEnded: EndedCall | null;
  stats: CallStats | null;
  statsAt: number | null;
  levels: AudioLevels;
  registry: RegistryStatus | null;
  dialog: Dialog | null;
  notice: Notice | null;
  /** A command in flight whose buttons must not be pressed twice. */
  pending: Pending | null;
}

export type Pending = "sign-up" | "call" | "accept" | "reject" | "hang-up" | "cancel" | "trust";

export const ENDED_MEMORY = 32;

export function initialState(): State {
  return {
    phase: "loading",
    info: null,
    account: null,
    tab: "contacts",
    query: "",
    contacts: [],
    call: null,
    incoming: null,
    endedIds: [],
    lastEnded: null,
    stats: null,
    statsAt: null,
    levels: { mic: 0, speaker: 0 },
    registry: null,
    dialog: null,
    notice: null,
    pending: null,
  };
}

export type Action =
  | { type: "booted"; info: AppInfo; account: Account | null; call: CallSnapshot | null }
  /** Sign-up worked; the first-run screen now shows the new identity. */
  | { type: "signed-up"; account: Account }
  | { type: "welcome-done" }
  /** The account changed (e.g. moved to another registry). */
  | { type: "account"; account: Account }
  | { type: "pending"; pending: Pending | null }
  | { type: "event"; event: BackendEvent; now: number }
  /** The result of start_call, echo_test or accept_call. */
  | { type: "call"; call: CallSnapshot }
  | { type: "query"; query: string }
  | { type: "contacts"; query: string; contacts: Contact[] }
  | { type: "tab"; tab: Tab }
  | { type: "trust"; username: string; trust: Trust }
  | { type: "muted"; muted: boolean }
  | { type: "dialog"; dialog: Dialog | null }
  | { type: "notice"; notice: Notice | null };

/** Order in which a call moves; a snapshot never goes back down. */
const RANK: Record<CallState, number> = { "ringing-out": 0, "ringing-in": 0, connecting: 1, active: 2, ended: 3 };

export function reduce(s: State, a: Action): State {
  switch (a.type) {
    case "booted": {
      const base: State = { ...s, info: a.info, account: a.account, phase: a.account ? "main" : "first-run" };
      return a.call ? applySnapshot(base, a.call) : base;
    }
    case "signed-up":
      return { ...s, account: a.account, notice: null };
    case "account":
      return { ...s, account: a.account };
    case "welcome-done":
      return s.account ? { ...s, phase: "main", tab: "contacts" } : s;
    case "pending":
      return { ...s, pending: a.pending };
    case "call":
      return applySnapshot(s, a.call);
    case "event":
      return applyEvent(s, a.event, a.now);
    case "query":
      return { ...s, query: a.query };
    case "contacts":
      // A reply to an older search must not overwrite the list for the
      // current one.
      return a.query === s.query ? { ...s, contacts: a.contacts } : s;
    case "tab":
      return { ...s, tab: a.tab };
    case "trust":
      return setTrust(s, a.username, a.trust);
    case "muted":
      return s.call ? { ...s, call: { ...s.call, muted: a.muted } } : s;
    case "dialog":
      return { ...s, dialog: a.dialog };
    case "notice":
      return { ...s, notice: a.notice };
  }
}

function applyEvent(s: State, e: BackendEvent, now: number): State {
  switch (e.name) {
    case "call-state":
      return applySnapshot(s, e.payload);
    case "incoming-call": {
      const c = e.payload;
      if (s.endedIds.includes(c.callId) || s.call !== null || s.incoming?.callId === c.callId) return s;
      // The popup must be on top and answerable at once: close any dialog.
      return { ...s, incoming: c, dialog: null };
    }
    case "call-stats":
      return s.call?.callId === e.payload.callId ? { ...s, stats: e.payload, statsAt: now } : s;
    case "audio-levels":
      // The same levels again change nothing on screen: keep the state, so
      // the controller skips the update.
      return e.payload.mic === s.levels.mic && e.payload.speaker === s.levels.speaker ? s : { ...s, levels: e.payload };
    case "presence":
      return {
        ...s,
        contacts: s.contacts.map((c) => (c.username === e.payload.username ? { ...c, presence: e.payload.presence } : c)),
      };
    case "key-changed":
      return setTrust(s, e.payload.username, "key-changed");
    case "registry-status":
      return { ...s, registry: e.payload };
  }
}

function applySnapshot(s: State, snap: CallSnapshot): State {
  if (s.endedIds.includes(snap.callId)) return s;

  if (snap.state === "ended") {
    const ours = s.call?.callId === snap.callId;
    const ringing = s.incoming?.callId === snap.callId;
    const reason = snap.reason ?? "failed";
    const endedIds = [...s.endedIds, snap.callId].slice(-ENDED_MEMORY);
    if (!ours && !ringing) return { ...s, endedIds };
    const lastEnded: EndedCall = { callId: snap.callId, peer: snap.peer, reason, text: endText(reason, snap.peer, snap.message, snap.direction) };
    return {
      ...s,
      endedIds,
      call: ours ? null : s.call,
      incoming: ringing ? null : s.incoming,
      stats: ours ? null : s.stats,
      statsAt: ours ? null : s.statsAt,
      levels: ours ? { mic: 0, speaker: 0 } : s.levels,
      lastEnded,
      // A dialog about the call's peer stays; it does not depend on the call.
    };
  }

  if (snap.state === "ringing-in") {
    // Rust answers `busy` itself while we are in a call; a stray ringing-in
    // must not replace the call on screen.
    if (s.call !== null || s.incoming?.callId === snap.callId) return s;
    return { ...s, incoming: { callId: snap.callId, peer: snap.peer, peerTrust: snap.peerTrust }, dialog: null };
  }

  if (s.call?.callId === snap.callId && RANK[snap.state] < RANK[s.call.state]) return s;
  const newCall = s.call?.callId !== snap.callId;
  return {
    ...s,
    call: snap,
    incoming: s.incoming?.callId === snap.callId ? null : s.incoming,
    lastEnded: newCall ? null : s.lastEnded,
    stats: newCall ? null : s.stats,
    statsAt: newCall ? null : s.statsAt,
  };
}

function setTrust(s: State, username: string, trust: Trust): State {
  return {
    ...s,
    contacts: s.contacts.map((c) => (c.username === username ? { ...c, trust } : c)),
    incoming: s.incoming?.peer === username ? { ...s.incoming, peerTrust: trust } : s.incoming,
    call: s.call?.peer === username ? { ...s.call, peerTrust: trust } : s.call,
    dialog:
      s.dialog !== null && s.dialog.username === username && s.dialog.number !== null
        ? { ...s.dialog, number: { ...s.dialog.number, trust } }
        : s.dialog,
  };
}

/** Which screen to show. An incoming call is a popup over it, not a screen. */
export function screenOf(s: State): Screen {
  if (s.phase === "loading") return "loading";
  if (s.phase === "first-run") return "first-run";
  if (s.call !== null) return s.call.state === "ringing-out" ? "outgoing" : "in-call";
  return s.tab;
}

/** Why a contact cannot be called right now, or null when it can. */
export function callBlock(s: State, c: Contact): string | null {
  if (c.trust === "key-changed") return `${c.username}'s safety number changed. Review and accept the new key before calling.`;
  if (s.call !== null) return "You are already in a call.";
  if (s.incoming !== null) return "Answer or decline the incoming call first.";
  if (s.account?.username === c.username) return "This is you.";
  return null;
}

/** An incoming call from a contact whose key changed cannot be accepted until the change is accepted. */
export function canAccept(c: IncomingCall): boolean {
  return c.peerTrust !== "key-changed";
}

/** The sentence the aria-live region announces for the call, or "". */
export function callAnnouncement(s: State): string {
  if (s.incoming) return `Incoming call from ${s.incoming.peer}.`;
  const c = s.call;
  if (c) {
    const who = c.echo ? "the echo test" : c.peer;
    switch (c.state) {
      case "ringing-out":
        return `Calling ${who}…`;
      case "connecting":
        return `Connecting to ${who}…`;
      case "active":
        return `In call with ${who}.`;
      default:
        return "";
    }
  }
  return s.lastEnded?.text ?? "";
}
