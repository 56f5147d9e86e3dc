// @vitest-environment node
import { afterEach, describe, expect, it, vi } from "vitest";
import { webAudioRinger } from "./ring";

// A recording stand-in for the browser's AudioContext: enough to see which
// tones are scheduled when, and that stopping releases the context.
class FakeAudioContext {
  static made: FakeAudioContext[] = [];
  currentTime = 0;
  destination = {};
  tones: { freq: number; start: number; stop: number }[] = [];
  closed = false;
  constructor() {
    FakeAudioContext.made.push(this);
  }
  resume() {
    return Promise.resolve();
  }
  close() {
    this.closed = true;
    return Promise.resolve();
  }
  createGain() {
    return { gain: { setValueAtTime() {}, linearRampToValueAtTime() {} }, connect() {} };
  }
  createOscillator() {
    const tone = { freq: 0, start: 0, stop: 0 };
    this.tones.push(tone);
    return {
      frequency: {
        set value(v: number) {
          tone.freq = v;
        },
      },
      connect() {},
      start: (t: number) => (tone.start = t),
      stop: (t: number) => (tone.stop = t),
    };
  }
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  FakeAudioContext.made = [];
});

describe("ring tone", () => {
  it("plays 440+480 Hz for 2 s every 6 s until stopped, then closes the context", () => {
    vi.useFakeTimers();
    vi.stubGlobal("AudioContext", FakeAudioContext);
    const r = webAudioRinger();
    r.start();
    r.start(); // a second start does not double the ring
    const ac = FakeAudioContext.made[0]!;
    expect(FakeAudioContext.made).toHaveLength(1);
    expect(ac.tones.map((t) => [t.freq, t.stop - t.start])).toEqual([
      [440, 2],
      [480, 2],
    ]);
    vi.advanceTimersByTime(6000);
    expect(ac.tones).toHaveLength(4);
    r.stop();
    expect(ac.closed).toBe(true);
    vi.advanceTimersByTime(12000);
    expect(ac.tones).toHaveLength(4);
    r.start();
    expect(FakeAudioContext.made).toHaveLength(2);
  });
  it("does nothing without WebAudio", () => {
    vi.stubGlobal("AudioContext", undefined);
    const r = webAudioRinger();
    expect(() => {
      r.start();
      r.stop();
    }).not.toThrow();
  });
});
