import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { active, stats } from "../test/fixtures";
import { CommandError, createApi, toCommandError, type Invoke } from "./commands";
import { EVENT_NAMES, subscribe, type BackendEvent } from "./events";
import { tauriApi, tauriListen } from "./tauri";

afterEach(() => clearMocks());

describe("command wrappers over Tauri IPC (mockIPC)", () => {
  it("send snake_case commands with camelCase argument objects", async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === "sign_up") return { username: "alice", registryUrl: "http://r", fingerprint: "ab12" };
      if (cmd === "start_call") return { ...active(), state: "ringing-out", sas: null, activeSince: null };
      if (cmd === "select_devices" || cmd === "hang_up") return null;
      if (cmd === "export_identity") return { path: "/tmp/x.backup" };
      return undefined;
    });
    const api = tauriApi();
    await expect(api.signUp("http://r", "alice")).resolves.toEqual({ username: "alice", registryUrl: "http://r", fingerprint: "ab12" });
    await expect(api.startCall("bob")).resolves.toMatchObject({ state: "ringing-out", peer: "bob" });
    await api.selectDevices(null, "out-1");
    await api.hangUp("c1");
    await api.exportIdentity("/tmp/x.backup", "correct horse battery");
    expect(calls).toEqual([
      ["sign_up", { registryUrl: "http://r", username: "alice", registryFingerprint: null, allowInsecureHttp: false }],
      ["start_call", { username: "bob" }],
      ["select_devices", { input: null, output: "out-1" }],
      ["hang_up", { callId: "c1" }],
      ["export_identity", { path: "/tmp/x.backup", passphrase: "correct horse battery" }],
    ]);
  });

  it("turn Rust's { kind, message } errors into CommandError", async () => {
    mockIPC(() => {
      throw { kind: "username-taken", message: "The username bob is taken on this registry." };
    });
    const err = await tauriApi()
      .signUp("http://r", "bob")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect(err).toMatchObject({ command: "sign_up", kind: "username-taken", message: "The username bob is taken on this registry." });
  });

  it("refuse results that do not match the contract", async () => {
    mockIPC((cmd) => (cmd === "list_contacts" ? [{ username: "bob" }] : "surprise"));
    const api = tauriApi();
    await expect(api.listContacts("")).rejects.toMatchObject({ kind: "contract", command: "list_contacts" });
    await expect(api.hangUp("c1")).rejects.toMatchObject({ kind: "contract" });
  });
});

describe("createApi over an injected invoke", () => {
  it("omits the argument object for commands without arguments", async () => {
    const invoke = vi.fn<Invoke>(async () => null);
    await createApi(invoke).getAccount();
    expect(invoke).toHaveBeenCalledWith("get_account");
  });
  it("maps every kind of rejection to a readable message", () => {
    expect(toCommandError("x", "command x not found")).toMatchObject({ kind: "ipc", message: "command x not found" });
    expect(toCommandError("x", { kind: "k", message: "" })).toMatchObject({ kind: "ipc" });
    expect(toCommandError("x", 42)).toMatchObject({ kind: "ipc", message: "x failed" });
    expect(toCommandError("x", new Error("boom"))).toMatchObject({ kind: "ipc", message: "boom" });
  });
});

describe("event subscriptions", () => {
  it("deliver validated payloads and drop bad ones", async () => {
    mockIPC(() => undefined, { shouldMockEvents: true });
    const got: BackendEvent[] = [];
    const bad: string[] = [];
    const unlisten = await subscribe(tauriListen, (e) => got.push(e), (name) => bad.push(name));
    await emit("call-stats", stats());
    await emit("call-stats", { ...stats(), lossPct: "lots" });
    await emit("presence", { username: "bob", presence: "online" });
    await emit("audio-levels", { mic: 2, speaker: 0 });
    expect(got).toEqual([
      { name: "call-stats", payload: stats() },
      { name: "presence", payload: { username: "bob", presence: "online" } },
    ]);
    expect(bad).toEqual(["call-stats", "audio-levels"]);
    unlisten();
    await emit("presence", { username: "bob", presence: "offline" });
    expect(got).toHaveLength(2);
  });
  it("listens to every event of the contract", async () => {
    const names: string[] = [];
    await subscribe(
      async (name) => {
        names.push(name);
        return () => {};
      },
      () => {},
      () => {},
    );
    expect(names.sort()).toEqual(
      ["audio-levels", "call-state", "call-stats", "incoming-call", "key-changed", "presence", "registry-status"].sort(),
    );
    expect(EVENT_NAMES).toHaveLength(7);
  });
});
