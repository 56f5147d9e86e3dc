// The app behind a NAT calls the echo bot behind another (app-nat.sh): it
// signs up over plain http:// with the first-run form's consent, the call
// screen shows the direct path over IPv4, audio flows both ways (the
// received bitrate and both level meters), and the call is hung up.
import assert from "node:assert/strict";
import { WebDriver } from "./lib/webdriver.mjs";
import { findContact, shot, sleep, tid, dumpOnFailure } from "./lib/app.mjs";

const [driverUrl, app, registryUrl, artifacts] = process.argv.slice(2);
const wd = new WebDriver(driverUrl);
const t0 = Date.now();

// True once `css` is shown (present and not hidden).
const shown = async (css) => (await wd.exists(css)) && !(await wd.property(css, "hidden"));

// The received side of the bitrate line: "↑ 70 kbit/s · ↓ 68 kbit/s".
const receivedKbps = (line) => {
  const m = /↓\s*(\d+)/.exec(line);
  return m ? Number(m[1]) : null;
};

try {
  await wd.start(app);
  // Sign-up at the registry's public address. Plain http:// to another
  // computer shows the warning, and the form is refused until it is ticked.
  await wd.waitFor("the first-run screen", () => wd.exists(tid("first-run-registry")));
  await wd.type(tid("first-run-registry"), registryUrl);
  await wd.type(tid("first-run-username"), "alice");
  await wd.waitFor("the plain-http warning", () => shown(tid("first-run-insecure-warning")));
  await wd.click(tid("first-run-submit"));
  await sleep(300);
  assert.ok(!(await shown(tid("first-run-done"))), "sign-up went ahead without consent to plain http");
  await wd.click(tid("first-run-insecure-ok"));
  await shot(wd, artifacts, "app-nat-first-run");
  await wd.click(tid("first-run-submit"));
  await wd.waitFor("the fingerprint after sign-up", async () => (await wd.text(tid("fingerprint"))).trim().length > 0);
  await wd.click(tid("first-run-continue"));
  await wd.waitFor("the contacts screen", () => wd.exists(tid("contacts")));
  await wd.waitFor("the registry connection", async () => /connected/i.test(await wd.text(tid("registry-state"))));

  await findContact(wd, "bot");
  await wd.click(`${tid("contact-bot")} ${tid("call-button")}`);
  await wd.waitFor("the in-call view", () => wd.exists(tid("in-call-view")), 20000);
  const sas = await wd.waitFor("the short authentication string", async () => {
    const t = (await wd.text(tid("sas"))).trim();
    return /^\d{3} \d{3}$/.test(t) ? t : null;
  }, 20000);

  // The path badge appears once a pair carries the audio: it must be the
  // punched direct one, not the relay.
  const badge = await wd.waitFor("the path badge", async () => {
    if (!(await shown(tid("call-path")))) return null;
    return (await wd.text(tid("call-path"))).trim() || null;
  }, 20000);
  assert.equal(badge, "Direct · IPv4", "the call screen's path badge");
  assert.equal(await wd.attribute(tid("call-path"), "data-path"), "direct");

  // Audio flows: the stats count received media, the microphone hears the
  // beeps, and the bot's copy of them plays on the speaker.
  const received = await wd.waitFor("received media in the stats", async () => {
    const kbps = receivedKbps(await wd.text(tid("stat-bitrate")));
    return kbps !== null && kbps > 0 ? kbps : null;
  }, 15000);
  const levels = () => wd.execute(`return [document.querySelector('[data-testid="mic-level"]').value,
    document.querySelector('[data-testid="speaker-level"]').value]`);
  let peak = [0, 0];
  const until = Date.now() + 15000;
  while (Date.now() < until && !(peak[0] > 0.2 && peak[1] > 0.2)) {
    const [mic, speaker] = await levels();
    peak = [Math.max(peak[0], mic), Math.max(peak[1], speaker)];
    await sleep(100);
  }
  assert.ok(peak[0] > 0.2, `the microphone meter stayed at ${peak[0]}: nothing captured`);
  assert.ok(peak[1] > 0.2, `the speaker meter stayed at ${peak[1]}: nothing came back from the bot`);
  await wd.waitFor("the call timer at 4 s", async () => /0?0:(0[4-9]|[1-5]\d)/.test(await wd.text(tid("call-timer"))), 20000);
  await shot(wd, artifacts, "app-nat-in-call");
  // Still direct: the relay never took over.
  assert.equal((await wd.text(tid("call-path"))).trim(), "Direct · IPv4", "the path badge later in the call");

  await wd.click(tid("hang-up"));
  await wd.waitFor("the contacts after hang-up", () => wd.exists(tid("contacts")));
  const ended = await wd.waitFor("how the call ended", async () => (await wd.text(tid("call-ended"))).trim());
  // Our hang-up and the registry's notice of the bot's end can cross, so
  // either "Call with bot ended." or "bot hung up." may be shown; a failure
  // to connect or a lost path may not.
  assert.doesNotMatch(ended, /lost|no network path|could not|failed/i, "how the call ended");
  console.log(
    `app-nat: ok (${badge}, SAS ${sas}, ↓ ${received} kbit/s, meters mic ${peak[0].toFixed(2)} / ` +
      `speaker ${peak[1].toFixed(2)}, "${ended}", ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
} catch (e) {
  await dumpOnFailure(wd, artifacts, "app-nat");
  throw e;
} finally {
  await wd.quit();
}
