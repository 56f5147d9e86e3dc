// Help: the keyboard shortcuts and what the security code means.
import { SHORTCUTS } from "../logic/shortcuts";
import type { State } from "../logic/state";
import { h, setText } from "./dom";
import type { View } from "./view";

export function mountHelp(): View {
  const heading = h("h2", { attrs: { tabindex: -1, id: "help-title" }, text: "Help" });
  const rows = SHORTCUTS.map((s) => h("tr", {}, h("th", { attrs: { scope: "row" } }, h("kbd", { text: s.keys })), h("td", { text: s.what })));
  const table = h(
    "table",
    { testid: "help-shortcuts", class: "shortcuts" },
    h("caption", { text: "Keyboard shortcuts" }),
    h("thead", {}, h("tr", {}, h("th", { attrs: { scope: "col" }, text: "Keys" }), h("th", { attrs: { scope: "col" }, text: "Action" }))),
    h("tbody", {}, ...rows),
  );
  const version = h("span", { testid: "app-version" });
  const el = h(
    "section",
    { class: "screen", testid: "help", attrs: { "aria-labelledby": "help-title" } },
    heading,
    table,
    h("h3", { text: "Security code and safety numbers" }),
    h("p", {
      text: "During a call both screens show the same short code. Read it to each other: if the codes differ, someone is in the middle of the call, so hang up.",
    }),
    h("p", {
      text: "The safety number belongs to you and one contact. Compare it once, in person or over a channel you trust, then mark the contact verified. If it changes later, calls are blocked until you accept the new key.",
    }),
    h("p", { class: "muted" }, "pqvoice version ", version),
  );
  return {
    el,
    update(s: State) {
      setText(version, s.info?.version ?? "");
    },
  };
}
