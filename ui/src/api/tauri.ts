// The real bindings: Tauri's invoke and listen. Only main.ts imports this.
import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { createApi, type Api } from "./commands";
import type { Listen } from "./events";

export function tauriApi(): Api {
  return createApi((cmd, args) => invoke<unknown>(cmd, args));
}

export const tauriListen: Listen = (event, handler) => listen<unknown>(event, handler);
