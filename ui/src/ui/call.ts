// The two call screens: placing a call (ringing, cancel) and the call itself
// (timer, mute, hang up, level meters, quality, stats, security code).
import { elapsedSecs, formatDuration, levelPercent, pathText, statLines, trustText } from "../logic/format";
import { quality } from "../logic/quality";
import type { State } from "../logic/state";
import { button, h, setAttr, setHidden, setText } from "./dom";
import type { Ctx, View } from "./view";

function peerName(s: State): string {
  return s.call?.echo ? "Echo test" : (s.call?.peer ?? "");
}

export function mountOutgoing(ctx: Ctx): View {
  const heading = h("h2", { attrs: { tabindex: -1, id: "outgoing-title" } });
  const trust = h("p", { class: "muted", testid: "outgoing-trust" });
  const cancel = button("Cancel", () => ctx.act({ type: "cancel" }), {
    testid: "cancel-call",
    class: "danger",
    attrs: { "aria-keyshortcuts": "Control+E Escape" },
  });
  const el = h(
    "section",
    { class: "screen call-screen", testid: "outgoing-view", attrs: { "aria-labelledby": "outgoing-title" } },
    h("div", { class: "pulse", attrs: { "aria-hidden": "true" } }),
    heading,
    trust,
    h("div", { class: "actions center" }, cancel),
  );
  return {
    el,
    focusTarget: cancel,
    update(s) {
      setText(heading, `Calling ${peerName(s)}…`);
      setText(trust, s.call && !s.call.echo ? trustText(s.call.peerTrust) : "");
      cancel.disabled = s.pending === "cancel";
    },
  };
}

export function mountInCall(ctx: Ctx): View {
  const heading = h("h2", { attrs: { tabindex: -1, id: "in-call-title" } });
  const stateText = h("p", { class: "call-state", testid: "call-state" });
  // "Direct · IPv4" / "Relayed · IPv6": how the audio travels, from the stats.
  const pathBadge = h("span", { class: "badge path", testid: "call-path", attrs: { hidden: true } });
  const timer = h("p", { class: "timer", testid: "call-timer", attrs: { role: "timer", "aria-label": "Call duration" } });

  const sasCode = h("p", { class: "sas-code", testid: "sas" });
  const sasBox = h(
    "div",
    { class: "sas", testid: "sas-box" },
    h("h3", { text: "Security code" }),
    sasCode,
    h("p", { class: "hint", testid: "sas-hint" }),
  );
  const sasHint = sasBox.querySelector(".hint") as HTMLElement;
  const verify = button("Safety number…", () => {}, { testid: "verify-safety-number" });

  const mic = h("meter", { testid: "mic-level", attrs: { min: 0, max: 1, low: 0.6, high: 0.9, optimum: 0.3, value: 0, id: "mic-level" } });
  const speaker = h("meter", {
    testid: "speaker-level",
    attrs: { min: 0, max: 1, low: 0.6, high: 0.9, optimum: 0.3, value: 0, id: "speaker-level" },
  });
  const meters = h(
    "div",
    { class: "meters" },
    h("label", { attrs: { for: "mic-level" }, text: "Microphone" }),
    mic,
    h("label", { attrs: { for: "speaker-level" }, text: "Speaker" }),
    speaker,
  );

  const qualityEl = h("p", { class: "quality unknown", testid: "quality", attrs: { "data-level": "unknown" } });
  const stats = h("dl", { class: "stats", testid: "call-stats" });
  const statsBox = h("div", { class: "stats-box" }, h("h3", { text: "Connection" }), qualityEl, stats);

  const mute = button("Mute", () => ctx.act({ type: "toggle-mute" }), {
    testid: "mute",
    attrs: { "aria-pressed": "false", "aria-keyshortcuts": "Control+M M" },
  });
  const hangUp = button("Hang up", () => ctx.act({ type: "hang-up" }), {
    testid: "hang-up",
    class: "danger",
    attrs: { "aria-keyshortcuts": "Control+E Escape" },
  });

  const el = h(
    "section",
    { class: "screen call-screen", testid: "in-call-view", attrs: { "aria-labelledby": "in-call-title" } },
    heading,
    // The badge shares the state's line, so the screen grows no taller.
    h("div", { class: "call-status-line" }, stateText, pathBadge),
    timer,
    h("div", { class: "actions center" }, mute, hangUp),
    // Two columns when there is room, one below the other at high zoom.
    h("div", { class: "call-panels" }, sasBox, h("div", { class: "panel" }, meters, statsBox)),
  );

  let peer = "";
  verify.addEventListener("click", () => ctx.act({ type: "open-verify", username: peer }));
  sasBox.append(verify);

  let shownLevels: State["levels"] | null = null;
  function showLevels(s: State): void {
    const l = s.levels;
    if (shownLevels === l) return;
    shownLevels = l;
    if (mic.value !== l.mic) {
      mic.value = l.mic;
      mic.setAttribute("aria-valuetext", `${levelPercent(l.mic)} %`);
    }
    if (speaker.value !== l.speaker) {
      speaker.value = l.speaker;
      speaker.setAttribute("aria-valuetext", `${levelPercent(l.speaker)} %`);
    }
  }

  // Everything below writes to the DOM only what differs from what is shown:
  // the view is updated at least once a second during a call, and each
  // change costs the web view a repaint.
  return {
    el,
    focusTarget: hangUp,
    showLevels,
    update(s) {
      const c = s.call;
      if (!c) return;
      peer = c.peer;
      const name = peerName(s);
      setText(heading, c.echo ? "Echo test" : `Call with ${name}`);
      setText(stateText, c.state === "active" ? (c.muted ? "Connected · muted" : "Connected") : "Connecting…");
      setText(timer, formatDuration(elapsedSecs(c.activeSince, ctx.now())));

      setHidden(sasBox, c.sas === null);
      setText(sasCode, (c.sas ?? []).join(" "));
      setText(
        sasHint,
        c.echo
          ? "The echo test has its own keys; nothing to compare."
          : `Read this code to ${name}. If theirs is different, hang up: someone is in the middle.`,
      );
      setHidden(verify, c.echo);

      const mutedNow = c.muted;
      setAttr(mute, "aria-pressed", String(mutedNow));
      setText(mute, mutedNow ? "Unmute" : "Mute");
      if (mute.classList.contains("on") !== mutedNow) mute.classList.toggle("on", mutedNow);
      if (mute.disabled !== (c.state !== "active")) mute.disabled = c.state !== "active";
      if (hangUp.disabled !== (s.pending === "hang-up")) hangUp.disabled = s.pending === "hang-up";

      showLevels(s);

      const path = pathText(s.stats);
      setHidden(pathBadge, path === null);
      setText(pathBadge, path ?? "");
      setAttr(pathBadge, "data-path", s.stats?.path ?? "");

      const q = quality(s.stats, s.statsAt, ctx.now());
      setAttr(qualityEl, "class", `quality ${q.level}`);
      setAttr(qualityEl, "data-level", q.level);
      setText(qualityEl, q.reasons.length > 0 ? `${q.label}: ${q.reasons.join(", ")}` : q.label);

      const lines = s.stats ? statLines(s.stats) : [];
      if (stats.childElementCount !== lines.length * 2) {
        stats.replaceChildren(...lines.flatMap((l) => [h("dt", { text: l.label }), h("dd", { testid: `stat-${l.key}` })]));
      }
      for (const l of lines) {
        const dd = stats.querySelector(`[data-testid=stat-${l.key}]`);
        if (dd) setText(dd, l.value);
      }
    },
  };
}
