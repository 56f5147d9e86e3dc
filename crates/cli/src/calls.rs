//! `register`, `call`, `answer`, `echo-bot`, `contacts`, `safety-number`,
//! `trust`, `history`: the registry conversation around a call, then the
//! engine.
//!
//! Signaling uses the registry's WebSocket push channel (opened before the
//! call is placed, so no answer can be missed); the checks that make a call
//! genuine are in [`engine::dial`]. The media runs on a blocking thread
//! while the async side watches for Ctrl-C and for the registry's
//! end-of-call notice.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use engine::account::{self, AccountInfo, Contacts, Direction, HistoryEntry, Outcome};
use engine::audio::{AudioBackend, AudioIo, CpalAudio, NullAudio, WavAudio};
use engine::call::{CallEnd, CallOptions, CallReport, CallStats, run_call};
use engine::dial::{self, bind_media, safety_number};
use engine::dsp::{DspConfig, NoiseSuppressor};
use engine::profile::Profile;
use engine::recent_offers::RecentOffers;
use engine::registry_client::{EventStream, RegistryClient, RegistryEvent};
use futures_util::FutureExt;
use proto::handshake::{Established, OfferPolicy};
use proto::identity::IdentityKeyPair;
use proto::signaling::{CallId, ServerEvent, Username};

/// Options shared by every command that makes or takes a call.
#[derive(Debug, Clone, clap::Args)]
pub struct MediaArgs {
    /// Capture from this WAV file instead of the microphone.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Write what is heard to this WAV file (48 kHz mono) instead of playing it.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Hang up after this many seconds (with --input: defaults to the input's length + 1 s).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Local UDP address of the call's socket.
    #[arg(long, default_value = "0.0.0.0:0")]
    pub listen: SocketAddr,
    /// Address given to the peer for media (e.g. a forwarded port).
    #[arg(long)]
    pub advertise: Option<SocketAddr>,
    /// Offer the peer only the --advertise address, not this host's own
    /// addresses as well (so every datagram goes through the forwarder or
    /// relay, as when the peer cannot reach this host directly).
    #[arg(long, requires = "advertise")]
    pub advertise_only: bool,
    /// Write the final statistics here as JSON.
    #[arg(long)]
    pub stats_json: Option<PathBuf>,
    /// Acoustic echo cancellation.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub aec: bool,
    /// Noise suppression: off, webrtc or rnnoise.
    #[arg(long, default_value = "webrtc")]
    pub ns: String,
    /// Automatic gain control.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub agc: bool,
    /// Capture device name (default device otherwise).
    #[arg(long)]
    pub input_device: Option<String>,
    /// Playback device name (default device otherwise).
    #[arg(long)]
    pub output_device: Option<String>,
    /// Opus encoder complexity, 0 (cheapest) to 10 (best quality per bit).
    #[arg(long, default_value_t = engine::codec::CodecConfig::default().complexity,
          value_parser = clap::value_parser!(i32).range(0..=10))]
    pub complexity: i32,
    /// Opus in-band FEC (a coarse copy of the previous frame inside each
    /// frame), on top of the whole-frame redundancy.
    #[arg(long, default_value_t = engine::codec::CodecConfig::default().inband_fec,
          action = clap::ArgAction::Set)]
    pub fec: bool,
}

fn username(name: &str) -> anyhow::Result<Username> {
    Username::parse(name).map_err(|e| anyhow::anyhow!("{name:?} is not a valid username: {e}"))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The signed-in side of a registered profile.
struct Me {
    info: AccountInfo,
    identity: Arc<IdentityKeyPair>,
    client: Arc<RegistryClient>,
}

impl Me {
    /// Loads the account; `registry` overrides the remembered URL.
    fn load(profile: &Profile, registry: Option<&str>) -> anyhow::Result<Self> {
        let mut info = account::require_account(profile)?;
        let options = crate::registry_flags::connect_options(
            registry.unwrap_or(&info.registry),
            Some(&info),
        )?;
        if let Some(url) = registry {
            info.registry = url.to_owned();
        }
        let identity = Arc::new(account::load_identity(profile)?);
        let client = Arc::new(RegistryClient::with_options(
            &info.registry,
            username(&info.username)?,
            identity.clone(),
            &options,
        )?);
        Ok(Self {
            info,
            identity,
            client,
        })
    }

    /// Opens the push channel and waits until the registry has us online.
    async fn online(&self) -> anyhow::Result<EventStream> {
        let mut events = self.client.events(Vec::new());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(Some(RegistryEvent::Connected)) => return Ok(events),
                Ok(Some(RegistryEvent::Disconnected { reason, .. })) => {
                    eprintln!("registry {}: {reason}; retrying", self.info.registry);
                }
                Ok(Some(RegistryEvent::Server(_))) => {}
                Ok(None) => bail!("the registry connection ended"),
                Err(_) => bail!("cannot reach the registry at {}", self.info.registry),
            }
        }
    }
}

/// `pqvoice register NAME`.
pub fn register(url: &str, profile: &Profile, name: &str) -> anyhow::Result<()> {
    let user = username(name)?;
    if let Some(existing) = account::account(profile)?
        && existing.username != name
    {
        bail!(
            "this profile is already registered as {} at {}; use another --profile",
            existing.username,
            existing.registry
        );
    }
    let (identity, _) = account::load_or_create_identity(profile)?;
    let identity = Arc::new(identity);
    let options = crate::registry_flags::connect_options(url, None)?;
    let client = RegistryClient::with_options(url, user, identity.clone(), &options)?;
    runtime()?.block_on(client.register())?;
    account::set_account(
        profile,
        &AccountInfo {
            username: name.to_owned(),
            registry: url.to_owned(),
            // Consent to plain http is asked again on every run; the pin
            // stays with the URL it was given for.
            registry_fingerprint: options.pinned.map(|p| p.to_hex()),
            ..AccountInfo::default()
        },
    )?;
    println!(
        "registered {name} at {url}; identity fingerprint {}",
        account::to_hex(&identity.public().fingerprint()[..8])
    );
    Ok(())
}

/// `pqvoice contacts`: the pinned contacts, with presence when the registry
/// answers (a contact shows presence only if they added us too).
pub fn contacts(url: Option<&str>, profile: &Profile) -> anyhow::Result<()> {
    let c = Contacts::load(profile)?;
    let me = Me::load(profile, url)?;
    let rt = runtime()?;
    // Those we called should see our presence, whatever the registry's list
    // lost (or never had, before registries kept one).
    let chosen = dial::chosen_contacts(profile, [])?;
    if let Err(e) = rt.block_on(me.client.ensure_contacts(&chosen)) {
        eprintln!("could not update the contact list at the registry: {e}");
    }
    for name in c.pinned.keys() {
        let presence = match rt.block_on(me.client.fetch(&username(name)?)) {
            Ok(info) => format!("{:?}", info.presence).to_lowercase(),
            Err(_) => "unknown".into(),
        };
        let key = c.get(name)?.context("pinned key vanished")?;
        println!(
            "{name}\t{presence}\t{}",
            safety_number(&me.info.username, me.identity.public(), name, &key)
        );
    }
    Ok(())
}

/// What the user compared before `trust`: exactly one of the two.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ComparedArgs {
    /// The 60-digit safety number you compared with the contact (spaces
    /// allowed), as `safety-number` printed it.
    #[arg(long)]
    pub safety_number: Option<String>,
    /// The contact's whole key fingerprint (64 hex digits) as you compared it.
    #[arg(long)]
    pub fingerprint: Option<String>,
}

/// Prints the safety number and fingerprint of `key` under `label`.
fn print_key(me: &Me, name: &str, label: &str, key: &proto::identity::PublicIdentity) {
    println!("{label}:");
    println!(
        "  safety number  {}",
        safety_number(&me.info.username, me.identity.public(), name, key)
    );
    println!("  fingerprint    {}", account::fingerprint_hex(key));
}

/// `pqvoice safety-number NAME`: the number for the pinned key and for the
/// key the registry serves now, each labelled, so the user knows which key
/// the digits they compare belong to. Pins nothing (`trust` does, and the
/// first call pins on first use).
pub fn show_safety_number(url: Option<&str>, profile: &Profile, name: &str) -> anyhow::Result<()> {
    let me = Me::load(profile, url)?;
    let user = username(name)?;
    let pinned = Contacts::load(profile)?.get(name)?;
    let served = runtime()?
        .block_on(me.client.fetch(&user))
        .map(|info| proto::identity::PublicIdentity::from_bytes(info.identity_key.as_bytes()));
    match (pinned, served) {
        (Some(pinned), Ok(Ok(served))) if pinned == served => {
            print_key(
                &me,
                name,
                &format!("{name}: pinned key (the registry serves the same)"),
                &pinned,
            );
        }
        (Some(pinned), Ok(Ok(served))) => {
            print_key(&me, name, &format!("{name}: PINNED key"), &pinned);
            print_key(
                &me,
                name,
                &format!("{name}: the registry now serves a DIFFERENT key"),
                &served,
            );
            println!(
                "calls with {name} are blocked; compare the registry's number with {name}, then: \
                 pqvoice trust {name} --safety-number \"DIGITS\""
            );
        }
        (None, Ok(Ok(served))) => {
            print_key(
                &me,
                name,
                &format!("{name}: key served by the registry (not pinned yet)"),
                &served,
            );
        }
        (_, Ok(Err(_))) => bail!("the registry sent a malformed key for {name}"),
        (Some(pinned), Err(e)) => {
            print_key(&me, name, &format!("{name}: pinned key"), &pinned);
            eprintln!("warning: the registry's key for {name} could not be checked: {e}");
        }
        (None, Err(e)) => return Err(e.into()),
    }
    Ok(())
}

/// `pqvoice trust NAME --safety-number DIGITS | --fingerprint HEX`: pins
/// the key the registry serves now, if it is the one the user compared.
pub fn trust(
    url: Option<&str>,
    profile: &Profile,
    name: &str,
    compared: &ComparedArgs,
) -> anyhow::Result<()> {
    let me = Me::load(profile, url)?;
    let compared = match (&compared.safety_number, &compared.fingerprint) {
        (Some(digits), _) => {
            account::Compared::safety_number(digits, &me.info.username, me.identity.public())?
        }
        (None, Some(hex)) => account::Compared::fingerprint(hex)?,
        (None, None) => bail!("give --safety-number or --fingerprint"),
    };
    let user = username(name)?;
    let rt = runtime()?;
    let info = rt.block_on(me.client.fetch(&user))?;
    let key = proto::identity::PublicIdentity::from_bytes(info.identity_key.as_bytes())
        .map_err(|_| anyhow::anyhow!("the registry sent a malformed key for {name}"))?;
    let mut contacts = Contacts::load(profile)?;
    contacts.pin_compared(name, &key, &compared)?;
    contacts.save(profile)?;
    // Someone whose key we verified is a contact: they see our presence.
    rt.block_on(dial::share_presence(&me.client, &user));
    println!(
        "pinned the key of {name} you compared; safety number {}",
        safety_number(&me.info.username, me.identity.public(), name, &key)
    );
    Ok(())
}

/// `pqvoice history`.
pub fn history(profile: &Profile) -> anyhow::Result<()> {
    for h in account::history(profile)? {
        println!(
            "{}\t{:?}\t{}\t{:?}\t{}s",
            h.started_at, h.direction, h.peer, h.outcome, h.duration_s
        );
    }
    Ok(())
}

fn open_audio(args: &MediaArgs) -> anyhow::Result<AudioIo> {
    Ok(if args.input.is_some() || args.output.is_some() {
        WavAudio {
            input: args.input.clone(),
            output: args.output.clone(),
        }
        .open()?
    } else {
        CpalAudio {
            input_device: args.input_device.clone(),
            output_device: args.output_device.clone(),
        }
        .open()?
    })
}

/// Binds the call's socket and lists the media addresses to offer the peer.
fn media_socket(args: &MediaArgs) -> anyhow::Result<(std::net::UdpSocket, Vec<SocketAddr>)> {
    let (socket, candidates) = bind_media(args.listen, args.advertise)?;
    Ok((socket, offered(candidates, args)))
}

/// With `--advertise-only`, just the advertised address; else all of them.
fn offered(mut candidates: Vec<SocketAddr>, args: &MediaArgs) -> Vec<SocketAddr> {
    if args.advertise_only {
        candidates.retain(|c| Some(*c) == args.advertise);
    }
    candidates
}

fn call_options(args: &MediaArgs) -> anyhow::Result<CallOptions> {
    let ns = match args.ns.as_str() {
        "off" => NoiseSuppressor::Off,
        "webrtc" => NoiseSuppressor::Webrtc,
        "rnnoise" => NoiseSuppressor::Rnnoise,
        other => bail!("unknown noise suppressor {other:?} (off, webrtc, rnnoise)"),
    };
    let wav = args.input.is_some() || args.output.is_some();
    Ok(CallOptions {
        dsp: DspConfig {
            aec: args.aec,
            ns,
            agc: args.agc,
        },
        duration: args.duration.map(Duration::from_secs_f64),
        end_after_input: (args.input.is_some() && args.duration.is_none())
            .then_some(Duration::from_secs(1)),
        // The least the playback ring keeps queued ahead of the device;
        // every millisecond here is a millisecond of mouth-to-ear delay.
        // The call keeps more when the device takes larger chunks (sound
        // servers take ~21 ms at a time; `PlaybackTarget`). The WAV clock
        // takes 10 ms at a time, so 20 ms leaves one pull of slack.
        playback_low_water: Duration::from_millis(if wav { 20 } else { 10 }),
        codec: engine::codec::CodecConfig {
            complexity: args.complexity,
            inband_fec: args.fec,
            ..Default::default()
        },
        ..Default::default()
    })
}

fn live_stats(s: &CallStats) {
    use std::io::IsTerminal;
    let line = format!(
        "{:6.1}s rtt {} loss {:.1}% jitter {:.1} ms buffer {:.0} ms late {} conceal {} fec {} red {} send {:.1} kbit/s recv {:.1} kbit/s sizes {:?}",
        s.elapsed_s,
        s.rtt_ms.map_or("-".into(), |r| format!("{r:.1} ms")),
        s.loss_pct,
        s.jitter_ms,
        s.jitter_buffer_ms,
        s.late,
        s.concealed,
        s.recovered_fec,
        s.recovered_redundant,
        s.send_kbps,
        s.recv_kbps,
        s.sent_sizes,
    );
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K{line}");
    } else {
        eprintln!("{line}");
    }
}

fn now_secs() -> u64 {
    dial::unix_now().as_secs()
}

/// Runs the media of an established call on a blocking thread while
/// watching Ctrl-C and the registry; hangs up the registry's side after.
/// What the media thread of one call needs.
struct Media {
    established: Established,
    socket: std::net::UdpSocket,
    audio: AudioIo,
    opts: CallOptions,
    /// No live stats line (the echo bot).
    quiet: bool,
}

async fn talk(
    me: &Me,
    events: &mut EventStream,
    call_id: &CallId,
    media: Media,
) -> anyhow::Result<CallReport> {
    let Media {
        established,
        socket,
        audio,
        opts,
        quiet,
    } = media;
    let hang_up = opts.hang_up.clone();
    // The caller printed its SAS when the answer came; the callee learns it
    // from the caller's first packets and prints it then.
    let mut sas_shown = established.sas().map(|s| s.to_display_string());
    let peer = established.peer_username().to_owned();
    let mut media = tokio::task::spawn_blocking(move || {
        let mut on_stats = |s: &CallStats| {
            if let Some(sas) = &s.sas
                && sas_shown.as_ref() != Some(sas)
            {
                eprintln!("\nSAS {sas} (compare it with {peer})");
                sas_shown = Some(sas.clone());
            }
            if !quiet {
                live_stats(s)
            }
        };
        run_call(established, socket, audio, opts, &mut on_stats)
    });
    let report = loop {
        tokio::select! {
            r = &mut media => break r.context("media thread failed")??,
            _ = tokio::signal::ctrl_c() => hang_up.store(true, Ordering::Relaxed),
            ev = events.next() => {
                // The peer's bye travels in the media stream; the registry's
                // notice is the backup when that packet is lost.
                if let Some(RegistryEvent::Server(ServerEvent::Ended { call_id: id, .. })) = ev
                    && &id == call_id
                {
                    hang_up.store(true, Ordering::Relaxed);
                }
            }
        }
    };
    let _ = me.client.hangup(call_id).await;
    Ok(report)
}

fn finish(report: &CallReport, args: &MediaArgs) -> anyhow::Result<()> {
    eprintln!();
    eprintln!("call ended: {}", report.end.describe());
    if let Some(path) = &args.stats_json {
        std::fs::write(path, serde_json::to_vec_pretty(report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    match report.end {
        CallEnd::TimedOut | CallEnd::DeviceLost | CallEnd::SasMismatch => {
            bail!("{}", report.end.describe())
        }
        _ => Ok(()),
    }
}

fn record(
    profile: &Profile,
    call_id: &CallId,
    peer: &str,
    direction: Direction,
    started_at: u64,
    talked: u64,
    outcome: Outcome,
) {
    let entry = HistoryEntry {
        call_id: call_id.to_string(),
        peer: peer.to_owned(),
        direction,
        started_at,
        duration_s: talked,
        outcome,
    };
    if let Err(e) = account::record_call(profile, entry) {
        eprintln!("warning: the call was not added to the history: {e}");
    }
}

/// `pqvoice call NAME`.
pub fn call(
    url: Option<&str>,
    profile: &Profile,
    callee: &str,
    args: &MediaArgs,
) -> anyhow::Result<()> {
    let me = Me::load(profile, url)?;
    let callee_name = username(callee)?;
    let opts = call_options(args)?;
    let rt = runtime()?;
    rt.block_on(async {
        let mut events = me.online().await?;
        let (socket, candidates) = media_socket(args)?;
        let started_at = now_secs();
        let ringing = dial::place_call(&me.client, profile, &me.identity, &callee_name, candidates).await?;
        let call_id = ringing.call_id.clone();
        eprintln!("ringing {callee}…");
        let failed = |outcome, why: String| -> anyhow::Result<()> {
            record(profile, &call_id, callee, Direction::Outgoing, started_at, 0, outcome);
            bail!("{why}")
        };
        let answer = loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {
                    let _ = me.client.hangup(&call_id).await;
                    return failed(Outcome::Cancelled, "cancelled".into());
                }
                ev = events.next() => match ev {
                    Some(RegistryEvent::Server(ev)) => match ev {
                        ServerEvent::Accepted { call_id: id, answer } if id == call_id => break answer,
                        ServerEvent::Rejected { call_id: id } if id == call_id =>
                            return failed(Outcome::Rejected, format!("{callee} rejected the call")),
                        ServerEvent::Busy { call_id: id, .. } if id == call_id =>
                            return failed(Outcome::Busy, format!("{callee} is busy")),
                        ServerEvent::Missed { call_id: id, .. } if id == call_id =>
                            return failed(Outcome::Missed, format!("{callee} did not answer")),
                        ServerEvent::Ended { call_id: id, .. } | ServerEvent::Cancelled { call_id: id }
                            if id == call_id =>
                            return failed(Outcome::Failed, "the call ended before it was answered".into()),
                        _ => {}
                    },
                    Some(RegistryEvent::Disconnected { reason, .. }) => {
                        eprintln!("registry connection lost ({reason}); reconnecting");
                    }
                    Some(RegistryEvent::Connected) => {
                        // Events pushed while we were away are gone: ask.
                        let s = me.client.status(&call_id).await?;
                        if let Some(a) = s.answer {
                            break a;
                        }
                    }
                    None => return failed(Outcome::Failed, "the registry connection ended".into()),
                },
            }
        };
        let established = match ringing.answered(&answer.to_bytes()) {
            Ok(e) => e,
            Err(e) => {
                let _ = me.client.hangup(&call_id).await;
                return failed(Outcome::Failed, e.to_string());
            }
        };
        match established.sas() {
            Some(sas) => eprintln!("connected; SAS {sas} (compare it with {callee})"),
            None => eprintln!("connected"),
        }
        let audio = open_audio(args)?;
        let connected = Instant::now();
        let report = talk(
            &me,
            &mut events,
            &call_id,
            Media {
                established,
                socket,
                audio,
                opts,
                quiet: false,
            },
        )
        .await?;
        record(profile, &call_id, callee, Direction::Outgoing, started_at, connected.elapsed().as_secs(), outcome_of(&report));
        finish(&report, args)
    })
}

fn outcome_of(report: &CallReport) -> Outcome {
    match report.end {
        CallEnd::TimedOut | CallEnd::DeviceLost | CallEnd::SasMismatch => Outcome::Failed,
        _ => Outcome::Completed,
    }
}

/// Waits for the next ringing call that verifies and answers it. Calls
/// that do not verify (or come from a contact whose key changed) are
/// rejected with the reason printed, and the wait goes on: one bad offer
/// costs that call, never the listener.
async fn accept_next(
    me: &Me,
    profile: &Profile,
    events: &mut EventStream,
    args: &MediaArgs,
    seen: &mut RecentOffers,
) -> anyhow::Result<(CallId, String, Established, std::net::UdpSocket, u64)> {
    loop {
        let (call_id, caller, offer) = tokio::select! {
            _ = tokio::signal::ctrl_c() => bail!("interrupted"),
            ev = events.next() => match ev {
                Some(RegistryEvent::Server(ServerEvent::IncomingCall { call_id, caller, offer, .. })) => (call_id, caller, offer),
                Some(_) => continue,
                None => bail!("the registry connection ended"),
            },
        };
        let started_at = now_secs();
        let take = async {
            let verified =
                dial::verify_incoming(&me.client, profile, &caller, &offer.to_bytes(), seen)
                    .await?;
            let (socket, candidates) = media_socket(args)?;
            let (answer, established) = verified.accept(&me.identity, candidates)?;
            me.client.accept(&call_id, answer).await?;
            anyhow::Ok((established, socket))
        };
        // A panic while checking one offer (a parser bug reached by a
        // crafted message) is that call's failure, not the process's.
        let outcome = AssertUnwindSafe(take)
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("checking the call hit an internal error")));
        match outcome {
            Ok((established, socket)) => {
                eprintln!(
                    "answered {caller}; the SAS follows when {caller}'s first packets arrive"
                );
                return Ok((call_id, caller.to_string(), established, socket, started_at));
            }
            Err(e) => {
                eprintln!("refusing the call from {caller}: {e:#}");
                let _ = me.client.reject(&call_id).await;
                record(
                    profile,
                    &call_id,
                    caller.as_str(),
                    Direction::Incoming,
                    started_at,
                    0,
                    Outcome::Rejected,
                );
            }
        }
    }
}

/// The replay guard of `profile`, with the offers an earlier run saw.
fn recent_offers(profile: &Profile) -> anyhow::Result<RecentOffers> {
    Ok(RecentOffers::load(
        profile,
        dial::unix_now(),
        &OfferPolicy::default(),
    )?)
}

/// `pqvoice answer`: waits for one call and takes it.
pub fn answer(url: Option<&str>, profile: &Profile, args: &MediaArgs) -> anyhow::Result<()> {
    let me = Me::load(profile, url)?;
    let opts = call_options(args)?;
    runtime()?.block_on(async {
        let mut events = me.online().await?;
        eprintln!("{} waiting for a call…", me.info.username);
        let mut seen = recent_offers(profile)?;
        let (call_id, caller, established, socket, started_at) =
            accept_next(&me, profile, &mut events, args, &mut seen).await?;
        let audio = open_audio(args)?;
        let connected = Instant::now();
        let report = talk(
            &me,
            &mut events,
            &call_id,
            Media {
                established,
                socket,
                audio,
                opts,
                quiet: false,
            },
        )
        .await?;
        record(
            profile,
            &call_id,
            &caller,
            Direction::Incoming,
            started_at,
            connected.elapsed().as_secs(),
            outcome_of(&report),
        );
        finish(&report, args)
    })
}

/// `pqvoice echo-bot`: answers every call and sends back what it hears,
/// one call at a time.
pub fn echo_bot(url: Option<&str>, profile: &Profile, args: &MediaArgs) -> anyhow::Result<()> {
    let me = Me::load(profile, url)?;
    runtime()?.block_on(async {
        let mut events = me.online().await?;
        println!("echo bot {} ready", me.info.username);
        let mut seen = recent_offers(profile)?;
        loop {
            let (call_id, caller, established, socket, _) =
                accept_next(&me, profile, &mut events, args, &mut seen).await?;
            let opts = CallOptions {
                echo: true,
                dsp: DspConfig::off(),
                duration: Some(Duration::from_secs(3600)),
                ..Default::default()
            };
            let audio = NullAudio.open()?;
            match talk(
                &me,
                &mut events,
                &call_id,
                Media {
                    established,
                    socket,
                    audio,
                    opts,
                    quiet: true,
                },
            )
            .await
            {
                Ok(r) => eprintln!("echo call with {caller} ended: {}", r.end.describe()),
                Err(e) => eprintln!("echo call with {caller} failed: {e}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        media: MediaArgs,
    }

    fn media(args: &[&str]) -> Result<MediaArgs, clap::Error> {
        Cmd::try_parse_from(std::iter::once("t").chain(args.iter().copied())).map(|c| c.media)
    }

    #[test]
    fn advertise_only_offers_just_the_advertised_address() {
        let (adv, local): (SocketAddr, SocketAddr) = (
            "127.0.0.1:4000".parse().unwrap(),
            "127.0.0.1:5000".parse().unwrap(),
        );
        let both = media(&["--advertise", "127.0.0.1:4000"]).unwrap();
        assert_eq!(offered(vec![adv, local], &both), vec![adv, local]);
        let only = media(&["--advertise", "127.0.0.1:4000", "--advertise-only"]).unwrap();
        assert_eq!(offered(vec![adv, local], &only), vec![adv]);
    }

    #[test]
    fn advertise_only_without_an_address_is_refused() {
        assert!(media(&["--advertise-only"]).is_err());
    }
}
