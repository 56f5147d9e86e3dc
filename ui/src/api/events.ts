// Typed subscriptions to the events Rust emits (docs/ui-api.md). A payload
// that fails validation is reported through `onInvalid` and dropped: one bad
// event must not take the screen down or be half-applied.
import {
  parseAudioLevels,
  parseCallSnapshot,
  parseCallStats,
  parseIncomingCall,
  parseKeyChanged,
  parsePresenceChange,
  parseRegistryStatus,
  type AudioLevels,
  type CallSnapshot,
  type CallStats,
  type IncomingCall,
  type KeyChanged,
  type PresenceChange,
  type RegistryStatus,
} from "./types";

/** Event names and the payload each one carries. */
export interface EventPayloads {
  "incoming-call": IncomingCall;
  "call-state": CallSnapshot;
  "call-stats": CallStats;
  "audio-levels": AudioLevels;
  presence: PresenceChange;
  "key-changed": KeyChanged;
  "registry-status": RegistryStatus;
}

export type EventName = keyof EventPayloads;

const PARSERS: { [K in EventName]: (v: unknown) => EventPayloads[K] } = {
  "incoming-call": (v) => parseIncomingCall(v),
  "call-state": (v) => parseCallSnapshot(v),
  "call-stats": (v) => parseCallStats(v),
  "audio-levels": (v) => parseAudioLevels(v),
  presence: (v) => parsePresenceChange(v),
  "key-changed": (v) => parseKeyChanged(v),
  "registry-status": (v) => parseRegistryStatus(v),
};

export const EVENT_NAMES = Object.keys(PARSERS) as EventName[];

/** A backend event after validation. */
export type BackendEvent = { [K in EventName]: { name: K; payload: EventPayloads[K] } }[EventName];

/** The shape of Tauri's `listen`, narrowed to what we use. */
export type Listen = (event: string, handler: (e: { payload: unknown }) => void) => Promise<() => void>;

/**
 * Listens to every event; resolves once all listeners are registered, with
 * a function that removes them all.
 */
export async function subscribe(
  listen: Listen,
  onEvent: (e: BackendEvent) => void,
  onInvalid: (name: EventName, error: unknown) => void,
): Promise<() => void> {
  const unlisteners = await Promise.all(
    EVENT_NAMES.map((name) =>
      listen(name, (e) => {
        let event: BackendEvent;
        try {
          event = { name, payload: PARSERS[name](e.payload) } as BackendEvent;
        } catch (err) {
          onInvalid(name, err);
          return;
        }
        onEvent(event);
      }),
    ),
  );
  return () => unlisteners.forEach((u) => u());
}
