//! One call's media: a [`MediaTransport`], a [`CallSession`], the audio path.
//!
//! What the media pipeline decides (encoding, redundancy and protection
//! mode, jitter buffer, decoding, counters) lives in the sans-IO pieces of
//! [`crate::media`], and where the packets go lives in [`PeerPath`], the
//! sans-IO pair checker; this module is the glue between them, the session,
//! the transport and the sound device. [`run_call`] drives everything from
//! one thread, in a loop that waits in one poll on the call's socket (and
//! the relay's TCP stream, if any) and on the sound device's waker
//! ([`crate::audio::AudioWake`]), so it runs the moment a datagram arrives
//! or the device captures or plays samples, and at least every 10 ms:
//!
//! 1. **Receive**: each datagram the transport hands over (with the
//!    [`Route`] it came by) goes to the session, which authenticates,
//!    replay-checks and opens it. Anything that fails is counted and
//!    dropped, nothing else changes, so a flood of garbage at the media port
//!    costs CPU but never state. What authenticates is reported to
//!    [`PeerPath`]: a pong for one of its pings validates the route it came
//!    back on, other packets validate a route we already checked, and one
//!    from an unknown route only gets that route probed. A ping is answered
//!    on the route it arrived by, so that the peer's checks succeed.
//! 2. **Checks**: [`PeerPath`] says when a sealed ping goes on which pair:
//!    connectivity checks from the first turn (both sides at once: the hole
//!    punch), consent pings on the pair that carries the call, keepalives on
//!    its two best backups. They are sealed packets of the call's one size
//!    and spend packet numbers, so the ones lost on pairs that do not work
//!    count as loss at the peer: once a pair carries the call they stop
//!    within two seconds, and the loss the front ends show is windowed
//!    ([`MediaStats`]).
//! 3. **Capture → send**: every 20 ms of captured audio is resampled to
//!    48 kHz, processed (AEC, NS, AGC), turned into a payload by the
//!    [`MediaSender`] (Opus at a constant bitrate, with the previous
//!    frame(s)) and sealed into one constant-size packet, which goes on the
//!    selected pair. Until a pair is valid nothing is sealed or sent.
//! 4. **Playout**: whenever the playback ring runs low, the
//!    [`MediaReceiver`] (jitter buffer and decoder) produces the next 20 ms,
//!    which also feeds the echo canceller's far-end reference.
//! 5. **Timers**: pings, receiver reports, the SAS reveal and the idle
//!    timeout live in the session, TURN refreshes in the transport; each new
//!    receiver report from the peer goes to the sender, which sets its
//!    protection mode and FEC from it.
//! 6. **Stats** ([`MediaStats`]) once per interval, and at once when the SAS
//!    becomes known (the callee learns it from the caller's first packets).
//!
//! The constant packet stream is also the keepalive: no authenticated packet
//! for 10 s ends the call with [`CallEnd::TimedOut`], and a call on which no
//! pair ever became valid ends with [`CallEnd::NoPath`] after 10 s.

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use proto::control::{ByeReason, ControlMessage};
use proto::handshake::Established;
use proto::session::{CallSession, Incoming, PacketError, SessionConfig, SessionEvent};
use ringbuf::traits::{Consumer, Observer, Producer};

use crate::audio::AudioIo;
use crate::codec::{CodecConfig, CodecError, FRAME_SAMPLES, SAMPLE_RATE};
use crate::dsp::{Dsp, DspConfig};
use crate::jitter::JitterConfig;
use crate::media::{MediaError, MediaReceiver, MediaSender, MediaStats};
use crate::net::{MediaTransport, Route};
use crate::resample::{ResampleError, StreamResampler};

mod handle;
mod path;

pub use handle::{CallHandle, Levels};
pub use path::{LocalBases, PeerPath};

// The pipeline's pieces and the stats type moved to `crate::media`; these
// names stay here for the callers that knew them as part of a call.
pub use crate::media::{CallStats, PlaybackTarget, Protection, ProtectionControl};

/// A monotonic clock for the session, in proto's time type.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
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
            origin: Instant::now(),
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
    /// No candidate pair answered a connectivity check within 10 s: the two
    /// sides never reached each other.
    NoPath,
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
            CallEnd::NoPath => "no network path to the other side",
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
/// stopped ringing is noticed. Why not 10 ms: bench/RESULTS.md, desktop
/// app, "The once-a-second redraw rides on a meter update".
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(50);
/// Datagrams read per turn of the loop at most.
const MAX_DATAGRAMS_PER_TURN: usize = 32;
/// Pings the pair checker may have sealed per turn at most (it paces them,
/// so this only bounds a turn that comes very late).
const MAX_CHECKS_PER_TURN: usize = 4;
/// Poll token of the call socket; the relay's TCP stream, if any, takes
/// the next one.
const TRANSPORT: mio::Token = mio::Token(0);
/// Poll token of the audio waker.
const AUDIO: mio::Token = mio::Token(2);

/// Runs the media of an established call until it ends.
///
/// `transport` is the call's own socket (and relay allocation), the one
/// its candidates were gathered on. `on_stats` is called every
/// [`CallOptions::stats_interval`]. The same as [`Call::new`] followed by
/// [`Call::run`], for a call nothing steers from outside: it ends with its
/// duration or its input, the peer's goodbye or the idle timeout. A call
/// that another thread hangs up, mutes or meters runs through [`Call`] and
/// its [`CallHandle`].
pub fn run_call(
    established: Established,
    transport: MediaTransport,
    audio: AudioIo,
    opts: CallOptions,
    on_stats: &mut dyn FnMut(&CallStats),
) -> Result<CallReport, CallError> {
    Call::new(established, transport, audio, opts)?.run(on_stats)
}

/// One call's media, set up and ready to run: [`Call::new`] checks the
/// profile and opens the codec, resamplers and poll; [`Call::handle`] gives
/// other threads their controls; [`Call::run`] runs the loop on the calling
/// thread until the call ends. Run it soon after `new`: the session's idle
/// timer starts there.
pub struct Call {
    clock: Clock,
    path: PeerPath,
    session: CallSession,
    sender: MediaSender,
    receiver: MediaReceiver,
    stats: MediaStats,
    dsp: Dsp,
    cap_resampler: StreamResampler,
    play_resampler: StreamResampler,
    transport: MediaTransport,
    poll: mio::Poll,
    audio: AudioIo,
    opts: CallOptions,
    handle: CallHandle,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("session", &self.session)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// Sets up the media of an established call on `transport` (the call's
    /// own socket, on which its candidates were gathered) and `audio`.
    pub fn new(
        established: Established,
        transport: MediaTransport,
        audio: AudioIo,
        opts: CallOptions,
    ) -> Result<Self, CallError> {
        Self::with_handle(established, transport, audio, opts, CallHandle::default())
    }

    /// [`Call::new`] with a handle made beforehand ([`CallHandle::default`]),
    /// for a driver that must hold the controls before the thread that sets
    /// up and runs the call has started: a mute or hang-up given in between
    /// is not lost.
    pub fn with_handle(
        established: Established,
        mut transport: MediaTransport,
        audio: AudioIo,
        opts: CallOptions,
        handle: CallHandle,
    ) -> Result<Self, CallError> {
        let clock = Clock::new();
        let profile = *established.profile();
        if profile.frame_ms != 20 {
            return Err(CallError::Profile("the engine sends 20 ms frames only"));
        }
        let bases = LocalBases {
            direct: (!transport.relay_only()).then(|| transport.local_addr()),
            relayed: transport.relayed_addr(),
        };
        let path = PeerPath::new(
            bases,
            established.peer_candidates(),
            established.role(),
            clock.elapsed(),
        );
        // Permissions and channels on our relay for the peer's addresses,
        // so that relayed checks can flow from the first turn.
        transport.prepare_peer(established.peer_candidates(), Instant::now());
        let session = CallSession::new(established, opts.session, clock.now());
        let sender = MediaSender::for_call(
            opts.codec,
            session.packet_len(),
            usize::from(profile.redundancy),
        )?;
        let receiver = MediaReceiver::new(opts.jitter.clone())?;
        let stats = MediaStats::new(&sender);
        let dsp = Dsp::new(opts.dsp);
        let cap_resampler = StreamResampler::new(audio.capture_rate, SAMPLE_RATE)?;
        let play_resampler = StreamResampler::new(SAMPLE_RATE, audio.playback_rate)?;
        let poll = mio::Poll::new()?;
        transport.register(poll.registry(), TRANSPORT)?;
        audio
            .counters
            .wake
            .set(mio::Waker::new(poll.registry(), AUDIO)?);
        Ok(Self {
            clock,
            path,
            session,
            sender,
            receiver,
            stats,
            dsp,
            cap_resampler,
            play_resampler,
            transport,
            poll,
            audio,
            opts,
            handle,
        })
    }

    /// The controls of this call, for other threads.
    pub fn handle(&self) -> CallHandle {
        self.handle.clone()
    }

    /// Runs the call on this thread until it ends; `on_stats` is called
    /// every [`CallOptions::stats_interval`] and when the SAS becomes known.
    pub fn run(self, on_stats: &mut dyn FnMut(&CallStats)) -> Result<CallReport, CallError> {
        let Call {
            clock,
            mut path,
            mut session,
            mut sender,
            mut receiver,
            mut stats,
            mut dsp,
            mut cap_resampler,
            mut play_resampler,
            mut transport,
            mut poll,
            mut audio,
            opts,
            handle,
        } = self;
        let packet_len = session.packet_len();
        let mut events = mio::Events::with_capacity(8);

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
                let elapsed = clock.elapsed();
                let instant = Instant::now();
                [
                    session
                        .poll_timeout()
                        .map(|t| t.saturating_duration_since(now)),
                    path.poll_timeout().map(|t| t.saturating_sub(elapsed)),
                    transport
                        .poll_timeout()
                        .map(|t| t.saturating_duration_since(instant)),
                ]
                .into_iter()
                .flatten()
                .fold(MAX_WAIT, Duration::min)
                .max(Duration::from_millis(1))
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
                let (route, n) = match transport.recv(&mut recv_buf, Instant::now()) {
                    Ok(Some(got)) => got,
                    Ok(None) => {
                        socket_backlog = false;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                };
                let arrival = clock.elapsed();
                let Some(datagram) = recv_buf.get_mut(..n) else {
                    continue;
                };
                let incoming = match session.handle_datagram(clock.now(), datagram) {
                    Ok(incoming) => incoming,
                    Err(PacketError::Closed) => continue,
                    Err(_) => {
                        stats.on_rejected();
                        continue;
                    }
                };
                stats.on_received(n);
                // A pong validates the route it came back on (if a ping of
                // ours went there); anything authenticated validates a
                // route we checked, or gets an unknown one probed.
                if let Incoming::Control(ControlMessage::Pong { id, .. }) = incoming {
                    path.on_pong(route, id, arrival);
                }
                path.on_authenticated(route, arrival);
                match incoming {
                    Incoming::Media(m) => {
                        // The loss figures count from the peer's first media
                        // packet: the numbers missing before it were checks.
                        if !stats.media_started() {
                            stats.on_media_started(arrival, &session.stats());
                        }
                        receiver.on_media(arrival, m.timestamp, m.frames());
                    }
                    // The session queued the pong: it goes back on the
                    // route the ping came by, which is what the peer's
                    // check needs to see.
                    Incoming::Control(ControlMessage::Ping { .. }) => {
                        let answer = path.answer_route(route);
                        flush_session(
                            &mut session,
                            clock.now(),
                            &mut send_buf,
                            &mut transport,
                            answer,
                            &mut stats,
                        );
                    }
                    Incoming::Control(_) => {}
                }
            }

            // Connectivity checks, consent and keepalive pings, as the pair
            // checker schedules them.
            for _ in 0..MAX_CHECKS_PER_TURN {
                let Some(route) = path.poll_check(clock.elapsed()) else {
                    break;
                };
                let Some((id, len)) = session.seal_probe(clock.now(), &mut send_buf) else {
                    break;
                };
                path.ping_sent(route, id);
                if transport
                    .send(route, &send_buf[..len], Instant::now())
                    .is_ok()
                {
                    stats.on_probe_sent(len);
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
                    if handle.is_muted() {
                        frame.fill(0.0);
                    }
                    handle.levels().set_mic(&frame);
                }
                let outgoing = sender.encode(&frame)?;
                // Nothing is sealed before a pair is valid: a packet number
                // spent on a packet that goes nowhere would count as lost.
                let Some(route) = path.selected() else {
                    continue;
                };
                match session.send_media(clock.now(), &outgoing.payload(), &mut send_buf) {
                    Ok(len) => send_on(&mut transport, Some(route), &send_buf[..len], &mut stats),
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
                    handle.levels().set_speaker(&played);
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
            if transport
                .poll_timeout()
                .is_some_and(|t| Instant::now() >= t)
            {
                transport.handle_timeout(Instant::now());
            }
            flush_session(
                &mut session,
                now,
                &mut send_buf,
                &mut transport,
                path.selected(),
                &mut stats,
            );
            let mut ended = None;
            let mut sas_known = false;
            while let Some(ev) = session.poll_event() {
                match ev {
                    SessionEvent::RoundTrip(rtt) => {
                        stats.current().rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                    }
                    SessionEvent::PeerHungUp { .. } => ended = Some(CallEnd::PeerHungUp),
                    // Silence from a peer we never reached is no path, not
                    // a lost connection.
                    SessionEvent::TimedOut if !path.ever_valid() => ended = Some(CallEnd::NoPath),
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
            // Our pings on pairs that do not work spent packet numbers the
            // peer counts as lost media; they say nothing about the path
            // the media takes.
            if let Some(r) = session.stats().peer_report {
                let lost = r.lost.saturating_sub(path.unanswered_pings());
                sender.on_peer_report(lost, r.received)?;
            }

            // Local reasons to end.
            let elapsed = clock.elapsed();
            if ended.is_none() && path.no_path() {
                ended = Some(CallEnd::NoPath);
            }
            if ended.is_none() {
                let local = if handle.is_hung_up() {
                    Some(CallEnd::HungUp)
                } else if audio.device_lost() {
                    Some(CallEnd::DeviceLost)
                } else if opts.duration.is_some_and(|d| elapsed >= d) {
                    Some(CallEnd::Finished)
                } else {
                    if input_done_at.is_none()
                        && audio.counters.input_finished.load(Ordering::Relaxed)
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
                    flush_session(
                        &mut session,
                        clock.now(),
                        &mut send_buf,
                        &mut transport,
                        path.selected(),
                        &mut stats,
                    );
                    ended = Some(reason);
                }
            }

            // 5. Stats; the SAS is shown the moment it is known, not at the
            //    next tick.
            let since = elapsed.saturating_sub(stats.last_snapshot());
            if since >= opts.stats_interval || ended.is_some() || sas_known {
                let s = stats.current();
                let route = path.selected();
                s.peer = route.map(Route::remote);
                // "relayed" also for a direct route to the peer's relay.
                s.path = path
                    .selected_relayed()
                    .map(|relayed| if relayed { "relayed" } else { "direct" }.to_owned());
                s.ip_version = route.map(|r| if r.remote().is_ipv4() { 4 } else { 6 });
                s.path_switches = path.switches();
                s.relay_overhead_bytes = transport.counters().relay_overhead_bytes;
                s.underruns = audio.counters.underruns.load(Ordering::Relaxed);
                s.overruns = audio.counters.overruns.load(Ordering::Relaxed);
                s.playback_target_ms =
                    playback_target.level() as f64 * 1000.0 / f64::from(audio.playback_rate);
                if let (Some(start), Some(now_cpu)) = (cpu_start, thread_cpu_time()) {
                    s.cpu_pct = Some(
                        (now_cpu - start).as_secs_f64() / elapsed.as_secs_f64().max(1e-3) * 100.0,
                    );
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
}

/// Seals every control packet `session` has queued (at `now`) into the
/// caller's `buf` and sends each on `route`. With no route yet the queue is
/// still emptied: a pong or bye with nowhere to go is dropped, not kept.
fn flush_session(
    session: &mut CallSession,
    now: proto::time::Instant,
    buf: &mut [u8],
    transport: &mut MediaTransport,
    route: Option<Route>,
    stats: &mut MediaStats,
) {
    while let Some(len) = session.poll_transmit(now, buf) {
        send_on(transport, route, &buf[..len], stats);
    }
}

/// Sends one sealed packet on `route`; with no route (no pair is valid
/// yet) it goes nowhere.
fn send_on(
    transport: &mut MediaTransport,
    route: Option<Route>,
    packet: &[u8],
    stats: &mut MediaStats,
) {
    let Some(route) = route else {
        return;
    };
    // A send error (e.g. ICMP unreachable) is the network's problem; the
    // pair checker and the idle timeout decide whether the path is dead.
    if transport.send(route, packet, Instant::now()).is_ok() {
        stats.on_sent(packet.len());
    }
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
