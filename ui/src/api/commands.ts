// Typed wrappers of every Rust command (docs/ui-api.md). This folder is the
// only code in the UI that talks to Rust: screens get an `Api` object, which
// tests build over a fake `invoke` and the app builds over Tauri's.
import { parseAppInfo, type AppInfo } from "./app";
import { ContractError, unit } from "./parse";
import {
  parseAccount,
  parseCallSnapshot,
  parseContacts,
  parseDeviceList,
  parseExportResult,
  parseHistory,
  parseHostStatus,
  parseNetworkStatus,
  parseOptionalAccount,
  parseOptionalCall,
  parseSafetyNumber,
  parseSettings,
  type Account,
  type CallSnapshot,
  type Contact,
  type DeviceList,
  type ExportResult,
  type HistoryEntry,
  type HostStatus,
  type NetworkStatus,
  type RegistryLinkChoice,
  type SafetyNumber,
  type Settings,
} from "./types";

/** The shape of Tauri's `invoke`, narrowed to what we use. */
export type Invoke = (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;

/**
 * A failed command. Rust errors arrive as `{ kind, message }`; `message` is
 * written for the user, `kind` lets the UI react (e.g. `key-changed`).
 */
export class CommandError extends Error {
  override name = "CommandError";
  constructor(
    readonly command: string,
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

/** Turns whatever `invoke` rejected with into a CommandError. */
export function toCommandError(command: string, e: unknown): CommandError {
  if (e instanceof CommandError) return e;
  if (typeof e === "object" && e !== null) {
    const o = e as Record<string, unknown>;
    if (typeof o.kind === "string" && typeof o.message === "string" && o.message.length > 0) {
      return new CommandError(command, o.kind, o.message);
    }
  }
  // Tauri itself rejects with plain strings (unknown command, denied by a
  // capability); those are not for end users but must still be readable.
  if (typeof e === "string" && e.length > 0) return new CommandError(command, "ipc", e);
  if (e instanceof ContractError) return new CommandError(command, "contract", `The app core sent an unexpected reply (${e.message}).`);
  if (e instanceof Error) return new CommandError(command, "ipc", e.message);
  return new CommandError(command, "ipc", `${command} failed`);
}

/** Every command the UI uses, typed and validated. */
export interface Api {
  appInfo(): Promise<AppInfo>;
  getAccount(): Promise<Account | null>;
  signUp(registryUrl: string, username: string, link?: RegistryLinkChoice): Promise<Account>;
  listContacts(query: string): Promise<Contact[]>;
  currentCall(): Promise<CallSnapshot | null>;
  startCall(username: string): Promise<CallSnapshot>;
  echoTest(): Promise<CallSnapshot>;
  cancelCall(callId: string): Promise<void>;
  acceptCall(callId: string): Promise<CallSnapshot>;
  rejectCall(callId: string): Promise<void>;
  hangUp(callId: string): Promise<void>;
  setMute(muted: boolean): Promise<void>;
  listDevices(): Promise<DeviceList>;
  selectDevices(input: string | null, output: string | null): Promise<void>;
  startMicTest(): Promise<void>;
  stopMicTest(): Promise<void>;
  getSettings(): Promise<Settings>;
  setSettings(settings: Settings): Promise<Settings>;
  /** Asks the registry what it offers for calls between homes (STUN, relays). */
  networkStatus(): Promise<NetworkStatus>;
  safetyNumber(username: string): Promise<SafetyNumber>;
  /** `fingerprint`: the one that came with the safety number the user compared. */
  markVerified(username: string, fingerprint: string): Promise<void>;
  /** `fingerprint`: the one that came with the new safety number the user compared. */
  acceptKeyChange(username: string, fingerprint: string): Promise<void>;
  history(): Promise<HistoryEntry[]>;
  exportIdentity(path: string, passphrase: string): Promise<ExportResult>;
  hostRegistryStart(port: number | null): Promise<HostStatus>;
  hostRegistryStop(): Promise<HostStatus>;
  hostRegistryStatus(): Promise<HostStatus>;
}

/** Builds the Api over an invoke function (Tauri's in the app, a fake in tests). */
export function createApi(invoke: Invoke): Api {
  // One place that calls invoke, so every command gets the same error
  // mapping and the same validation of its result.
  async function call<T>(cmd: string, args: Record<string, unknown> | undefined, parse: (v: unknown) => T): Promise<T> {
    let raw: unknown;
    try {
      raw = args === undefined ? await invoke(cmd) : await invoke(cmd, args);
    } catch (e) {
      throw toCommandError(cmd, e);
    }
    try {
      return parse(raw);
    } catch (e) {
      throw toCommandError(cmd, e);
    }
  }
  const none = (cmd: string) => (v: unknown) => unit(v, cmd);

  return {
    appInfo: () => call("app_info", undefined, parseAppInfo),
    getAccount: () => call("get_account", undefined, parseOptionalAccount),
    signUp: (registryUrl, username, link = { registryFingerprint: null, allowInsecureHttp: false }) =>
      call("sign_up", { registryUrl, username, ...link }, (v) => parseAccount(v)),
    listContacts: (query) => call("list_contacts", { query }, parseContacts),
    currentCall: () => call("current_call", undefined, parseOptionalCall),
    startCall: (username) => call("start_call", { username }, (v) => parseCallSnapshot(v)),
    echoTest: () => call("echo_test", undefined, (v) => parseCallSnapshot(v)),
    cancelCall: (callId) => call("cancel_call", { callId }, none("cancel_call")),
    acceptCall: (callId) => call("accept_call", { callId }, (v) => parseCallSnapshot(v)),
    rejectCall: (callId) => call("reject_call", { callId }, none("reject_call")),
    hangUp: (callId) => call("hang_up", { callId }, none("hang_up")),
    setMute: (muted) => call("set_mute", { muted }, none("set_mute")),
    listDevices: () => call("list_devices", undefined, (v) => parseDeviceList(v)),
    selectDevices: (input, output) => call("select_devices", { input, output }, none("select_devices")),
    startMicTest: () => call("start_mic_test", undefined, none("start_mic_test")),
    stopMicTest: () => call("stop_mic_test", undefined, none("stop_mic_test")),
    getSettings: () => call("get_settings", undefined, (v) => parseSettings(v)),
    setSettings: (settings) => call("set_settings", { settings }, (v) => parseSettings(v)),
    networkStatus: () => call("network_status", undefined, (v) => parseNetworkStatus(v)),
    safetyNumber: (username) => call("safety_number", { username }, (v) => parseSafetyNumber(v)),
    markVerified: (username, fingerprint) => call("mark_verified", { username, fingerprint }, none("mark_verified")),
    acceptKeyChange: (username, fingerprint) => call("accept_key_change", { username, fingerprint }, none("accept_key_change")),
    history: () => call("history", undefined, parseHistory),
    exportIdentity: (path, passphrase) => call("export_identity", { path, passphrase }, (v) => parseExportResult(v)),
    hostRegistryStart: (port) => call("host_registry_start", { port }, (v) => parseHostStatus(v)),
    hostRegistryStop: () => call("host_registry_stop", undefined, (v) => parseHostStatus(v)),
    hostRegistryStatus: () => call("host_registry_status", undefined, (v) => parseHostStatus(v)),
  };
}
