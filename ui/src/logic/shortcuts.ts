// Keyboard shortcuts, as a pure function from a key press and what is on
// screen to an action. Bare letters never fire while the user types in a
// field, and key repeats never fire (holding a key must not accept a call
// and then hang it up).
import type { Screen } from "./state";

export type ShortcutAction = "accept" | "reject" | "hang-up" | "cancel" | "toggle-mute" | "close-dialog" | "help" | "focus-search";

export interface KeyPress {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
  repeat: boolean;
  /** The focus is in a text field. */
  typing: boolean;
}

export interface ShortcutContext {
  screen: Screen;
  popup: boolean;
  dialog: boolean;
}

/** The list shown in the help screen and in docs/ui-api.md. */
export const SHORTCUTS: readonly { keys: string; what: string }[] = [
  { keys: "Ctrl+Enter or A", what: "Accept the incoming call" },
  { keys: "Esc or R", what: "Decline the incoming call" },
  { keys: "Ctrl+E or Esc", what: "Hang up (in a call) or cancel (while calling)" },
  { keys: "Ctrl+M or M", what: "Mute or unmute the microphone" },
  { keys: "Esc", what: "Close a dialog" },
  { keys: "/ or Ctrl+F", what: "Search contacts" },
  { keys: "?", what: "Show this help" },
];

export function shortcut(k: KeyPress, ctx: ShortcutContext): ShortcutAction | null {
  if (k.repeat || k.altKey) return null;
  const ctrl = k.ctrlKey || k.metaKey;
  const key = k.key.length === 1 ? k.key.toLowerCase() : k.key;
  const bare = !ctrl && !k.typing;

  const inCall = ctx.screen === "in-call";
  // A dialog is always the topmost layer (an incoming call closes any open
  // dialog; one opened from the popup sits above it), so it takes Esc.
  if (ctx.dialog) {
    if (key === "Escape") return "close-dialog";
    if (inCall && ctrl && key === "m") return "toggle-mute";
    if (inCall && ctrl && key === "e") return "hang-up";
    return null;
  }
  if (ctx.popup) {
    if ((ctrl && key === "Enter") || (bare && key === "a")) return "accept";
    if (key === "Escape" || (bare && key === "r")) return "reject";
    return null;
  }
  if (inCall && ((ctrl && key === "m") || (bare && key === "m"))) return "toggle-mute";
  if (inCall && ((ctrl && key === "e") || key === "Escape")) return "hang-up";
  if (ctx.screen === "outgoing" && ((ctrl && key === "e") || key === "Escape")) return "cancel";
  if (bare && key === "?") return "help";
  if (ctx.screen === "contacts" && ((bare && key === "/") || (ctrl && key === "f"))) return "focus-search";
  return null;
}
