// A small helper to build DOM without innerHTML: text always goes through
// textContent, so nothing from Rust or a peer (usernames, messages) can turn
// into markup, and nothing needs an inline style or script (strict CSP).

type Child = Node | string | null | undefined | false;
type Handler = (e: Event) => void;

export interface Props {
  class?: string;
  testid?: string;
  /** Attributes (aria-*, role, type, for, …); `false` leaves one out, `true` sets it empty. */
  attrs?: Record<string, string | number | boolean>;
  on?: Record<string, Handler>;
  text?: string;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.testid) el.dataset.testid = props.testid;
  for (const [k, v] of Object.entries(props.attrs ?? {})) {
    if (v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const [k, fn] of Object.entries(props.on ?? {})) el.addEventListener(k, fn);
  if (props.text !== undefined) el.textContent = props.text;
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c);
  }
  return el;
}

/** A button that is always type=button (no accidental form submits). */
export function button(label: string, onClick: () => void, props: Props = {}): HTMLButtonElement {
  const b = h("button", { ...props, attrs: { type: "button", ...props.attrs }, text: label });
  b.addEventListener("click", onClick);
  return b;
}

let nextId = 0;
/** A unique id for label/aria wiring. */
export function uid(prefix: string): string {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled field: <label> + control + an error line tied by aria-describedby. */
export function field(
  label: string,
  control: HTMLInputElement | HTMLSelectElement,
  hint?: string,
): { wrap: HTMLElement; error: HTMLElement } {
  const id = control.id || uid("f");
  control.id = id;
  const error = h("p", { class: "field-error", attrs: { id: `${id}-err` } });
  const describedBy = [`${id}-err`];
  const hintEl = hint ? h("p", { class: "hint", attrs: { id: `${id}-hint` }, text: hint }) : null;
  if (hintEl) describedBy.push(`${id}-hint`);
  control.setAttribute("aria-describedby", describedBy.join(" "));
  const wrap = h("div", { class: "field" }, h("label", { attrs: { for: id }, text: label }), control, hintEl, error);
  return { wrap, error };
}

/** Shows or clears a field's error and marks the control invalid. */
export function setFieldError(control: HTMLElement, errorEl: HTMLElement, message: string | null): void {
  errorEl.textContent = message ?? "";
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
}

/** Replaces an element's text only when it changed (keeps screen readers quiet). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** Sets an attribute only when its value changes (no needless style work). */
export function setAttr(el: Element, name: string, value: string): void {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

/** Sets an attribute to `value`, or removes it for `null`, only on a change. */
export function setOrRemoveAttr(el: Element, name: string, value: string | null): void {
  if (value !== null) setAttr(el, name, value);
  else if (el.hasAttribute(name)) el.removeAttribute(name);
}

/** Shows or hides an element, touching the DOM only on a change. */
export function setHidden(el: HTMLElement, hidden: boolean): void {
  if (el.hidden !== hidden) el.hidden = hidden;
}

/** The message of anything thrown by an Api call, for the user. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
