// How to reach a registry safely, shared by the first-run form and
// Settings: a certificate fingerprint field for an https:// registry hosted
// with a self-signed certificate (the host reads the fingerprint from their
// hosting panel), and a warning the user must confirm before plain http://
// to another computer, which would hand the sign-in token to anyone on the
// network. Rust enforces both again.
import type { RegistryLinkChoice } from "../api/types";
import { type Checked, checkCertFingerprint, isHttps, isPlainHttpBeyondLoopback } from "../logic/validate";
import { field, h, setFieldError } from "./dom";

export interface RegistryLink {
  /** The fingerprint field and the warning, in display order. */
  els: HTMLElement[];
  /** Shows the parts that apply to `url` (a checked URL, or raw text). */
  show(url: string): void;
  /** Fills in the saved choice. */
  set(choice: RegistryLinkChoice): void;
  /** Checks the fields for `url`, marking the one at fault. */
  read(url: string): Checked<RegistryLinkChoice>;
}

function withScheme(raw: string): string {
  const t = raw.trim();
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(t) ? t : `http://${t}`;
}

export function mountRegistryLink(prefix: string): RegistryLink {
  const fp = h("input", {
    testid: `${prefix}-registry-fingerprint`,
    attrs: { type: "text", spellcheck: "false", autocomplete: "off", placeholder: "AB12 CD34 …" },
  });
  const fpField = field(
    "Certificate fingerprint",
    fp,
    "Only for a registry hosted on someone's computer: type the 64 hex digits its host reads from Settings → Host a registry. Leave empty for a registry with a public certificate.",
  );
  const ok = h("input", { testid: `${prefix}-insecure-ok`, attrs: { type: "checkbox", id: `${prefix}-insecure-ok` } });
  const okError = h("p", { class: "field-error" });
  const warning = h(
    "div",
    { class: "warning", testid: `${prefix}-insecure-warning`, attrs: { role: "note" } },
    h("p", {
      text: "This address uses plain http:// to another computer. Nothing is encrypted: anyone on the same network can read your sign-in token and act as you on this registry. Prefer https:// with the host's certificate fingerprint.",
    }),
    h("div", { class: "check" }, ok, h("label", { attrs: { for: ok.id }, text: "I understand the risk; use plain http:// anyway" })),
    okError,
  );

  function show(url: string): void {
    const u = withScheme(url);
    fpField.wrap.hidden = !isHttps(u);
    warning.hidden = !isPlainHttpBeyondLoopback(u);
  }
  show("");
  return {
    els: [fpField.wrap, warning],
    show,
    set(choice) {
      fp.value = choice.registryFingerprint ?? "";
      ok.checked = choice.allowInsecureHttp;
    },
    read(url) {
      show(url);
      const https = isHttps(url);
      const f = https ? checkCertFingerprint(fp.value) : ({ ok: true, value: null } as const);
      setFieldError(fp, fpField.error, f.ok ? null : f.error);
      if (!f.ok) return f;
      const insecure = isPlainHttpBeyondLoopback(url);
      const confirm = insecure && !ok.checked ? "Confirm the warning above, or use an https:// address." : null;
      setFieldError(ok, okError, confirm);
      if (confirm) return { ok: false, error: confirm };
      return { ok: true, value: { registryFingerprint: f.value, allowInsecureHttp: insecure && ok.checked } };
    },
  };
}
