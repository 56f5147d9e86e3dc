// What every screen, popup and dialog shares: a View is mounted once and then
// updated with each new State, so text fields keep their content and focus
// while events stream in. Views never call Rust for call control; they emit
// Intents which the controller turns into commands. Screens that only read
// data (settings, history) use the Api wrappers directly.
import type { Api } from "../api/commands";
import type { State, Tab } from "../logic/state";

export type Intent =
  | { type: "sign-up"; registryUrl: string; username: string; registryFingerprint: string | null; allowInsecureHttp: boolean }
  | { type: "welcome-done" }
  | { type: "search"; query: string }
  | { type: "call"; username: string }
  | { type: "echo-test" }
  | { type: "cancel" }
  | { type: "accept" }
  | { type: "reject" }
  | { type: "hang-up" }
  | { type: "toggle-mute" }
  | { type: "open-verify"; username: string }
  | { type: "open-key-change"; username: string }
  // `fingerprint` is the one of the safety number the dialog showed.
  | { type: "mark-verified"; username: string; fingerprint: string }
  | { type: "accept-key-change"; username: string; fingerprint: string }
  | { type: "close-dialog" }
  | { type: "tab"; tab: Tab }
  | { type: "dismiss-notice" }
  | { type: "settings-saved"; ringSound: boolean };

export interface Ctx {
  act(intent: Intent): void;
  api: Api;
  now(): number;
}

export interface View {
  el: HTMLElement;
  update(s: State): void;
  /** Called when the view leaves the screen. */
  destroy?(): void;
  /**
   * Shows new audio levels. Views with meters have it; the controller calls
   * only this (not `update`) for the frequent `audio-levels` events.
   */
  showLevels?(s: State): void;
  /** Where focus goes when the view appears. */
  focusTarget?: HTMLElement;
}
