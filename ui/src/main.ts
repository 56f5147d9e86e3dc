// Entry point: the real Tauri bindings, the WebAudio ring tone, the app.
import { tauriApi, tauriListen } from "./api/tauri";
import { App } from "./app";
import { webAudioRinger } from "./ui/ring";

const root = document.getElementById("app");
if (root) {
  void new App(root, { api: tauriApi(), listen: tauriListen, ringer: webAudioRinger() }).start();
}
