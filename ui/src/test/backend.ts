// A scripted stand-in for src-tauri in DOM tests: it answers commands with
// contract-shaped data, records every call, and lets a test emit events as
// Rust would. Tests drive the real App, views and Api wrappers over it.
import { createApi, type Invoke } from "../api/commands";
import type { Listen } from "../api/events";
import type { Account, CallSnapshot, Contact, HistoryEntry, HostStatus, NetworkStatus } from "../api/types";
import type { Ringer } from "../ui/ring";
import { contact, snap } from "./fixtures";

/** The certificate fingerprint the fake hosted registry shows. */
export const HOST_FINGERPRINT = "AB12 AB12 AB12 AB12 AB12 AB12 AB12 AB12 AB12 AB12 AB12 AB12 AB12 AB12 AB12 AB12";

type Handler = (args: Record<string, unknown>) => unknown;

/** The key fingerprint the fake's safety numbers come with. */
export const FINGERPRINT = "ab".repeat(32);

export class FakeBackend {
  calls: [string, Record<string, unknown> | undefined][] = [];
  account: Account | null = null;
  contacts: Contact[] = [contact("bob"), contact("carol", { presence: "offline" })];
  history: HistoryEntry[] = [];
  host: HostStatus = { running: false, urls: [], fingerprint: null, dataDir: null };
  network: NetworkStatus = { stun: true, relays: ["udp"], error: null };
  /** Per-command overrides; a thrown value is what invoke rejects with. */
  handlers: Record<string, Handler> = {};
  private listeners = new Map<string, ((e: { payload: unknown }) => void)[]>();

  invoke: Invoke = async (cmd, args) => {
    this.calls.push([cmd, args]);
    const custom = this.handlers[cmd];
    if (custom) return custom(args ?? {});
    const a = args ?? {};
    switch (cmd) {
      case "app_info":
        return { version: "0.1.0", registryUrl: "http://127.0.0.1:5001" };
      case "get_account":
        return this.account;
      case "sign_up":
        this.account = { username: String(a.username), registryUrl: String(a.registryUrl), fingerprint: "1a2b 3c4d 5e6f" };
        return this.account;
      case "current_call":
        return null;
      case "list_contacts":
        return this.contacts.filter((c) => c.username.includes(String(a.query)));
      case "start_call":
        return snap({ peer: String(a.username), peerTrust: this.contacts.find((c) => c.username === a.username)?.trust ?? "unverified" });
      case "echo_test":
        return snap({ callId: "echo1", peer: "echo", echo: true });
      case "accept_call":
        return snap({ callId: String(a.callId), peer: "carol", direction: "incoming", state: "connecting" });
      case "safety_number":
        return {
          username: a.username,
          groups: ["12345", "67890", "13579"],
          trust: this.contacts.find((c) => c.username === a.username)?.trust ?? "unverified",
          fingerprint: FINGERPRINT,
        };
      case "get_settings":
        return {
          registryUrl: "http://127.0.0.1:5001",
          registryFingerprint: null,
          allowInsecureHttp: false,
          ringSound: true,
          notifications: true,
          advertiseAddress: null,
          alwaysRelay: false,
          relayStrangers: true,
        };
      case "network_status":
        return this.network;
      case "set_settings":
        return a.settings;
      case "list_devices":
        return {
          inputs: [{ id: "mic-1", name: "Built-in mic", isDefault: true }],
          outputs: [{ id: "spk-1", name: "Speakers", isDefault: true }],
          selectedInput: null,
          selectedOutput: "spk-1",
        };
      case "history":
        return this.history;
      case "host_registry_status":
        return this.host;
      case "host_registry_start":
        this.host = {
          running: true,
          urls: ["https://192.168.1.20:5001"],
          fingerprint: HOST_FINGERPRINT,
          dataDir: "/home/me/.local/share/pqvoice/registry",
        };
        return this.host;
      case "host_registry_stop":
        this.host = { running: false, urls: [], fingerprint: null, dataDir: null };
        return this.host;
      case "export_identity":
        return { path: a.path };
      default:
        // cancel_call, hang_up, reject_call, set_mute, mark_verified, …
        return null;
    }
  };

  listen: Listen = async (event, handler) => {
    const list = this.listeners.get(event) ?? [];
    list.push(handler);
    this.listeners.set(event, list);
    return () => this.listeners.set(event, (this.listeners.get(event) ?? []).filter((h) => h !== handler));
  };

  emit(event: string, payload: unknown): void {
    for (const h of this.listeners.get(event) ?? []) h({ payload });
  }

  emitCall(s: CallSnapshot): void {
    this.emit("call-state", s);
  }

  api() {
    return createApi(this.invoke);
  }

  called(cmd: string): Record<string, unknown>[] {
    return this.calls.filter(([c]) => c === cmd).map(([, a]) => a ?? {});
  }
}

export class FakeRinger implements Ringer {
  ringing = false;
  starts = 0;
  start(): void {
    this.ringing = true;
    this.starts += 1;
  }
  stop(): void {
    this.ringing = false;
  }
}

/** Lets pending promises and their DOM updates run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}
