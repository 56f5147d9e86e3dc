// The whole UI in jsdom over a scripted backend: the real App, views and
// Api wrappers, driven through clicks, key presses and Rust-shaped events.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App, TICK_SLACK_MS } from "./app";
import { FINGERPRINT, FakeBackend, FakeRinger, HOST_FINGERPRINT, settle } from "./test/backend";
import { active, ended, snap, stats } from "./test/fixtures";

let root: HTMLElement;
let backend: FakeBackend;
let ringer: FakeRinger;
let app: App;
let now = 1_795_000_000_000;

const $ = <T extends HTMLElement = HTMLElement>(testid: string): T | null => root.querySelector<T>(`[data-testid="${testid}"]`);
const must = <T extends HTMLElement = HTMLElement>(testid: string): T => {
  const el = $<T>(testid);
  if (!el) throw new Error(`no element ${testid}`);
  return el;
};
function inRowQ<T extends HTMLElement = HTMLElement>(row: string, testid: string): T | null {
  return must(row).querySelector<T>(`[data-testid="${testid}"]`);
}
function inRow<T extends HTMLElement = HTMLElement>(row: string, testid: string): T {
  const el = inRowQ<T>(row, testid);
  if (!el) throw new Error(`no ${testid} in ${row}`);
  return el;
}
function key(k: string, opts: KeyboardEventInit = {}, target: EventTarget = document.body): void {
  target.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...opts }));
}
function type(el: HTMLInputElement, value: string): void {
  el.value = value;
  el.dispatchEvent(new Event("input", { bubbles: true }));
}

async function boot(signedIn = true): Promise<void> {
  if (signedIn) backend.account = { username: "alice", registryUrl: "http://127.0.0.1:5001", fingerprint: "ab12 cd34" };
  app = new App(root, { api: backend.api(), listen: backend.listen, ringer, now: () => now, searchDelayMs: 0 });
  await app.start();
  await settle();
}

beforeEach(() => {
  root = document.createElement("div");
  document.body.replaceChildren(root);
  backend = new FakeBackend();
  ringer = new FakeRinger();
  now = 1_795_000_000_000;
});
afterEach(() => app.stop());

describe("first run", () => {
  it("shows the title and the registry the app was started with (the e2e smoke test relies on both)", async () => {
    await boot(false);
    expect(root.querySelector("h1")?.textContent).toBe("pqvoice");
    expect(must("registry-url").textContent).toBe("http://127.0.0.1:5001");
    expect(must<HTMLInputElement>("first-run-registry").value).toBe("http://127.0.0.1:5001");
  });

  it("still shows the first screen when the account command fails", async () => {
    backend.handlers.get_account = () => {
      throw "command get_account not found";
    };
    await boot(false);
    expect(must("first-run")).toBeTruthy();
    expect(must("registry-url").textContent).toBe("http://127.0.0.1:5001");
    expect(must("notice-text").textContent).toContain("get_account");
  });

  it("validates fields before signing up, then shows the fingerprint", async () => {
    await boot(false);
    type(must<HTMLInputElement>("first-run-username"), "Al");
    must<HTMLButtonElement>("first-run-submit").click();
    await settle();
    expect(backend.called("sign_up")).toEqual([]);
    expect(root.textContent).toContain("At least 3 characters.");
    expect(must("first-run-username").getAttribute("aria-invalid")).toBe("true");

    // A LAN address over plain http: a warning the user must confirm.
    type(must<HTMLInputElement>("first-run-registry"), "192.168.1.20:5001");
    expect(must("first-run-insecure-warning").hidden).toBe(false);
    expect(must("first-run-registry-fingerprint").closest(".field")?.hasAttribute("hidden")).toBe(true);
    type(must<HTMLInputElement>("first-run-username"), "alice");
    must<HTMLButtonElement>("first-run-submit").click();
    await settle();
    expect(backend.called("sign_up")).toEqual([]);
    expect(must("first-run-insecure-ok").getAttribute("aria-invalid")).toBe("true");
    must<HTMLInputElement>("first-run-insecure-ok").click();
    must<HTMLButtonElement>("first-run-submit").click();
    await settle();
    expect(backend.called("sign_up")).toEqual([
      { registryUrl: "http://192.168.1.20:5001", username: "alice", registryFingerprint: null, allowInsecureHttp: true },
    ]);
    expect(must("fingerprint").textContent).toBe("1a2b 3c4d 5e6f");
    expect(must("registry-url").textContent).toBe("http://192.168.1.20:5001");

    must<HTMLButtonElement>("first-run-continue").click();
    await settle();
    expect(must("contacts")).toBeTruthy();
    expect($("contact-bob")).not.toBeNull();
    expect($("echo-test")).not.toBeNull();
  });

  it("shows the registry's refusal and lets the user try another name", async () => {
    backend.handlers.sign_up = () => {
      throw { kind: "username-taken", message: "That username is taken." };
    };
    await boot(false);
    type(must<HTMLInputElement>("first-run-username"), "bob");
    must<HTMLButtonElement>("first-run-submit").click();
    await settle();
    expect(must("notice").getAttribute("role")).toBe("alert");
    expect(must("notice-text").textContent).toBe("That username is taken.");
    expect(must<HTMLButtonElement>("first-run-submit").disabled).toBe(false);
  });
});

describe("contacts", () => {
  it("lists contacts with presence, searches through Rust, renders names as text", async () => {
    backend.contacts.push({ username: "<img src=x>", presence: "online", trust: "verified", lastCallAt: null });
    await boot();
    expect(must("contact-bob").querySelector("[data-testid=presence]")?.textContent).toBe("Online");
    expect(must("contact-carol").querySelector("[data-testid=presence]")?.textContent).toBe("Offline");
    expect(root.querySelector("img")).toBeNull();

    backend.emit("presence", { username: "carol", presence: "online" });
    expect(must("contact-carol").querySelector("[data-testid=presence]")?.textContent).toBe("Online");

    type(must<HTMLInputElement>("contacts-search"), "car");
    await settle();
    expect(backend.called("list_contacts").at(-1)).toEqual({ query: "car" });
    expect($("contact-bob")).toBeNull();
    expect($("contact-carol")).not.toBeNull();
    expect($("echo-test")).toBeNull();
  });

  it("opens with the heading focused, not the search field (no blinking caret); / and Ctrl+F go to the search", async () => {
    await boot();
    const heading = root.querySelector("#contacts-title");
    expect(document.activeElement).toBe(heading);
    expect(document.activeElement?.tagName).not.toBe("INPUT");
    key("/");
    expect(document.activeElement).toBe(must("contacts-search"));
    (heading as HTMLElement).focus();
    key("f", { ctrlKey: true });
    expect(document.activeElement).toBe(must("contacts-search"));
    // Typing "/" in the field is text, not a shortcut.
    const typed = new KeyboardEvent("keydown", { key: "/", bubbles: true, cancelable: true });
    must("contacts-search").dispatchEvent(typed);
    expect(typed.defaultPrevented).toBe(false);
  });

  it("keeps keyboard focus on the same button when the list is rebuilt", async () => {
    await boot();
    inRow<HTMLButtonElement>("contact-carol", "call-button").focus();
    backend.emit("presence", { username: "carol", presence: "online" });
    expect(document.activeElement).toBe(inRow("contact-carol", "call-button"));
    expect(inRow("contact-carol", "presence").textContent).toBe("Online");
  });

  it("a changed key blocks the call until the new key is accepted", async () => {
    await boot();
    backend.emit("key-changed", { username: "bob" });
    const call = inRow<HTMLButtonElement>("contact-bob", "call-button");
    expect(call.disabled).toBe(true);
    expect(inRowQ("contact-bob", "key-change-warning")).not.toBeNull();
    call.click();
    await settle();
    expect(backend.called("start_call")).toEqual([]);

    backend.contacts[0] = { ...backend.contacts[0]!, trust: "key-changed" };
    inRow<HTMLButtonElement>("contact-bob", "review-key-button").click();
    await settle();
    expect(must("key-change-dialog").textContent).toContain("12345 67890 13579");
    backend.handlers.safety_number = (a) => ({ username: a.username, groups: ["99999"], trust: "unverified", fingerprint: "cd".repeat(32) });
    must<HTMLButtonElement>("accept-key-change").click();
    await settle();
    // The fingerprint of the number that was on screen goes with it.
    expect(backend.called("accept_key_change")).toEqual([{ username: "bob", fingerprint: FINGERPRINT }]);
    // Next the new number is offered for verification.
    expect(must("safety-dialog").textContent).toContain("99999");
    key("Escape");
    await settle();
    expect($("safety-dialog")).toBeNull();
    expect(inRowQ("contact-bob", "key-change-warning")).toBeNull();
    expect(inRow<HTMLButtonElement>("contact-bob", "call-button").disabled).toBe(false);
  });

  it("marks the contact blocked when Rust refuses the call for a key change", async () => {
    backend.handlers.start_call = () => {
      throw { kind: "key-changed", message: "bob's safety number changed." };
    };
    await boot();
    inRow<HTMLButtonElement>("contact-bob", "call-button").click();
    await settle();
    expect(must("notice-text").textContent).toBe("bob's safety number changed.");
    expect(inRowQ("contact-bob", "key-change-warning")).not.toBeNull();
  });

  it("verifies a safety number", async () => {
    await boot();
    inRow<HTMLButtonElement>("contact-bob", "verify-button").click();
    await settle();
    expect(must("safety-number").textContent).toBe("12345 67890 13579");
    expect(document.activeElement).toBe(must("close-dialog"));
    must<HTMLButtonElement>("mark-verified").click();
    await settle();
    expect(backend.called("mark_verified")).toEqual([{ username: "bob", fingerprint: FINGERPRINT }]);
    expect(must("safety-status").textContent).toBe("Verified");
    expect(must<HTMLButtonElement>("mark-verified").disabled).toBe(true);
    expect(must("contact-bob").querySelector("[data-testid=trust]")?.textContent).toBe("Verified");
  });

  it("shows the new digits when the key changed while the user compared", async () => {
    await boot();
    inRow<HTMLButtonElement>("contact-bob", "verify-button").click();
    await settle();
    expect(must("safety-number").textContent).toBe("12345 67890 13579");
    // Rust finds another key than the one these digits belong to.
    backend.handlers.mark_verified = () => {
      throw { kind: "not-compared", message: "The key of bob changed while you were comparing." };
    };
    backend.handlers.safety_number = (a) => ({ username: a.username, groups: ["99999"], trust: "unverified", fingerprint: "cd".repeat(32) });
    must<HTMLButtonElement>("mark-verified").click();
    await settle();
    expect(must("notice-text").textContent).toBe("The key of bob changed while you were comparing.");
    expect(must("safety-number").textContent).toBe("99999");
    expect(must("contact-bob").querySelector("[data-testid=trust]")?.textContent).not.toBe("Verified");
    // Marking now sends the fingerprint of the digits on screen.
    delete backend.handlers.mark_verified;
    must<HTMLButtonElement>("mark-verified").click();
    await settle();
    expect(backend.called("mark_verified").at(-1)).toEqual({ username: "bob", fingerprint: "cd".repeat(32) });
  });
});

describe("outgoing call", () => {
  it("rings, connects, shows SAS, timer, stats, mutes and hangs up", async () => {
    await boot();
    inRow<HTMLButtonElement>("contact-bob", "call-button").click();
    await settle();
    expect(backend.called("start_call")).toEqual([{ username: "bob" }]);
    expect(must("outgoing-view").textContent).toContain("Calling bob…");
    expect(must("call-status").textContent).toBe("Calling bob…");
    expect(document.activeElement).toBe(must("cancel-call"));
    expect($("tab-contacts")?.closest("nav")?.hidden).toBe(true);

    backend.emitCall(active({ activeSince: now }));
    expect(must("in-call-view")).toBeTruthy();
    expect(must("sas").textContent).toBe("042 917");
    expect(must("call-status").textContent).toBe("In call with bob.");
    now += 65_000;
    backend.emit("call-stats", stats({ lossPct: 9 }));
    // Stats wait for the next redraw; a meter update brings it.
    expect(must("call-timer").textContent).toBe("0:00");
    backend.emit("audio-levels", { mic: 0.5, speaker: 0.25 });
    expect(must("call-timer").textContent).toBe("1:05");
    expect(must("stat-rtt").textContent).toBe("40 ms");
    expect(must("quality").dataset.level).toBe("poor");
    expect(must("quality").textContent).toBe("Poor connection: loss 9.0 %");
    expect(must<HTMLMeterElement>("mic-level").value).toBe(0.5);
    expect(must<HTMLMeterElement>("speaker-level").value).toBe(0.25);
    expect(must("mic-level").getAttribute("aria-valuetext")).toBe("50 %");
    // Within the same second, levels move the meters and nothing else.
    now += 500;
    must("call-timer").textContent = "(not redrawn)";
    backend.emit("audio-levels", { mic: 0.2, speaker: 0.25 });
    expect(must<HTMLMeterElement>("mic-level").value).toBe(0.2);
    expect(must("call-timer").textContent).toBe("(not redrawn)");
    // The first update in the next second redraws the timer.
    now += 500;
    backend.emit("audio-levels", { mic: 0.3, speaker: 0.25 });
    expect(must("call-timer").textContent).toBe("1:06");

    must<HTMLButtonElement>("mute").click();
    await settle();
    expect(backend.called("set_mute")).toEqual([{ muted: true }]);
    expect(must("mute").getAttribute("aria-pressed")).toBe("true");
    key("m", { ctrlKey: true });
    await settle();
    expect(backend.called("set_mute").at(-1)).toEqual({ muted: false });

    key("Escape");
    await settle();
    expect(backend.called("hang_up")).toEqual([{ callId: "c1" }]);
    backend.emitCall(ended("hung-up"));
    expect(must("contacts")).toBeTruthy();
    expect(must("call-ended").textContent).toBe("Call with bob ended.");
  });

  it("the timer and the quality follow the clock", async () => {
    await boot();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const start = now;
      backend.emitCall(active({ activeSince: start }));
      expect(must("quality").dataset.level).toBe("unknown");
      // Stats are drawn by the next redraw: with the meters still, the tick
      // just after the call's next whole second.
      now = start + 300;
      backend.emit("call-stats", stats());
      expect(must("quality").dataset.level).toBe("unknown");
      const slack = TICK_SLACK_MS;
      now = start + 1_000 + slack - 1;
      vi.advanceTimersByTime(1_000 + slack - 1);
      expect(must("quality").dataset.level).toBe("unknown");
      now = start + 1_000 + slack;
      vi.advanceTimersByTime(1);
      expect(must("quality").dataset.level).toBe("good");
      expect(must("call-timer").textContent).toBe("0:01");
      // Every second after that, without meters or stats.
      now = start + 2_000 + slack;
      vi.advanceTimersByTime(1_000);
      expect(must("call-timer").textContent).toBe("0:02");
      // No stats for more than 3 s: the indicator says it does not know.
      now = start + 4_000 + slack;
      vi.advanceTimersByTime(2_000);
      expect(must("call-timer").textContent).toBe("0:04");
      expect(must("quality").dataset.level).toBe("unknown");
      // A meter update after new stats redraws at once and moves the tick
      // to just after the next whole second.
      now = start + 4_000 + slack + 100;
      backend.emit("call-stats", stats());
      backend.emit("audio-levels", { mic: 0.4, speaker: 0 });
      expect(must("quality").dataset.level).toBe("good");
      vi.advanceTimersByTime(1_000 - slack - 100);
      now = start + 5_000;
      expect(must("call-timer").textContent).toBe("0:04");
      now = start + 5_000 + slack;
      vi.advanceTimersByTime(slack);
      expect(must("call-timer").textContent).toBe("0:05");
    } finally {
      vi.useRealTimers();
    }
  });

  it("puts mute back when Rust refuses it", async () => {
    backend.handlers.set_mute = () => {
      throw { kind: "device", message: "No microphone." };
    };
    await boot();
    inRow<HTMLButtonElement>("contact-bob", "call-button").click();
    await settle();
    backend.emitCall(active());
    must<HTMLButtonElement>("mute").click();
    await settle();
    expect(must("mute").getAttribute("aria-pressed")).toBe("false");
    expect(must("notice-text").textContent).toBe("No microphone.");
  });

  it("cancel while ringing; a rejection is explained", async () => {
    await boot();
    inRow<HTMLButtonElement>("contact-bob", "call-button").click();
    await settle();
    must<HTMLButtonElement>("cancel-call").click();
    await settle();
    expect(backend.called("cancel_call")).toEqual([{ callId: "c1" }]);
    backend.emitCall(ended("rejected"));
    expect(must("call-ended").textContent).toBe("bob declined the call.");
  });

  it("shows whether the call is direct or relayed, and a call that found no path", async () => {
    await boot();
    inRow<HTMLButtonElement>("contact-bob", "call-button").click();
    await settle();
    backend.emitCall(active({ activeSince: now }));
    expect(must("call-path").hidden).toBe(true);
    backend.emit("call-stats", stats({ path: "relayed", ipVersion: 6 }));
    now += 1_000;
    backend.emit("audio-levels", { mic: 0.1, speaker: 0.1 });
    expect(must("call-path").hidden).toBe(false);
    expect(must("call-path").textContent).toBe("Relayed · IPv6");
    expect(must("call-path").dataset.path).toBe("relayed");
    // A better path took over.
    backend.emit("call-stats", stats({ path: "direct", ipVersion: 4 }));
    now += 1_000;
    backend.emit("audio-levels", { mic: 0.2, speaker: 0.1 });
    expect(must("call-path").textContent).toBe("Direct · IPv4");
    backend.emitCall(ended("no-path", { message: "could not reach bob: no network path (the registry has no relay configured)" }));
    expect(must("call-ended").textContent).toBe("Could not reach bob: no network path (the registry has no relay configured).");
  });

  it("the echo test calls echo_test and needs no SAS comparison", async () => {
    await boot();
    inRow<HTMLButtonElement>("echo-test", "call-button").click();
    await settle();
    expect(backend.called("echo_test")).toHaveLength(1);
    expect(must("outgoing-view").textContent).toContain("Calling Echo test…");
    backend.emitCall(active({ callId: "echo1", peer: "echo", echo: true }));
    expect(must("in-call-view").querySelector("h2")?.textContent).toBe("Echo test");
    expect(must("verify-safety-number").hidden).toBe(true);
  });
});

describe("incoming call", () => {
  const ring = { callId: "in1", peer: "carol", peerTrust: "verified" };

  it("pops up over any screen with focus on accept, rings, and Ctrl+Enter accepts", async () => {
    await boot();
    must<HTMLButtonElement>("tab-settings").click();
    await settle();
    backend.emit("incoming-call", ring);
    const popup = must("incoming-call");
    expect(popup.getAttribute("role")).toBe("alertdialog");
    expect(must("incoming-caller").textContent).toBe("carol");
    expect(must("incoming-trust").textContent).toBe("Safety number: verified");
    expect(document.activeElement).toBe(must("accept-call"));
    expect(ringer.ringing).toBe(true);
    expect(root.querySelector("main")?.hasAttribute("inert")).toBe(true);

    key("Enter", { ctrlKey: true });
    await settle();
    expect(backend.called("accept_call")).toEqual([{ callId: "in1" }]);
    expect($("incoming-call")).toBeNull();
    expect(ringer.ringing).toBe(false);
    expect(must("in-call-view")).toBeTruthy();
    expect(document.activeElement).toBe(must("hang-up"));
  });

  it("Esc declines; a caller who gives up leaves a missed call", async () => {
    await boot();
    backend.emit("incoming-call", ring);
    key("Escape");
    await settle();
    expect(backend.called("reject_call")).toEqual([{ callId: "in1" }]);
    backend.emitCall(ended("rejected", { callId: "in1", peer: "carol", direction: "incoming" }));
    expect($("incoming-call")).toBeNull();
    // Focus returns to where it was before the popup: the contacts heading.
    expect(document.activeElement).toBe(root.querySelector("#contacts-title"));

    backend.emit("incoming-call", { ...ring, callId: "in2" });
    expect(ringer.starts).toBe(2);
    backend.emitCall(ended("missed", { callId: "in2", peer: "carol", direction: "incoming" }));
    expect($("incoming-call")).toBeNull();
    expect(ringer.ringing).toBe(false);
    expect(must("call-ended").textContent).toBe("Missed call from carol.");
  });

  it("from a contact whose key changed, accept stays disabled until the key is accepted", async () => {
    await boot();
    backend.emit("incoming-call", { ...ring, peerTrust: "key-changed" });
    expect(must<HTMLButtonElement>("accept-call").disabled).toBe(true);
    expect(must("incoming-key-warning").hidden).toBe(false);
    key("a");
    await settle();
    expect(backend.called("accept_call")).toEqual([]);
    backend.contacts[1] = { ...backend.contacts[1]!, trust: "key-changed" };
    expect(document.activeElement).toBe(must("incoming-review-key"));
    must<HTMLButtonElement>("incoming-review-key").click();
    await settle();
    expect(must("key-change-dialog").contains(document.activeElement)).toBe(true);
    must<HTMLButtonElement>("accept-key-change").click();
    await settle();
    expect(must<HTMLButtonElement>("accept-call").disabled).toBe(false);
    // Esc closes the dialog above the popup; it does not decline the call.
    key("Escape");
    await settle();
    expect($("safety-dialog")).toBeNull();
    expect(backend.called("reject_call")).toEqual([]);
    expect(document.activeElement).toBe(must("accept-call"));
  });

  it("blocks accept when Rust reports the caller's key changed", async () => {
    backend.handlers.accept_call = () => {
      throw { kind: "key-changed", message: "carol's safety number changed." };
    };
    await boot();
    backend.emit("incoming-call", ring);
    must<HTMLButtonElement>("accept-call").click();
    await settle();
    expect(must("notice-text").textContent).toBe("carol's safety number changed.");
    expect(must<HTMLButtonElement>("accept-call").disabled).toBe(true);
    expect(must("incoming-key-warning").hidden).toBe(false);
  });

  it("does not ring when the ring sound is off", async () => {
    backend.handlers.get_settings = () => ({
      registryUrl: "http://r",
      registryFingerprint: null,
      allowInsecureHttp: false,
      ringSound: false,
      notifications: true,
      advertiseAddress: null,
      alwaysRelay: false,
      relayStrangers: true,
    });
    await boot();
    backend.emit("incoming-call", ring);
    expect($("incoming-call")).not.toBeNull();
    expect(ringer.ringing).toBe(false);
  });
});

describe("settings and history", () => {
  it("hosts a registry and shows the address friends should enter", async () => {
    await boot();
    must<HTMLButtonElement>("tab-settings").click();
    await settle();
    expect(must("settings-fingerprint").textContent).toBe("ab12 cd34");
    expect(must<HTMLSelectElement>("settings-output").value).toBe("spk-1");
    type(must<HTMLInputElement>("host-port"), "99999");
    must<HTMLButtonElement>("host-toggle").click();
    await settle();
    expect(backend.called("host_registry_start")).toEqual([]);
    type(must<HTMLInputElement>("host-port"), "");
    must<HTMLButtonElement>("host-toggle").click();
    await settle();
    expect(backend.called("host_registry_start")).toEqual([{ port: null }]);
    expect(must("host-urls").textContent).toBe("https://192.168.1.20:5001");
    expect(must("host-fingerprint").textContent).toBe(HOST_FINGERPRINT);
    expect(must("host-fingerprint").closest("div")?.hidden).toBe(false);
    expect(must("host-open-registration").textContent).toContain("Anyone who can reach this computer");
    expect(must("host-toggle").textContent).toBe("Stop hosting");
    must<HTMLButtonElement>("host-toggle").click();
    await settle();
    expect(must("host-fingerprint").closest("div")?.hidden).toBe(true);
  });

  it("saving a new registry shows it in the footer", async () => {
    await boot();
    must<HTMLButtonElement>("tab-settings").click();
    await settle();
    backend.handlers.set_settings = (a) => {
      backend.account = { ...backend.account!, registryUrl: (a.settings as { registryUrl: string }).registryUrl };
      return a.settings;
    };
    type(must<HTMLInputElement>("settings-registry"), "not a url at all");
    must<HTMLButtonElement>("settings-save").click();
    await settle();
    expect(backend.called("set_settings")).toEqual([]);
    type(must<HTMLInputElement>("settings-registry"), "https://reg.example.org/");
    must<HTMLButtonElement>("settings-save").click();
    await settle();
    expect(backend.called("set_settings")).toEqual([
      {
        settings: {
          registryUrl: "https://reg.example.org",
          registryFingerprint: null,
          allowInsecureHttp: false,
          advertiseAddress: null,
          ringSound: true,
          notifications: true,
          alwaysRelay: false,
          relayStrangers: true,
        },
      },
    ]);
    expect(must("registry-url").textContent).toBe("https://reg.example.org");
    expect(must("settings-status").textContent).toBe("Saved.");
  });

  it("the relay choices load, save and come back as stored", async () => {
    backend.handlers.get_settings = () => ({
      registryUrl: "http://127.0.0.1:5001",
      registryFingerprint: null,
      allowInsecureHttp: false,
      ringSound: true,
      notifications: true,
      advertiseAddress: null,
      alwaysRelay: true,
      relayStrangers: false,
    });
    await boot();
    must<HTMLButtonElement>("tab-settings").click();
    await settle();
    const always = must<HTMLInputElement>("settings-always-relay");
    const strangers = must<HTMLInputElement>("settings-relay-strangers");
    expect([always.checked, strangers.checked]).toEqual([true, false]);
    always.checked = false;
    strangers.checked = true;
    must<HTMLButtonElement>("settings-save").click();
    await settle();
    expect(backend.called("set_settings")).toMatchObject([{ settings: { alwaysRelay: false, relayStrangers: true } }]);
    expect(must("settings-status").textContent).toBe("Saved.");
  });

  it("shows what the registry offers for calls between homes, and asks again on request", async () => {
    backend.network = { stun: true, relays: [], error: null };
    await boot();
    must<HTMLButtonElement>("tab-settings").click();
    await settle();
    const status = () => [...must("settings-network-status").querySelectorAll("li")].map((li) => li.textContent);
    expect(status()[0]).toMatch(/STUN\): available/);
    expect(status()[1]).toMatch(/none configured/);
    backend.network = { stun: true, relays: ["udp", "tcp"], error: null };
    must<HTMLButtonElement>("settings-network-check").click();
    await settle();
    expect(status()[1]).toBe("Relay (TURN): 2 relays over UDP and TCP.");
    expect(backend.called("network_status")).toHaveLength(2);
    backend.handlers.network_status = () => {
      throw { kind: "not-signed-up", message: "Sign up first." };
    };
    must<HTMLButtonElement>("settings-network-check").click();
    await settle();
    expect(status()).toEqual(["Sign up first."]);
  });

  it("joins a hosted https registry with the fingerprint its host reads out", async () => {
    await boot();
    must<HTMLButtonElement>("tab-settings").click();
    await settle();
    backend.handlers.set_settings = (a) => a.settings;
    const fpField = () => must("settings-registry-fingerprint").closest(".field") as HTMLElement;
    expect(fpField().hidden).toBe(true);
    type(must<HTMLInputElement>("settings-registry"), "https://192.168.1.20:5001");
    expect(fpField().hidden).toBe(false);
    expect(must("settings-insecure-warning").hidden).toBe(true);
    type(must<HTMLInputElement>("settings-registry-fingerprint"), "ab12 cd");
    must<HTMLButtonElement>("settings-save").click();
    await settle();
    expect(backend.called("set_settings")).toEqual([]);
    expect(must("settings-registry-fingerprint").getAttribute("aria-invalid")).toBe("true");
    type(must<HTMLInputElement>("settings-registry-fingerprint"), HOST_FINGERPRINT.toLowerCase().replaceAll(" ", ":"));
    must<HTMLButtonElement>("settings-save").click();
    await settle();
    expect(backend.called("set_settings")).toMatchObject([
      { settings: { registryUrl: "https://192.168.1.20:5001", registryFingerprint: HOST_FINGERPRINT, allowInsecureHttp: false } },
    ]);
    expect(must<HTMLInputElement>("settings-registry-fingerprint").value).toBe(HOST_FINGERPRINT);
  });

  it("hang up works even while another command is in flight", async () => {
    let release: () => void = () => {};
    backend.handlers.echo_test = () =>
      new Promise((resolve) => {
        release = () => resolve(snap({ callId: "echo1", peer: "echo", echo: true }));
      });
    await boot();
    inRow<HTMLButtonElement>("echo-test", "call-button").click();
    await settle();
    // The bot answered before echo_test returned.
    backend.emitCall(active({ callId: "echo1", peer: "echo", echo: true }));
    must<HTMLButtonElement>("hang-up").click();
    await settle();
    expect(backend.called("hang_up")).toEqual([{ callId: "echo1" }]);
    release();
    await settle();
    // The late ringing-out reply does not drag the call back.
    expect(must("call-state").textContent).toBe("Connected");
  });

  it("exports the identity only with a confirmed passphrase", async () => {
    await boot();
    must<HTMLButtonElement>("tab-settings").click();
    await settle();
    type(must<HTMLInputElement>("export-path"), "/tmp/id.backup");
    type(must<HTMLInputElement>("export-passphrase"), "a long passphrase");
    type(must<HTMLInputElement>("export-passphrase-again"), "a long passphrasf");
    must<HTMLButtonElement>("export-identity").click();
    await settle();
    expect(backend.called("export_identity")).toEqual([]);
    type(must<HTMLInputElement>("export-passphrase-again"), "a long passphrase");
    must<HTMLButtonElement>("export-identity").click();
    await settle();
    expect(backend.called("export_identity")).toEqual([{ path: "/tmp/id.backup", passphrase: "a long passphrase" }]);
    expect(must("export-status").textContent).toBe("Backup written to /tmp/id.backup.");
    expect(must<HTMLInputElement>("export-passphrase").value).toBe("");
  });

  it("stops the mic test when leaving settings", async () => {
    await boot();
    must<HTMLButtonElement>("tab-settings").click();
    await settle();
    must<HTMLButtonElement>("mic-test").click();
    await settle();
    backend.emit("audio-levels", { mic: 0.7, speaker: 0 });
    expect(must<HTMLMeterElement>("mic-test-level").value).toBeCloseTo(0.7);
    must<HTMLButtonElement>("tab-history").click();
    await settle();
    expect(backend.called("stop_mic_test")).toHaveLength(1);
  });

  it("lists history newest first with missed calls marked, and reloads after a call", async () => {
    backend.history = [
      { callId: "h1", peer: "bob", echo: false, direction: "outgoing", outcome: "answered", startedAt: now - 7_200_000, durationSecs: 125 },
      { callId: "h2", peer: "carol", echo: false, direction: "incoming", outcome: "missed", startedAt: now - 60_000, durationSecs: 0 },
    ];
    await boot();
    must<HTMLButtonElement>("tab-history").click();
    await settle();
    expect(must("history-status").textContent).toBe("");
    const rows = [...must("history-list").children] as HTMLElement[];
    expect(rows.map((r) => r.dataset.testid)).toEqual(["history-row-h2", "history-row-h1"]);
    expect(rows[0]?.classList.contains("missed")).toBe(true);
    expect(rows[0]?.querySelector("[data-testid=outcome]")?.textContent).toBe("Missed");
    expect(rows[1]?.textContent).toContain("2:05");
    const before = backend.called("history").length;
    backend.emit("incoming-call", { callId: "in9", peer: "dave", peerTrust: "unverified" });
    backend.emitCall(ended("missed", { callId: "in9", peer: "dave", direction: "incoming" }));
    await settle();
    expect(backend.called("history").length).toBe(before + 1);
  });

  it("an echo test in history is run again with echo_test, not called as a user", async () => {
    backend.history = [{ callId: "e1", peer: "echo-bot", echo: true, direction: "outgoing", outcome: "answered", startedAt: now - 1000, durationSecs: 9 }];
    await boot();
    must<HTMLButtonElement>("tab-history").click();
    await settle();
    expect(inRow("history-row-e1", "call-back-button").textContent).toBe("Run again");
    expect(must("history-row-e1").textContent).toContain("Echo test");
    inRow<HTMLButtonElement>("history-row-e1", "call-back-button").click();
    await settle();
    expect(backend.called("echo_test")).toHaveLength(1);
    expect(backend.called("start_call")).toEqual([]);
  });

  it("help lists the shortcuts and opens with ?", async () => {
    await boot();
    key("?");
    await settle();
    expect(must("help-shortcuts").textContent).toContain("Ctrl+Enter or A");
  });
});

describe("robustness", () => {
  it("ignores events that break the contract, and says so in the console", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    await boot();
    backend.emit("incoming-call", { callId: "x", peer: 5 });
    backend.emit("call-state", { ...snap(), state: "teleporting" });
    expect($("incoming-call")).toBeNull();
    expect(must("contacts")).toBeTruthy();
    expect(logged.mock.calls.map((c) => c[0])).toEqual(["dropped incoming-call event:", "dropped call-state event:"]);
    logged.mockRestore();
  });
});
