// Contacts: search, presence, click to call, the built-in echo test, and the
// key-change warning that blocks a call until the new key is accepted.
import type { Contact } from "../api/types";
import { formatWhen, presenceText, trustText } from "../logic/format";
import { callBlock, type State } from "../logic/state";
import { button, h, setText } from "./dom";
import type { Ctx, View } from "./view";

export function mountContacts(ctx: Ctx): View {
  const heading = h("h2", { attrs: { tabindex: -1, id: "contacts-title" }, text: "Contacts" });
  const search = h("input", {
    testid: "contacts-search",
    attrs: {
      type: "search",
      "aria-label": "Search contacts or find a username",
      placeholder: "Search or enter a username",
      spellcheck: "false",
      autocapitalize: "none",
      "aria-keyshortcuts": "/ Control+F",
    },
  });
  search.addEventListener("input", () => ctx.act({ type: "search", query: search.value }));
  const ended = h("p", { class: "banner", testid: "call-ended", attrs: { hidden: true } });
  const list = h("ul", { class: "contact-list", testid: "contacts-list", attrs: { "aria-labelledby": "contacts-title" } });
  const empty = h("p", { class: "muted", testid: "contacts-empty", attrs: { hidden: true } });
  const el = h(
    "section",
    { class: "screen", testid: "contacts", attrs: { "aria-labelledby": "contacts-title" } },
    heading,
    h("div", { class: "search" }, search),
    ended,
    list,
    empty,
  );

  let shown: { contacts: Contact[]; busy: boolean; query: string } | null = null;

  function echoRow(s: State): HTMLLIElement {
    const blocked = s.call !== null || s.incoming !== null;
    return h(
      "li",
      { class: "contact echo", testid: "echo-test" },
      h(
        "div",
        { class: "who" },
        h("span", { class: "name", text: "Echo test" }),
        h("span", { class: "muted", text: "Hear yourself back: checks microphone, speaker and delay." }),
      ),
      h(
        "div",
        { class: "row-actions" },
        button("Call", () => ctx.act({ type: "echo-test" }), {
          testid: "call-button",
          class: "primary",
          attrs: { "aria-label": "Call the echo test", disabled: blocked || s.pending === "call" },
        }),
      ),
    );
  }

  function contactRow(s: State, c: Contact): HTMLLIElement {
    const block = callBlock(s, c);
    const changed = c.trust === "key-changed";
    const call = button("Call", () => ctx.act({ type: "call", username: c.username }), {
      testid: "call-button",
      class: "primary",
      attrs: { "aria-label": `Call ${c.username}`, disabled: block !== null || s.pending === "call" },
    });
    if (block) call.title = block;
    const warning = changed
      ? h(
          "div",
          { class: "warning", testid: "key-change-warning", attrs: { role: "note" } },
          h("span", { text: `${c.username}'s safety number changed. Calls are blocked until you review it.` }),
          button("Review new key", () => ctx.act({ type: "open-key-change", username: c.username }), {
            testid: "review-key-button",
          }),
        )
      : null;
    return h(
      "li",
      { class: `contact${changed ? " blocked" : ""}`, testid: `contact-${c.username}` },
      h(
        "div",
        { class: "who" },
        h("span", { class: "name", text: c.username }),
        h(
          "span",
          { class: "meta" },
          h("span", { class: `presence ${c.presence}`, testid: "presence", text: presenceText(c.presence) }),
          h("span", { class: `trust ${c.trust}`, testid: "trust", text: trustText(c.trust) }),
          c.lastCallAt !== null ? h("span", { testid: "last-call", text: `Last call ${formatWhen(c.lastCallAt, ctx.now())}` }) : null,
        ),
      ),
      h(
        "div",
        { class: "row-actions" },
        changed
          ? null
          : button("Safety number", () => ctx.act({ type: "open-verify", username: c.username }), {
              testid: "verify-button",
              attrs: { "aria-label": `Safety number with ${c.username}` },
            }),
        call,
      ),
      warning,
    );
  }

  return {
    el,
    // The heading, not the search field: a focused text field blinks its
    // caret for as long as the screen is open, and WebKit repaints it each
    // time (most of the app's idle CPU without a GPU). "/" or Ctrl+F puts
    // the focus in the search field (logic/shortcuts.ts).
    focusTarget: heading,
    update(s) {
      if (search.value !== s.query && document.activeElement !== search) search.value = s.query;
      ended.hidden = s.lastEnded === null;
      setText(ended, s.lastEnded?.text ?? "");
      const busy = s.call !== null || s.incoming !== null || s.pending === "call";
      if (shown && shown.contacts === s.contacts && shown.busy === busy && shown.query === s.query) return;
      shown = { contacts: s.contacts, busy, query: s.query };
      // Rebuilding the rows is simplest; put focus back on the same control.
      const active = document.activeElement as HTMLElement | null;
      const focused =
        active && list.contains(active) ? { row: active.closest("li")?.dataset.testid, control: active.dataset.testid } : undefined;
      const rows = s.contacts.map((c) => contactRow(s, c));
      list.replaceChildren(...(s.query.trim() === "" ? [echoRow(s)] : []), ...rows);
      empty.hidden = rows.length > 0;
      setText(
        empty,
        s.query.trim() === ""
          ? "No contacts yet. Type a friend's username above to find them."
          : `No one called “${s.query.trim()}” was found.`,
      );
      if (focused) {
        const row = [...list.children].find((li) => (li as HTMLElement).dataset.testid === focused.row);
        const again = [...(row?.querySelectorAll<HTMLElement>("[data-testid]") ?? [])].find((el) => el.dataset.testid === focused.control);
        again?.focus();
      }
    },
  };
}
