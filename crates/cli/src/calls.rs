//! `register`, `call`, `answer`, `echo-bot`, `contacts`, `safety-number`,
//! `trust`, `history`: the registry conversation around a call, then the
//! engine.
//!
//! `call`, `answer` and `echo-bot` print what [`engine::phone::Phone`]
//! reports and turn Ctrl-C into a hang-up; the call flow itself (and the
//! checks of [`engine::dial`] that make a call genuine) is the engine's,
//! the same as the app's. Each stops its phone ([`Phone::shutdown`])
//! before it returns, so the hang-up reaches the registry before the
//! process exits (else the registry would hold both users in a call).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use engine::account::{self, AccountInfo, Direction};
use engine::audio::{AudioBackend, AudioIo, CpalAudio, NullAudio, WavAudio};
use engine::call::{CallEnd, CallOptions, CallReport, CallStats};
use engine::contacts::{Compared, ContactBook, Observation, Trust};
use engine::dial::{self, safety_number};
use engine::dsp::{DspConfig, NoiseSuppressor};
use engine::phone::{
    CallRef, CallSnapshot, CallState, EndReason, NetSettings, Phone, PhoneEvent, PhoneHooks,
    SetupError,
};
use engine::profile::Profile;
use engine::recent_offers::RecentOffers;
use engine::registry_client::{RegistryClient, RegistryEvent};
use proto::handshake::OfferPolicy;
use proto::identity::IdentityKeyPair;
use proto::signaling::Username;
use tokio::sync::mpsc;

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
    /// Local UDP address of the call's socket ([::]:0 is IPv6 and IPv4).
    #[arg(long, default_value = "[::]:0")]
    pub listen: SocketAddr,
    /// Address given to the peer for media (e.g. a forwarded port).
    #[arg(long)]
    pub advertise: Option<SocketAddr>,
    /// Offer the peer only the --advertise address, not this host's own
    /// addresses as well (so every datagram goes through the forwarder or
    /// relay, as when the peer cannot reach this host directly).
    #[arg(long, requires = "advertise")]
    pub advertise_only: bool,
    /// Send every call through the registry's TURN relay: the peer sees
    /// only the relay's address, never this host's. Fails when the
    /// registry offers no relay.
    #[arg(long)]
    pub always_relay: bool,
    /// Relay calls from people who are not chosen contacts (never called
    /// nor verified), when the registry offers a relay.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub relay_strangers: bool,
    /// A STUN server to learn this host's public address from, besides the
    /// registry (HOST:PORT; repeatable).
    #[arg(long = "stun-server", value_name = "ADDR", value_parser = stun_server)]
    pub stun_servers: Vec<SocketAddr>,
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

/// A `--stun-server` value: an address, or a host name and port resolved
/// once, now.
fn stun_server(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    s.to_socket_addrs()
        .map_err(|e| format!("{s:?} is not HOST:PORT ({e})"))?
        .next()
        .ok_or_else(|| format!("{s:?} resolves to no address"))
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

/// `pqvoice contacts`: the contacts, with presence when the registry
/// answers (a contact shows presence only if they added us too), the
/// safety number of the pinned key and its trust.
pub fn contacts(url: Option<&str>, profile: &Profile) -> anyhow::Result<()> {
    let book = ContactBook::load(profile)?;
    let me = Me::load(profile, url)?;
    let rt = runtime()?;
    // Those we called or verified should see our presence, whatever the
    // registry's list lost (or never had, before registries kept one).
    let chosen = dial::chosen_contacts(profile, [])?;
    if let Err(e) = rt.block_on(me.client.ensure_contacts(&chosen)) {
        eprintln!("could not update the contact list at the registry: {e}");
    }
    for name in book.names() {
        let presence = match rt.block_on(me.client.fetch(name)) {
            Ok(info) => format!("{:?}", info.presence).to_lowercase(),
            Err(_) => "unknown".into(),
        };
        let key = book.pinned(name).context("pinned key vanished")?;
        let trust = match book.trust(name) {
            Some(Trust::Verified) => "verified",
            Some(Trust::KeyChanged) => "KEY CHANGED",
            _ => "unverified",
        };
        println!(
            "{name}\t{presence}\t{}\t{trust}",
            safety_number(&me.info.username, me.identity.public(), name.as_str(), key)
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
    let pinned = ContactBook::load(profile)?.pinned(&user).cloned();
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
/// the key the registry serves now and marks it verified, if it is the one
/// the user compared; a changed key is accepted the same way. Nothing is
/// written when the key is another.
pub fn trust(
    url: Option<&str>,
    profile: &Profile,
    name: &str,
    compared: &ComparedArgs,
) -> anyhow::Result<()> {
    let me = Me::load(profile, url)?;
    let compared = match (&compared.safety_number, &compared.fingerprint) {
        (Some(digits), _) => {
            Compared::safety_number(digits, &me.info.username, me.identity.public())?
        }
        (None, Some(hex)) => Compared::fingerprint(hex)?,
        (None, None) => bail!("give --safety-number or --fingerprint"),
    };
    let user = username(name)?;
    let rt = runtime()?;
    let info = rt.block_on(me.client.fetch(&user))?;
    let key = proto::identity::PublicIdentity::from_bytes(info.identity_key.as_bytes())
        .map_err(|_| anyhow::anyhow!("the registry sent a malformed key for {name}"))?;
    ContactBook::update(profile, |book| {
        if book.observe(&user, &key) == Observation::Changed {
            book.accept_change(&user, &compared)?;
        }
        book.mark_verified(&user, &compared)
    })?;
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

/// How the call's socket is opened and what it offers, from the flags.
fn net_settings(args: &MediaArgs) -> NetSettings {
    NetSettings {
        listen: args.listen,
        advertise: args.advertise,
        advertise_only: args.advertise_only,
        always_relay: args.always_relay,
        relay_strangers: args.relay_strangers,
        extra_stun: args.stun_servers.clone(),
    }
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
    let path = match (&s.path, s.ip_version) {
        (Some(p), Some(v)) => format!("{p} IPv{v}"),
        (Some(p), None) => p.clone(),
        (None, _) => "-".into(),
    };
    let line = format!(
        "{:6.1}s path {path} rtt {} loss {:.1}% jitter {:.1} ms buffer {:.0} ms late {} conceal {} fec {} red {} send {:.1} kbit/s recv {:.1} kbit/s sizes {:?}",
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

/// The CLI's side of the phone: sockets and sound from the flags.
struct CliHooks {
    profile: Profile,
    args: MediaArgs,
    /// The echo bot: no sound devices, what is heard is sent back.
    echo: bool,
}

impl PhoneHooks for CliHooks {
    fn trust_of(&self, peer: &Username) -> Trust {
        ContactBook::load(&self.profile)
            .ok()
            .and_then(|book| book.trust(peer))
            .unwrap_or(Trust::Unverified)
    }

    fn net_settings(&self) -> NetSettings {
        net_settings(&self.args)
    }

    fn open_media(&self, _call: &CallSnapshot) -> Result<(AudioIo, CallOptions), String> {
        if self.echo {
            let opts = CallOptions {
                echo: true,
                dsp: DspConfig::off(),
                duration: Some(Duration::from_secs(3600)),
                ..Default::default()
            };
            let audio = NullAudio.open().map_err(|e| e.to_string())?;
            return Ok((audio, opts));
        }
        let opts = call_options(&self.args).map_err(|e| format!("{e:#}"))?;
        let audio = open_audio(&self.args).map_err(|e| format!("{e:#}"))?;
        Ok((audio, opts))
    }
}

/// Starts the phone of `me` and waits until the registry has us online.
async fn start_phone(
    me: &Me,
    profile: &Profile,
    args: &MediaArgs,
    echo: bool,
) -> anyhow::Result<(Phone, mpsc::UnboundedReceiver<PhoneEvent>)> {
    let hooks = Arc::new(CliHooks {
        profile: profile.clone(),
        args: args.clone(),
        echo,
    });
    let (phone, mut events) = Phone::start(
        me.client.clone(),
        me.identity.clone(),
        profile.clone(),
        recent_offers(profile)?,
        hooks,
        Vec::new(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(PhoneEvent::Registry(RegistryEvent::Connected))) => {
                return Ok((phone, events));
            }
            Ok(Some(PhoneEvent::Registry(RegistryEvent::Disconnected { reason, .. }))) => {
                eprintln!("registry {}: {reason}; retrying", me.info.registry);
            }
            Ok(Some(_)) => {}
            Ok(None) => bail!("the registry connection ended"),
            Err(_) => bail!("cannot reach the registry at {}", me.info.registry),
        }
    }
}

/// What the CLI prints about one call as the phone reports it.
struct Printer {
    call: CallRef,
    /// No live stats line (the echo bot).
    quiet: bool,
    sas_shown: Option<String>,
    report: Option<CallReport>,
}

impl Printer {
    fn new(call: CallRef, quiet: bool) -> Self {
        Self {
            call,
            quiet,
            sas_shown: None,
            report: None,
        }
    }

    /// Prints `ev`; returns the call once it ended.
    fn show(&mut self, ev: PhoneEvent) -> Option<CallSnapshot> {
        match ev {
            PhoneEvent::Call(s) if s.call == self.call => {
                // The caller knows the SAS when the answer verifies; the
                // callee from the caller's first packets.
                if let Some(sas) = &s.sas
                    && self.sas_shown.as_ref() != Some(sas)
                {
                    match s.direction {
                        Direction::Outgoing => {
                            eprintln!("connected; SAS {sas} (compare it with {})", s.peer)
                        }
                        Direction::Incoming => {
                            eprintln!("\nSAS {sas} (compare it with {})", s.peer)
                        }
                    }
                    self.sas_shown = Some(sas.clone());
                }
                if s.state == CallState::Ended {
                    return Some(s);
                }
            }
            PhoneEvent::Stats(call, s) if call == self.call && !self.quiet => live_stats(&s),
            PhoneEvent::Report(call, r) if call == self.call => self.report = Some(*r),
            PhoneEvent::Registry(RegistryEvent::Disconnected { reason, .. }) => {
                eprintln!("registry connection lost ({reason}); reconnecting");
            }
            PhoneEvent::Refused { peer, reason } => {
                eprintln!("refusing the call from {peer}: {reason}");
            }
            _ => {}
        }
        None
    }

    /// Follows the call until it ends, hanging up on Ctrl-C.
    async fn until_ended(
        &mut self,
        phone: &Phone,
        events: &mut mpsc::UnboundedReceiver<PhoneEvent>,
    ) -> anyhow::Result<CallSnapshot> {
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {
                    let _ = phone.hang_up(self.call).await;
                }
                ev = events.recv() => match ev {
                    Some(ev) => if let Some(end) = self.show(ev) {
                        return Ok(end);
                    },
                    None => bail!("the phone stopped"),
                },
            }
        }
    }
}

/// Says how the call ended, writes the stats, and fails the command for
/// every end but a hang-up.
fn finish(end: &CallSnapshot, report: Option<&CallReport>, args: &MediaArgs) -> anyhow::Result<()> {
    if let Some(report) = report {
        eprintln!();
        // The registry's notice that the peer hung up can stop our media
        // before the peer's own goodbye arrives, and the peer's goodbye can
        // cross ours; the phone knows who ended it.
        let said = match end.end.as_ref().map(|e| e.0) {
            Some(EndReason::RemoteHungUp) => CallEnd::PeerHungUp.describe(),
            Some(EndReason::HungUp) if report.end != CallEnd::Finished => {
                CallEnd::HungUp.describe()
            }
            _ => report.end.describe(),
        };
        eprintln!("call ended: {said}");
        if let Some(path) = &args.stats_json {
            std::fs::write(path, serde_json::to_vec_pretty(report)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    let peer = &end.peer;
    let (reason, message) = end.end.clone().unwrap_or((EndReason::Failed, None));
    match reason {
        EndReason::HungUp | EndReason::RemoteHungUp => Ok(()),
        EndReason::Rejected => bail!("{peer} rejected the call"),
        EndReason::Busy => bail!("{peer} is busy"),
        EndReason::Missed => bail!("{peer} did not answer"),
        EndReason::Offline => bail!("{peer} is not connected to the registry"),
        EndReason::Cancelled => bail!("cancelled"),
        EndReason::NoPath => bail!(
            "{}",
            message.unwrap_or_else(|| format!("could not reach {peer}: no network path"))
        ),
        EndReason::ConnectionLost | EndReason::Failed => {
            bail!("{}", message.unwrap_or_else(|| "the call failed".into()))
        }
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
    // Bad media flags fail before anything rings.
    call_options(args)?;
    runtime()?.block_on(async {
        let (phone, mut events) = start_phone(&me, profile, args, false).await?;
        let done = async {
            let ringing = match phone.place(callee_name).await {
                Ok(ringing) => ringing,
                // It ended before the ring was shown (a busy push that
                // overtook the registry's answer, a refused key): told as
                // any other end.
                Err(SetupError::Ended(end)) => return finish(&end, None, args),
                Err(e) => return Err(e.into()),
            };
            eprintln!("ringing {callee}…");
            let mut printer = Printer::new(ringing.call, false);
            let end = printer.until_ended(&phone, &mut events).await?;
            finish(&end, printer.report.as_ref(), args)
        }
        .await;
        phone.shutdown().await;
        done
    })
}

/// Waits for the next call that rings and answers it; returns its printer
/// once the media runs. A caller whose key changed is refused with the
/// reason printed (nobody is there to compare numbers), as is a call
/// that could not be answered; the wait goes on: one bad offer costs that
/// call, never the listener.
async fn answer_next(
    phone: &Phone,
    events: &mut mpsc::UnboundedReceiver<PhoneEvent>,
    quiet: bool,
) -> anyhow::Result<Printer> {
    loop {
        let ev = tokio::select! {
            _ = tokio::signal::ctrl_c() => bail!("interrupted"),
            ev = events.recv() => ev.context("the phone stopped")?,
        };
        let s = match ev {
            PhoneEvent::Call(s) if s.state == CallState::RingingIn => s,
            other => {
                Printer::new(CallRef(0), true).show(other);
                continue;
            }
        };
        let caller = s.peer.clone();
        if s.trust == Trust::KeyChanged {
            let why = format!(
                "{caller}'s key changed; compare the safety number with them, then: \
                 pqvoice trust {caller} --safety-number \"DIGITS\""
            );
            eprintln!("refusing the call from {caller}: {why}");
            let _ = phone.refuse(s.call, why).await;
            continue;
        }
        match phone.accept(s.call).await {
            Ok(_) => {
                eprintln!(
                    "answered {caller}; the SAS follows when {caller}'s first packets arrive"
                );
                return Ok(Printer::new(s.call, quiet));
            }
            Err(e) => eprintln!("refusing the call from {caller}: {e}"),
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
    call_options(args)?;
    runtime()?.block_on(async {
        let (phone, mut events) = start_phone(&me, profile, args, false).await?;
        eprintln!("{} waiting for a call…", me.info.username);
        let done = async {
            let mut printer = answer_next(&phone, &mut events, false).await?;
            let end = printer.until_ended(&phone, &mut events).await?;
            finish(&end, printer.report.as_ref(), args)
        }
        .await;
        phone.shutdown().await;
        done
    })
}

/// `pqvoice echo-bot`: answers every call and sends back what it hears,
/// one call at a time.
pub fn echo_bot(url: Option<&str>, profile: &Profile, args: &MediaArgs) -> anyhow::Result<()> {
    let me = Me::load(profile, url)?;
    runtime()?.block_on(async {
        let (phone, mut events) = start_phone(&me, profile, args, true).await?;
        println!("echo bot {} ready", me.info.username);
        let stopped: anyhow::Result<()> = async {
            loop {
                let mut printer = answer_next(&phone, &mut events, true).await?;
                let end = printer.until_ended(&phone, &mut events).await?;
                match (&printer.report, &end.end) {
                    (Some(r), _) => {
                        eprintln!("echo call with {} ended: {}", end.peer, r.end.describe())
                    }
                    (None, Some((reason, msg))) => eprintln!(
                        "echo call with {} failed: {reason:?} {}",
                        end.peer,
                        msg.as_deref().unwrap_or("")
                    ),
                    (None, None) => {}
                }
            }
        }
        .await;
        phone.shutdown().await;
        stopped
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
    fn advertise_only_is_passed_to_the_gathering() {
        let adv: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let both = net_settings(&media(&["--advertise", "127.0.0.1:4000"]).unwrap());
        assert_eq!((both.advertise, both.advertise_only), (Some(adv), false));
        let only =
            net_settings(&media(&["--advertise", "127.0.0.1:4000", "--advertise-only"]).unwrap());
        assert_eq!((only.advertise, only.advertise_only), (Some(adv), true));
    }

    #[test]
    fn relay_flags_default_to_relaying_strangers_only() {
        let n = net_settings(&media(&[]).unwrap());
        assert_eq!(n, NetSettings::default());
        assert!(!n.always_relay && n.relay_strangers && n.extra_stun.is_empty());
    }

    #[test]
    fn relay_and_stun_flags_reach_the_settings() {
        let n = net_settings(
            &media(&[
                "--always-relay",
                "--relay-strangers",
                "false",
                "--stun-server",
                "192.0.2.1:3478",
                "--stun-server",
                "[2001:db8::1]:3479",
                "--listen",
                "0.0.0.0:0",
            ])
            .unwrap(),
        );
        assert!(n.always_relay);
        assert!(!n.relay_strangers);
        assert_eq!(
            n.extra_stun,
            vec![
                "192.0.2.1:3478".parse::<SocketAddr>().unwrap(),
                "[2001:db8::1]:3479".parse().unwrap()
            ]
        );
        assert_eq!(n.listen, "0.0.0.0:0".parse::<SocketAddr>().unwrap());
    }

    #[test]
    fn bad_relay_and_stun_flags_are_refused() {
        assert!(media(&["--relay-strangers", "maybe"]).is_err());
        assert!(media(&["--stun-server", "no-port-here"]).is_err());
        assert!(media(&["--always-relay", "yes"]).is_err());
    }

    #[test]
    fn advertise_only_without_an_address_is_refused() {
        assert!(media(&["--advertise-only"]).is_err());
    }
}
