// Scenario (c): the CLI calls the app; accept, then reject a second call.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { WebDriver } from "./lib/webdriver.mjs";
import { shot, signUp, sleep, tid, dumpOnFailure } from "./lib/app.mjs";

const [driverUrl, app, registryUrl, artifacts] = process.argv.slice(2);
const dir = process.env.E2E_DIR;
const notifyLog = process.env.PQVOICE_NOTIFY_LOG;

// Runs `pqvoice ... call alice`; resolves with its exit code and stderr.
function cliCall(extra) {
  const args = ["--registry", registryUrl, "--profile", `${dir}/carol`, "call", "alice", ...extra];
  const child = spawn("target/debug/pqvoice", args, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  child.stdout.on("data", (d) => (err += d));
  const done = new Promise((resolve) => child.on("exit", (code) => resolve({ code, err })));
  return { child, done };
}

const wd = new WebDriver(driverUrl);
const t0 = Date.now();
let cli;
try {
  await wd.start(app);
  await signUp(wd, registryUrl, "alice");
  await wd.waitFor("the registry connection", async () =>
    /connected/i.test(await wd.text(tid("registry-state"))));

  // 1. Accept.
  cli = cliCall(["--input", `${dir}/in.wav`, "--output", `${dir}/out.wav`, "--duration", "6"]);
  await wd.waitFor("the incoming-call popup", () => wd.exists(tid("incoming-call")), 20000);
  assert.match(await wd.text(tid("incoming-caller")), /carol/);
  await shot(wd, artifacts, "incoming-call");
  const notified = await wd.waitFor("the notification at the daemon", async () => {
    const log = await readFile(notifyLog, "utf8").catch(() => "");
    return /carol is calling you/.test(log) ? log : null;
  });
  assert.ok(notified);
  await wd.click(tid("accept-call"));
  await wd.waitFor("the in-call view", () => wd.exists(tid("in-call-view")));
  const sas = await wd.waitFor("the SAS", async () => {
    const t = (await wd.text(tid("sas"))).trim();
    return /^\d{3} \d{3}$/.test(t) ? t : null;
  });
  const first = await cli.done;
  assert.equal(first.code, 0, `the CLI call succeeds:\n${first.err}`);
  assert.ok(first.err.includes(sas), `the CLI shows the same SAS ${sas}:\n${first.err}`);
  await wd.waitFor("the contacts after the caller hung up", () => wd.exists(tid("contacts")), 20000);

  // 2. Reject.
  cli = cliCall(["--duration", "5"]);
  await wd.waitFor("the second popup", () => wd.exists(tid("incoming-call")), 20000);
  await wd.click(tid("reject-call"));
  const second = await cli.done;
  assert.notEqual(second.code, 0, "the CLI fails when the call is declined");
  assert.match(second.err, /rejected/, `the CLI says rejected:\n${second.err}`);
  await wd.waitFor("the popup to close", async () => !(await wd.exists(tid("incoming-call"))));
  await sleep(200);
  console.log(`app-incoming: ok (SAS ${sas}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
} catch (e) {
  await dumpOnFailure(wd, artifacts, "app-incoming");
  throw e;
} finally {
  if (cli) cli.child.kill();
  await wd.quit();
}
