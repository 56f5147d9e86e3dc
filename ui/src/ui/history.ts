// Call history, newest first, missed calls marked. Reloaded whenever a call
// ends while the screen is open.
import type { HistoryEntry } from "../api/types";
import { formatDuration, formatWhen, outcomeText } from "../logic/format";
import type { State } from "../logic/state";
import { button, errorText, h, setText } from "./dom";
import type { Ctx, View } from "./view";

/** Newest first; the order Rust sends is not relied on. */
export function sortHistory(entries: HistoryEntry[]): HistoryEntry[] {
  return [...entries].sort((a, b) => b.startedAt - a.startedAt);
}

export function mountHistory(ctx: Ctx): View {
  const heading = h("h2", { attrs: { tabindex: -1, id: "history-title" }, text: "History" });
  const list = h("ul", { class: "history-list", testid: "history-list", attrs: { "aria-labelledby": "history-title" } });
  const note = h("p", { class: "muted", testid: "history-status", attrs: { role: "status" } });
  const el = h("section", { class: "screen", testid: "history", attrs: { "aria-labelledby": "history-title" } }, heading, note, list);
  let blocked = false;

  function row(e: HistoryEntry): HTMLLIElement {
    const missed = e.outcome === "missed" && e.direction === "incoming";
    const arrow = e.direction === "incoming" ? "↙" : "↗";
    const name = e.echo ? "Echo test" : e.peer;
    const callBack = button(
      e.echo ? "Run again" : "Call back",
      () => ctx.act(e.echo ? { type: "echo-test" } : { type: "call", username: e.peer }),
      { testid: "call-back-button", attrs: { "aria-label": e.echo ? "Run the echo test again" : `Call ${e.peer}`, disabled: blocked } },
    );
    return h(
      "li",
      { class: `history-row ${e.outcome}${missed ? " missed" : ""}`, testid: `history-row-${e.callId}`, attrs: { "data-outcome": e.outcome } },
      h(
        "div",
        { class: "who" },
        h("span", { class: "name", text: name }),
        h(
          "span",
          { class: "meta" },
          h("span", { attrs: { "aria-hidden": "true" }, text: arrow }),
          h("span", { class: "outcome", testid: "outcome", text: outcomeText(e.outcome, e.direction) }),
          h("span", { text: formatWhen(e.startedAt, ctx.now()) }),
          e.durationSecs > 0 ? h("span", { text: formatDuration(e.durationSecs) }) : null,
        ),
      ),
      h("div", { class: "row-actions" }, callBack),
    );
  }

  let seq = 0;
  async function load(): Promise<void> {
    const mine = ++seq;
    try {
      const entries = sortHistory(await ctx.api.history());
      if (mine !== seq) return;
      list.replaceChildren(...entries.map(row));
      setText(note, entries.length === 0 ? "No calls yet." : "");
    } catch (e) {
      setText(note, errorText(e));
    }
  }
  void load();

  let lastEnded: State["lastEnded"] | undefined;
  return {
    el,
    focusTarget: heading,
    update(s) {
      const nowBlocked = s.call !== null || s.incoming !== null;
      if (nowBlocked !== blocked) {
        blocked = nowBlocked;
        list.querySelectorAll("button").forEach((b) => (b.disabled = blocked));
      }
      // A call that ended while the screen is open adds a row.
      if (lastEnded !== undefined && s.lastEnded !== lastEnded && s.lastEnded !== null) void load();
      lastEnded = s.lastEnded;
    },
  };
}
