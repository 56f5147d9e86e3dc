// Measures the desktop app (driven by bench/app.sh, which starts the
// headless session, a registry, an echo bot and tauri-driver):
//   (a) cold start to the contacts of a signed-in user, RUNS times each way:
//       launched directly, until the app logs that it answered the contacts
//       screen's first `list_contacts`; and launched by WebDriver, until a
//       poll finds the contact's row in the page;
//   (b) idle CPU and memory of all the app's processes (the app and every
//       descendant: WebKit's web and network processes) on the contacts
//       screen, signed in, over IDLE seconds; and, to show where it goes,
//       the same for a directly launched app, with and without GTK's
//       blinking text cursor;
//   (c) the same during active calls to the echo bot, over CALL seconds
//       each, with the app process's CPU split by thread; three calls
//       (PQVOICE_BENCH_CALLS), the median reported.
// No WebDriver request is made inside a measurement window.
//
//   node bench/app_bench.mjs DRIVER_URL APP REGISTRY_URL PROFILE RUNS IDLE_SECS CALL_SECS OUT.json [BOT_PID]
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import { WebDriver } from "../scripts/e2e/lib/webdriver.mjs";
import { signUp, tid } from "../scripts/e2e/lib/app.mjs";
import { processTree, processes, processesOf, sleep, until } from "../scripts/e2e/lib/procs.mjs";

const [driverUrl, app, registryUrl, profile, runsText, idleText, callText, outFile, botPidText] =
  process.argv.slice(2);
const RUNS = Number(runsText);
const IDLE_SECS = Number(idleText);
const CALL_SECS = Number(callText);
const CALL_RUNS = Number(process.env.PQVOICE_BENCH_CALLS ?? 3);
const BOT_PID = botPidText ? Number(botPidText) : null;
const HZ = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
const PAGE = Number(execFileSync("getconf", ["PAGESIZE"], { encoding: "utf8" }).trim());
const CONTACT = tid("contact-bot");
// Wait after start-up before an idle window, so that it sees the steady state.
const SETTLE_MS = 10000;
const log = (...a) => console.log("[app-bench]", ...a);

// Seconds since boot, the clock of /proc/<pid>/stat's start time (10 ms steps).
const uptime = () => Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);

function appPid() {
  const p = processesOf(app);
  return p.length === 1 ? p[0].pid : null;
}

// Proportional set size of a process in KiB (shared pages split between
// their users), or null if unreadable.
function pssKib(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8").match(/^Pss:\s+(\d+) kB/m);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

// Short role of a process of the app's tree.
function role(p, root) {
  if (p.pid === root) return "app";
  if (/WebKitWebProces/i.test(p.comm)) return "WebKitWebProcess";
  if (/WebKitNetworkPr/i.test(p.comm)) return "WebKitNetworkProcess";
  return p.comm;
}

// CPU ticks of each thread of `pid`, by thread id: [name, ticks].
function threads(pid) {
  const out = new Map();
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      out.set(tid, [st.slice(st.indexOf("(") + 1, st.lastIndexOf(")")), Number(f[11]) + Number(f[12])]);
    } catch {
      // exited
    }
  }
  return out;
}

// CPU and memory of the tree under `root` (plus `extra` pids, reported
// apart) over `secs`, sampled every second. Ticks of a process that starts
// during the window all count; one that exits loses its last second.
async function measure(root, secs, extra = {}) {
  const threads0 = threads(root);
  const first = new Map();
  const last = new Map();
  const roles = new Map();
  const mem = [];
  const snap = () => {
    const table = processes();
    const tree = processTree(root, table);
    assert.ok(tree.length > 0, "the app is running");
    let rss = 0;
    let pss = 0;
    for (const p of tree) {
      if (!first.has(p.pid)) first.set(p.pid, mem.length === 0 ? p.ticks : 0);
      last.set(p.pid, p.ticks);
      roles.set(p.pid, role(p, root));
      rss += p.rssPages * PAGE / 1024;
      pss += pssKib(p.pid) ?? 0;
    }
    const extras = {};
    for (const [name, pid] of Object.entries(extra)) {
      const p = table.find((q) => q.pid === pid);
      if (p) extras[name] = p.ticks;
    }
    mem.push({ rss, pss, processes: tree.length });
    return extras;
  };
  const t0 = performance.now();
  const x0 = snap();
  for (let i = 1; i <= secs; i++) {
    await sleep(Math.max(0, t0 + i * 1000 - performance.now()));
    snap();
  }
  const wall = (performance.now() - t0) / 1000;
  const x1 = snap();
  const byRole = {};
  let total = 0;
  for (const [pid, t] of last) {
    const used = (t - first.get(pid)) / HZ;
    total += used;
    byRole[roles.get(pid)] = (byRole[roles.get(pid)] ?? 0) + used;
  }
  const pct = (s) => Math.round((1000 * 100 * s) / wall) / 1000;
  const avg = (k) => Math.round(mem.reduce((a, m) => a + m[k], 0) / mem.length);
  const max = (k) => Math.round(Math.max(...mem.map((m) => m[k])));
  const extraPct = {};
  for (const name of Object.keys(extra)) {
    if (name in x0 && name in x1) extraPct[name] = pct((x1[name] - x0[name]) / HZ);
  }
  // The app process's threads, by name (tokio workers share one).
  const byThread = {};
  for (const [tid, [name, ticks]] of threads(root)) {
    byThread[name] = (byThread[name] ?? 0) + (ticks - (threads0.get(tid)?.[1] ?? 0)) / HZ;
  }
  const appThreads = Object.fromEntries(
    Object.entries(byThread)
      .map(([k, v]) => [k, pct(v)])
      .filter(([, v]) => v >= 0.1)
      .sort((a, b) => b[1] - a[1]),
  );
  return {
    seconds: Math.round(wall * 10) / 10,
    cpuPctOfOneCore: pct(total),
    cpuPctByProcess: Object.fromEntries(Object.entries(byRole).map(([k, v]) => [k, pct(v)])),
    processes: max("processes"),
    rssSumKibMean: avg("rss"),
    rssSumKibMax: max("rss"),
    pssSumKibMean: avg("pss"),
    pssSumKibMax: max("pss"),
    othersCpuPctOfOneCore: extraPct,
    appThreadsPctOfOneCore: appThreads,
  };
}

// Launches the app directly (no WebDriver) and resolves when it logs the
// answer to the contacts screen's first `list_contacts`: { child, seconds }.
function launchDirect(extraEnv = {}) {
  return new Promise((resolve, reject) => {
    const t0 = uptime();
    const child = spawn(app, [], {
      env: {
        ...process.env,
        ...extraEnv,
        PQVOICE_PROFILE: profile,
        PQVOICE_REGISTRY_URL: registryUrl,
        PQVOICE_LOG: "warn,pqvoice_desktop::startup=info",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const timer = setTimeout(() => reject(new Error("no start-up log line within 30 s")), 30000);
    createInterface({ input: child.stderr }).on("line", (line) => {
      if (line.includes("first contact list answered")) {
        clearTimeout(timer);
        resolve({ child, seconds: Math.round((uptime() - t0) * 1000) / 1000 });
      }
    });
    child.once("exit", (code) => reject(new Error(`the app exited (${code}) before the contacts`)));
  });
}

// Quits a directly launched app the way the desktop does (SIGTERM) and
// waits until it and its WebKit processes are gone.
async function quitDirect(child) {
  const tree = processTree(child.pid).map((p) => p.pid);
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await gone;
  await until("the app's WebKit processes to exit", () => !processes().some((p) => tree.includes(p.pid)), 15000);
}

// One cold start: launches the app through a new WebDriver session and
// polls (every ~20 ms) until the contacts list shows the bot's row.
async function coldStart() {
  await until("no app process left from before", () => appPid() === null, 15000);
  const wd = new WebDriver(driverUrl);
  const tRequest = performance.now();
  await wd.start(app);
  const tSession = performance.now();
  let seen = null;
  let upSeen = null;
  while (performance.now() - tRequest < 30000) {
    if (await wd.exists(`${tid("contacts-list")} ${CONTACT}`)) {
      seen = performance.now();
      upSeen = uptime();
      break;
    }
    await sleep(20);
  }
  assert.ok(seen, "the contacts list showed the bot within 30 s");
  const pid = appPid();
  const start = processes().find((p) => p.pid === pid).startTicks / HZ;
  return {
    wd,
    pid,
    fromExecS: Math.round((upSeen - start) * 1000) / 1000,
    fromRequestS: Math.round((seen - tRequest) / 10) / 100,
    sessionS: Math.round((tSession - tRequest) / 10) / 100,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const result = { runs: RUNS, idleSeconds: IDLE_SECS, callSeconds: CALL_SECS };
let wd = new WebDriver(driverUrl);
try {
  // Setup: sign up, and make the bot a contact with one short call (a
  // contact is pinned on the first call).
  await wd.start(app);
  await signUp(wd, registryUrl, "alice");
  await wd.type(tid("contacts-search"), "bot");
  await wd.waitFor("the bot's row", () => wd.exists(CONTACT));
  await wd.click(`${CONTACT} ${tid("call-button")}`);
  await wd.waitFor("the in-call view", () => wd.exists(tid("in-call-view")), 20000);
  await wd.click(tid("hang-up"));
  await wd.waitFor("the contacts after hang-up", () => wd.exists(tid("contacts")));
  await wd.quit();
  log("signed up; bot is a contact");

  // (a1) cold starts, launched directly; the last app stays up for the
  // idle diagnostics below.
  const direct = [];
  let last = null;
  for (let i = 0; i < RUNS; i++) {
    await until("no app process left from before", () => appPid() === null, 15000);
    last = await launchDirect();
    direct.push(last.seconds);
    log(`cold start (direct) ${i + 1}/${RUNS}: ${last.seconds} s to the first list_contacts answer`);
    if (i < RUNS - 1) {
      await quitDirect(last.child);
      await sleep(1000);
    }
  }
  result.coldStartDirect = { runs: direct, medianS: median(direct), maxS: Math.max(...direct) };

  // (b, diagnostics) idle without WebDriver, then without the blinking
  // text cursor of the focused search field (GTK setting of this session).
  await sleep(SETTLE_MS);
  log(`idle (direct launch): measuring ${IDLE_SECS} s`);
  result.idleDirect = await measure(last.child.pid, IDLE_SECS);
  log("idle (direct launch):", JSON.stringify(result.idleDirect));
  await quitDirect(last.child);
  const xdgConfig = process.env.XDG_CONFIG_HOME;
  if (xdgConfig && xdgConfig.startsWith("/tmp/")) {
    const gtkDir = join(xdgConfig, "gtk-3.0");
    mkdirSync(gtkDir, { recursive: true });
    writeFileSync(join(gtkDir, "settings.ini"), "[Settings]\ngtk-cursor-blink=false\n");
    // Three launches: the figure differs between launches (see RESULTS.md).
    try {
      result.idleNoBlink = [];
      for (let i = 0; i < 3; i++) {
        const still = await launchDirect();
        await sleep(SETTLE_MS);
        const secs = Math.max(10, Math.round(IDLE_SECS / 2));
        log(`idle (direct launch, no cursor blink) ${i + 1}/3: measuring ${secs} s`);
        result.idleNoBlink.push(await measure(still.child.pid, secs));
        log("idle (no cursor blink):", JSON.stringify(result.idleNoBlink.at(-1)));
        await quitDirect(still.child);
        await sleep(1000);
      }
    } finally {
      rmSync(join(gtkDir, "settings.ini"));
    }
  }

  // (a2) cold starts through WebDriver.
  const starts = [];
  for (let i = 0; i < RUNS; i++) {
    const run = await coldStart();
    starts.push({ fromExecS: run.fromExecS, fromRequestS: run.fromRequestS, sessionS: run.sessionS });
    log(`cold start ${i + 1}/${RUNS}: ${run.fromExecS} s from exec, ${run.fromRequestS} s from the launch request`);
    if (i < RUNS - 1) {
      await run.wd.quit();
      await sleep(1000);
    } else {
      wd = run.wd;
    }
  }
  result.coldStart = {
    runs: starts,
    medianFromExecS: median(starts.map((s) => s.fromExecS)),
    medianFromRequestS: median(starts.map((s) => s.fromRequestS)),
    maxFromExecS: Math.max(...starts.map((s) => s.fromExecS)),
  };

  // (b) idle on the contacts screen, signed in (the last cold start's app).
  const pid = appPid();
  // (The footer's registry state is not waited for: after a restart it
  // stays empty, see the report. The contact row came from the registry.)
  await sleep(SETTLE_MS);
  log(`idle: measuring ${IDLE_SECS} s`);
  result.idle = await measure(pid, IDLE_SECS);
  assert.ok(await wd.exists(`${tid("contacts-list")} ${CONTACT}`), "still on the contacts screen after the idle window");
  log("idle:", JSON.stringify(result.idle));

  // (c) active calls to the echo bot, CALL_RUNS of them (the speech in the
  // window, and so the codec's work, differs between calls): the median one
  // is reported, with every run's figure beside it.
  const calls = [];
  for (let i = 0; i < CALL_RUNS; i++) {
    await wd.click(`${CONTACT} ${tid("call-button")}`);
    await wd.waitFor("the in-call view", () => wd.exists(tid("in-call-view")), 20000);
    await wd.waitFor("the call to be active (RTT shown)", async () => /\d/.test(await wd.text(tid("stat-rtt"))), 20000);
    await sleep(3000);
    log(`call ${i + 1}/${CALL_RUNS}: measuring ${CALL_SECS} s`);
    const call = await measure(pid, CALL_SECS, BOT_PID ? { echoBot: BOT_PID } : {});
    // The call must have stayed up through the window.
    assert.ok(await wd.exists(tid("in-call-view")), "still in the call after the window");
    call.timerAtEnd = (await wd.text(tid("call-timer"))).trim();
    call.statsAtEnd = {
      rtt: (await wd.text(tid("stat-rtt"))).trim(),
      loss: (await wd.text(tid("stat-loss"))).trim(),
      bitrate: (await wd.text(tid("stat-bitrate"))).trim(),
    };
    await wd.click(tid("hang-up"));
    await wd.waitFor("the contacts after hang-up", () => wd.exists(tid("contacts")));
    log(`call ${i + 1}/${CALL_RUNS}:`, JSON.stringify(call));
    calls.push(call);
    await sleep(2000);
  }
  // The reported call is a real one (its threads and memory go with it):
  // the middle one, or the lower of the two middle ones for an even count.
  const byCpu = [...calls].sort((a, b) => a.cpuPctOfOneCore - b.cpuPctOfOneCore);
  result.call = byCpu[Math.floor((byCpu.length - 1) / 2)];
  result.callRuns = calls.map((c) => ({ cpuPctOfOneCore: c.cpuPctOfOneCore, cpuPctByProcess: c.cpuPctByProcess }));
} finally {
  await wd.quit();
}
writeFileSync(outFile, JSON.stringify(result, null, 2));
