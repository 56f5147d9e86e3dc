//! Captured frames to constant-size media payloads.

use proto::packet::{MAX_FRAMES_PER_PACKET, MediaFrame, MediaPayload};

use super::pct;
use crate::codec::{AudioBand, CodecConfig, CodecError, FRAME_SAMPLES, VoiceEncoder};

/// How the constant packet budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protection {
    /// One frame a packet at twice the bitrate, super-wideband: the best
    /// sound while nothing is lost.
    Clear,
    /// The current frame and a verbatim copy of the previous one, each at
    /// half the bitrate and wideband (all bits on the speech band): an
    /// isolated loss costs nothing.
    Redundant,
}

impl Protection {
    /// The loss the Opus in-band FEC should be sized for, in percent, when
    /// the peer reports `loss_pct` of the packets lost.
    ///
    /// In the clear mode the FEC is the only protection: it gets the reported
    /// loss, and at least [`Self::CLEAR_FEC_FLOOR`] so that the first burst of
    /// a call that went clear is already covered. In the redundant mode the
    /// next packet repeats each frame whole, so the FEC only matters when a
    /// packet and the one after it are both lost: for independent losses
    /// that is `loss²`. Every bit the coarse copy takes is a bit the primary
    /// frame does not get (the measurements behind `loss²` are in
    /// bench/RESULTS.md, "FEC sizing in the redundant mode").
    pub fn fec_hint(self, loss_pct: f64) -> u8 {
        let p = loss_pct.clamp(0.0, 100.0);
        let hint = match self {
            Protection::Clear => p.max(f64::from(Self::CLEAR_FEC_FLOOR)),
            Protection::Redundant => p * p / 100.0,
        };
        hint.round() as u8
    }

    /// Smallest FEC hint of the clear mode, percent.
    pub const CLEAR_FEC_FLOOR: u8 = 5;
}

/// Chooses the [`Protection`] mode from the peer's receiver reports.
///
/// A call starts protected, because nothing is known about the network
/// yet. Any report with loss at or above [`ProtectionControl::LOSSY_PCT`]
/// switches to (or keeps) the redundant mode; the clear mode returns after
/// one clean report at the start of the call, and after
/// [`ProtectionControl::CLEAN_REPORTS`] clean reports in a row once the
/// call has seen loss, so that a bursty network does not flap.
#[derive(Debug, Clone)]
pub struct ProtectionControl {
    mode: Protection,
    clean: u32,
    seen_loss: bool,
}

impl Default for ProtectionControl {
    fn default() -> Self {
        Self {
            mode: Protection::Redundant,
            clean: 0,
            seen_loss: false,
        }
    }
}

impl ProtectionControl {
    /// Reported loss (percent of the interval) that counts as a lossy path.
    pub const LOSSY_PCT: f64 = 1.0;
    /// Clean reports in a row needed to go back to the clear mode.
    pub const CLEAN_REPORTS: u32 = 5;

    /// The mode in force.
    pub fn mode(&self) -> Protection {
        self.mode
    }

    /// Takes one receiver report (`lost` and `received` since the previous
    /// one); returns the mode to use from now on.
    pub fn on_report(&mut self, lost: u64, received: u64) -> Protection {
        if lost + received == 0 {
            return self.mode;
        }
        if pct(lost, lost + received) >= Self::LOSSY_PCT {
            self.mode = Protection::Redundant;
            self.clean = 0;
            self.seen_loss = true;
        } else {
            self.clean += 1;
            let needed = if self.seen_loss {
                Self::CLEAN_REPORTS
            } else {
                1
            };
            if self.clean >= needed {
                self.mode = Protection::Clear;
            }
        }
        self.mode
    }
}

/// Why a media pipeline could not be set up. Caller mistakes or a media
/// profile the engine cannot carry, never the peer's doing at run time.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// libopus refused a setting.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The packet length and redundancy leave no room for usable audio.
    #[error("unusable media profile: {0}")]
    Profile(&'static str),
}

/// One payload ready for sealing, borrowing the sender's frame history.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    timestamp: u32,
    frames: [MediaFrame<'a>; MAX_FRAMES_PER_PACKET],
    count: usize,
}

impl Outgoing<'_> {
    /// The payload, as [`proto::session::CallSession::send_media`] takes it.
    pub fn payload(&self) -> MediaPayload<'_> {
        MediaPayload {
            timestamp: self.timestamp,
            frames: &self.frames[..self.count],
        }
    }
}

/// How a sender reacts to the peer's reports.
#[derive(Debug, Clone)]
enum Policy {
    /// A call: mode and FEC follow the reports.
    Adaptive(ProtectionControl),
    /// A call whose profile has no room for copies: the FEC follows.
    ClearOnly,
    /// The offline bench's explicit settings: nothing changes.
    Fixed,
}

/// The send half of the media pipeline: captured frames in, payloads of a
/// constant sealed size out. See the module documentation of
/// [`crate::media`].
///
/// Every frame is Opus in hard CBR, so its size depends only on the mode
/// in force; the payload carries the current frame and, in the redundant
/// mode, verbatim copies of the ones before. A copy encoded in the other
/// mode (just before a switch) has another size and is left out rather
/// than let the payload outgrow the packet; proto pads what is left, so
/// the sealed packet is the same length either way.
#[derive(Debug)]
pub struct MediaSender {
    encoder: VoiceEncoder,
    redundant: CodecConfig,
    clear: CodecConfig,
    /// Earlier frames the profile lets a packet repeat.
    redundancy: usize,
    policy: Policy,
    /// The mode the encoder is in.
    protection: Protection,
    switches: u64,
    /// Newest first: the last `redundancy + 1` frames and their lengths.
    history: Vec<(Vec<u8>, usize)>,
    frame_index: u32,
    /// The peer's cumulative (lost, received) at its previous report.
    prev_report: (u64, u64),
}

impl MediaSender {
    /// The sender of a call whose sealed packets are `packet_len` bytes and
    /// may repeat `redundancy` earlier frames. Both protection modes are
    /// fitted to the packet from `base` (complexity, FEC); the call starts
    /// redundant and follows [`MediaSender::on_peer_report`]. A profile
    /// without redundancy is always clear.
    pub fn for_call(
        base: CodecConfig,
        packet_len: usize,
        redundancy: usize,
    ) -> Result<Self, MediaError> {
        let redundancy = redundancy.min(MAX_FRAMES_PER_PACKET - 1);
        let redundant = CodecConfig {
            band: AudioBand::Wideband,
            ..base.fitted(packet_len, redundancy)
        };
        let clear = CodecConfig {
            band: AudioBand::Superwideband,
            ..base.fitted(packet_len, 0)
        };
        if redundant.bitrate < 6_000 {
            return Err(MediaError::Profile("packet too small for audio"));
        }
        let (policy, protection) = if redundancy == 0 {
            (Policy::ClearOnly, Protection::Clear)
        } else {
            let c = ProtectionControl::default();
            let mode = c.mode();
            (Policy::Adaptive(c), mode)
        };
        let codec = match protection {
            Protection::Clear => clear,
            Protection::Redundant => redundant,
        };
        let mut encoder = VoiceEncoder::new(codec)?;
        encoder.set_loss_hint(protection.fec_hint(0.0))?;
        Ok(Self::with_encoder(
            encoder, redundant, clear, redundancy, policy, protection,
        ))
    }

    /// A sender that never changes its settings: `codec` exactly as given,
    /// `redundancy` copies in every packet, the in-band FEC sized for
    /// `loss_hint_pct`. The offline bench uses it to score one set-up at a
    /// time; it refuses frames that would not fit `packet_len`.
    pub fn fixed(
        codec: CodecConfig,
        packet_len: usize,
        redundancy: usize,
        loss_hint_pct: u8,
    ) -> Result<Self, MediaError> {
        let frames = redundancy + 1;
        if frames > MAX_FRAMES_PER_PACKET
            || packet_len < proto::packet::MIN_PACKET_LEN
            || codec.frame_bytes() * frames > proto::packet::frame_capacity(packet_len, frames)
        {
            return Err(MediaError::Profile("frames do not fit the packet length"));
        }
        let mut encoder = VoiceEncoder::new(codec)?;
        encoder.set_loss_hint(loss_hint_pct)?;
        let protection = if redundancy == 0 {
            Protection::Clear
        } else {
            Protection::Redundant
        };
        Ok(Self::with_encoder(
            encoder,
            codec,
            codec,
            redundancy,
            Policy::Fixed,
            protection,
        ))
    }

    fn with_encoder(
        encoder: VoiceEncoder,
        redundant: CodecConfig,
        clear: CodecConfig,
        redundancy: usize,
        policy: Policy,
        protection: Protection,
    ) -> Self {
        let max_frame = redundant.frame_bytes().max(clear.frame_bytes());
        Self {
            encoder,
            redundant,
            clear,
            redundancy,
            policy,
            protection,
            switches: 0,
            history: vec![(vec![0u8; max_frame], 0); redundancy + 1],
            frame_index: 0,
            prev_report: (0, 0),
        }
    }

    /// Encodes one frame of [`FRAME_SAMPLES`] samples at 48 kHz and returns
    /// the payload to seal for it. Call it once per 20 ms, whether anyone
    /// speaks or not: silence costs the same bytes as speech.
    pub fn encode(&mut self, pcm: &[f32]) -> Result<Outgoing<'_>, CodecError> {
        if pcm.len() != FRAME_SAMPLES {
            return Err(CodecError::Unsupported("frame must be 960 samples"));
        }
        self.history.rotate_right(1);
        let newest = &mut self.history[0];
        let n = self.encoder.encode(pcm, &mut newest.0)?;
        newest.1 = n;
        let copies = match self.protection {
            Protection::Redundant => self.redundancy,
            Protection::Clear => 0,
        };
        let mut out = Outgoing {
            timestamp: self.frame_index.wrapping_mul(FRAME_SAMPLES as u32),
            frames: [MediaFrame { age: 0, data: &[] }; MAX_FRAMES_PER_PACKET],
            count: 0,
        };
        self.frame_index = self.frame_index.wrapping_add(1);
        for (age, (bytes, len)) in self.history.iter().enumerate().take(copies + 1) {
            // Not yet encoded (the call's first frames), or encoded in the
            // other mode: leave it out.
            if *len == 0 || (age > 0 && *len != n) {
                continue;
            }
            // `take(copies + 1)` keeps `count` below MAX_FRAMES_PER_PACKET,
            // since `redundancy` was capped at MAX_FRAMES_PER_PACKET - 1.
            out.frames[out.count] = MediaFrame {
                age: age as u8,
                data: &bytes[..*len],
            };
            out.count += 1;
        }
        Ok(out)
    }

    /// Takes the peer's receiver report about our packets, as cumulative
    /// counts since the call began (`proto`'s `ReceiverReport`). Reports that
    /// add nothing new are ignored, so passing the same one twice is safe.
    /// Sets the protection mode and the FEC for the loss seen since the
    /// previous report.
    pub fn on_peer_report(&mut self, lost: u64, received: u64) -> Result<(), CodecError> {
        let (pl, pr) = self.prev_report;
        let (dl, dr) = (lost.saturating_sub(pl), received.saturating_sub(pr));
        self.prev_report = (lost, received);
        if dl + dr == 0 {
            return Ok(());
        }
        let control = match &mut self.policy {
            Policy::Fixed => return Ok(()),
            // No redundancy to switch to: only the FEC follows the reports.
            Policy::ClearOnly => {
                return self
                    .encoder
                    .set_loss_hint(Protection::Clear.fec_hint(pct(dl, dl + dr)));
            }
            Policy::Adaptive(control) => control,
        };
        let mode = control.on_report(dl, dr);
        if mode != self.protection {
            let c = match mode {
                Protection::Clear => self.clear,
                Protection::Redundant => self.redundant,
            };
            self.encoder.reconfigure(c.bitrate, c.band)?;
            self.protection = mode;
            self.switches += 1;
        }
        self.encoder
            .set_loss_hint(self.protection.fec_hint(pct(dl, dl + dr)))
    }

    /// The protection mode in force.
    pub fn protection(&self) -> Protection {
        self.protection
    }

    /// Times the protection mode changed.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// The encoder's bitrate in force, bit/s.
    pub fn bitrate(&self) -> i32 {
        self.encoder.config().bitrate
    }

    /// Frames encoded so far.
    pub fn frames(&self) -> u32 {
        self.frame_index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DEFAULT_PACKET_LEN;

    #[test]
    fn fec_is_sized_for_the_loss_the_redundancy_leaves() {
        // Clear: the reported loss, never below the floor.
        assert_eq!(Protection::Clear.fec_hint(0.0), Protection::CLEAR_FEC_FLOOR);
        assert_eq!(Protection::Clear.fec_hint(12.4), 12);
        // Redundant: both copies lost, for independent losses.
        assert_eq!(Protection::Redundant.fec_hint(0.0), 0);
        assert_eq!(Protection::Redundant.fec_hint(5.0), 0);
        assert_eq!(Protection::Redundant.fec_hint(10.0), 1);
        assert_eq!(Protection::Redundant.fec_hint(20.0), 4);
        assert_eq!(Protection::Redundant.fec_hint(250.0), 100);
        assert_eq!(Protection::Redundant.fec_hint(f64::NAN), 0);
    }

    #[test]
    fn protection_starts_redundant_and_follows_the_reports() {
        let mut c = ProtectionControl::default();
        assert_eq!(c.mode(), Protection::Redundant);
        // An empty report changes nothing.
        assert_eq!(c.on_report(0, 0), Protection::Redundant);
        // One clean report at the start is enough to spend the budget on quality.
        assert_eq!(c.on_report(0, 50), Protection::Clear);
        // 1 lost of 50 (2 %) is a lossy path.
        assert_eq!(c.on_report(1, 49), Protection::Redundant);
        // Once loss was seen, going back needs CLEAN_REPORTS clean reports in a row.
        for _ in 1..ProtectionControl::CLEAN_REPORTS {
            assert_eq!(c.on_report(0, 50), Protection::Redundant);
        }
        assert_eq!(c.on_report(0, 50), Protection::Clear);
        // A lossy report in between restarts the count.
        assert_eq!(c.on_report(5, 45), Protection::Redundant);
        assert_eq!(c.on_report(0, 50), Protection::Redundant);
    }

    fn payload_shape(s: &mut MediaSender) -> Vec<(u8, usize)> {
        let out = s.encode(&[0.1; FRAME_SAMPLES]).expect("encode");
        out.payload()
            .frames
            .iter()
            .map(|f| (f.age, f.data.len()))
            .collect()
    }

    #[test]
    fn a_mode_switch_leaves_out_the_copy_of_the_other_size() {
        let packet = usize::from(DEFAULT_PACKET_LEN);
        let mut s = MediaSender::for_call(CodecConfig::default(), packet, 1).expect("sender");
        // The first frame has nothing to repeat.
        assert_eq!(payload_shape(&mut s), [(0, 83)]);
        assert_eq!(payload_shape(&mut s), [(0, 83), (1, 83)]);
        // A clean report: clear mode, one large frame.
        s.on_peer_report(0, 50).expect("report");
        assert_eq!(s.protection(), Protection::Clear);
        assert_eq!(payload_shape(&mut s), [(0, 169)]);
        // Loss: back to redundant; the clear frame before is too large to ride along.
        s.on_peer_report(5, 95).expect("report");
        assert_eq!(s.protection(), Protection::Redundant);
        assert_eq!(payload_shape(&mut s), [(0, 83)]);
        assert_eq!(payload_shape(&mut s), [(0, 83), (1, 83)]);
        // The same cumulative report again is not a new report.
        s.on_peer_report(5, 95).expect("report");
        assert_eq!(s.switches(), 2);
        // Every shape fits the packet.
        let cap = proto::packet::frame_capacity(packet, 2);
        assert!(2 * 83 <= cap && 169 <= proto::packet::frame_capacity(packet, 1));
    }

    #[test]
    fn a_fixed_sender_refuses_frames_that_do_not_fit() {
        let big = CodecConfig {
            bitrate: 80_000,
            ..CodecConfig::default()
        };
        assert!(matches!(
            MediaSender::fixed(big, 204, 1, 0),
            Err(MediaError::Profile(_))
        ));
        assert!(MediaSender::fixed(CodecConfig::default(), 204, 1, 0).is_ok());
        assert!(matches!(
            MediaSender::for_call(CodecConfig::default(), 70, 4),
            Err(MediaError::Profile(_))
        ));
    }
}
