// The controller: owns the State, feeds it Rust events and command results,
// runs the Intents views emit as commands, and keeps the DOM in step. All
// decisions about what to show live in logic/ (pure, tested); this file is
// the wiring.
import type { Api } from "./api/commands";
import { CommandError } from "./api/commands";
import { subscribe, type BackendEvent, type Listen } from "./api/events";
import { elapsedSecs } from "./logic/format";
import { shortcut } from "./logic/shortcuts";
import { callAnnouncement, initialState, reduce, screenOf, type Action, type Screen, type State, type Tab } from "./logic/state";
import { mountInCall, mountOutgoing } from "./ui/call";
import { mountContacts } from "./ui/contacts";
import { button, errorText, h, setAttr, setHidden, setOrRemoveAttr, setText } from "./ui/dom";
import { mountFirstRun } from "./ui/firstRun";
import { mountHelp } from "./ui/help";
import { mountHistory } from "./ui/history";
import { mountDialog, mountIncoming } from "./ui/overlays";
import type { Ringer } from "./ui/ring";
import { mountSettings } from "./ui/settings";
import type { Ctx, Intent, View } from "./ui/view";

export interface AppOptions {
  api: Api;
  listen: Listen;
  ringer: Ringer;
  now?: () => number;
  /** Delay before a search is sent, in ms. */
  searchDelayMs?: number;
}

const TABS: { tab: Tab; label: string }[] = [
  { tab: "contacts", label: "Contacts" },
  { tab: "history", label: "History" },
  { tab: "settings", label: "Settings" },
  { tab: "help", label: "Help" },
];

/** How long after a whole second of the call the fallback redraw comes. */
export const TICK_SLACK_MS = 300;

export class App {
  state: State = initialState();
  private readonly api: Api;
  private readonly ringer: Ringer;
  private readonly now: () => number;
  private readonly ctx: Ctx;
  private readonly searchDelayMs: number;

  private readonly header: HTMLElement;
  private readonly nav: HTMLElement;
  private readonly tabButtons = new Map<Tab, HTMLButtonElement>();
  private readonly announcer: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly noticeText: HTMLElement;
  private readonly screenHost: HTMLElement;
  private readonly registryUrl: HTMLElement;
  private readonly registryState: HTMLElement;
  private readonly overlayHost: HTMLElement;

  private screen: Screen | null = null;
  private view: View | null = null;
  private popup: View | null = null;
  private dialog: View | null = null;
  private focusBeforeOverlay: HTMLElement | null = null;
  private screenBeforeOverlay: Screen | null = null;
  private ringSound = true;
  private ringing = false;
  private tick: ReturnType<typeof setTimeout> | null = null;
  /** The whole second of the call the screen last showed (-1: not in a call). */
  private shownSecond = -1;
  /** Call stats have changed the state and wait for the next redraw. */
  private statsPending = false;
  private searchTimer: ReturnType<typeof setTimeout> | null = null;
  private unlisten: (() => void) | null = null;
  private readonly listen: Listen;

  constructor(
    private readonly root: HTMLElement,
    opts: AppOptions,
  ) {
    this.api = opts.api;
    this.listen = opts.listen;
    this.ringer = opts.ringer;
    this.now = opts.now ?? (() => Date.now());
    this.searchDelayMs = opts.searchDelayMs ?? 150;
    this.ctx = { act: (i) => void this.act(i), api: this.api, now: this.now };

    this.nav = h("nav", { class: "tabs", attrs: { "aria-label": "Main", hidden: true } });
    for (const t of TABS) {
      const b = button(t.label, () => this.act({ type: "tab", tab: t.tab }), { testid: `tab-${t.tab}` });
      this.tabButtons.set(t.tab, b);
      this.nav.append(b);
    }
    this.header = h("header", { class: "topbar" }, h("h1", { text: "pqvoice" }), this.nav);
    this.announcer = h("div", { class: "sr-only", testid: "call-status", attrs: { role: "status", "aria-live": "polite" } });
    this.noticeText = h("span", { testid: "notice-text" });
    this.notice = h(
      "div",
      { class: "notice", testid: "notice", attrs: { hidden: true } },
      this.noticeText,
      button("Dismiss", () => this.act({ type: "dismiss-notice" }), { class: "link", testid: "notice-dismiss" }),
    );
    this.screenHost = h("main", { class: "content" });
    this.registryUrl = h("code", { testid: "registry-url" });
    this.registryState = h("span", { class: "registry-state", testid: "registry-state" });
    const footer = h("footer", { class: "statusbar" }, h("span", { text: "Registry " }), this.registryUrl, this.registryState);
    this.overlayHost = h("div", { class: "overlays" });
    root.replaceChildren(this.header, this.announcer, this.notice, this.screenHost, footer, this.overlayHost);
    root.ownerDocument.addEventListener("keydown", this.onKey);
  }

  /** Loads the first screen and subscribes to Rust events. */
  async start(): Promise<void> {
    // Events first, so nothing that happens during the loads below is lost.
    try {
      this.unlisten = await subscribe(this.listen, (e) => this.onEvent(e), (name, err) => console.error(`dropped ${name} event:`, err));
    } catch (e) {
      this.dispatch({ type: "notice", notice: { tone: "error", text: `Could not subscribe to app events: ${errorText(e)}` } });
    }
    // The three start-up questions go out together: each is a round trip
    // to Rust, and the contacts screen waits for all of them.
    const [infoAnswer, accountAnswer, callAnswer] = await Promise.allSettled([
      this.api.appInfo(),
      this.api.getAccount(),
      this.api.currentCall(),
    ]);
    if (infoAnswer.status === "rejected") {
      this.dispatch({ type: "notice", notice: { tone: "error", text: `Could not reach the app core: ${errorText(infoAnswer.reason)}` } });
      return;
    }
    const info = infoAnswer.value;
    let account = null;
    let call = null;
    let failed: string | null = null;
    if (accountAnswer.status === "rejected") failed = errorText(accountAnswer.reason);
    else account = accountAnswer.value;
    if (account) {
      if (callAnswer.status === "rejected") failed = errorText(callAnswer.reason);
      else call = callAnswer.value;
    }
    this.dispatch({ type: "booted", info, account, call });
    if (failed) this.dispatch({ type: "notice", notice: { tone: "error", text: failed } });
    if (account) {
      void this.refreshContacts();
      this.api
        .getSettings()
        .then((s) => (this.ringSound = s.ringSound))
        .catch(() => {});
    }
  }

  /** Stops timers and listeners (tests; the window closing does it otherwise). */
  stop(): void {
    this.unlisten?.();
    this.ringer.stop();
    if (this.tick) clearTimeout(this.tick);
    if (this.searchTimer) clearTimeout(this.searchTimer);
    this.root.ownerDocument.removeEventListener("keydown", this.onKey);
    this.view?.destroy?.();
  }

  dispatch(a: Action): void {
    const next = reduce(this.state, a);
    // The reducer returns the same state when nothing changed.
    if (next === this.state) return;
    this.state = next;
    this.render();
  }

  onEvent(e: BackendEvent): void {
    if (e.name === "audio-levels") {
      // Up to 4 a second in a call and 10 in the mic test. Usually they move
      // only the meters, and only those are updated (the web view then
      // repaints just them). But in a call, the first update after the timer
      // passes a whole second, or after new stats, redraws the whole view:
      // the once-a-second redraw rides on a meter update, and the web view
      // paints one frame for both instead of two.
      const next = reduce(this.state, { type: "event", event: e, now: this.now() });
      const moved = next !== this.state;
      this.state = next;
      if (this.statsPending || this.callSecond(next) !== this.shownSecond) this.render();
      else if (moved) this.view?.showLevels?.(next);
      return;
    }
    if (e.name === "call-stats" && this.state.call?.state === "active") {
      // Once a second; shown with the next meter update or the tick (below).
      const next = reduce(this.state, { type: "event", event: e, now: this.now() });
      if (next === this.state) return;
      this.state = next;
      this.statsPending = true;
      return;
    }
    const before = this.state;
    this.dispatch({ type: "event", event: e, now: this.now() });
    // Contact list details (last call, presence of new users) come from Rust.
    if (before.call !== null && this.state.call === null) void this.refreshContacts();
    if (e.name === "registry-status" && e.payload.state === "connected" && before.registry?.state !== "connected") {
      void this.refreshContacts();
    }
  }

  private fail(e: unknown): void {
    this.dispatch({ type: "notice", notice: { tone: "error", text: errorText(e) } });
  }

  /**
   * Runs a command with `pending` set, so its button cannot be pressed twice.
   * Ending a call (hang up, cancel, decline) is never held back by another
   * command in flight: the user must always be able to get out of a call.
   */
  private async run(pending: NonNullable<State["pending"]>, f: () => Promise<void>): Promise<void> {
    const ending = pending === "hang-up" || pending === "cancel" || pending === "reject";
    if (this.state.pending === pending || (this.state.pending !== null && !ending)) return;
    const owns = this.state.pending === null;
    if (owns) this.dispatch({ type: "pending", pending });
    try {
      await f();
    } catch (e) {
      this.fail(e);
    } finally {
      if (owns) this.dispatch({ type: "pending", pending: null });
    }
  }

  async act(i: Intent): Promise<void> {
    const s = this.state;
    switch (i.type) {
      case "sign-up":
        return this.run("sign-up", async () => {
          const account = await this.api.signUp(i.registryUrl, i.username, {
            registryFingerprint: i.registryFingerprint,
            allowInsecureHttp: i.allowInsecureHttp,
          });
          this.dispatch({ type: "signed-up", account });
        });
      case "welcome-done":
        this.dispatch({ type: "welcome-done" });
        void this.refreshContacts();
        this.api
          .getSettings()
          .then((st) => (this.ringSound = st.ringSound))
          .catch(() => {});
        return;
      case "search":
        this.dispatch({ type: "query", query: i.query });
        if (this.searchTimer) clearTimeout(this.searchTimer);
        this.searchTimer = setTimeout(() => void this.refreshContacts(), this.searchDelayMs);
        return;
      case "call":
        return this.run("call", async () => {
          const contact = s.contacts.find((c) => c.username === i.username);
          if (contact?.trust === "key-changed") {
            // The button is disabled, but a shortcut or history row could
            // still get here; Rust refuses too.
            this.dispatch({ type: "dialog", dialog: { kind: "key-change", username: i.username, number: null } });
            void this.loadSafetyNumber(i.username);
            return;
          }
          try {
            this.dispatch({ type: "call", call: await this.api.startCall(i.username) });
          } catch (e) {
            if (e instanceof CommandError && e.kind === "key-changed") {
              this.dispatch({ type: "trust", username: i.username, trust: "key-changed" });
            }
            throw e;
          }
        });
      case "echo-test":
        return this.run("call", async () => {
          this.dispatch({ type: "call", call: await this.api.echoTest() });
        });
      case "cancel":
        if (!s.call) return;
        return this.run("cancel", () => this.api.cancelCall(s.call!.callId));
      case "hang-up":
        if (!s.call) return;
        return this.run("hang-up", () =>
          s.call!.state === "ringing-out" ? this.api.cancelCall(s.call!.callId) : this.api.hangUp(s.call!.callId),
        );
      case "accept":
        if (!s.incoming || s.incoming.peerTrust === "key-changed") return;
        return this.run("accept", async () => {
          const { callId, peer } = s.incoming!;
          try {
            this.dispatch({ type: "call", call: await this.api.acceptCall(callId) });
          } catch (e) {
            // Rust noticed the key change first: block accept until reviewed.
            if (e instanceof CommandError && e.kind === "key-changed") this.dispatch({ type: "trust", username: peer, trust: "key-changed" });
            throw e;
          }
        });
      case "reject":
        if (!s.incoming) return;
        return this.run("reject", () => this.api.rejectCall(s.incoming!.callId));
      case "toggle-mute": {
        if (!s.call || s.call.state !== "active") return;
        const muted = !s.call.muted;
        // Shown at once; put back if Rust refuses.
        this.dispatch({ type: "muted", muted });
        try {
          await this.api.setMute(muted);
        } catch (e) {
          this.dispatch({ type: "muted", muted: !muted });
          this.fail(e);
        }
        return;
      }
      case "open-verify":
      case "open-key-change":
        this.dispatch({
          type: "dialog",
          dialog: { kind: i.type === "open-verify" ? "verify" : "key-change", username: i.username, number: null },
        });
        return this.loadSafetyNumber(i.username);
      case "mark-verified":
        return this.run("trust", async () => {
          try {
            await this.api.markVerified(i.username, i.fingerprint);
          } catch (e) {
            this.reloadIfNotCompared(e, i.username);
            throw e;
          }
          this.dispatch({ type: "trust", username: i.username, trust: "verified" });
        });
      case "accept-key-change":
        return this.run("trust", async () => {
          try {
            await this.api.acceptKeyChange(i.username, i.fingerprint);
          } catch (e) {
            this.reloadIfNotCompared(e, i.username);
            throw e;
          }
          this.dispatch({ type: "trust", username: i.username, trust: "unverified" });
          // The new key is pinned; show its number for verification next.
          this.dispatch({ type: "dialog", dialog: { kind: "verify", username: i.username, number: null } });
          void this.loadSafetyNumber(i.username);
        });
      case "close-dialog":
        this.dispatch({ type: "dialog", dialog: null });
        return;
      case "tab":
        this.dispatch({ type: "tab", tab: i.tab });
        return;
      case "dismiss-notice":
        this.dispatch({ type: "notice", notice: null });
        return;
      case "settings-saved":
        this.ringSound = i.ringSound;
        // A new registry URL changes the account's; the footer shows it.
        try {
          const account = await this.api.getAccount();
          if (account) this.dispatch({ type: "account", account });
        } catch (e) {
          this.fail(e);
        }
        return;
    }
  }

  /**
   * The key changed while the user compared: the digits on screen are stale,
   * so the dialog shows the current ones (to compare again) beside the error.
   */
  private reloadIfNotCompared(e: unknown, username: string): void {
    if (!(e instanceof CommandError) || e.kind !== "not-compared") return;
    const d = this.state.dialog;
    if (d && d.username === username) {
      this.dispatch({ type: "dialog", dialog: { ...d, number: null } });
      void this.loadSafetyNumber(username);
    }
  }

  private async loadSafetyNumber(username: string): Promise<void> {
    try {
      const number = await this.api.safetyNumber(username);
      const d = this.state.dialog;
      if (d && d.username === username) this.dispatch({ type: "dialog", dialog: { ...d, number } });
    } catch (e) {
      this.dispatch({ type: "dialog", dialog: null });
      this.fail(e);
    }
  }

  private async refreshContacts(): Promise<void> {
    if (!this.state.account) return;
    // The reply is tagged with the query it answers; the reducer drops it if
    // the user has typed on since.
    const query = this.state.query;
    try {
      const contacts = await this.api.listContacts(query.trim());
      this.dispatch({ type: "contacts", query, contacts });
    } catch (e) {
      this.fail(e);
    }
  }

  private readonly onKey = (e: KeyboardEvent): void => {
    const t = e.target as HTMLElement | null;
    const typing = t !== null && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    const action = shortcut(
      { key: e.key, ctrlKey: e.ctrlKey, metaKey: e.metaKey, altKey: e.altKey, repeat: e.repeat, typing },
      { screen: screenOf(this.state), popup: this.state.incoming !== null, dialog: this.state.dialog !== null },
    );
    if (action === null) return;
    e.preventDefault();
    switch (action) {
      case "help":
        void this.act({ type: "tab", tab: "help" });
        return;
      case "focus-search":
        this.root.querySelector<HTMLElement>("[data-testid=contacts-search]")?.focus();
        return;
      case "close-dialog":
        void this.act({ type: "close-dialog" });
        return;
      default:
        void this.act({ type: action });
    }
  };

  private render(): void {
    const s = this.state;
    const screen = screenOf(s);

    // Chrome around the screens. This runs on every change (once a second
    // in a call), so only what differs is written: each DOM write costs the
    // web view style work and often a repaint.
    setHidden(this.nav, s.phase !== "main" || s.call !== null);
    for (const [tab, b] of this.tabButtons) setOrRemoveAttr(b, "aria-current", tab === s.tab ? "page" : null);
    setText(this.registryUrl, s.account?.registryUrl ?? s.info?.registryUrl ?? "");
    const link = s.registry;
    setText(this.registryState, link ? ` · ${link.state}${link.message ? ` (${link.message})` : ""}` : "");
    setAttr(this.registryState, "data-state", link?.state ?? "unknown");
    setHidden(this.notice, s.notice === null);
    setAttr(this.notice, "data-tone", s.notice?.tone ?? "");
    setAttr(this.notice, "role", s.notice?.tone === "error" ? "alert" : "status");
    setText(this.noticeText, s.notice?.text ?? "");
    setText(this.announcer, callAnnouncement(s));

    // The screen.
    if (screen !== this.screen) {
      this.view?.destroy?.();
      this.screen = screen;
      this.view = this.mountScreen(screen, s);
      this.screenHost.replaceChildren(this.view?.el ?? h("p", { class: "muted", text: "Loading…" }));
      this.view?.update(s);
      if (!s.incoming && !s.dialog) this.view?.focusTarget?.focus();
    } else {
      this.view?.update(s);
    }

    this.renderOverlays(s);

    // Ring while a call is ringing here.
    const ring = s.incoming !== null && this.ringSound;
    if (ring !== this.ringing) {
      this.ringing = ring;
      if (ring) this.ringer.start();
      else this.ringer.stop();
    }

    // In a call the view is redrawn once a second (timer, new or stale
    // stats). While someone talks, a meter update does it (see onEvent);
    // this tick, just after the call's next whole second, is for when the
    // meters are still. Its slack is longer than the meters' 250 ms, so
    // when they move one of them comes first. Each redraw costs the web
    // view a frame, which without a GPU is most of its CPU in a call.
    this.shownSecond = this.callSecond(s);
    this.statsPending = false;
    if (this.tick !== null) {
      clearTimeout(this.tick);
      this.tick = null;
    }
    if (s.call !== null && s.call.state !== "ringing-out") {
      const c = s.call;
      const into = c.state === "active" && c.activeSince !== null ? Math.max(0, this.now() - c.activeSince) % 1000 : 0;
      this.tick = setTimeout(
        () => {
          this.tick = null;
          this.render();
        },
        1000 - into + TICK_SLACK_MS,
      );
    }
  }

  /** The whole seconds the call has been active, or -1 outside an active call. */
  private callSecond(s: State): number {
    const c = s.call;
    return c !== null && c.state === "active" ? elapsedSecs(c.activeSince, this.now()) : -1;
  }

  private renderOverlays(s: State): void {
    const hadOverlay = this.popup !== null || this.dialog !== null;
    const hadDialog = this.dialog !== null;
    if (s.incoming && !this.popup) {
      this.popup = mountIncoming(this.ctx);
    } else if (!s.incoming && this.popup) {
      this.popup.el.remove();
      this.popup = null;
    }
    if (s.dialog && !this.dialog) {
      this.dialog = mountDialog(this.ctx);
    } else if (!s.dialog && this.dialog) {
      this.dialog.el.remove();
      this.dialog = null;
    }
    if (!hadOverlay && (this.popup || this.dialog)) {
      const active = this.root.ownerDocument.activeElement;
      this.focusBeforeOverlay = active instanceof HTMLElement ? active : null;
      this.screenBeforeOverlay = this.screen;
    }
    // The newest overlay goes on top and takes focus: the reducer closes
    // dialogs when a call rings, so a dialog is only ever opened above the
    // popup, never under it.
    for (const v of [this.popup, this.dialog]) {
      if (!v) continue;
      const fresh = v.el.parentElement !== this.overlayHost;
      if (fresh) this.overlayHost.append(v.el);
      v.update(s);
      if (fresh) v.focusTarget?.focus();
    }
    // Background content is inert for pointer and keyboard while a modal is up.
    const modal = this.popup !== null || this.dialog !== null;
    for (const el of [this.header, this.screenHost]) setOrRemoveAttr(el, "inert", modal ? "" : null);
    if (this.popup && this.dialog === null && hadDialog) {
      // Back from a dialog opened on the popup.
      this.popup.focusTarget?.focus();
    }
    if (hadOverlay && !modal) {
      // Back to where the user was, unless the screen changed meanwhile
      // (accepting a call opens the call screen): then to its main control.
      const back = this.focusBeforeOverlay;
      const sameScreen = this.screenBeforeOverlay === this.screen;
      this.focusBeforeOverlay = null;
      this.screenBeforeOverlay = null;
      if (sameScreen && back && back.isConnected && !back.closest("[inert], [hidden]")) back.focus();
      else this.view?.focusTarget?.focus();
    }
  }

  private mountScreen(screen: Screen, s: State): View | null {
    switch (screen) {
      case "loading":
        return null;
      case "first-run":
        return mountFirstRun(this.ctx, s);
      case "contacts":
        return mountContacts(this.ctx);
      case "history":
        return mountHistory(this.ctx);
      case "settings":
        return mountSettings(this.ctx);
      case "help":
        return mountHelp();
      case "outgoing":
        return mountOutgoing(this.ctx);
      case "in-call":
        return mountInCall(this.ctx);
    }
  }
}
