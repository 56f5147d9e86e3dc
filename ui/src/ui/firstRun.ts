// First run: pick the registry and a username; Rust creates the identity key
// on this device and registers it. The second step shows the new identity's
// fingerprint before the contacts appear.
import type { State } from "../logic/state";
import { checkRegistryUrl, checkUsername, USERNAME_MAX } from "../logic/validate";
import { button, field, h, setFieldError, setText } from "./dom";
import { mountRegistryLink } from "./registryLink";
import type { Ctx, View } from "./view";

export function mountFirstRun(ctx: Ctx, s: State): View {
  const heading = h("h2", { attrs: { tabindex: -1 }, text: "Welcome" });
  const registry = h("input", {
    testid: "first-run-registry",
    attrs: { type: "url", name: "registry", autocomplete: "url", spellcheck: "false", required: true },
  });
  registry.value = s.info?.registryUrl ?? "";
  const username = h("input", {
    testid: "first-run-username",
    attrs: {
      type: "text",
      name: "username",
      autocomplete: "username",
      spellcheck: "false",
      autocapitalize: "none",
      maxlength: USERNAME_MAX,
      required: true,
    },
  });
  const regField = field("Registry address", registry, "Ask the person who runs your registry, or host one in Settings later.");
  const link = mountRegistryLink("first-run");
  link.show(registry.value);
  registry.addEventListener("input", () => link.show(registry.value));
  const userField = field("Choose a username", username, "3 to 32 characters: a–z, 0–9, _ . -");
  const submit = h("button", { testid: "first-run-submit", class: "primary", attrs: { type: "submit" }, text: "Create my identity" });
  const form = h(
    "form",
    { class: "stack", testid: "first-run-form", attrs: { novalidate: true } },
    h("p", {
      text: "pqvoice creates an identity key on this computer. It never leaves this device; the registry only learns your username and public key.",
    }),
    regField.wrap,
    ...link.els,
    userField.wrap,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const r = checkRegistryUrl(registry.value);
    const u = checkUsername(username.value);
    setFieldError(registry, regField.error, r.ok ? null : r.error);
    setFieldError(username, userField.error, u.ok ? null : u.error);
    const l = r.ok ? link.read(r.value) : null;
    if (!r.ok) registry.focus();
    else if (!u.ok) username.focus();
    if (r.ok && u.ok && l?.ok) ctx.act({ type: "sign-up", registryUrl: r.value, username: u.value, ...l.value });
  });

  const done = h("div", { class: "stack", testid: "first-run-done", attrs: { hidden: true } });
  const doneName = h("strong", { testid: "first-run-account" });
  const fingerprint = h("code", { class: "fingerprint", testid: "fingerprint" });
  const cont = button("Continue to contacts", () => ctx.act({ type: "welcome-done" }), {
    testid: "first-run-continue",
    class: "primary",
  });
  done.append(
    h("p", {}, "Your identity is ready: ", doneName),
    h("p", { text: "Its fingerprint (also in Settings → Identity):" }),
    fingerprint,
    h("p", {
      class: "hint",
      text: "Back up your identity in Settings: if this computer is lost, so is your username.",
    }),
    h("div", { class: "actions" }, cont),
  );

  const el = h("section", { class: "screen first-run", testid: "first-run", attrs: { "aria-labelledby": "" } }, heading, form, done);
  heading.id = "first-run-title";
  el.setAttribute("aria-labelledby", heading.id);

  let shownDone = false;
  return {
    el,
    focusTarget: username,
    update(st) {
      const pending = st.pending === "sign-up";
      submit.disabled = pending;
      setText(submit, pending ? "Creating identity…" : "Create my identity");
      if (st.account && !shownDone) {
        shownDone = true;
        form.hidden = true;
        done.hidden = false;
        setText(heading, "Identity created");
        setText(doneName, st.account.username);
        setText(fingerprint, st.account.fingerprint);
        cont.focus();
      }
    },
  };
}
