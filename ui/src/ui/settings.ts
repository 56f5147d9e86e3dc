// Settings: audio devices with a microphone test, registry address and
// call options (with the privacy of the call's path and what the registry
// offers for calls between homes), identity (fingerprint, encrypted backup), and hosting a
// registry on this computer. Each section loads on its own, so one failing
// command leaves the others usable.
import type { AudioDevice, DeviceList, HostStatus, Settings } from "../api/types";
import { levelPercent, networkLines } from "../logic/format";
import type { State } from "../logic/state";
import { checkAdvertise, checkPassphrase, checkPort, checkRegistryUrl } from "../logic/validate";
import { button, errorText, field, h, setFieldError, setText } from "./dom";
import { mountRegistryLink } from "./registryLink";
import type { Ctx, View } from "./view";

function section(title: string, id: string, ...children: HTMLElement[]): HTMLElement {
  return h("section", { class: "card", attrs: { "aria-labelledby": id } }, h("h3", { attrs: { id }, text: title }), ...children);
}

function status(testid: string): HTMLElement {
  return h("p", { class: "status", testid, attrs: { role: "status" } });
}

function fillDevices(select: HTMLSelectElement, devices: AudioDevice[], selected: string | null): void {
  select.replaceChildren(
    h("option", { attrs: { value: "" }, text: "System default" }),
    ...devices.map((d) => h("option", { attrs: { value: d.id }, text: d.isDefault ? `${d.name} (default)` : d.name })),
  );
  select.value = selected !== null && devices.some((d) => d.id === selected) ? selected : "";
}

export function mountSettings(ctx: Ctx): View {
  const heading = h("h2", { attrs: { tabindex: -1, id: "settings-title" }, text: "Settings" });

  // --- Audio devices and mic test
  const input = h("select", { testid: "settings-input" });
  const output = h("select", { testid: "settings-output" });
  const inField = field("Microphone", input);
  const outField = field("Speaker or headset", output);
  const devStatus = status("devices-status");
  const saveDevices = button("Use these devices", () => void applyDevices(), { testid: "devices-save" });
  const micMeter = h("meter", { testid: "mic-test-level", attrs: { min: 0, max: 1, value: 0, id: "mic-test-level" } });
  let micTesting = false;
  const micTest = button("Test microphone", () => void toggleMicTest(), { testid: "mic-test", attrs: { "aria-pressed": "false" } });
  const devices = section(
    "Audio devices",
    "settings-devices",
    inField.wrap,
    outField.wrap,
    h("div", { class: "actions" }, saveDevices),
    h("div", { class: "meters" }, h("label", { attrs: { for: "mic-test-level" }, text: "Microphone level" }), micMeter),
    h("div", { class: "actions" }, micTest),
    devStatus,
  );

  async function loadDevices(): Promise<void> {
    try {
      const d: DeviceList = await ctx.api.listDevices();
      fillDevices(input, d.inputs, d.selectedInput);
      fillDevices(output, d.outputs, d.selectedOutput);
      setText(devStatus, d.inputs.length === 0 ? "No microphone found." : "");
    } catch (e) {
      setText(devStatus, errorText(e));
    }
  }
  async function applyDevices(): Promise<void> {
    try {
      await ctx.api.selectDevices(input.value === "" ? null : input.value, output.value === "" ? null : output.value);
      setText(devStatus, "Devices saved.");
    } catch (e) {
      setText(devStatus, errorText(e));
    }
  }
  function setMeter(level: number): void {
    if (micMeter.value === level) return;
    micMeter.value = level;
    micMeter.setAttribute("aria-valuetext", `${levelPercent(level)} %`);
  }
  async function toggleMicTest(): Promise<void> {
    try {
      if (micTesting) await ctx.api.stopMicTest();
      else await ctx.api.startMicTest();
      micTesting = !micTesting;
      if (!micTesting) setMeter(0);
      micTest.setAttribute("aria-pressed", String(micTesting));
      setText(micTest, micTesting ? "Stop microphone test" : "Test microphone");
      setText(devStatus, micTesting ? "Speak: the meter should move." : "");
    } catch (e) {
      setText(devStatus, errorText(e));
    }
  }

  // --- Registry and call options
  const registry = h("input", { testid: "settings-registry", attrs: { type: "url", spellcheck: "false" } });
  const regField = field("Registry address", registry, "Changing it registers your identity and username on the new registry.");
  const link = mountRegistryLink("settings");
  registry.addEventListener("input", () => link.show(registry.value));
  const advertise = h("input", { testid: "settings-advertise", attrs: { type: "text", spellcheck: "false", placeholder: "host:port" } });
  const advField = field("Advertised media address (optional)", advertise, "For port forwarding: the public address:port peers should send audio to.");
  const ring = h("input", { testid: "settings-ring", attrs: { type: "checkbox", id: "settings-ring" } });
  const notify = h("input", { testid: "settings-notifications", attrs: { type: "checkbox", id: "settings-notify" } });
  const alwaysRelay = h("input", {
    testid: "settings-always-relay",
    attrs: { type: "checkbox", id: "settings-always-relay", "aria-describedby": "settings-always-relay-hint" },
  });
  const relayStrangers = h("input", {
    testid: "settings-relay-strangers",
    attrs: { type: "checkbox", id: "settings-relay-strangers", "aria-describedby": "settings-relay-strangers-hint" },
  });
  const network = h("ul", { class: "network", testid: "settings-network-status", attrs: { "aria-live": "polite" } });
  const checkNetwork = button("Check again", () => void loadNetwork(), { testid: "settings-network-check" });
  const saveStatus = status("settings-status");
  let loaded: Settings | null = null;
  const save = button("Save", () => void saveSettings(), { testid: "settings-save", class: "primary" });
  const general = section(
    "Registry and calls",
    "settings-general",
    regField.wrap,
    ...link.els,
    advField.wrap,
    h("div", { class: "check" }, ring, h("label", { attrs: { for: "settings-ring" }, text: "Ring for incoming calls" })),
    h("div", { class: "check" }, notify, h("label", { attrs: { for: "settings-notify" }, text: "Show a desktop notification for incoming calls" })),
    h("h4", { text: "Privacy of your address" }),
    h("div", { class: "check" }, alwaysRelay, h("label", { attrs: { for: "settings-always-relay" }, text: "Always relay" })),
    h("p", {
      class: "hint",
      attrs: { id: "settings-always-relay-hint" },
      text: "Every call goes through the registry's relay, so the people you call never learn your IP address. Calls fail if the registry has no relay.",
    }),
    h("div", { class: "check" }, relayStrangers, h("label", { attrs: { for: "settings-relay-strangers" }, text: "Relay calls with people not in my contacts" })),
    h("p", {
      class: "hint",
      attrs: { id: "settings-relay-strangers-hint" },
      text: "Someone you never called or verified sees only the relay's address, when the registry has a relay.",
    }),
    h("h4", { text: "What the registry offers for calls between homes" }),
    network,
    h("div", { class: "actions" }, checkNetwork),
    h("div", { class: "actions" }, save),
    saveStatus,
  );

  async function loadNetwork(): Promise<void> {
    checkNetwork.disabled = true;
    network.replaceChildren(h("li", { text: "Asking the registry…" }));
    try {
      const n = await ctx.api.networkStatus();
      network.replaceChildren(...networkLines(n).map((line) => h("li", { text: line })));
    } catch (e) {
      network.replaceChildren(h("li", { text: errorText(e) }));
    } finally {
      checkNetwork.disabled = false;
    }
  }

  async function loadSettings(): Promise<void> {
    try {
      loaded = await ctx.api.getSettings();
      registry.value = loaded.registryUrl;
      link.set(loaded);
      link.show(loaded.registryUrl);
      advertise.value = loaded.advertiseAddress ?? "";
      ring.checked = loaded.ringSound;
      notify.checked = loaded.notifications;
      alwaysRelay.checked = loaded.alwaysRelay;
      relayStrangers.checked = loaded.relayStrangers;
    } catch (e) {
      setText(saveStatus, errorText(e));
    }
  }
  async function saveSettings(): Promise<void> {
    const r = checkRegistryUrl(registry.value);
    const a = checkAdvertise(advertise.value);
    setFieldError(registry, regField.error, r.ok ? null : r.error);
    setFieldError(advertise, advField.error, a.ok ? null : a.error);
    const l = r.ok ? link.read(r.value) : null;
    if (!r.ok || !a.ok || !l?.ok) return;
    save.disabled = true;
    setText(saveStatus, "Saving…");
    try {
      loaded = await ctx.api.setSettings({
        registryUrl: r.value,
        ...l.value,
        advertiseAddress: a.value,
        ringSound: ring.checked,
        notifications: notify.checked,
        alwaysRelay: alwaysRelay.checked,
        relayStrangers: relayStrangers.checked,
      });
      registry.value = loaded.registryUrl;
      link.set(loaded);
      setText(saveStatus, "Saved.");
      ctx.act({ type: "settings-saved", ringSound: loaded.ringSound });
    } catch (e) {
      setText(saveStatus, errorText(e));
    } finally {
      save.disabled = false;
    }
  }

  // --- Identity
  const who = h("strong", { testid: "settings-username" });
  const fingerprint = h("code", { class: "fingerprint", testid: "settings-fingerprint" });
  const path = h("input", { testid: "export-path", attrs: { type: "text", spellcheck: "false", placeholder: "/home/me/pqvoice-identity.backup" } });
  const pass = h("input", { testid: "export-passphrase", attrs: { type: "password", autocomplete: "new-password" } });
  const pass2 = h("input", { testid: "export-passphrase-again", attrs: { type: "password", autocomplete: "new-password" } });
  const pathField = field("Save the backup to", path, "A full file path. The file is written readable only by you.");
  const passField = field("Backup passphrase", pass, "Needed to restore the backup. Keep it somewhere safe: it cannot be recovered.");
  const pass2Field = field("Passphrase again", pass2);
  const exportStatus = status("export-status");
  const doExport = button("Export identity", () => void exportIdentity(), { testid: "export-identity" });
  const identity = section(
    "Identity",
    "settings-identity",
    h("p", {}, "Signed in as ", who),
    h("p", { text: "Fingerprint of your identity key:" }),
    fingerprint,
    h("h4", { text: "Backup" }),
    pathField.wrap,
    passField.wrap,
    pass2Field.wrap,
    h("div", { class: "actions" }, doExport),
    exportStatus,
  );
  async function exportIdentity(): Promise<void> {
    const p = path.value.trim();
    setFieldError(path, pathField.error, p === "" ? "Enter where to save the backup." : null);
    const c = checkPassphrase(pass.value, pass2.value);
    setFieldError(pass, passField.error, c.ok ? null : c.error);
    if (p === "" || !c.ok) return;
    doExport.disabled = true;
    try {
      const r = await ctx.api.exportIdentity(p, c.value);
      setText(exportStatus, `Backup written to ${r.path}.`);
      pass.value = "";
      pass2.value = "";
    } catch (e) {
      setText(exportStatus, errorText(e));
    } finally {
      doExport.disabled = false;
    }
  }

  // --- Host a registry
  const port = h("input", { testid: "host-port", attrs: { type: "text", inputmode: "numeric", placeholder: "5001" } });
  const portField = field("Port", port, "Leave empty for the default. Friends must be able to reach this port.");
  const hostState = status("host-status");
  const urls = h("ul", { class: "addresses", testid: "host-urls" });
  const hostToggle = button("Start hosting", () => void toggleHost(), { testid: "host-toggle" });
  const hostDir = h("p", { class: "hint", testid: "host-data-dir" });
  const hostFingerprint = h("code", { class: "fingerprint", testid: "host-fingerprint" });
  const fingerprintPart = h(
    "div",
    { attrs: { hidden: true } },
    h("p", { text: "and this certificate fingerprint, which you read out to them (or send over a channel you trust):" }),
    hostFingerprint,
  );
  const host = section(
    "Host a registry on this computer",
    "settings-host",
    h("p", {
      text: "Runs a registry here so friends can sign up without any server. It stops when pqvoice quits. The connection is encrypted with a certificate made on this computer; friends check it with its fingerprint.",
    }),
    h("p", {
      class: "hint",
      testid: "host-open-registration",
      text: "Anyone who can reach this computer on the port can register a username on it, not only the friends you tell. Host only on networks you trust, and stop hosting when it is not needed.",
    }),
    portField.wrap,
    h("div", { class: "actions" }, hostToggle),
    hostState,
    urls,
    fingerprintPart,
    hostDir,
  );
  let hostRunning = false;
  function showHost(st: HostStatus): void {
    hostRunning = st.running;
    setText(hostToggle, st.running ? "Stop hosting" : "Start hosting");
    port.disabled = st.running;
    setText(hostState, st.running ? "Running. Friends should enter one of these addresses as their registry:" : "Not running.");
    urls.replaceChildren(...st.urls.map((u) => h("li", {}, h("code", { text: u }))));
    setText(hostFingerprint, st.fingerprint ?? "");
    fingerprintPart.hidden = !st.running || st.fingerprint === null;
    setText(hostDir, st.dataDir ? `Database folder: ${st.dataDir}` : "");
  }
  async function loadHost(): Promise<void> {
    try {
      showHost(await ctx.api.hostRegistryStatus());
    } catch (e) {
      setText(hostState, errorText(e));
    }
  }
  async function toggleHost(): Promise<void> {
    const p = checkPort(port.value);
    setFieldError(port, portField.error, p.ok ? null : p.error);
    if (!p.ok) return;
    hostToggle.disabled = true;
    try {
      showHost(hostRunning ? await ctx.api.hostRegistryStop() : await ctx.api.hostRegistryStart(p.value));
    } catch (e) {
      setText(hostState, errorText(e));
    } finally {
      hostToggle.disabled = false;
    }
  }

  const el = h(
    "section",
    { class: "screen settings", testid: "settings", attrs: { "aria-labelledby": "settings-title" } },
    heading,
    devices,
    general,
    identity,
    host,
  );
  void loadDevices();
  void loadSettings();
  void loadNetwork();
  void loadHost();

  function showLevels(s: State): void {
    setMeter(micTesting ? s.levels.mic : 0);
  }

  return {
    el,
    focusTarget: heading,
    update(s: State) {
      setText(who, s.account?.username ?? "");
      setText(fingerprint, s.account?.fingerprint ?? "");
      showLevels(s);
    },
    showLevels,
    destroy() {
      // Leaving the screen must not leave the microphone open.
      if (micTesting) void ctx.api.stopMicTest().catch(() => {});
      micTesting = false;
    },
  };
}
