// Things shown over the current screen: the incoming-call popup and the
// safety-number dialogs. Both are modal: focus moves in when they open, Tab
// stays inside, and focus goes back where it was when they close.
import { canAccept, type State } from "../logic/state";
import { trustText } from "../logic/format";
import { button, h, setText } from "./dom";
import type { Ctx, View } from "./view";

/** Keeps Tab and Shift+Tab inside `box`. */
export function trapFocus(box: HTMLElement): void {
  box.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    const items = [...box.querySelectorAll<HTMLElement>("button, input, select, a[href], [tabindex='0']")].filter(
      (el) => !(el as HTMLButtonElement).disabled && !el.hidden,
    );
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) return;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  });
}

export function mountIncoming(ctx: Ctx): View {
  const title = h("h2", { attrs: { id: "incoming-title" }, text: "Incoming call" });
  const caller = h("p", { class: "caller", testid: "incoming-caller" });
  const trust = h("p", { class: "trust", testid: "incoming-trust" });
  const review = button("Review new key", () => {}, { testid: "incoming-review-key" });
  const warning = h(
    "div",
    { class: "warning", testid: "incoming-key-warning", attrs: { hidden: true } },
    h("span", { text: "This caller's safety number changed. Accept the new key before answering, or decline." }),
    review,
  );
  const accept = button("Accept", () => ctx.act({ type: "accept" }), {
    testid: "accept-call",
    class: "primary",
    attrs: { "aria-keyshortcuts": "Control+Enter A" },
  });
  const reject = button("Decline", () => ctx.act({ type: "reject" }), {
    testid: "reject-call",
    class: "danger",
    attrs: { "aria-keyshortcuts": "Escape R" },
  });
  const box = h(
    "div",
    {
      class: "popup",
      testid: "incoming-call",
      attrs: { role: "alertdialog", "aria-modal": "true", "aria-labelledby": "incoming-title", "aria-describedby": "incoming-desc" },
    },
    title,
    h("div", { attrs: { id: "incoming-desc" } }, caller, trust),
    warning,
    h("div", { class: "actions" }, accept, reject),
    h("p", { class: "hint", text: "Ctrl+Enter or A accepts · Esc or R declines" }),
  );
  trapFocus(box);
  const el = h("div", { class: "overlay" }, box);
  let peer = "";
  review.addEventListener("click", () => ctx.act({ type: "open-key-change", username: peer }));
  return {
    el,
    focusTarget: accept,
    update(s: State) {
      const c = s.incoming;
      if (!c) return;
      peer = c.peer;
      setText(caller, c.peer);
      setText(trust, `Safety number: ${trustText(c.peerTrust).toLowerCase()}`);
      trust.className = `trust ${c.peerTrust}`;
      const ok = canAccept(c);
      warning.hidden = ok;
      const busy = s.pending === "accept" || s.pending === "reject";
      accept.disabled = !ok || busy;
      reject.disabled = busy;
      // When accept is blocked, focus goes to the review button instead.
      this.focusTarget = ok ? accept : review;
    },
  };
}

export function mountDialog(ctx: Ctx): View {
  const title = h("h2", { attrs: { id: "dialog-title" } });
  const intro = h("p", { attrs: { id: "dialog-desc" } });
  const number = h("p", { class: "safety-number", testid: "safety-number" });
  const status = h("p", { class: "trust", testid: "safety-status" });
  const primary = button("", () => {}, { class: "primary", testid: "dialog-primary" });
  const close = button("Close", () => ctx.act({ type: "close-dialog" }), { testid: "close-dialog" });
  const box = h(
    "div",
    {
      class: "popup dialog",
      testid: "safety-dialog",
      attrs: { role: "dialog", "aria-modal": "true", "aria-labelledby": "dialog-title", "aria-describedby": "dialog-desc" },
    },
    title,
    intro,
    number,
    status,
    h("div", { class: "actions" }, primary, close),
  );
  trapFocus(box);
  const el = h("div", { class: "overlay" }, box);
  let onPrimary: () => void = () => {};
  primary.addEventListener("click", () => onPrimary());
  return {
    el,
    focusTarget: close,
    update(s: State) {
      const d = s.dialog;
      if (!d) return;
      const n = d.number;
      box.dataset.kind = d.kind;
      if (d.kind === "verify") {
        box.dataset.testid = "safety-dialog";
        setText(title, `Safety number with ${d.username}`);
        setText(
          intro,
          `Compare these digits with ${d.username} in person or over a channel you trust. If they match, mark ${d.username} as verified.`,
        );
        primary.dataset.testid = "mark-verified";
        setText(primary, n?.trust === "verified" ? "Verified ✓" : "Mark as verified");
        primary.disabled = n === null || n.trust !== "unverified" || s.pending === "trust";
        // What the user compared goes with the request: Rust refuses if the
        // key changed since these digits were shown.
        onPrimary = () => {
          if (n !== null) ctx.act({ type: "mark-verified", username: d.username, fingerprint: n.fingerprint });
        };
      } else {
        box.dataset.testid = "key-change-dialog";
        setText(title, `${d.username}'s safety number changed`);
        setText(
          intro,
          `${d.username} has a new identity key. This happens when they reinstall or use a new computer, but it is also what an attacker would cause. Check the new number with ${d.username} before you accept it.`,
        );
        primary.dataset.testid = "accept-key-change";
        setText(primary, "Accept new key");
        primary.disabled = n === null || n.trust !== "key-changed" || s.pending === "trust";
        onPrimary = () => {
          if (n !== null) ctx.act({ type: "accept-key-change", username: d.username, fingerprint: n.fingerprint });
        };
      }
      setText(number, n === null ? "Loading…" : n.groups.join(" "));
      setText(status, n === null ? "" : trustText(n.trust));
      status.className = `trust ${n?.trust ?? ""}`;
    },
  };
}
