// Checks of what the user types, run before anything is sent to Rust. Rust
// checks again (it must not trust the UI); these exist to give the message
// next to the field that caused it.

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

export const USERNAME_MIN = 3;
export const USERNAME_MAX = 32;
const USERNAME_CHARS = /^[a-z0-9_.-]+$/;

/** A username: 3–32 characters of a–z, 0–9, `_`, `.`, `-`. Surrounding spaces are dropped. */
export function checkUsername(input: string): Checked<string> {
  const v = input.trim();
  if (v.length === 0) return { ok: false, error: "Choose a username." };
  if (v.length < USERNAME_MIN) return { ok: false, error: `At least ${USERNAME_MIN} characters.` };
  if (v.length > USERNAME_MAX) return { ok: false, error: `At most ${USERNAME_MAX} characters.` };
  if (USERNAME_CHARS.test(v)) return { ok: true, value: v };
  if (USERNAME_CHARS.test(v.toLowerCase())) return { ok: false, error: "Use lowercase letters only." };
  return { ok: false, error: "Only letters a–z, digits and _ . - are allowed." };
}

/**
 * A registry URL: http or https, a host, an optional port and path, nothing
 * else. A bare `host:port` (what friends tend to read out) gets `http://`.
 * The result has no trailing slash so that it compares equal to Rust's.
 */
export function checkRegistryUrl(input: string): Checked<string> {
  const raw = input.trim();
  if (raw.length === 0) return { ok: false, error: "Enter the registry address." };
  const withScheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return { ok: false, error: "This is not a valid address." };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, error: "The address must start with http:// or https://." };
  }
  if (url.hostname.length === 0) return { ok: false, error: "The address needs a host name." };
  if (url.username !== "" || url.password !== "") {
    return { ok: false, error: "The address must not contain a user name or password." };
  }
  if (url.search !== "" || url.hash !== "") {
    return { ok: false, error: "The address must not contain ? or #." };
  }
  const path = url.pathname.replace(/\/+$/, "");
  return { ok: true, value: `${url.protocol}//${url.host}${path}` };
}

/**
 * Whether a (checked) registry URL sends the sign-in token unencrypted
 * beyond this computer: plain http:// to anything but loopback. Rust
 * refuses such an address unless the user confirmed the warning; this only
 * decides when the form shows that warning.
 */
export function isPlainHttpBeyondLoopback(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== "http:") return false;
  const host = u.hostname.toLowerCase();
  const loopback = host === "localhost" || host.endsWith(".localhost") || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
  return !loopback;
}

/** Whether a (checked) registry URL uses TLS, so a certificate can be pinned. */
export function isHttps(url: string): boolean {
  return url.startsWith("https://");
}

/**
 * A registry's certificate fingerprint as its host reads it out: 64 hex
 * digits, grouped or not by spaces, colons or dashes. Empty means none
 * (a registry with a publicly trusted certificate). The value is in the
 * grouped form the host's screen shows.
 */
export function checkCertFingerprint(input: string): Checked<string | null> {
  const hex = input.replace(/[\s:-]/g, "");
  if (hex.length === 0) return { ok: true, value: null };
  if (!/^[0-9a-fA-F]+$/.test(hex)) return { ok: false, error: "Only hexadecimal digits 0–9 and A–F." };
  if (hex.length !== 64) return { ok: false, error: `64 hexadecimal digits are needed; this has ${hex.length}.` };
  return { ok: true, value: (hex.toUpperCase().match(/.{4}/g) ?? []).join(" ") };
}

export const PASSPHRASE_MIN = 10;

/** A backup passphrase: long enough, typed twice the same. */
export function checkPassphrase(pass: string, again: string): Checked<string> {
  if (pass.length < PASSPHRASE_MIN) return { ok: false, error: `Use at least ${PASSPHRASE_MIN} characters.` };
  if (pass !== again) return { ok: false, error: "The two passphrases differ." };
  return { ok: true, value: pass };
}

/** A TCP port, or null when left empty (the default port). */
export function checkPort(input: string): Checked<number | null> {
  const v = input.trim();
  if (v === "") return { ok: true, value: null };
  if (!/^[0-9]+$/.test(v)) return { ok: false, error: "A port is a number." };
  const n = Number(v);
  if (n < 1 || n > 65535) return { ok: false, error: "A port is between 1 and 65535." };
  return { ok: true, value: n };
}

/** An advertised media address `host:port`, or null when empty. */
export function checkAdvertise(input: string): Checked<string | null> {
  const v = input.trim();
  if (v === "") return { ok: true, value: null };
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]/]+):([0-9]+)$/.exec(v);
  if (!m) return { ok: false, error: "Write it as host:port, e.g. 203.0.113.7:40000." };
  const port = checkPort(m[2] ?? "");
  if (!port.ok || port.value === null) return { ok: false, error: "The port must be between 1 and 65535." };
  return { ok: true, value: v };
}
