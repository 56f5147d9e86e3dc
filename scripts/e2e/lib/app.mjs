// Steps shared by the app scenarios: sign-up through the first-run screen,
// screenshots, and small waits on the UI's test ids (docs/ui-api.md).
import { mkdir } from "node:fs/promises";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const tid = (id) => `[data-testid="${id}"]`;

// Signs up `username` at `registryUrl` through the first-run screen and
// continues to the contacts. Returns the fingerprint shown.
export async function signUp(wd, registryUrl, username, shotDir) {
  await wd.waitFor("the first-run screen", () => wd.exists(tid("first-run-registry")));
  if (shotDir) await shot(wd, shotDir, "first-run");
  await wd.type(tid("first-run-registry"), registryUrl);
  await wd.type(tid("first-run-username"), username);
  await wd.click(tid("first-run-submit"));
  const fp = await wd.waitFor("the fingerprint after sign-up", async () => {
    const t = await wd.text(tid("fingerprint"));
    return t && t.trim().length > 0 ? t.trim() : null;
  });
  await wd.click(tid("first-run-continue"));
  await wd.waitFor("the contacts screen", () => wd.exists(tid("contacts")));
  return fp;
}

// Saves a screenshot once the view has settled (~500 ms after it appeared).
export async function shot(wd, dir, name) {
  await mkdir(dir, { recursive: true });
  await sleep(500);
  await wd.screenshot(`${dir}/${name}.png`);
}

// Types `name` into the contact search and waits for its row.
export async function findContact(wd, name) {
  await wd.type(tid("contacts-search"), name);
  await wd.waitFor(`the contact row of ${name}`, () => wd.exists(tid(`contact-${name}`)));
}

// On failure: a screenshot and what the screen says, for the log.
export async function dumpOnFailure(wd, dir, name) {
  try {
    await mkdir(dir, { recursive: true });
    await wd.screenshot(`${dir}/${name}-failure.png`);
    const body = await wd.text("body");
    console.error(`--- screen at failure (${name}) ---\n${body}`);
  } catch (e) {
    console.error(`no failure dump: ${e.message}`);
  }
}
