// The ring tone, generated with WebAudio (no sound files to ship or fetch):
// 440 + 480 Hz for 2 s, then 4 s of silence, the North American ring
// cadence, at a modest volume. If the webview refuses audio (no device, an
// autoplay policy), the call still shows; the OS notification also sounds.

export interface Ringer {
  start(): void;
  stop(): void;
}

const ON_S = 2;
const PERIOD_S = 6;
const GAIN = 0.08;

export function webAudioRinger(): Ringer {
  let ctx: AudioContext | null = null;
  let timer: ReturnType<typeof setInterval> | null = null;

  function burst(ac: AudioContext): void {
    const t = ac.currentTime;
    const gain = ac.createGain();
    gain.gain.setValueAtTime(0, t);
    gain.gain.linearRampToValueAtTime(GAIN, t + 0.05);
    gain.gain.setValueAtTime(GAIN, t + ON_S - 0.05);
    gain.gain.linearRampToValueAtTime(0, t + ON_S);
    gain.connect(ac.destination);
    for (const f of [440, 480]) {
      const osc = ac.createOscillator();
      osc.frequency.value = f;
      osc.connect(gain);
      osc.start(t);
      osc.stop(t + ON_S);
    }
  }

  return {
    start() {
      if (timer !== null) return;
      try {
        const Ctor = globalThis.AudioContext;
        if (typeof Ctor !== "function") return;
        ctx ??= new Ctor();
        const ac = ctx;
        void ac.resume().catch(() => {});
        burst(ac);
        timer = setInterval(() => burst(ac), PERIOD_S * 1000);
      } catch {
        // No audio in this webview: the popup and the notification remain.
      }
    },
    stop() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      // Closing drops any tone already scheduled; the next ring gets a new context.
      if (ctx) void ctx.close().catch(() => {});
      ctx = null;
    },
  };
}
