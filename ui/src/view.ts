// Pure view functions: they build DOM from data and never call Rust, so
// they are tested without a Tauri runtime.
import type { AppInfo } from "./api/app";

/** Renders the start screen for the given build information. */
export function renderStart(root: HTMLElement, info: AppInfo): void {
  root.replaceChildren();
  const h1 = document.createElement("h1");
  h1.textContent = "pqvoice";
  const version = document.createElement("p");
  version.className = "muted";
  version.textContent = `Version ${info.version}`;
  const registry = document.createElement("p");
  registry.append("Registry: ");
  const code = document.createElement("code");
  code.dataset.testid = "registry-url";
  code.textContent = info.registryUrl;
  registry.append(code);
  root.append(h1, version, registry);
}

/** Renders an error the user can read; never raw internals. */
export function renderError(root: HTMLElement, message: string): void {
  root.replaceChildren();
  const p = document.createElement("p");
  p.setAttribute("role", "alert");
  p.textContent = message;
  root.append(p);
}
