//! Where a call's CPU goes, per 20 ms frame: the capture-side processing
//! (echo cancellation, noise suppression, gain control), the Opus encoder
//! in both of the call's protection modes at several complexities, and the
//! decoder.
//!
//! One call spends one of each per frame (50 a second), so a cost of
//! `t` µs per frame is `t / 200` % of one core.
//!
//! The input is speech: `PQVOICE_BENCH_WAV` (48 kHz mono 16-bit, e.g.
//! `bench/speech/out/speech00.wav` after `bench/speech/generate.sh`) or,
//! when that is unset, a synthetic voiced signal with a moving pitch and
//! syllable-like bursts, so the bench also runs on a clean checkout.
//!
//! `cargo bench -p pqvoice-engine --bench media_cpu`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use engine::codec::{
    AudioBand, CodecConfig, DEFAULT_PACKET_LEN, DEFAULT_REDUNDANCY, FRAME_SAMPLES, VoiceDecoder,
    VoiceEncoder,
};
use engine::dsp::{Dsp, DspConfig};

/// About 10 s of 48 kHz mono speech as 20 ms frames, made once.
fn speech() -> &'static [Vec<f32>] {
    static FRAMES: std::sync::OnceLock<Vec<Vec<f32>>> = std::sync::OnceLock::new();
    FRAMES.get_or_init(load_speech)
}

fn load_speech() -> Vec<Vec<f32>> {
    let samples = match std::env::var_os("PQVOICE_BENCH_WAV") {
        Some(path) => {
            let mut r =
                hound::WavReader::open(&path).expect("PQVOICE_BENCH_WAV must be a WAV file");
            assert_eq!(r.spec().sample_rate, 48_000, "the bench wants 48 kHz input");
            r.samples::<i16>()
                .map(|s| f32::from(s.expect("readable WAV samples")) / 32768.0)
                .collect::<Vec<_>>()
        }
        None => synthetic(48_000 * 10),
    };
    samples
        .chunks_exact(FRAME_SAMPLES)
        .map(<[f32]>::to_vec)
        .collect()
}

/// A voiced, speech-like test signal: ten harmonics of a pitch that glides
/// between 100 and 220 Hz, shaped into 4 Hz syllables, plus a little noise.
fn synthetic(n: usize) -> Vec<f32> {
    let mut seed = 0x2545_f491_u32;
    let mut phase = 0.0f32;
    (0..n)
        .map(|i| {
            let t = i as f32 / 48_000.0;
            let pitch = 160.0 + 60.0 * (t * 0.7 * std::f32::consts::TAU).sin();
            phase = (phase + pitch / 48_000.0).fract();
            let voiced: f32 = (1..=10)
                .map(|h| (phase * h as f32 * std::f32::consts::TAU).sin() / h as f32)
                .sum();
            let syllable = (t * 4.0 * std::f32::consts::TAU).sin().max(0.0);
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (f32::from((seed >> 16) as u16) / 32768.0 - 1.0) * 0.01;
            0.15 * syllable * voiced + noise
        })
        .collect()
}

/// The two encoder set-ups a call switches between, fitted to the default
/// packet as `engine::media::MediaSender::for_call` fits them.
fn modes() -> [(&'static str, CodecConfig); 2] {
    let packet = usize::from(DEFAULT_PACKET_LEN);
    let base = CodecConfig::default();
    let protected = CodecConfig {
        band: AudioBand::Wideband,
        ..base.fitted(packet, usize::from(DEFAULT_REDUNDANCY))
    };
    let clear = CodecConfig {
        band: AudioBand::Superwideband,
        ..base.fitted(packet, 0)
    };
    [("protected", protected), ("clear", clear)]
}

fn encode(c: &mut Criterion) {
    let frames = speech();
    let mut group = c.benchmark_group("encode_20ms");
    for (mode, base) in modes() {
        for complexity in [10, 8, 5, 3] {
            let cfg = CodecConfig { complexity, ..base };
            let mut enc = VoiceEncoder::new(cfg).expect("valid codec settings");
            enc.set_loss_hint(5).expect("loss hint accepted");
            let mut out = vec![0u8; cfg.frame_bytes()];
            let mut i = 0;
            group.bench_function(BenchmarkId::new(mode, complexity), |b| {
                b.iter(|| {
                    let n = enc
                        .encode(&frames[i % frames.len()], &mut out)
                        .expect("encodes");
                    i += 1;
                    black_box(n)
                })
            });
        }
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let frames = speech();
    let mut group = c.benchmark_group("decode_20ms");
    for (mode, cfg) in modes() {
        let mut enc = VoiceEncoder::new(cfg).expect("valid codec settings");
        let packets: Vec<Vec<u8>> = frames
            .iter()
            .map(|f| {
                let mut out = vec![0u8; cfg.frame_bytes()];
                enc.encode(f, &mut out).expect("encodes");
                out
            })
            .collect();
        let mut dec = VoiceDecoder::new().expect("decoder");
        let mut pcm = vec![0.0f32; FRAME_SAMPLES];
        let mut i = 0;
        group.bench_function(mode, |b| {
            b.iter(|| {
                dec.decode(&packets[i % packets.len()], &mut pcm);
                i += 1;
                black_box(pcm[0])
            })
        });
    }
    group.finish();
}

fn dsp(c: &mut Criterion) {
    let frames = speech();
    let mut group = c.benchmark_group("dsp_20ms");
    // The far end is the same speech, delayed, as a loudspeaker would
    // play it while the near end talks over it.
    let far: Vec<&[f32]> = frames
        .iter()
        .map(Vec::as_slice)
        .cycle()
        .skip(37)
        .take(frames.len())
        .collect();
    for (name, cfg) in [
        ("default", DspConfig::default()),
        (
            "aec_only",
            DspConfig {
                ns: engine::dsp::NoiseSuppressor::Off,
                agc: false,
                ..DspConfig::default()
            },
        ),
        (
            "rnnoise",
            DspConfig {
                aec: false,
                ns: engine::dsp::NoiseSuppressor::Rnnoise,
                agc: false,
            },
        ),
    ] {
        let mut dsp = Dsp::new(cfg);
        let mut frame = vec![0.0f32; FRAME_SAMPLES];
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                let k = i % frames.len();
                dsp.render(far[k]);
                frame.copy_from_slice(&frames[k]);
                dsp.capture(&mut frame);
                i += 1;
                black_box(frame[0])
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encode, decode, dsp);
criterion_main!(benches);
