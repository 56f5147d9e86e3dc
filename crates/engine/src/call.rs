//! One call's media: a UDP socket, a [`CallSession`], the audio path.
//!
//! What the media pipeline decides (encoding, redundancy and protection
//! mode, jitter buffer, decoding, counters) lives in the sans-IO pieces of
//! [`crate::media`]; this module is the glue between them, the session, the
//! socket and the sound device, plus [`PeerPath`], which decides where the
//! packets go. [`run_call`] drives everything from one thread, in a loop that waits in
//! one poll on the call's socket and on the sound device's waker
//! ([`crate::audio::AudioWake`]), so it runs the moment a datagram arrives
//! or the device captures or plays samples, and at least every 10 ms:
//!
//! 1. **Receive**: each datagram goes to the session, which authenticates,
//!    replay-checks and opens it. Anything that fails is counted and
//!    dropped, nothing else changes, so a flood of garbage at the media port
//!    costs CPU but never state. An authenticated packet from a new source
//!    address does not move the call by itself: [`PeerPath`] has a sealed
//!    probe sent there, and the call moves only when the peer's answer to
//!    that probe comes back from the new address (the peer changed networks
//!    or its NAT rebound the port). A genuine packet replayed from a spoofed
//!    source cannot redirect the stream, since nobody at that address can
//!    answer the probe.
//! 2. **Capture → send**: every 20 ms of captured audio is resampled to
//!    48 kHz, processed (AEC, NS, AGC), turned into a payload by the
//!    [`MediaSender`] (Opus at a constant bitrate, with the previous
//!    frame(s)) and sealed into one constant-size packet.
//!    Until the peer's first authenticated packet arrives, packets also go
//!    to every candidate address the peer offered: these sealed packets are
//!    the connectivity checks, and the first candidate that answers carries
//!    the call. Each candidate gets a bounded number of them
//!    ([`PeerPath::PRECONNECT_MAX_PER_CANDIDATE`]), so an offer that lists
//!    someone else's addresses cannot turn a client into a traffic
//!    reflector.
//! 3. **Playout**: whenever the playback ring runs low, the
//!    [`MediaReceiver`] (jitter buffer and decoder) produces the next 20 ms, which also feeds the echo canceller's
//!    far-end reference.
//! 4. **Timers**: pings, receiver reports, the SAS reveal and the idle
//!    timeout live in the session; each new receiver report from the peer
//!    goes to the sender, which sets its protection mode and FEC from it;
//!    unanswered address probes are repeated.
//! 5. **Stats** ([`MediaStats`]) once per interval, and at once when the SAS becomes known
//!    (the callee learns it from the caller's first packets).
//!
//! The constant packet stream is also the keepalive: no authenticated packet
//! for 10 s ends the call with [`CallEnd::TimedOut`].

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use proto::control::{ByeReason, ControlMessage};
use proto::handshake::Established;
use proto::session::{CallSession, Incoming, PacketError, SessionConfig, SessionEvent};
use ringbuf::traits::{Consumer, Observer, Producer};

use crate::audio::AudioIo;
use crate::codec::{CodecConfig, CodecError, FRAME_SAMPLES, SAMPLE_RATE};
use crate::dsp::{Dsp, DspConfig};
use crate::jitter::JitterConfig;
use crate::media::{MediaError, MediaReceiver, MediaSender, MediaStats};
use crate::resample::{ResampleError, StreamResampler};

// The pipeline's pieces and the stats type moved to `crate::media`; these
// names stay here for the callers that knew them as part of a call.
pub use crate::media::{CallStats, PlaybackTarget, Protection, ProtectionControl};

/// A monotonic clock for the session, in proto's time type.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }

    /// Time since the origin, as `proto` wants it.
    pub fn now(&self) -> proto::time::Instant {
        proto::time::Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }

    /// Time since the origin.
    pub fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// How a call should run.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Encoder settings; the bitrate is fitted to the negotiated packet
    /// length and redundancy.
    pub codec: CodecConfig,
    /// Capture processing.
    pub dsp: DspConfig,
    /// Jitter buffer tuning.
    pub jitter: JitterConfig,
    /// Hang up after this long.
    pub duration: Option<Duration>,
    /// Hang up this long after a finite input (WAV) has been sent.
    pub end_after_input: Option<Duration>,
    /// Send back what is heard instead of capturing (the echo bot).
    pub echo: bool,
    /// Playback ring level below which the next frame is decoded.
    pub playback_low_water: Duration,
    /// Interval of the stats callback.
    pub stats_interval: Duration,
    /// Set from another thread to hang up.
    pub hang_up: Arc<AtomicBool>,
    /// Set from another thread to mute: silence is sent instead of the
    /// microphone, in packets of the same size and rate as speech.
    pub mute: Arc<AtomicBool>,
    /// Peak levels of the microphone and the speaker, for meters.
    pub levels: Arc<Levels>,
    /// Session timers.
    pub session: SessionConfig,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            codec: CodecConfig::default(),
            dsp: DspConfig::default(),
            jitter: JitterConfig::default(),
            duration: None,
            end_after_input: None,
            echo: false,
            playback_low_water: Duration::from_millis(10),
            stats_interval: Duration::from_secs(1),
            hang_up: Arc::new(AtomicBool::new(false)),
            mute: Arc::new(AtomicBool::new(false)),
            levels: Arc::new(Levels::default()),
            // Reports every second so that the protection mode follows the
            // network within a second or two; pings every two seconds keep
            // the control traffic near two packets a second (see
            // codec::DEFAULT_PACKET_LEN for the bitrate budget).
            session: SessionConfig {
                report_interval: Duration::from_secs(1),
                ping_interval: Duration::from_secs(2),
                ..SessionConfig::default()
            },
        }
    }
}

/// Peak levels on each side since a meter last took them, shared with a UI
/// thread that polls them (stored as `f32` bits; 0 = silence, 1 = full
/// scale). Writing is one relaxed `fetch_max` per frame: for the
/// non-negative floats stored here the bit patterns order as the values do.
/// A meter that polls every 250 ms thus shows the loudest of the twelve or
/// thirteen frames since its last look, not whichever frame came last.
#[derive(Debug, Default)]
pub struct Levels {
    mic: AtomicU32,
    speaker: AtomicU32,
}

impl Levels {
    /// The microphone's peak level since the last [`Levels::take`], 0..=1.
    pub fn mic(&self) -> f32 {
        f32::from_bits(self.mic.load(Ordering::Relaxed))
    }

    /// The speaker's peak level since the last [`Levels::take`], 0..=1.
    pub fn speaker(&self) -> f32 {
        f32::from_bits(self.speaker.load(Ordering::Relaxed))
    }

    /// The peaks since the last call, (microphone, speaker); both start
    /// again from silence.
    pub fn take(&self) -> (f32, f32) {
        (
            f32::from_bits(self.mic.swap(0, Ordering::Relaxed)),
            f32::from_bits(self.speaker.swap(0, Ordering::Relaxed)),
        )
    }

    /// Records the microphone's frame.
    pub fn set_mic(&self, frame: &[f32]) {
        self.mic.fetch_max(peak(frame).to_bits(), Ordering::Relaxed);
    }

    /// Records the speaker's frame.
    pub fn set_speaker(&self, frame: &[f32]) {
        self.speaker
            .fetch_max(peak(frame).to_bits(), Ordering::Relaxed);
    }
}

/// Peak magnitude, clamped to 0..=1.
fn peak(frame: &[f32]) -> f32 {
    frame
        .iter()
        .fold(0.0f32, |m, s| m.max(s.abs()))
        .clamp(0.0, 1.0)
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEnd {
    /// The configured duration or the end of the input was reached.
    Finished,
    /// Hung up from this side.
    HungUp,
    /// The peer said goodbye.
    PeerHungUp,
    /// Nothing authenticated arrived from the peer for the idle timeout.
    TimedOut,
    /// The sound device disappeared.
    DeviceLost,
    /// The caller's revealed SAS nonce did not match the commitment in its
    /// offer: someone tried to choose the digits, so the call was ended.
    SasMismatch,
}

impl CallEnd {
    /// A sentence for the user.
    pub fn describe(self) -> &'static str {
        match self {
            CallEnd::Finished => "call finished",
            CallEnd::HungUp => "hung up",
            CallEnd::PeerHungUp => "the other side hung up",
            CallEnd::TimedOut => "connection lost: nothing received from the other side for 10 s",
            CallEnd::DeviceLost => "the sound device was lost",
            CallEnd::SasMismatch => {
                "security check failed: the caller's SAS did not match what its offer \
                 committed to, so the call may have been intercepted and was ended"
            }
        }
    }
}

/// Errors that stop a call from running at all.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Socket trouble.
    #[error("call socket: {0}")]
    Io(#[from] io::Error),
    /// Codec setup failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Resampler setup failed.
    #[error(transparent)]
    Resample(#[from] ResampleError),
    /// The negotiated media profile cannot carry audio.
    #[error("unusable media profile: {0}")]
    Profile(&'static str),
}

impl From<MediaError> for CallError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::Codec(e) => CallError::Codec(e),
            MediaError::Profile(why) => CallError::Profile(why),
        }
    }
}

/// The outcome of a call.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallReport {
    /// Why it ended.
    pub end: CallEnd,
    /// Final statistics.
    pub stats: CallStats,
}

/// How long the loop waits at most for the socket or the sound device.
///
/// The device side rings [`crate::audio::AudioWake`] every time it moves
/// samples (a sound server every ~21 ms, the WAV clock every 10 ms) and the
/// peer's packets come every 20 ms, and the wait also ends at the session's
/// next timer; so this only bounds how late a hang-up flag or a device that
/// stopped ringing is noticed. At 10 ms, a third of the loop's wake-ups in
/// a call through PipeWire were this timeout firing between two bursts of
/// events, each one a context switch for nothing.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// Datagrams read per turn of the loop at most.
const MAX_DATAGRAMS_PER_TURN: usize = 32;
/// Poll token of the call socket.
const SOCKET: mio::Token = mio::Token(0);
/// Poll token of the audio waker.
const AUDIO: mio::Token = mio::Token(1);

/// Where the call's packets go, and when that may change. Sans-IO: the
/// loop tells it what arrived from where, it answers with where to send.
///
/// * **Before the first authenticated packet** every packet also goes to
///   each candidate the peer offered, but each candidate gets at most
///   [`PeerPath::PRECONNECT_MAX_PER_CANDIDATE`] datagrams: the first
///   [`PeerPath::PRECONNECT_BURST`] at the full packet rate (both sides
///   start within a signalling round trip, so this is where calls connect),
///   then one in [`PeerPath::PRECONNECT_TRICKLE`] so that a slow peer can
///   still be reached until the idle timeout.
/// * **An authenticated packet from a candidate** we were already sending
///   to makes it the peer address at once: no new destination gets traffic.
/// * **An authenticated packet from any other address** starts a
///   validation: a sealed probe (a ping) goes there, repeated a few times,
///   and the address becomes the peer address only when the pong for one of
///   those probes arrives *from* it. Until then the call stays where it
///   was. The peer answers a ping towards the address it sends from, so a
///   peer that really moved answers from the new address, while an
///   attacker who replays or relays a genuine packet from a spoofed source
///   cannot make that address answer. An address that used up its probes
///   is left alone for [`PeerPath::FAILED_HOLDOFF`], so that a stream of
///   such packets gets it a few probes, not a steady flow.
#[derive(Debug, Clone)]
pub struct PeerPath {
    candidates: Vec<CandidateBudget>,
    current: Option<SocketAddr>,
    probes: Vec<PendingProbe>,
    /// Addresses that did not answer their probes, and until when they
    /// get no new ones.
    failed: Vec<(SocketAddr, Duration)>,
}

#[derive(Debug, Clone)]
struct CandidateBudget {
    addr: SocketAddr,
    /// Packets the loop wanted to send pre-connect (sent or skipped).
    offered: u32,
    /// Datagrams actually sent to this candidate.
    sent: u32,
}

#[derive(Debug, Clone)]
struct PendingProbe {
    addr: SocketAddr,
    /// Ping ids of the probes sent there; a pong for any of them counts.
    ids: Vec<u32>,
    next_at: Duration,
}

impl PeerPath {
    /// Most datagrams one candidate gets before anything authenticated
    /// arrives from the peer.
    pub const PRECONNECT_MAX_PER_CANDIDATE: u32 = 100;
    /// Datagrams each candidate gets at the full packet rate first.
    pub const PRECONNECT_BURST: u32 = 50;
    /// After the burst, one packet in this many goes to each candidate.
    pub const PRECONNECT_TRICKLE: u32 = 10;
    /// Probes sent to one new address before giving up on it.
    pub const PROBES_PER_ADDRESS: usize = 4;
    /// Interval between repeated probes to one address.
    pub const PROBE_INTERVAL: Duration = Duration::from_millis(250);
    /// Addresses validated at once; a new one beyond this is ignored until
    /// a slot frees, which bounds probe traffic whatever arrives.
    pub const MAX_PENDING_PROBES: usize = 4;
    /// How long an address that never answered its probes gets no new ones.
    pub const FAILED_HOLDOFF: Duration = Duration::from_secs(5);
    /// Failed addresses remembered at once (the oldest is forgotten first).
    const MAX_FAILED: usize = 8;

    /// A path to a peer that offered `candidates`, not connected yet.
    pub fn new(candidates: &[SocketAddr]) -> Self {
        let mut list: Vec<CandidateBudget> = Vec::with_capacity(candidates.len());
        for &addr in candidates {
            // A candidate listed twice gets one budget.
            if !list.iter().any(|c| c.addr == addr) {
                list.push(CandidateBudget {
                    addr,
                    offered: 0,
                    sent: 0,
                });
            }
        }
        Self {
            candidates: list,
            current: None,
            probes: Vec::with_capacity(Self::MAX_PENDING_PROBES),
            failed: Vec::with_capacity(Self::MAX_FAILED),
        }
    }

    /// The validated peer address, once there is one.
    pub fn current(&self) -> Option<SocketAddr> {
        self.current
    }

    /// Calls `send` with every address the next packet goes to: the peer
    /// address, or before there is one, each candidate whose budget allows.
    pub fn for_each_target(&mut self, mut send: impl FnMut(SocketAddr)) {
        if let Some(addr) = self.current {
            send(addr);
            return;
        }
        for c in &mut self.candidates {
            c.offered = c.offered.saturating_add(1);
            let in_burst = c.offered <= Self::PRECONNECT_BURST;
            let trickle = c.offered.is_multiple_of(Self::PRECONNECT_TRICKLE);
            if c.sent < Self::PRECONNECT_MAX_PER_CANDIDATE && (in_burst || trickle) {
                c.sent += 1;
                send(c.addr);
            }
        }
    }

    /// An authenticated packet arrived from `from` at `now`. Returns true
    /// when a probe should be sealed and sent to `from` now (then report it
    /// with [`PeerPath::probe_sent`]).
    pub fn on_authenticated(&mut self, from: SocketAddr, now: Duration) -> bool {
        if self.current == Some(from) {
            return false;
        }
        if self.current.is_none() && self.candidates.iter().any(|c| c.addr == from) {
            self.current = Some(from);
            self.probes.clear();
            return false;
        }
        self.failed.retain(|&(_, until)| now < until);
        if self.probes.iter().any(|p| p.addr == from)
            || self.probes.len() >= Self::MAX_PENDING_PROBES
            || self.failed.iter().any(|&(a, _)| a == from)
        {
            return false;
        }
        self.probes.push(PendingProbe {
            addr: from,
            ids: Vec::with_capacity(Self::PROBES_PER_ADDRESS),
            next_at: now,
        });
        true
    }

    /// A probe with ping id `id` was sent to `addr` at `now`.
    pub fn probe_sent(&mut self, addr: SocketAddr, id: u32, now: Duration) {
        if let Some(p) = self.probes.iter_mut().find(|p| p.addr == addr) {
            p.ids.push(id);
            p.next_at = now + Self::PROBE_INTERVAL;
        }
    }

    /// A pong with `id` arrived from `from`. Returns true when it answers a
    /// probe sent to `from`: the call moved there.
    pub fn on_pong(&mut self, from: SocketAddr, id: u32) -> bool {
        let answered = self
            .probes
            .iter()
            .any(|p| p.addr == from && p.ids.contains(&id));
        if answered {
            self.current = Some(from);
            self.probes.clear();
        }
        answered
    }

    /// The next address whose probe is due at `now`, if any; addresses
    /// that used up their probes without an answer are dropped here.
    pub fn poll_probe(&mut self, now: Duration) -> Option<SocketAddr> {
        let failed = &mut self.failed;
        self.probes.retain(|p| {
            let keep = p.ids.len() < Self::PROBES_PER_ADDRESS || now < p.next_at;
            if !keep {
                if failed.len() == Self::MAX_FAILED {
                    failed.remove(0);
                }
                failed.push((p.addr, now + Self::FAILED_HOLDOFF));
            }
            keep
        });
        self.probes
            .iter()
            .find(|p| p.ids.len() < Self::PROBES_PER_ADDRESS && now >= p.next_at)
            .map(|p| p.addr)
    }
}

/// Runs the media of an established call until it ends.
///
/// `socket` is the call's own UDP socket (bound by the caller to the
/// `--listen` address). `on_stats` is called every
/// [`CallOptions::stats_interval`].
pub fn run_call(
    established: Established,
    socket: UdpSocket,
    mut audio: AudioIo,
    opts: CallOptions,
    on_stats: &mut dyn FnMut(&CallStats),
) -> Result<CallReport, CallError> {
    let clock = Clock::new();
    let profile = *established.profile();
    if profile.frame_ms != 20 {
        return Err(CallError::Profile("the engine sends 20 ms frames only"));
    }
    let mut path = PeerPath::new(established.peer_candidates());
    let mut session = CallSession::new(established, opts.session, clock.now());
    let packet_len = session.packet_len();
    let mut sender =
        MediaSender::for_call(opts.codec, packet_len, usize::from(profile.redundancy))?;
    let mut receiver = MediaReceiver::new(opts.jitter.clone())?;
    let mut stats = MediaStats::new(&sender);
    let mut dsp = Dsp::new(opts.dsp);
    let mut cap_resampler = StreamResampler::new(audio.capture_rate, SAMPLE_RATE)?;
    let mut play_resampler = StreamResampler::new(SAMPLE_RATE, audio.playback_rate)?;
    socket.set_nonblocking(true)?;
    let mut socket = mio::net::UdpSocket::from_std(socket);
    let mut poll = mio::Poll::new()?;
    let mut events = mio::Events::with_capacity(8);
    poll.registry()
        .register(&mut socket, SOCKET, mio::Interest::READABLE)?;
    audio
        .counters
        .wake
        .set(mio::Waker::new(poll.registry(), AUDIO)?);

    // Buffers of the hot path, allocated once.
    let mut recv_buf = vec![0u8; 2048];
    let mut send_buf = vec![0u8; packet_len.max(proto::packet::MAX_PACKET_LEN)];
    let mut raw_capture = vec![0.0f32; 4096];
    let mut capture_48k: Vec<f32> = Vec::with_capacity(8192);
    let mut frame = vec![0.0f32; FRAME_SAMPLES];
    let mut played = vec![0.0f32; FRAME_SAMPLES];
    let mut play_out: Vec<f32> = Vec::with_capacity(8192);
    let mut playback_target = PlaybackTarget::new(
        (opts.playback_low_water.as_secs_f64() * f64::from(audio.playback_rate)) as usize,
        audio.playback_rate,
    );
    let mut input_done_at: Option<Duration> = None;
    let cpu_start = thread_cpu_time();
    let end: CallEnd;

    // Sends one sealed datagram to the peer, or to the candidates (within
    // their budgets) while connectivity is not established yet.
    let send = |buf: &[u8], path: &mut PeerPath, stats: &mut MediaStats| {
        path.for_each_target(|t| {
            // A send error (e.g. ICMP unreachable) is the network's problem;
            // the idle timeout decides whether the call is dead.
            if socket.send_to(buf, t).is_ok() {
                stats.on_sent(buf.len());
            }
        });
    };
    // Seals a probe and sends it to `addr`, a peer address being validated.
    let send_probe = |session: &mut CallSession,
                      path: &mut PeerPath,
                      addr: SocketAddr,
                      buf: &mut [u8],
                      stats: &mut MediaStats| {
        let Some((id, len)) = session.seal_probe(clock.now(), buf) else {
            return;
        };
        path.probe_sent(addr, id, clock.elapsed());
        if socket.send_to(&buf[..len], addr).is_ok() {
            stats.on_probe_sent(len);
        }
    };

    // Audio captured while the codec, DSP and resamplers were being set up
    // is already stale: sending it would start the call with a burst that
    // the far end's jitter buffer then has to hold as extra delay. Keep at
    // most one frame of it.
    let keep = (audio.capture_rate as usize / 50).max(1);
    let stale = audio.capture.occupied_len().saturating_sub(keep);
    audio.capture.skip(stale);

    let mut socket_backlog = false;
    loop {
        // 1. Wait for the network or the sound device (at most MAX_WAIT),
        //    then take every datagram waiting: the poll is edge-triggered.
        let wait = if socket_backlog {
            Duration::ZERO
        } else {
            // At least 1 ms: a deadline that handling did not move cannot
            // turn the loop into a spin.
            let now = clock.now();
            session.poll_timeout().map_or(MAX_WAIT, |t| {
                t.saturating_duration_since(now)
                    .clamp(Duration::from_millis(1), MAX_WAIT)
            })
        };
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
        // A bounded batch, so that a flood cannot starve the audio path; what
        // is left is read next turn without waiting.
        socket_backlog = true;
        for _ in 0..MAX_DATAGRAMS_PER_TURN {
            match socket.recv_from(&mut recv_buf) {
                Ok((n, from)) => {
                    let arrival = clock.elapsed();
                    match session.handle_datagram(clock.now(), &mut recv_buf[..n]) {
                        Ok(incoming) => {
                            // A pong that answers a probe moves the call;
                            // anything else from an unknown address only
                            // gets that address probed.
                            if let Incoming::Control(ControlMessage::Pong { id, .. }) = incoming {
                                path.on_pong(from, id);
                            }
                            if path.on_authenticated(from, arrival) {
                                send_probe(
                                    &mut session,
                                    &mut path,
                                    from,
                                    &mut send_buf,
                                    &mut stats,
                                );
                            }
                            stats.current().peer = path.current();
                            stats.on_received(n);
                            if let Incoming::Media(m) = incoming {
                                receiver.on_media(arrival, m.timestamp, m.frames());
                            }
                        }
                        Err(PacketError::Closed) => {}
                        Err(_) => stats.on_rejected(),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    socket_backlog = false;
                    break;
                }
                // ICMP errors from earlier sends surface here; they say
                // nothing about authenticated traffic.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e.into()),
            }
        }

        // 2. Capture → encode → seal → send.
        let got = audio.capture.pop_slice(&mut raw_capture);
        if got > 0 {
            cap_resampler.process(&raw_capture[..got], &mut capture_48k);
        }
        while capture_48k.len() >= FRAME_SAMPLES {
            frame.copy_from_slice(&capture_48k[..FRAME_SAMPLES]);
            capture_48k.drain(..FRAME_SAMPLES);
            if opts.echo {
                // The echo bot's microphone is its own loudspeaker.
                receiver.play(clock.elapsed(), &mut frame);
            } else {
                dsp.capture(&mut frame);
                if opts.mute.load(Ordering::Relaxed) {
                    frame.fill(0.0);
                }
                opts.levels.set_mic(&frame);
            }
            let outgoing = sender.encode(&frame)?;
            match session.send_media(clock.now(), &outgoing.payload(), &mut send_buf) {
                Ok(len) => send(&send_buf[..len], &mut path, &mut stats),
                Err(proto::session::SendError::Closed) => {}
                Err(proto::session::SendError::Encode(_)) => {
                    return Err(CallError::Profile("frames do not fit the packet"));
                }
            }
        }

        // 3. Playout.
        if !opts.echo {
            let chunk = audio.counters.output_chunk_max.swap(0, Ordering::Relaxed);
            let low_water = playback_target.observe(clock.elapsed(), chunk as usize);
            while audio.playback.occupied_len() < low_water.max(1) {
                receiver.play(clock.elapsed(), &mut played);
                dsp.render(&played);
                opts.levels.set_speaker(&played);
                play_out.clear();
                play_resampler.process(&played, &mut play_out);
                let pushed = audio.playback.push_slice(&play_out);
                if pushed < play_out.len() {
                    break;
                }
            }
        }

        // 4. Timers, control packets and events.
        let now = clock.now();
        if session.poll_timeout().is_some_and(|t| now >= t) {
            session.handle_timeout(now);
        }
        while let Some(len) = session.poll_transmit(now, &mut send_buf) {
            send(&send_buf[..len], &mut path, &mut stats);
        }
        // Bounded: a probe that cannot be sealed (the call is closing) must
        // not keep this loop turning.
        for _ in 0..PeerPath::MAX_PENDING_PROBES {
            let Some(addr) = path.poll_probe(clock.elapsed()) else {
                break;
            };
            send_probe(&mut session, &mut path, addr, &mut send_buf, &mut stats);
        }
        let mut ended = None;
        let mut sas_known = false;
        while let Some(ev) = session.poll_event() {
            match ev {
                SessionEvent::RoundTrip(rtt) => {
                    stats.current().rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                }
                SessionEvent::PeerHungUp { .. } => ended = Some(CallEnd::PeerHungUp),
                SessionEvent::TimedOut => ended = Some(CallEnd::TimedOut),
                SessionEvent::SasReady(sas) => {
                    stats.current().sas = Some(sas.to_display_string());
                    sas_known = true;
                }
                // The session already queued its bye (drained above).
                SessionEvent::SasMismatch => ended = Some(CallEnd::SasMismatch),
                SessionEvent::Connected | SessionEvent::Rekeyed { .. } => {}
            }
        }
        // The peer's receiver reports steer the protection mode and FEC
        // (the sender ignores a report it has already seen).
        if let Some(r) = session.stats().peer_report {
            sender.on_peer_report(r.lost, r.received)?;
        }

        // Local reasons to end.
        let elapsed = clock.elapsed();
        if ended.is_none() {
            let local = if opts.hang_up.load(Ordering::Relaxed) {
                Some(CallEnd::HungUp)
            } else if audio.device_lost() {
                Some(CallEnd::DeviceLost)
            } else if opts.duration.is_some_and(|d| elapsed >= d) {
                Some(CallEnd::Finished)
            } else {
                if input_done_at.is_none() && audio.counters.input_finished.load(Ordering::Relaxed)
                {
                    input_done_at = Some(elapsed);
                }
                match (input_done_at, opts.end_after_input) {
                    (Some(at), Some(tail)) if elapsed >= at + tail => Some(CallEnd::Finished),
                    _ => None,
                }
            };
            if let Some(reason) = local {
                session.hang_up(if reason == CallEnd::DeviceLost {
                    ByeReason::Error
                } else {
                    ByeReason::HungUp
                });
                let now = clock.now();
                while let Some(len) = session.poll_transmit(now, &mut send_buf) {
                    send(&send_buf[..len], &mut path, &mut stats);
                }
                ended = Some(reason);
            }
        }

        // 5. Stats; the SAS is shown the moment it is known, not at the
        //    next tick.
        let since = elapsed.saturating_sub(stats.last_snapshot());
        if since >= opts.stats_interval || ended.is_some() || sas_known {
            let s = stats.current();
            s.underruns = audio.counters.underruns.load(Ordering::Relaxed);
            s.overruns = audio.counters.overruns.load(Ordering::Relaxed);
            s.playback_target_ms =
                playback_target.level() as f64 * 1000.0 / f64::from(audio.playback_rate);
            if let (Some(start), Some(now_cpu)) = (cpu_start, thread_cpu_time()) {
                s.cpu_pct =
                    Some((now_cpu - start).as_secs_f64() / elapsed.as_secs_f64().max(1e-3) * 100.0);
            }
            on_stats(stats.snapshot(elapsed, &session.stats(), &sender, &receiver));
        }
        if let Some(reason) = ended {
            end = reason;
            break;
        }
    }
    audio.close();
    Ok(CallReport {
        end,
        stats: stats.into_stats(),
    })
}

/// CPU time used by the calling thread, from /proc (Linux only).
fn thread_cpu_time() -> Option<Duration> {
    // Fields 14 and 15 of /proc/thread-self/stat are user and system time in
    // clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn each_candidate_gets_a_bounded_number_of_preconnect_packets() {
        let victims: Vec<SocketAddr> = (1..=16).map(addr).collect();
        let mut path = PeerPath::new(&victims);
        let mut sent = std::collections::HashMap::new();
        // Ten minutes of packets at 50 a second, and nothing ever answers.
        for _ in 0..30_000 {
            path.for_each_target(|t| *sent.entry(t).or_insert(0u32) += 1);
        }
        assert_eq!(sent.len(), 16);
        for (t, n) in &sent {
            assert!(
                *n <= PeerPath::PRECONNECT_MAX_PER_CANDIDATE,
                "{t} got {n} datagrams"
            );
            assert!(*n >= PeerPath::PRECONNECT_BURST);
        }
    }

    #[test]
    fn a_candidate_that_answers_carries_the_call_at_once() {
        let mut path = PeerPath::new(&[addr(1), addr(2)]);
        assert!(!path.on_authenticated(addr(2), Duration::ZERO));
        assert_eq!(path.current(), Some(addr(2)));
        let mut targets = Vec::new();
        path.for_each_target(|t| targets.push(t));
        assert_eq!(targets, [addr(2)]);
    }

    #[test]
    fn a_new_address_is_used_only_after_it_answers_a_probe() {
        let ms = Duration::from_millis;
        let mut path = PeerPath::new(&[addr(1)]);
        path.on_authenticated(addr(1), ms(0));
        // A genuine packet from elsewhere: probe, do not move.
        assert!(path.on_authenticated(addr(9), ms(10)));
        path.probe_sent(addr(9), 7, ms(10));
        assert_eq!(path.current(), Some(addr(1)));
        // More packets from there do not start more validations.
        assert!(!path.on_authenticated(addr(9), ms(20)));
        // A pong for the probe from the *old* address proves nothing, nor
        // a pong for another ping from the new one.
        assert!(!path.on_pong(addr(1), 7));
        assert!(!path.on_pong(addr(9), 6));
        assert_eq!(path.current(), Some(addr(1)));
        // The right pong from the probed address moves the call.
        assert!(path.on_pong(addr(9), 7));
        assert_eq!(path.current(), Some(addr(9)));
    }

    #[test]
    fn probes_to_an_address_that_never_answers_stop() {
        let ms = Duration::from_millis;
        let mut path = PeerPath::new(&[addr(1)]);
        path.on_authenticated(addr(1), ms(0));
        assert!(path.on_authenticated(addr(9), ms(0)));
        let mut id = 0;
        path.probe_sent(addr(9), id, ms(0));
        let mut probes = 1;
        for t in (0..10_000).step_by(10) {
            while let Some(a) = path.poll_probe(ms(t)) {
                id += 1;
                path.probe_sent(a, id, ms(t));
                probes += 1;
            }
        }
        assert_eq!(probes, PeerPath::PROBES_PER_ADDRESS);
        assert_eq!(path.current(), Some(addr(1)));
        // More packets from there soon after get no new round of probes...
        // (it gave up at 1 s, when the last probe's interval ran out)...
        assert!(!path.on_authenticated(addr(9), ms(2_000)));
        // ...until the hold-off is over.
        assert!(path.on_authenticated(addr(9), ms(1_000) + PeerPath::FAILED_HOLDOFF));
        // Validations in flight are bounded, whatever arrives.
        let mut path = PeerPath::new(&[addr(1)]);
        path.on_authenticated(addr(1), ms(0));
        let started = (100..200)
            .filter(|&p| path.on_authenticated(addr(p), ms(20_000)))
            .count();
        assert_eq!(started, PeerPath::MAX_PENDING_PROBES);
    }

    #[test]
    fn levels_report_the_loudest_frame_since_the_last_take() {
        let l = Levels::default();
        assert_eq!(l.take(), (0.0, 0.0));
        l.set_mic(&[0.1, -0.5, 0.2]);
        l.set_mic(&[0.05, 0.3]);
        l.set_speaker(&[2.0]);
        l.set_speaker(&[f32::NAN, 0.1]);
        // A quieter frame after a loud one does not lower the peak, and
        // anything beyond full scale reads as full scale.
        assert_eq!(l.mic(), 0.5);
        assert_eq!(l.speaker(), 1.0);
        assert_eq!(l.take(), (0.5, 1.0));
        // Taking starts both from silence again.
        assert_eq!(l.take(), (0.0, 0.0));
        l.set_mic(&[-0.25]);
        assert_eq!(l.take(), (0.25, 0.0));
    }
}
