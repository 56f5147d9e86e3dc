// Scenarios (a) first-run sign-up and (b) the app calls the CLI echo bot.
import assert from "node:assert/strict";
import { WebDriver } from "./lib/webdriver.mjs";
import { findContact, shot, signUp, tid, dumpOnFailure } from "./lib/app.mjs";

const [driverUrl, app, registryUrl, artifacts] = process.argv.slice(2);
const wd = new WebDriver(driverUrl);
const t0 = Date.now();
try {
  await wd.start(app);
  const fp = await signUp(wd, registryUrl, "alice", artifacts);
  assert.match(fp, /[0-9a-f]{4}/, "a fingerprint is shown after sign-up");
  await wd.waitFor("the registry connection", async () =>
    /connected/i.test(await wd.text(tid("registry-state"))));
  assert.equal((await wd.text(tid("registry-url"))).trim(), registryUrl);

  await findContact(wd, "bot");
  await shot(wd, artifacts, "contacts");
  await wd.click(`${tid("contact-bot")} ${tid("call-button")}`);
  await wd.waitFor("the in-call view", () => wd.exists(tid("in-call-view")));
  const sas = await wd.waitFor("the short authentication string", async () => {
    const t = (await wd.text(tid("sas"))).trim();
    return /^\d{3} \d{3}$/.test(t) ? t : null;
  });
  // Live stats: the RTT figure appears, and the bitrate figure is refreshed.
  const rtt = await wd.waitFor("an RTT figure", async () => {
    const t = (await wd.text(tid("stat-rtt"))).trim();
    return /\d/.test(t) ? t : null;
  }, 20000);
  const rate1 = (await wd.text(tid("stat-bitrate"))).trim();
  assert.match(rate1, /\d/, "a bitrate is shown");
  await wd.waitFor("the call timer to run", async () => /0?0:0[2-9]|0?0:[1-5]\d/.test(await wd.text(tid("call-timer"))));
  await shot(wd, artifacts, "in-call");
  // The level meters' box has a fixed height (style.css: it keeps their
  // frequent updates from repainting the whole panel). In the real web view,
  // at 100 % and 200 % zoom and in the narrowest window at 200 %, both
  // labels and meters must lie inside it, no label may be cut, and the
  // meters must keep a usable width.
  // The call screen fits the default window (tauri.conf.json: 960 × 680)
  // with live stats in it: nothing to scroll to, and no overlay scrollbar
  // for WebKit to animate when the call starts (style.css, .timer).
  const [scrollHeight, innerW, innerH] = await wd.execute(
    "return [document.documentElement.scrollHeight, innerWidth, innerHeight]");
  assert.deepEqual([innerW, innerH], [960, 680], "the window has its default size");
  assert.ok(scrollHeight <= innerH, `the call screen is ${scrollHeight} px tall in a ${innerH} px window`);
  const misfits = await wd.execute(`
    const box = document.querySelector(".meters");
    const screen = document.querySelector(".call-screen");
    const out = [];
    for (const [zoom, width] of [["1", ""], ["2", ""], ["2", "210px"]]) {
      document.documentElement.style.zoom = zoom;
      screen.style.maxWidth = width;
      const b = box.getBoundingClientRect();
      for (const el of box.children) {
        const r = el.getBoundingClientRect();
        const inside = r.top >= b.top - 0.5 && r.bottom <= b.bottom + 0.5 && r.left >= b.left - 0.5 && r.right <= b.right + 0.5;
        const cut = el.tagName === "LABEL" && el.scrollWidth > el.clientWidth;
        const narrow = el.tagName === "METER" && r.width < 40;
        if (!inside || cut || narrow) {
          out.push("zoom " + zoom + " " + (width || "full width") + ": " + el.tagName + " " + (el.textContent || el.id) +
            (inside ? "" : " outside the box") + (cut ? " cut off" : "") + (narrow ? " narrower than 40 px" : ""));
        }
      }
    }
    document.documentElement.style.zoom = "";
    screen.style.maxWidth = "";
    const contain = getComputedStyle(box).contain;
    if (!/size/.test(contain) || !/layout/.test(contain)) out.push("the meters' box has contain: " + contain);
    return out;`);
  assert.deepEqual(misfits, [], "the level meters fit their fixed-size box");
  await wd.click(tid("hang-up"));
  await wd.waitFor("the contacts after hang-up", () => wd.exists(tid("contacts")));
  await wd.waitFor("how the call ended", async () => (await wd.text(tid("call-ended"))).trim().length > 0);

  await wd.click(tid("tab-history"));
  await wd.waitFor("the history row", async () => {
    const outcome = await wd.attribute(`${tid("history-list")} [data-outcome]`, "data-outcome");
    return outcome === "answered";
  });
  await shot(wd, artifacts, "history");
  await wd.click(tid("tab-settings"));
  await wd.waitFor("the settings screen", () => wd.exists(tid("settings")));
  await shot(wd, artifacts, "settings");
  await wd.click(tid("tab-help"));
  await wd.waitFor("the help screen", () => wd.exists(tid("help")));
  await shot(wd, artifacts, "help");
  console.log(`app-call-bot: ok (SAS ${sas}, RTT ${rtt}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
} catch (e) {
  await dumpOnFailure(wd, artifacts, "app-call-bot");
  throw e;
} finally {
  await wd.quit();
}
