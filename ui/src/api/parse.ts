// Runtime checks for values that cross the IPC boundary. TypeScript types
// vanish at runtime, and a Rust payload that drifted from the contract must
// become one clear error at the edge, not an `undefined` deep inside a view.

/** Raised when a payload from Rust does not match docs/ui-api.md. */
export class ContractError extends Error {
  override name = "ContractError";
}

/** A plain object whose fields are still unchecked. */
export type Fields = Record<string, unknown>;

/** Checks that `value` is a non-array object; `what` names it in the error. */
export function obj(value: unknown, what: string): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ContractError(`${what}: expected an object`);
  }
  return value as Fields;
}

export function str(o: Fields, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== "string") throw new ContractError(`${what}.${key}: expected a string`);
  return v;
}

/** A string that must not be empty (names, ids). */
export function nonEmpty(o: Fields, key: string, what: string): string {
  const v = str(o, key, what);
  if (v.length === 0) throw new ContractError(`${what}.${key}: must not be empty`);
  return v;
}

export function optStr(o: Fields, key: string, what: string): string | null {
  const v = o[key];
  if (v === null || v === undefined) return null;
  if (typeof v !== "string") throw new ContractError(`${what}.${key}: expected a string or null`);
  return v;
}

export function bool(o: Fields, key: string, what: string): boolean {
  const v = o[key];
  if (typeof v !== "boolean") throw new ContractError(`${what}.${key}: expected a boolean`);
  return v;
}

/** A finite number within [min, max]; NaN and infinities are refused. */
export function num(o: Fields, key: string, what: string, min = -Infinity, max = Infinity): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new ContractError(`${what}.${key}: expected a finite number`);
  }
  if (v < min || v > max) throw new ContractError(`${what}.${key}: ${v} outside ${min}..${max}`);
  return v;
}

export function optNum(o: Fields, key: string, what: string, min = -Infinity, max = Infinity): number | null {
  const v = o[key];
  if (v === null || v === undefined) return null;
  return num(o, key, what, min, max);
}

/** An integer count >= 0. */
export function count(o: Fields, key: string, what: string): number {
  const v = num(o, key, what, 0);
  if (!Number.isInteger(v)) throw new ContractError(`${what}.${key}: expected an integer`);
  return v;
}

export function oneOf<T extends string>(o: Fields, key: string, allowed: readonly T[], what: string): T {
  const v = o[key];
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    throw new ContractError(`${what}.${key}: expected one of ${allowed.join(", ")}`);
  }
  return v as T;
}

export function arr<T>(value: unknown, what: string, item: (v: unknown, what: string) => T): T[] {
  if (!Array.isArray(value)) throw new ContractError(`${what}: expected an array`);
  return value.map((v, i) => item(v, `${what}[${i}]`));
}

export function strArr(o: Fields, key: string, what: string): string[] {
  return arr(o[key], `${what}.${key}`, (v, w) => {
    if (typeof v !== "string") throw new ContractError(`${w}: expected a string`);
    return v;
  });
}

/** Commands that return nothing must return null (Rust `()`). */
export function unit(value: unknown, what: string): void {
  if (value !== null && value !== undefined) throw new ContractError(`${what}: expected no result`);
}
