// @vitest-environment node
import { describe, expect, it } from "vitest";
import type { BackendEvent } from "../api/events";
import { active, contact, ended, snap, stats } from "../test/fixtures";
import { callAnnouncement, callBlock, canAccept, ENDED_MEMORY, initialState, reduce, screenOf, type Action, type State } from "./state";

const info = { version: "0.1.0", registryUrl: "http://127.0.0.1:5001" };
const account = { username: "alice", registryUrl: "http://127.0.0.1:5001", fingerprint: "ab12 cd34" };

function run(...actions: Action[]): State {
  return actions.reduce(reduce, initialState());
}
function ev(event: BackendEvent, now = 0): Action {
  return { type: "event", event, now };
}
const signedIn: Action = { type: "booted", info, account, call: null };

describe("phases", () => {
  it("starts loading, goes to first run without an account, to contacts with one", () => {
    expect(screenOf(initialState())).toBe("loading");
    expect(screenOf(run({ type: "booted", info, account: null, call: null }))).toBe("first-run");
    expect(screenOf(run(signedIn))).toBe("contacts");
  });
  it("stays on the first-run screen after sign-up until the user continues", () => {
    const s = run({ type: "booted", info, account: null, call: null }, { type: "signed-up", account });
    expect(screenOf(s)).toBe("first-run");
    expect(s.account).toEqual(account);
    expect(screenOf(reduce(s, { type: "welcome-done" }))).toBe("contacts");
  });
  it("ignores welcome-done without an account", () => {
    expect(screenOf(run({ type: "booted", info, account: null, call: null }, { type: "welcome-done" }))).toBe("first-run");
  });
  it("restores a call that was running when the UI loaded", () => {
    expect(screenOf(run({ type: "booted", info, account, call: active() }))).toBe("in-call");
  });
});

describe("outgoing call", () => {
  it("ringing, connecting, active, ended, back to the tab it came from", () => {
    let s = run(signedIn, { type: "tab", tab: "history" }, { type: "call", call: snap() });
    expect(screenOf(s)).toBe("outgoing");
    expect(callAnnouncement(s)).toBe("Calling bob…");
    s = reduce(s, ev({ name: "call-state", payload: snap({ state: "connecting" }) }));
    expect(screenOf(s)).toBe("in-call");
    s = reduce(s, ev({ name: "call-state", payload: active() }));
    expect(s.call?.sas).toEqual(["042", "917"]);
    s = reduce(s, ev({ name: "call-state", payload: ended("remote-hung-up") }));
    expect(screenOf(s)).toBe("history");
    expect(s.call).toBeNull();
    expect(s.lastEnded?.text).toBe("bob hung up.");
    expect(callAnnouncement(s)).toBe("bob hung up.");
  });
  it("does not go backwards when start_call returns after the active event", () => {
    let s = run(signedIn, ev({ name: "call-state", payload: active() }));
    s = reduce(s, { type: "call", call: snap() });
    expect(s.call?.state).toBe("active");
  });
  it("drops late events for a call that has ended", () => {
    let s = run(signedIn, { type: "call", call: snap() }, ev({ name: "call-state", payload: ended("rejected") }));
    s = reduce(s, ev({ name: "call-state", payload: active() }));
    expect(s.call).toBeNull();
    s = reduce(s, ev({ name: "incoming-call", payload: { callId: "c1", peer: "bob", peerTrust: "unverified" } }));
    expect(s.incoming).toBeNull();
    expect(s.lastEnded?.reason).toBe("rejected");
  });
  it("remembers a bounded number of ended calls", () => {
    let s = run(signedIn);
    for (let i = 0; i < ENDED_MEMORY + 5; i++) s = reduce(s, ev({ name: "call-state", payload: ended("missed", { callId: `x${i}` }) }));
    expect(s.endedIds).toHaveLength(ENDED_MEMORY);
    expect(s.endedIds[0]).toBe("x5");
  });
  it("keeps stats only for the current call and clears them when it ends", () => {
    let s = run(signedIn, { type: "call", call: active() });
    s = reduce(s, ev({ name: "call-stats", payload: stats({ callId: "other" }) }, 5));
    expect(s.stats).toBeNull();
    s = reduce(s, ev({ name: "call-stats", payload: stats() }, 7));
    expect(s.stats?.rttMs).toBe(40);
    expect(s.statsAt).toBe(7);
    s = reduce(s, ev({ name: "audio-levels", payload: { mic: 0.5, speaker: 0.2 } }));
    s = reduce(s, ev({ name: "call-state", payload: ended("hung-up") }));
    expect(s.stats).toBeNull();
    expect(s.levels).toEqual({ mic: 0, speaker: 0 });
  });
  it("the same audio levels again leave the state as it is (nothing to redraw)", () => {
    const s = reduce(run(signedIn, { type: "call", call: active() }), ev({ name: "audio-levels", payload: { mic: 0.5, speaker: 0.2 } }));
    expect(reduce(s, ev({ name: "audio-levels", payload: { mic: 0.5, speaker: 0.2 } }))).toBe(s);
    expect(reduce(s, ev({ name: "audio-levels", payload: { mic: 0.5, speaker: 0.25 } })).levels).toEqual({ mic: 0.5, speaker: 0.25 });
  });
  it("mute applies to the current call only", () => {
    expect(run(signedIn, { type: "muted", muted: true }).call).toBeNull();
    expect(run(signedIn, { type: "call", call: active() }, { type: "muted", muted: true }).call?.muted).toBe(true);
  });
});

describe("incoming call", () => {
  const incoming = { callId: "in1", peer: "carol", peerTrust: "verified" as const };
  it("shows a popup over the current screen and accepting leads to the call", () => {
    let s = run(signedIn, { type: "tab", tab: "settings" }, ev({ name: "incoming-call", payload: incoming }));
    expect(s.incoming).toEqual(incoming);
    expect(screenOf(s)).toBe("settings");
    expect(callAnnouncement(s)).toBe("Incoming call from carol.");
    // The matching call-state event changes nothing.
    s = reduce(s, ev({ name: "call-state", payload: snap({ callId: "in1", peer: "carol", direction: "incoming", state: "ringing-in" }) }));
    expect(s.incoming).toEqual(incoming);
    s = reduce(s, { type: "call", call: snap({ callId: "in1", peer: "carol", direction: "incoming", state: "connecting" }) });
    expect(s.incoming).toBeNull();
    expect(screenOf(s)).toBe("in-call");
  });
  it("a call-state ringing-in alone also opens the popup", () => {
    const s = run(signedIn, ev({ name: "call-state", payload: snap({ callId: "in1", peer: "carol", state: "ringing-in", peerTrust: "key-changed" }) }));
    expect(s.incoming).toEqual({ callId: "in1", peer: "carol", peerTrust: "key-changed" });
  });
  it("closes an open dialog so the popup is on top", () => {
    const s = run(
      signedIn,
      { type: "dialog", dialog: { kind: "verify", username: "bob", number: null } },
      ev({ name: "incoming-call", payload: incoming }),
    );
    expect(s.dialog).toBeNull();
    expect(s.incoming).toEqual(incoming);
  });
  it("the caller hanging up turns it into a missed call", () => {
    const s = run(signedIn, ev({ name: "incoming-call", payload: incoming }), ev({ name: "call-state", payload: ended("missed", { callId: "in1", peer: "carol", direction: "incoming" }) }));
    expect(s.incoming).toBeNull();
    expect(s.lastEnded?.text).toBe("Missed call from carol.");
  });
  it("never replaces a call in progress", () => {
    const s = run(signedIn, { type: "call", call: active() }, ev({ name: "incoming-call", payload: incoming }));
    expect(s.incoming).toBeNull();
    expect(s.call?.callId).toBe("c1");
  });
  it("cannot be accepted while the caller's key change is not accepted", () => {
    expect(canAccept({ ...incoming, peerTrust: "key-changed" })).toBe(false);
    expect(canAccept({ ...incoming, peerTrust: "unverified" })).toBe(true);
    let s = run(signedIn, ev({ name: "incoming-call", payload: { ...incoming, peerTrust: "key-changed" } }));
    s = reduce(s, { type: "trust", username: "carol", trust: "unverified" });
    expect(s.incoming && canAccept(s.incoming)).toBe(true);
  });
});

describe("contacts", () => {
  it("applies presence and key changes to the list", () => {
    let s = run(signedIn, { type: "contacts", query: "", contacts: [contact("bob"), contact("carol")] });
    s = reduce(s, ev({ name: "presence", payload: { username: "bob", presence: "offline" } }));
    s = reduce(s, ev({ name: "key-changed", payload: { username: "carol" } }));
    expect(s.contacts).toEqual([contact("bob", { presence: "offline" }), contact("carol", { trust: "key-changed" })]);
  });
  it("drops a search result for a query the user has typed past", () => {
    let s = run(signedIn, { type: "query", query: "bo" });
    s = reduce(s, { type: "contacts", query: "b", contacts: [contact("bert")] });
    expect(s.contacts).toEqual([]);
    s = reduce(s, { type: "contacts", query: "bo", contacts: [contact("bob")] });
    expect(s.contacts).toEqual([contact("bob")]);
  });
  it("blocks calls to a contact whose key changed until the change is accepted", () => {
    let s = run(signedIn, { type: "contacts", query: "", contacts: [contact("bob")] }, ev({ name: "key-changed", payload: { username: "bob" } }));
    const bob = () => s.contacts[0]!;
    expect(callBlock(s, bob())).toMatch(/safety number changed/);
    s = reduce(s, { type: "trust", username: "bob", trust: "unverified" });
    expect(callBlock(s, bob())).toBeNull();
  });
  it("blocks calls during a call, while ringing, and to ourselves", () => {
    const s = run(signedIn);
    expect(callBlock(reduce(s, { type: "call", call: active() }), contact("bob"))).toMatch(/already in a call/);
    expect(callBlock(reduce(s, ev({ name: "incoming-call", payload: { callId: "i", peer: "x", peerTrust: "verified" } })), contact("bob"))).toMatch(
      /incoming/,
    );
    expect(callBlock(s, contact("alice"))).toBe("This is you.");
  });
  it("trust changes reach the open dialog", () => {
    let s = run(signedIn, {
      type: "dialog",
      dialog: { kind: "verify", username: "bob", number: { username: "bob", groups: ["12345"], trust: "unverified", fingerprint: "ab".repeat(32) } },
    });
    s = reduce(s, { type: "trust", username: "bob", trust: "verified" });
    expect(s.dialog?.number?.trust).toBe("verified");
  });
});
