// Typed wrappers around the Rust commands. This folder is the only place in
// the UI that calls invoke(); screens import these functions instead.
import { invoke } from "@tauri-apps/api/core";

/** What the Rust side reports about this build (see src-tauri/src/commands.rs). */
export interface AppInfo {
  version: string;
  registryUrl: string;
}

/** Checks at runtime that a value from Rust has the AppInfo shape. */
export function parseAppInfo(value: unknown): AppInfo {
  if (typeof value !== "object" || value === null) {
    throw new Error("app_info returned no object");
  }
  const v = value as Record<string, unknown>;
  if (typeof v.version !== "string" || typeof v.registryUrl !== "string") {
    throw new Error("app_info returned an unexpected shape");
  }
  return { version: v.version, registryUrl: v.registryUrl };
}

/** Version of the app and the registry it is pointed at. */
export async function appInfo(): Promise<AppInfo> {
  return parseAppInfo(await invoke<unknown>("app_info"));
}
