// End-to-end smoke test of the real desktop app under Xvfb: the app starts,
// its embedded UI reaches Rust through IPC (app_info, granted in
// capabilities/), and the first-run screen offers the registry the app was
// pointed at.
import assert from "node:assert/strict";
import { WebDriver } from "./lib/webdriver.mjs";

const [driverUrl, app, registryUrl, artifacts] = process.argv.slice(2);
const wd = new WebDriver(driverUrl);
try {
  await wd.start(app);
  const shown = await wd.waitFor("the registry address on the first-run screen", async () => {
    const v = await wd.property("[data-testid=first-run-registry]", "value");
    return typeof v === "string" && v.length > 0 ? v : null;
  });
  assert.equal(shown, registryUrl, "the first-run screen offers the registry the app was started with");
  await wd.screenshot(`${artifacts}/app-smoke-first-run.png`);
  console.log(`app-smoke: ok (registry ${shown})`);
} finally {
  await wd.quit();
}
