// Process inspection through /proc (Linux), for suites that check what the
// app starts and what it leaves behind.
import { readFileSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
import { basename } from "node:path";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every process we may read: { pid, ppid, comm, ticks (user + system CPU
// time in clock ticks), startTicks (start time after boot, clock ticks),
// rssPages, exe, argv }. Processes that exit while we look, or that we may
// not read, are left out.
export function processes() {
  const out = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // The command name may hold spaces and parentheses: fields start after the last ")".
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      // fields[0] is field 3 of proc(5) (state), so field n is fields[n - 3].
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue; // exited, waiting to be reaped
      let exe = null;
      try {
        exe = readlinkSync(`/proc/${name}/exe`).replace(/ \(deleted\)$/, "");
      } catch {
        // kernel threads have no exe
      }
      const argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").filter(Boolean);
      out.push({
        pid: Number(name),
        ppid: Number(fields[1]),
        comm,
        ticks: Number(fields[11]) + Number(fields[12]),
        startTicks: Number(fields[19]),
        rssPages: Number(fields[21]),
        exe,
        argv,
      });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

// The running processes of the executable at `path`.
export function processesOf(path) {
  const real = realpathSync(path);
  return processes().filter((p) => p.exe === real);
}

// Registry processes whose database lies under `dir`, whoever their parent is
// (an orphan is re-parented to init and would still be found).
export function registriesUnder(dir) {
  return processes().filter((p) => {
    if (!p.exe || !basename(p.exe).startsWith("pqvoice-registry")) return false;
    const i = p.argv.indexOf("--db");
    return i >= 0 && (p.argv[i + 1] ?? "").startsWith(dir);
  });
}

export function alive(pid) {
  return processes().some((p) => p.pid === pid);
}

// Polls fn() until it is truthy; returns the value or throws after timeoutMs.
export async function until(what, fn, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// `pid` and all its descendants, from one snapshot of the process table.
export function processTree(pid, table = processes()) {
  const out = table.filter((p) => p.pid === pid);
  for (let i = 0; i < out.length; i++) {
    for (const p of table) if (p.ppid === out[i].pid) out.push(p);
  }
  return out;
}
