// The `app_info` payload: what the Rust side reports about this build
// (src-tauri/src/commands.rs). The command itself is wrapped in commands.ts.
import { nonEmpty, obj } from "./parse";

export interface AppInfo {
  version: string;
  registryUrl: string;
}

/** Checks at runtime that a value from Rust has the AppInfo shape. */
export function parseAppInfo(value: unknown): AppInfo {
  const o = obj(value, "AppInfo");
  return { version: nonEmpty(o, "version", "AppInfo"), registryUrl: nonEmpty(o, "registryUrl", "AppInfo") };
}
