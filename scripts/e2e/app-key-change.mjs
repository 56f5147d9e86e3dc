// Scenario (d): a changed key shows the warning and blocks the call.
import { execFileSync } from "node:child_process";
import { WebDriver } from "./lib/webdriver.mjs";
import { findContact, shot, signUp, tid, dumpOnFailure } from "./lib/app.mjs";

const [driverUrl, app, registryUrl, artifacts] = process.argv.slice(2);
const dir = process.env.E2E_DIR;
const row = (id) => `${tid("contact-bob")} ${tid(id)}`;

const wd = new WebDriver(driverUrl);
const t0 = Date.now();
try {
  await wd.start(app);
  await signUp(wd, registryUrl, "alice");
  await findContact(wd, "bob");
  // Verify bob: pins his key.
  await wd.click(row("verify-button"));
  await wd.waitFor("the safety-number dialog", () => wd.exists(tid("safety-dialog")));
  // The button acts once the number is shown.
  await wd.waitFor("the safety number", async () => /\d{5}/.test(await wd.text(tid("safety-number"))));
  await wd.waitFor("mark-verified enabled", async () => (await wd.property(tid("mark-verified"), "disabled")) === false);
  await wd.click(tid("mark-verified"));
  await wd.waitFor("bob verified", async () => {
    const t = await wd.text(row("trust"));
    return /verified/i.test(t) && !/not/i.test(t);
  });
  if (await wd.exists(tid("close-dialog"))) await wd.click(tid("close-dialog")).catch(() => {});

  // The registry now serves mallory's key as bob's.
  execFileSync("python3", ["-c", `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
db.execute("UPDATE users SET identity_key = (SELECT identity_key FROM users WHERE username = 'mallory') WHERE username = 'bob'")
db.commit()
`, `${dir}/registry.sqlite3`]);

  // The contact list asks the registry again when the search changes:
  // delete the last letter and type it again, as a user would.
  await wd.keys(tid("contacts-search"), "\uE003");
  await wd.keys(tid("contacts-search"), "b");
  await wd.waitFor("the key-change warning", () => wd.exists(row("key-change-warning")));
  await wd.waitFor("the call button to be disabled", async () => (await wd.property(row("call-button"), "disabled")) === true);
  await shot(wd, artifacts, "key-change");
  await wd.click(row("review-key-button"));
  await wd.waitFor("the key-change dialog", () => wd.exists(tid("key-change-dialog")));
  console.log(`app-key-change: ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
} catch (e) {
  await dumpOnFailure(wd, artifacts, "app-key-change");
  throw e;
} finally {
  await wd.quit();
}
