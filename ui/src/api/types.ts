// The data half of the contract with src-tauri (docs/ui-api.md): every type
// Rust sends, and a parser per type that refuses anything else. Field names
// are camelCase because the Rust structs use `#[serde(rename_all = "camelCase")]`.
import {
  ContractError,
  arr,
  bool,
  count,
  nonEmpty,
  num,
  obj,
  oneOf,
  optNum,
  optStr,
  str,
  strArr,
} from "./parse";

/** How far we trust a contact's identity key. */
export const TRUST = ["unverified", "verified", "key-changed"] as const;
export type Trust = (typeof TRUST)[number];

// The values are proto::signaling::Presence as serialized (snake_case), so
// the desktop layer can pass the registry's presence through unchanged.
// The registry shares presence only with contacts and never says who is in a
// call (a call shows only as busy to someone who rings), so there are two.
export const PRESENCE = ["online", "offline"] as const;
export type Presence = (typeof PRESENCE)[number];

/** The signed-in identity of this device. */
export interface Account {
  username: string;
  registryUrl: string;
  /** Fingerprint of our identity key, already grouped for display. */
  fingerprint: string;
}

export function parseAccount(value: unknown, what = "Account"): Account {
  const o = obj(value, what);
  return {
    username: nonEmpty(o, "username", what),
    registryUrl: nonEmpty(o, "registryUrl", what),
    fingerprint: nonEmpty(o, "fingerprint", what),
  };
}

/** `get_account` returns null before the first sign-up. */
export function parseOptionalAccount(value: unknown): Account | null {
  return value === null ? null : parseAccount(value);
}

export interface Contact {
  username: string;
  presence: Presence;
  trust: Trust;
  /** Unix time in ms of the last call with this contact, if any. */
  lastCallAt: number | null;
}

export function parseContact(value: unknown, what = "Contact"): Contact {
  const o = obj(value, what);
  return {
    username: nonEmpty(o, "username", what),
    presence: oneOf(o, "presence", PRESENCE, what),
    trust: oneOf(o, "trust", TRUST, what),
    lastCallAt: optNum(o, "lastCallAt", what, 0),
  };
}

export function parseContacts(value: unknown): Contact[] {
  return arr(value, "Contact[]", parseContact);
}

export const CALL_STATE = ["ringing-out", "ringing-in", "connecting", "active", "ended"] as const;
export type CallState = (typeof CALL_STATE)[number];

export const END_REASON = [
  "hung-up",
  "remote-hung-up",
  "cancelled",
  "rejected",
  "missed",
  "busy",
  "offline",
  "connection-lost",
  "no-path",
  "failed",
] as const;
export type EndReason = (typeof END_REASON)[number];

export const DIRECTION = ["outgoing", "incoming"] as const;
export type Direction = (typeof DIRECTION)[number];

/** The whole state of one call; every `call-state` event carries a fresh one. */
export interface CallSnapshot {
  callId: string;
  peer: string;
  direction: Direction;
  /** True for the built-in echo test, whose peer is a bot. */
  echo: boolean;
  state: CallState;
  peerTrust: Trust;
  /** Short authentication string as display groups (e.g. ["042", "917"]), present from `active` on. */
  sas: string[] | null;
  /** Unix ms when the call became active; null before. */
  activeSince: number | null;
  muted: boolean;
  /** Why it ended; non-null exactly when state is `ended`. */
  reason: EndReason | null;
  /** Extra text for `failed`/`connection-lost`/`no-path`, safe to show. */
  message: string | null;
}

export function parseCallSnapshot(value: unknown, what = "CallSnapshot"): CallSnapshot {
  const o = obj(value, what);
  const state = oneOf(o, "state", CALL_STATE, what);
  const reason = o.reason === null || o.reason === undefined ? null : oneOf(o, "reason", END_REASON, what);
  if ((state === "ended") !== (reason !== null)) {
    throw new ContractError(`${what}: reason must be set exactly when the call has ended`);
  }
  const sas = o.sas === null || o.sas === undefined ? null : strArr(o, "sas", what);
  if (state === "active" && (sas === null || sas.length === 0)) {
    throw new ContractError(`${what}: an active call must carry its short authentication string`);
  }
  const activeSince = optNum(o, "activeSince", what, 0);
  if (state === "active" && activeSince === null) {
    throw new ContractError(`${what}: an active call must say since when it is active`);
  }
  return {
    callId: nonEmpty(o, "callId", what),
    peer: nonEmpty(o, "peer", what),
    direction: oneOf(o, "direction", DIRECTION, what),
    echo: bool(o, "echo", what),
    state,
    peerTrust: oneOf(o, "peerTrust", TRUST, what),
    sas,
    activeSince,
    muted: bool(o, "muted", what),
    reason,
    message: optStr(o, "message", what),
  };
}

export function parseOptionalCall(value: unknown): CallSnapshot | null {
  return value === null ? null : parseCallSnapshot(value);
}

/** Payload of `incoming-call`. */
export interface IncomingCall {
  callId: string;
  peer: string;
  peerTrust: Trust;
}

export function parseIncomingCall(value: unknown, what = "IncomingCall"): IncomingCall {
  const o = obj(value, what);
  return {
    callId: nonEmpty(o, "callId", what),
    peer: nonEmpty(o, "peer", what),
    peerTrust: oneOf(o, "peerTrust", TRUST, what),
  };
}

/** How the call's audio travels: straight between the two devices, or through the registry's relay. */
export const MEDIA_PATH = ["direct", "relayed"] as const;
export type MediaPath = (typeof MEDIA_PATH)[number];

/** Payload of `call-stats`, once a second during a call. */
export interface CallStats {
  callId: string;
  /** Round-trip time; null until the first ping is answered. */
  rttMs: number | null;
  lossPct: number;
  jitterMs: number;
  sendKbps: number;
  recvKbps: number;
  jitterBufferMs: number;
  /** Frames concealed since the call started. */
  concealed: number;
  /** Frames recovered from FEC/redundancy since the call started. */
  recovered: number;
  /** The path carrying the audio; null until one answered. */
  path: MediaPath | null;
  /** 4 or 6: the IP version of that path; null until one answered. */
  ipVersion: 4 | 6 | null;
}

function optIpVersion(o: Record<string, unknown>, what: string): 4 | 6 | null {
  const v = o.ipVersion;
  if (v === null || v === undefined) return null;
  if (v !== 4 && v !== 6) throw new ContractError(`${what}.ipVersion: expected 4, 6 or null`);
  return v;
}

export function parseCallStats(value: unknown, what = "CallStats"): CallStats {
  const o = obj(value, what);
  return {
    callId: nonEmpty(o, "callId", what),
    rttMs: optNum(o, "rttMs", what, 0),
    lossPct: num(o, "lossPct", what, 0, 100),
    jitterMs: num(o, "jitterMs", what, 0),
    sendKbps: num(o, "sendKbps", what, 0),
    recvKbps: num(o, "recvKbps", what, 0),
    jitterBufferMs: num(o, "jitterBufferMs", what, 0),
    concealed: count(o, "concealed", what),
    recovered: count(o, "recovered", what),
    path: o.path === null || o.path === undefined ? null : oneOf(o, "path", MEDIA_PATH, what),
    ipVersion: optIpVersion(o, what),
  };
}

/** Payload of `audio-levels`: 0..1 each. */
export interface AudioLevels {
  mic: number;
  speaker: number;
}

export function parseAudioLevels(value: unknown, what = "AudioLevels"): AudioLevels {
  const o = obj(value, what);
  return { mic: num(o, "mic", what, 0, 1), speaker: num(o, "speaker", what, 0, 1) };
}

/** Payload of `presence`. */
export interface PresenceChange {
  username: string;
  presence: Presence;
}

export function parsePresenceChange(value: unknown, what = "PresenceChange"): PresenceChange {
  const o = obj(value, what);
  return { username: nonEmpty(o, "username", what), presence: oneOf(o, "presence", PRESENCE, what) };
}

/** Payload of `key-changed`. */
export interface KeyChanged {
  username: string;
}

export function parseKeyChanged(value: unknown, what = "KeyChanged"): KeyChanged {
  const o = obj(value, what);
  return { username: nonEmpty(o, "username", what) };
}

export const REGISTRY_LINK = ["connected", "connecting", "offline"] as const;
export type RegistryLink = (typeof REGISTRY_LINK)[number];

/** Payload of `registry-status`: the push connection to the registry. */
export interface RegistryStatus {
  state: RegistryLink;
  message: string | null;
}

export function parseRegistryStatus(value: unknown, what = "RegistryStatus"): RegistryStatus {
  const o = obj(value, what);
  return { state: oneOf(o, "state", REGISTRY_LINK, what), message: optStr(o, "message", what) };
}

export interface SafetyNumber {
  username: string;
  /** Digit groups, e.g. 12 groups of 5 digits. */
  groups: string[];
  trust: Trust;
  /**
   * Whole fingerprint (64 hex digits) of the key the digits were computed
   * with. `markVerified` and `acceptKeyChange` send it back so that Rust
   * pins exactly the key whose number the user compared.
   */
  fingerprint: string;
}

export function parseSafetyNumber(value: unknown, what = "SafetyNumber"): SafetyNumber {
  const o = obj(value, what);
  const groups = strArr(o, "groups", what);
  if (groups.length === 0 || !groups.every((g) => /^[0-9]+$/.test(g))) {
    throw new ContractError(`${what}.groups: expected non-empty groups of digits`);
  }
  const fingerprint = str(o, "fingerprint", what);
  if (!/^[0-9a-f]{64}$/.test(fingerprint)) {
    throw new ContractError(`${what}.fingerprint: expected 64 lower-case hex digits`);
  }
  return { username: nonEmpty(o, "username", what), groups, trust: oneOf(o, "trust", TRUST, what), fingerprint };
}

export interface AudioDevice {
  id: string;
  name: string;
  isDefault: boolean;
}

function parseDevice(value: unknown, what: string): AudioDevice {
  const o = obj(value, what);
  return { id: nonEmpty(o, "id", what), name: str(o, "name", what), isDefault: bool(o, "isDefault", what) };
}

export interface DeviceList {
  inputs: AudioDevice[];
  outputs: AudioDevice[];
  /** Chosen device id, or null for the system default. */
  selectedInput: string | null;
  selectedOutput: string | null;
}

export function parseDeviceList(value: unknown, what = "DeviceList"): DeviceList {
  const o = obj(value, what);
  return {
    inputs: arr(o.inputs, `${what}.inputs`, parseDevice),
    outputs: arr(o.outputs, `${what}.outputs`, parseDevice),
    selectedInput: optStr(o, "selectedInput", what),
    selectedOutput: optStr(o, "selectedOutput", what),
  };
}

/**
 * How to reach a registry besides its URL: the pinned SHA-256 fingerprint
 * of its certificate (an https:// registry hosted with a self-signed one;
 * 64 hex digits, any grouping) and the user's consent to plain http:// to
 * another computer, given after a warning.
 */
export interface RegistryLinkChoice {
  registryFingerprint: string | null;
  allowInsecureHttp: boolean;
}

export interface Settings extends RegistryLinkChoice {
  registryUrl: string;
  /** Play a ring tone for incoming calls. */
  ringSound: boolean;
  /** Show an OS notification for incoming calls. */
  notifications: boolean;
  /** Address:port peers should send media to (port forwarding), or null. */
  advertiseAddress: string | null;
  /** Every call goes through the registry's relay, so no peer learns our IP addresses. */
  alwaysRelay: boolean;
  /** Calls with people who are not among our contacts go through the relay (when there is one). */
  relayStrangers: boolean;
}

export function parseSettings(value: unknown, what = "Settings"): Settings {
  const o = obj(value, what);
  return {
    registryUrl: nonEmpty(o, "registryUrl", what),
    registryFingerprint: optStr(o, "registryFingerprint", what),
    allowInsecureHttp: bool(o, "allowInsecureHttp", what),
    ringSound: bool(o, "ringSound", what),
    notifications: bool(o, "notifications", what),
    advertiseAddress: optStr(o, "advertiseAddress", what),
    alwaysRelay: bool(o, "alwaysRelay", what),
    relayStrangers: bool(o, "relayStrangers", what),
  };
}

export const RELAY_TRANSPORT = ["udp", "tcp"] as const;
export type RelayTransport = (typeof RELAY_TRANSPORT)[number];

/**
 * What the registry offers for reaching peers behind routers: whether it
 * answers STUN (calls learn their public address) and its TURN relays.
 * `error` is set, and the rest empty, when the registry could not be asked.
 */
export interface NetworkStatus {
  stun: boolean;
  /** One entry per relay the registry hands out credentials for. */
  relays: RelayTransport[];
  error: string | null;
}

export function parseNetworkStatus(value: unknown, what = "NetworkStatus"): NetworkStatus {
  const o = obj(value, what);
  const relays = arr(o.relays, `${what}.relays`, (v, w) => {
    if (typeof v !== "string" || !(RELAY_TRANSPORT as readonly string[]).includes(v)) {
      throw new ContractError(`${w}: expected one of ${RELAY_TRANSPORT.join(", ")}`);
    }
    return v as RelayTransport;
  });
  const error = optStr(o, "error", what);
  const stun = bool(o, "stun", what);
  if (error !== null && (stun || relays.length > 0)) {
    throw new ContractError(`${what}: a failed check cannot report servers`);
  }
  return { stun, relays, error };
}

export const OUTCOME = ["answered", "missed", "rejected", "cancelled", "busy", "failed"] as const;
export type Outcome = (typeof OUTCOME)[number];

export interface HistoryEntry {
  callId: string;
  peer: string;
  /** A call to the built-in echo test. */
  echo: boolean;
  direction: Direction;
  outcome: Outcome;
  /** Unix ms when the call was placed or received. */
  startedAt: number;
  /** Seconds of conversation; 0 for calls never answered. */
  durationSecs: number;
}

export function parseHistoryEntry(value: unknown, what = "HistoryEntry"): HistoryEntry {
  const o = obj(value, what);
  return {
    callId: nonEmpty(o, "callId", what),
    peer: nonEmpty(o, "peer", what),
    echo: bool(o, "echo", what),
    direction: oneOf(o, "direction", DIRECTION, what),
    outcome: oneOf(o, "outcome", OUTCOME, what),
    startedAt: num(o, "startedAt", what, 0),
    durationSecs: num(o, "durationSecs", what, 0),
  };
}

export function parseHistory(value: unknown): HistoryEntry[] {
  return arr(value, "HistoryEntry[]", parseHistoryEntry);
}

export interface HostStatus {
  running: boolean;
  /** Registry URLs friends should enter (https://, one per usable local address). */
  urls: string[];
  /**
   * SHA-256 of the hosted registry's certificate in groups of four hex
   * digits, which friends pin when they join; non-null while running.
   */
  fingerprint: string | null;
  /** Where the hosted registry keeps its database. */
  dataDir: string | null;
}

export function parseHostStatus(value: unknown, what = "HostStatus"): HostStatus {
  const o = obj(value, what);
  const running = bool(o, "running", what);
  const urls = strArr(o, "urls", what);
  if (running && urls.length === 0) throw new ContractError(`${what}: a running registry must list its address`);
  const fingerprint = optStr(o, "fingerprint", what);
  if (running && fingerprint === null) throw new ContractError(`${what}: a running registry must show its certificate fingerprint`);
  return { running, urls, fingerprint, dataDir: optStr(o, "dataDir", what) };
}

export interface ExportResult {
  path: string;
}

export function parseExportResult(value: unknown, what = "ExportResult"): ExportResult {
  return { path: nonEmpty(obj(value, what), "path", what) };
}
