// "Host a registry on this computer", driven through the Settings screen
// like a user: the registry the app starts speaks TLS with a self-signed
// certificate whose fingerprint the screen shows; a CLI registers at the
// https address shown when it pins that fingerprint, and is refused without
// it or with another one. The certificate (key 0600) is kept across restarts
// of hosting, the database stays in the profile, and the registry is gone
// after "Stop hosting", after the window is closed, and after the app gets
// SIGTERM.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, realpathSync, statSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebDriver } from "./lib/webdriver.mjs";
import { signUp, tid, dumpOnFailure } from "./lib/app.mjs";
import { alive, processesOf, registriesUnder, until } from "./lib/procs.mjs";

const [driverUrl, app, registryUrl, artifacts, cli, profile, portText, workDir] = process.argv.slice(2);
const port = Number(portText);
const hostedDir = join(profile, "hosted-registry");
const t0 = Date.now();

// Exit status and output of the CLI; `fingerprint` pins the registry's
// certificate (null: none).
function pqvoice(profileDir, registry, fingerprint, ...args) {
  const pin = fingerprint === null ? [] : ["--registry-fingerprint", fingerprint];
  const r = spawnSync(cli, ["--registry", registry, ...pin, "--profile", profileDir, ...args], {
    encoding: "utf8",
    timeout: 30000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// Whether something accepts TCP connections on 127.0.0.1:port.
function listening(p) {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port: p });
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

// The app's process (the one tauri-driver started).
async function appPid() {
  const procs = await until("the app process", () => {
    const p = processesOf(app);
    return p.length === 1 ? p : null;
  });
  return procs[0].pid;
}

// Opens Settings, starts hosting on `port` and returns the addresses shown
// and the registry process.
async function startHosting(wd, pid) {
  await wd.click(tid("tab-settings"));
  await wd.waitFor("the settings screen", () => wd.exists(tid("settings")));
  await wd.type(tid("host-port"), String(port));
  await wd.click(tid("host-toggle"));
  const urls = await wd.waitFor("the hosted registry's addresses", async () => {
    const t = (await wd.text(tid("host-urls"))).trim();
    return t.includes(`:${port}`) ? t.split(/\s+/).filter(Boolean) : null;
  }, 20000);
  assert.match(await wd.text(tid("host-status")), /^Running/);
  assert.equal(await wd.text(tid("host-toggle")), "Stop hosting");
  const fingerprint = (await wd.text(tid("host-fingerprint"))).trim();
  assert.match(fingerprint, /^([0-9A-F]{4} ){15}[0-9A-F]{4}$/, "the certificate fingerprint is shown in groups");
  assert.match(await wd.text(tid("host-open-registration")), /Anyone who can reach this computer/);
  const [reg] = registriesUnder(hostedDir);
  assert.ok(reg, `a registry with its database under ${hostedDir} runs`);
  assert.equal(registriesUnder(hostedDir).length, 1, "exactly one hosted registry");
  assert.equal(reg.ppid, pid, "the hosted registry is the app's child");
  // The binary beside the app is the one run (how the package ships it).
  assert.equal(reg.exe, join(dirname(realpathSync(app)), "pqvoice-registry"), "the bundled registry is used");
  return { urls, reg, fingerprint };
}

// Closes the app's main window as a window manager does when the user
// clicks its close button (WM_DELETE_WINDOW to the toplevel of `pid`).
function closeWindowOf(pid) {
  const tree = execFileSync("xwininfo", ["-root", "-children"], { encoding: "utf8" });
  for (const m of tree.matchAll(/^\s*(0x[0-9a-f]+) "pqvoice":/gm)) {
    const prop = execFileSync("xprop", ["-id", m[1], "_NET_WM_PID"], { encoding: "utf8" });
    if (prop.trim().endsWith(`= ${pid}`)) {
      const helper = join(dirname(fileURLToPath(import.meta.url)), "lib", "x11-close.py");
      execFileSync("python3", [helper, m[1]], { stdio: "inherit" });
      return;
    }
  }
  throw new Error(`no "pqvoice" window of pid ${pid} in:\n${tree}`);
}

async function gone(what, pid) {
  await until(`${what} (pid ${pid}) to exit`, () => !alive(pid));
  await until(`no registry left under ${hostedDir}`, () => registriesUnder(hostedDir).length === 0);
  assert.equal(await listening(port), false, `nothing listens on ${port} any more`);
}

let wd = new WebDriver(driverUrl);
try {
  // 1. Start hosting from Settings; a client registers at the shown address.
  await wd.start(app);
  await signUp(wd, registryUrl, "alice");
  let pid = await appPid();
  let { urls, reg, fingerprint } = await startHosting(wd, pid);
  for (const u of urls) assert.match(u, new RegExp(`^https://[0-9a-f.:\\[\\]]+:${port}$`), `address ${u}`);
  const shown = urls[0];
  const key = statSync(join(hostedDir, "tls-key.pem"));
  assert.equal(key.mode & 0o777, 0o600, "the certificate's private key is the owner's only");
  // Without the fingerprint the self-signed certificate is not trusted; with
  // another one the CLI refuses it and says so.
  const untrusted = pqvoice(join(workDir, "eve"), shown, null, "register", "eve");
  assert.notEqual(untrusted.status, 0, `no pin, no registration: ${untrusted.out}`);
  const wrongPin = fingerprint.replace(/^./, (c) => (c === "0" ? "1" : "0"));
  const mismatch = pqvoice(join(workDir, "eve2"), shown, wrongPin, "register", "eve");
  assert.notEqual(mismatch.status, 0, "a wrong pin is refused");
  assert.match(mismatch.out, /does not match the pinned fingerprint/, mismatch.out);
  const carol = pqvoice(join(workDir, "carol"), shown, fingerprint, "register", "carol");
  assert.equal(carol.status, 0, `pqvoice register at ${shown} with the shown fingerprint: ${carol.out}`);
  assert.ok(existsSync(join(hostedDir, "registry.sqlite3")), "the database is in the profile");
  assert.match(await wd.text(tid("host-data-dir")), new RegExp(hostedDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));

  // 2. Stop hosting: the process exits and the port closes.
  await wd.click(tid("host-toggle"));
  await wd.waitFor("hosting to stop", async () => (await wd.text(tid("host-status"))).trim() === "Not running.");
  await gone("the stopped registry", reg.pid);
  const refused = pqvoice(join(workDir, "dave"), shown, fingerprint, "register", "dave");
  assert.notEqual(refused.status, 0, "no registration once hosting stopped");

  // 3. Host again: same database (carol's name is still taken by her key)
  // and the same certificate, so the pins friends hold stay valid.
  const firstFingerprint = fingerprint;
  ({ reg, fingerprint } = await startHosting(wd, pid));
  assert.equal(fingerprint, firstFingerprint, "the certificate is reused");
  const thief = pqvoice(join(workDir, "carol2"), shown, fingerprint, "register", "carol");
  assert.notEqual(thief.status, 0, `carol is still registered in the same database: ${thief.out}`);
  assert.match(thief.out, /taken|already/i, "refused because the name is taken");

  // 4. Close the window (how a user quits): the app exits and stops the registry.
  // (WebDriver's "close window" is no substitute: with it the app went away
  // without running its quit path, and the registry was left running.)
  closeWindowOf(pid);
  await gone("the app after its window closed", pid);
  await until("the registry", () => !alive(reg.pid));
  await wd.quit();

  // 5. SIGTERM to the app (logout, shutdown, `kill`): same clean-up.
  wd = new WebDriver(driverUrl);
  await wd.start(app);
  await wd.waitFor("the contacts screen (signed in)", () => wd.exists(tid("contacts")));
  pid = await appPid();
  ({ reg } = await startHosting(wd, pid));
  process.kill(pid, "SIGTERM");
  await gone("the app after SIGTERM", pid);
  await until("the registry", () => !alive(reg.pid));
  await wd.quit();
  console.log(`app-hosting: ok (${urls.join(", ")}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
} catch (e) {
  await dumpOnFailure(wd, artifacts, "app-hosting");
  throw e;
} finally {
  await wd.quit();
}
