// @vitest-environment node
import { describe, expect, it } from "vitest";
import { shortcut, type KeyPress, type ShortcutContext } from "./shortcuts";

function key(k: string, over: Partial<KeyPress> = {}): KeyPress {
  return { key: k, ctrlKey: false, metaKey: false, altKey: false, repeat: false, typing: false, ...over };
}
const contacts: ShortcutContext = { screen: "contacts", popup: false, dialog: false };
const popup: ShortcutContext = { ...contacts, popup: true };
const inCall: ShortcutContext = { screen: "in-call", popup: false, dialog: false };

describe("shortcuts", () => {
  it("accept and reject on the popup", () => {
    expect(shortcut(key("Enter", { ctrlKey: true }), popup)).toBe("accept");
    expect(shortcut(key("a"), popup)).toBe("accept");
    expect(shortcut(key("A"), popup)).toBe("accept");
    expect(shortcut(key("Escape"), popup)).toBe("reject");
    expect(shortcut(key("r"), popup)).toBe("reject");
    expect(shortcut(key("Enter"), popup)).toBeNull();
    expect(shortcut(key("m"), popup)).toBeNull();
  });
  it("bare letters do nothing while typing, Ctrl combinations still work", () => {
    expect(shortcut(key("a", { typing: true }), popup)).toBeNull();
    expect(shortcut(key("Enter", { ctrlKey: true, typing: true }), popup)).toBe("accept");
    expect(shortcut(key("?", { typing: true }), contacts)).toBeNull();
    expect(shortcut(key("/", { typing: true }), contacts)).toBeNull();
  });
  it("hang up and mute in a call", () => {
    expect(shortcut(key("e", { ctrlKey: true }), inCall)).toBe("hang-up");
    expect(shortcut(key("Escape"), inCall)).toBe("hang-up");
    expect(shortcut(key("m", { ctrlKey: true }), inCall)).toBe("toggle-mute");
    expect(shortcut(key("m", { metaKey: true }), inCall)).toBe("toggle-mute");
    expect(shortcut(key("M"), inCall)).toBe("toggle-mute");
    expect(shortcut(key("e"), inCall)).toBeNull();
  });
  it("call keys do nothing outside a call", () => {
    expect(shortcut(key("Escape"), contacts)).toBeNull();
    expect(shortcut(key("m", { ctrlKey: true }), contacts)).toBeNull();
    expect(shortcut(key("e", { ctrlKey: true }), contacts)).toBeNull();
  });
  it("Esc cancels a call being placed", () => {
    const outgoing: ShortcutContext = { screen: "outgoing", popup: false, dialog: false };
    expect(shortcut(key("Escape"), outgoing)).toBe("cancel");
    expect(shortcut(key("e", { ctrlKey: true }), outgoing)).toBe("cancel");
  });
  it("with a dialog open in a call, Esc closes the dialog instead of hanging up", () => {
    const d = { ...inCall, dialog: true };
    expect(shortcut(key("Escape"), d)).toBe("close-dialog");
    expect(shortcut(key("e", { ctrlKey: true }), d)).toBe("hang-up");
    expect(shortcut(key("m", { ctrlKey: true }), d)).toBe("toggle-mute");
    expect(shortcut(key("m"), d)).toBeNull();
  });
  it("a dialog opened from the popup takes Esc; the popup keys wait", () => {
    const both = { ...popup, dialog: true };
    expect(shortcut(key("Escape"), both)).toBe("close-dialog");
    expect(shortcut(key("a"), both)).toBeNull();
    expect(shortcut(key("Enter", { ctrlKey: true }), both)).toBeNull();
  });
  it("key repeats and Alt combinations never fire", () => {
    expect(shortcut(key("Enter", { ctrlKey: true, repeat: true }), popup)).toBeNull();
    expect(shortcut(key("Escape", { repeat: true }), inCall)).toBeNull();
    expect(shortcut(key("m", { altKey: true }), inCall)).toBeNull();
  });
  it("help and search", () => {
    expect(shortcut(key("?"), contacts)).toBe("help");
    expect(shortcut(key("/"), contacts)).toBe("focus-search");
    expect(shortcut(key("/"), { ...contacts, screen: "history" })).toBeNull();
    expect(shortcut(key("f", { ctrlKey: true }), contacts)).toBe("focus-search");
    expect(shortcut(key("F", { metaKey: true }), contacts)).toBe("focus-search");
    // Ctrl+F works from inside a text field too; a bare "f" is just typing.
    expect(shortcut(key("f", { ctrlKey: true, typing: true }), contacts)).toBe("focus-search");
    expect(shortcut(key("f"), contacts)).toBeNull();
    expect(shortcut(key("f", { ctrlKey: true }), { ...contacts, screen: "settings" })).toBeNull();
    expect(shortcut(key("f", { ctrlKey: true }), popup)).toBeNull();
  });
});
