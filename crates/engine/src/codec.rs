//! Opus at 48 kHz in 20 ms frames, configured for constant-size packets.
//!
//! Every media packet of a call has the same length (DESIGN §4), so the
//! encoder runs in hard CBR: each 20 ms frame comes out exactly
//! `bitrate / 400` bytes, whatever is said. Loss resilience comes from two
//! layers that both fit in that constant budget:
//!
//! * Opus in-band FEC (LBRR): each frame carries a coarse copy of the one
//!   before, decoded with `fec = true` when the earlier frame is missing.
//!   The encoder only spends bits on it when told to expect loss, so the
//!   receiver's loss reports feed [`VoiceEncoder::set_loss_hint`].
//! * Whole-frame redundancy ([`crate::media::MediaSender`]): each packet
//!   also repeats the previous encoded frame(s) verbatim, so an isolated loss
//!   is repaired at full quality.

use opus::{Application, Bandwidth, Bitrate, Channels, Decoder, Encoder};

/// The codec's (and the engine's internal) sample rate.
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms frame at [`SAMPLE_RATE`], mono.
pub const FRAME_SAMPLES: usize = 960;

/// Audio bandwidth the encoder may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioBand {
    /// Up to 8 kHz (16 kHz sampling): all bits go to the speech band.
    Wideband,
    /// Up to 12 kHz.
    Superwideband,
    /// Up to 20 kHz.
    Fullband,
}

impl AudioBand {
    fn opus(self) -> Bandwidth {
        match self {
            AudioBand::Wideband => Bandwidth::Wideband,
            AudioBand::Superwideband => Bandwidth::Superwideband,
            AudioBand::Fullband => Bandwidth::Fullband,
        }
    }
}

/// Encoder settings that stay fixed for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecConfig {
    /// Constant bitrate of each encoded frame, bits per second.
    pub bitrate: i32,
    /// Opus in-band FEC on or off.
    pub inband_fec: bool,
    /// Encoder complexity 0..=10.
    pub complexity: i32,
    /// Highest audio band.
    pub band: AudioBand,
}

impl Default for CodecConfig {
    fn default() -> Self {
        Self {
            // The redundant mode of the default profile (two frames in
            // DEFAULT_PACKET_LEN); the call switches to one frame at twice
            // the rate, super-wideband, while the path is clean.
            bitrate: 33_200,
            inband_fec: true,
            complexity: 10,
            band: AudioBand::Wideband,
        }
    }
}

/// Length of every sealed media packet in the engine's default profile.
///
/// 204 bytes + 28 bytes of IPv4/UDP is 232 bytes a datagram. A call sends 50
/// media packets a second plus about two control packets (a receiver report
/// every second, a ping every two seconds and the pong to the peer's ping),
/// all of the same size: 52 × 232 × 8 = 96.5 kbit/s on the wire, under the
/// 100 kbit/s budget. In the protected mode ([`crate::media::Protection`]) a packet holds
/// two 83-byte frames (Opus at 33.2 kbit/s); in the clear mode one 169-byte
/// frame (67.6 kbit/s).
pub const DEFAULT_PACKET_LEN: u16 = 204;
/// Earlier frames repeated in each packet in the default profile.
pub const DEFAULT_REDUNDANCY: u8 = 1;

impl CodecConfig {
    /// The highest constant bitrate whose frames, `redundancy + 1` of them,
    /// fit a sealed packet of `packet_len` bytes; other settings from `self`.
    pub fn fitted(self, packet_len: usize, redundancy: usize) -> Self {
        let frames = redundancy + 1;
        let capacity = packet_len
            .saturating_sub(proto::packet::HEADER_LEN + proto::packet::TAG_LEN + 6 + 3 * frames);
        let frame_bytes = (capacity / frames).min(400);
        Self {
            bitrate: (frame_bytes * 400) as i32,
            ..self
        }
    }

    /// Bytes of every encoded frame.
    pub fn frame_bytes(&self) -> usize {
        // bits/s × 0.02 s / 8 bits per byte.
        (self.bitrate / 400) as usize
    }
}

/// Errors of the codec layer.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// libopus refused a setting or an operation.
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    /// A setting is outside what the engine supports.
    #[error("unsupported codec setting: {0}")]
    Unsupported(&'static str),
}

/// A constant-bitrate Opus encoder for 20 ms mono frames.
pub struct VoiceEncoder {
    enc: Encoder,
    cfg: CodecConfig,
}

impl std::fmt::Debug for VoiceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceEncoder")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl VoiceEncoder {
    /// Creates an encoder; fails if libopus refuses a setting.
    pub fn new(cfg: CodecConfig) -> Result<Self, CodecError> {
        if !(6_000..=160_000).contains(&cfg.bitrate) || cfg.bitrate % 400 != 0 {
            return Err(CodecError::Unsupported(
                "bitrate must be 6000..=160000 and a multiple of 400",
            ));
        }
        let mut enc = Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip)?;
        enc.set_bitrate(Bitrate::Bits(cfg.bitrate))?;
        // Hard CBR: the packet size must never depend on the speech.
        enc.set_vbr(false)?;
        enc.set_complexity(cfg.complexity.clamp(0, 10))?;
        enc.set_inband_fec(cfg.inband_fec)?;
        enc.set_dtx(false)?;
        enc.set_max_bandwidth(cfg.band.opus())?;
        enc.set_signal(opus::Signal::Voice)?;
        Ok(Self { enc, cfg })
    }

    /// The settings in force.
    pub fn config(&self) -> CodecConfig {
        self.cfg
    }

    /// Changes bitrate and band between frames (the protection mode
    /// switches); libopus carries its state across, so there is no click.
    pub fn reconfigure(&mut self, bitrate: i32, band: AudioBand) -> Result<(), CodecError> {
        if !(6_000..=160_000).contains(&bitrate) || bitrate % 400 != 0 {
            return Err(CodecError::Unsupported(
                "bitrate must be 6000..=160000 and a multiple of 400",
            ));
        }
        self.enc.set_bitrate(Bitrate::Bits(bitrate))?;
        self.enc.set_max_bandwidth(band.opus())?;
        self.cfg.bitrate = bitrate;
        self.cfg.band = band;
        Ok(())
    }

    /// Tells the encoder how much loss its in-band FEC should prepare for,
    /// in percent; libopus sizes the coarse copy (LBRR) from it, and 0 turns
    /// it off. See [`crate::media::Protection::fec_hint`] for what the call
    /// passes.
    pub fn set_loss_hint(&mut self, percent: u8) -> Result<(), CodecError> {
        let p = if self.cfg.inband_fec {
            i32::from(percent.min(100))
        } else {
            0
        };
        self.enc.set_packet_loss_perc(p)?;
        Ok(())
    }

    /// Encodes one frame of [`FRAME_SAMPLES`] samples into `out`, which must
    /// hold [`CodecConfig::frame_bytes`]; returns the bytes written, always
    /// exactly that many.
    pub fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize, CodecError> {
        if pcm.len() != FRAME_SAMPLES {
            return Err(CodecError::Unsupported("frame must be 960 samples"));
        }
        let want = self.cfg.frame_bytes();
        if out.len() < want {
            return Err(CodecError::Unsupported(
                "output buffer smaller than a frame",
            ));
        }
        let n = self.enc.encode_float(pcm, &mut out[..want])?;
        if n < want {
            // libopus pads CBR frames itself; this is a safety net so the
            // wire size holds even if it did not.
            opus::packet::pad(&mut out[..want], n)?;
        }
        Ok(want)
    }
}

/// An Opus decoder producing 20 ms mono frames at 48 kHz.
pub struct VoiceDecoder {
    dec: Decoder,
}

impl std::fmt::Debug for VoiceDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceDecoder").finish_non_exhaustive()
    }
}

impl VoiceDecoder {
    /// A fresh decoder.
    pub fn new() -> Result<Self, CodecError> {
        Ok(Self {
            dec: Decoder::new(SAMPLE_RATE, Channels::Mono)?,
        })
    }

    /// Decodes a frame into `out` (960 samples). A corrupt frame is
    /// concealed instead, so bad bytes from a peer never stop playback.
    pub fn decode(&mut self, frame: &[u8], out: &mut [f32]) {
        if !self.run(frame, out, false) {
            self.conceal(out);
        }
    }

    /// Rebuilds the frame *before* `next` from `next`'s in-band FEC.
    pub fn decode_fec(&mut self, next: &[u8], out: &mut [f32]) {
        if !self.run(next, out, true) {
            self.conceal(out);
        }
    }

    /// Produces a concealment frame continuing the last decoded audio.
    pub fn conceal(&mut self, out: &mut [f32]) {
        if !self.run(&[], out, false) {
            out.fill(0.0);
        }
    }

    fn run(&mut self, input: &[u8], out: &mut [f32], fec: bool) -> bool {
        let out = &mut out[..FRAME_SAMPLES];
        match self.dec.decode_float(input, out, fec) {
            Ok(n) if n == FRAME_SAMPLES => true,
            Ok(n) => {
                // A shorter frame (a peer using other frame sizes) is padded
                // with silence so playback timing stays exact.
                out[n.min(FRAME_SAMPLES)..].fill(0.0);
                n > 0
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(frame: usize) -> Vec<f32> {
        (0..FRAME_SAMPLES)
            .map(|i| {
                let t = (frame * FRAME_SAMPLES + i) as f32 / SAMPLE_RATE as f32;
                0.3 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
            })
            .collect()
    }

    #[test]
    fn fitted_bitrate_fills_the_packet_exactly() {
        for (len, red) in [(212usize, 1usize), (240, 1), (300, 2), (160, 0)] {
            let cfg = CodecConfig::default().fitted(len, red);
            let frames = red + 1;
            let cap = proto::packet::frame_capacity(len, frames);
            assert!(cfg.frame_bytes() * frames <= cap, "{len}/{red}");
            assert!(
                (cfg.frame_bytes() + 1) * frames > cap,
                "{len}/{red}: room left"
            );
        }
        assert_eq!(
            CodecConfig::default().fitted(usize::from(DEFAULT_PACKET_LEN), 1),
            CodecConfig::default()
        );
    }

    #[test]
    fn cbr_frames_have_constant_size_for_silence_and_sound() {
        let cfg = CodecConfig::default();
        let mut enc = VoiceEncoder::new(cfg).expect("encoder");
        enc.set_loss_hint(10).expect("hint");
        let mut out = [0u8; 400];
        let mut sizes = std::collections::BTreeSet::new();
        for f in 0..50 {
            let pcm = if f % 10 < 5 {
                tone(f)
            } else {
                vec![0.0; FRAME_SAMPLES]
            };
            sizes.insert(enc.encode(&pcm, &mut out).expect("encode"));
        }
        assert_eq!(
            sizes.into_iter().collect::<Vec<_>>(),
            vec![cfg.frame_bytes()]
        );
    }

    #[test]
    fn round_trip_keeps_a_tone_and_bad_input_is_concealed() {
        let mut enc = VoiceEncoder::new(CodecConfig::default()).expect("encoder");
        let mut dec = VoiceDecoder::new().expect("decoder");
        let mut pkt = [0u8; 400];
        let mut out = vec![0.0f32; FRAME_SAMPLES];
        let mut energy = 0.0;
        for f in 0..20 {
            let n = enc.encode(&tone(f), &mut pkt).expect("encode");
            dec.decode(&pkt[..n], &mut out);
            if f >= 5 {
                energy += out.iter().map(|x| x * x).sum::<f32>();
            }
        }
        let expected = 15.0 * FRAME_SAMPLES as f32 * 0.3 * 0.3 / 2.0;
        assert!(
            energy > 0.5 * expected && energy < 1.5 * expected,
            "{energy} vs {expected}"
        );
        // Garbage from the network is concealed, not a panic or an error.
        dec.decode(&[0xFF, 0xFF, 0xFF], &mut out);
        dec.decode_fec(&[], &mut out);
        assert!(out.iter().all(|x| x.is_finite()));
        assert!(
            VoiceEncoder::new(CodecConfig {
                bitrate: 1000,
                ..Default::default()
            })
            .is_err()
        );
    }
}
