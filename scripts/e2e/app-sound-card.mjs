// The app calls the echo bot on the real sound card (app-sound-card.sh):
// both level meters must move, then the call is hung up.
import assert from "node:assert/strict";
import { WebDriver } from "./lib/webdriver.mjs";
import { findContact, shot, signUp, sleep, tid, dumpOnFailure } from "./lib/app.mjs";

const [driverUrl, app, registryUrl, artifacts] = process.argv.slice(2);
const wd = new WebDriver(driverUrl);
try {
  await wd.start(app);
  await signUp(wd, registryUrl, "alice");
  await findContact(wd, "bot");
  await wd.click(`${tid("contact-bot")} ${tid("call-button")}`);
  await wd.waitFor("the in-call view", () => wd.exists(tid("in-call-view")), 20000);
  await wd.waitFor("an RTT figure", async () => /\d/.test(await wd.text(tid("stat-rtt"))), 20000);
  // The meters show the loudest moment since their last update, up to four
  // times a second: the beeps (every 500 ms) must move the microphone's, and
  // the echo bot's copy of them the speaker's.
  const levels = () => wd.execute(`return [document.querySelector('[data-testid="mic-level"]').value,
    document.querySelector('[data-testid="speaker-level"]').value]`);
  let peak = [0, 0];
  const until = Date.now() + 15000;
  while (Date.now() < until && !(peak[0] > 0.2 && peak[1] > 0.2)) {
    const [mic, speaker] = await levels();
    peak = [Math.max(peak[0], mic), Math.max(peak[1], speaker)];
    await sleep(100);
  }
  console.log(`app-sound-card: loudest meter readings: microphone ${peak[0].toFixed(2)}, speaker ${peak[1].toFixed(2)}`);
  assert.ok(peak[0] > 0.2, `the microphone meter stayed at ${peak[0]}: nothing captured`);
  assert.ok(peak[1] > 0.2, `the speaker meter stayed at ${peak[1]}: nothing played`);
  // A few seconds more of the call, for the playback check in the log.
  await wd.waitFor("the call timer at 6 s", async () => /0?0:(0[6-9]|[1-5]\d)/.test(await wd.text(tid("call-timer"))), 20000);
  await shot(wd, artifacts, "in-call-sound-card");
  await wd.click(tid("hang-up"));
  await wd.waitFor("the contacts screen after hanging up", () => wd.exists(tid("contacts")));
} catch (e) {
  await dumpOnFailure(wd, artifacts, "app-sound-card");
  throw e;
} finally {
  await wd.quit();
}
