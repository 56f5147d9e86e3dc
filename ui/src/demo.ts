// Development aid, served by `npm run dev` at /demo.html and never bundled:
// the real App over the scripted test backend, so each screen can be looked
// at (zoom, themes) in a plain browser without Rust. `#screen` picks one.
import { App } from "./app";
import { FakeBackend, FakeRinger } from "./test/backend";
import { active, stats } from "./test/fixtures";

const root = document.getElementById("app");
const screen = location.hash.slice(1);
const backend = new FakeBackend();
backend.contacts.push(
  { username: "dave.k", presence: "online", trust: "verified", lastCallAt: null },
  { username: "mallory", presence: "online", trust: "key-changed", lastCallAt: null },
);
backend.history = [
  { callId: "h1", peer: "bob", echo: false, direction: "outgoing", outcome: "answered", startedAt: Date.now() - 3_600_000, durationSecs: 754 },
  { callId: "h2", peer: "carol", echo: false, direction: "incoming", outcome: "missed", startedAt: Date.now() - 600_000, durationSecs: 0 },
  { callId: "h3", peer: "echo", echo: true, direction: "outgoing", outcome: "answered", startedAt: Date.now() - 90_000_000, durationSecs: 61 },
];
if (screen !== "first-run") backend.account = { username: "alice", registryUrl: "http://127.0.0.1:5001", fingerprint: "3f9a 21c0 77d4 e812 5b06 c3aa 9d41 0f7e" };
if (root) {
  const app = new App(root, { api: backend.api(), listen: backend.listen, ringer: new FakeRinger() });
  void app.start().then(() => {
    backend.emit("registry-status", { state: "connected", message: null });
    if (screen === "incoming") backend.emit("incoming-call", { callId: "in1", peer: "carol", peerTrust: "verified" });
    if (screen === "in-call") {
      backend.emitCall(active({ activeSince: Date.now() - 83_000 }));
      const tick = () => {
        backend.emit("call-stats", stats({ rttMs: 38 + Math.random() * 10, lossPct: Math.random() * 3 }));
        backend.emit("audio-levels", { mic: Math.random() * 0.8, speaker: Math.random() * 0.6 });
      };
      tick();
      setInterval(tick, 1000);
    }
    if (screen === "key-change") {
      // The contact list arrives a moment after start().
      setTimeout(() => root.querySelector<HTMLButtonElement>("[data-testid=contact-mallory] [data-testid=review-key-button]")?.click(), 200);
    }
    if (screen === "settings" || screen === "history" || screen === "help") {
      root.querySelector<HTMLButtonElement>(`[data-testid=tab-${screen}]`)?.click();
    }
  });
}
