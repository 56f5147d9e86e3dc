//! The local echo bot of the echo test, used when the registry has none.
//!
//! The test should exercise the real thing, so nothing is short-cut: the
//! bot gets its own fresh hybrid identity, the app signs a real Offer to
//! it, the bot verifies it and answers, both sides derive their keys with
//! the same handshake as a registry call (so the SAS is real), and media
//! flows as sealed constant-size packets over two loopback UDP sockets,
//! through the same connectivity checks as any call. Only the registry
//! relay is missing, since both ends live here; no STUN or TURN server is
//! asked, as nothing leaves the machine.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use engine::audio::{AudioBackend, NullAudio};
use engine::call::{Call, CallHandle, CallOptions};
use engine::dial::{media_profile, unix_now};
use engine::dsp::DspConfig;
use engine::net::MediaTransport;
use proto::handshake::{
    Candidate, CandidateKind, Established, ExpectAnswer, HandshakeCallId, Offer, OfferParams,
    OfferPolicy,
};
use proto::identity::IdentityKeyPair;
use proto::signaling::Username;
use zeroize::Zeroizing;

use crate::error::{AppError, AppResult};

/// How long the bot keeps a call at most.
const BOT_LIMIT: Duration = Duration::from_secs(330);

/// The app's side of a call to the local bot, whose media already runs.
pub struct EchoPair {
    /// The app's keys of the call.
    pub caller: Established,
    /// The app's side of the call's transport.
    pub transport: MediaTransport,
    /// Stops the bot.
    pub bot_hang_up: CallHandle,
}

/// A transport on a loopback socket and its one host candidate.
fn loopback() -> AppResult<(MediaTransport, Vec<Candidate>)> {
    let socket =
        UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).map_err(AppError::internal)?;
    let addr = socket.local_addr().map_err(AppError::internal)?;
    let transport = MediaTransport::from_socket(socket).map_err(AppError::internal)?;
    Ok((
        transport,
        vec![Candidate::new(CandidateKind::Host, addr, u16::MAX)],
    ))
}

fn seed() -> AppResult<Zeroizing<[u8; 32]>> {
    let mut s = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut s[..]).map_err(AppError::internal)?;
    Ok(s)
}

/// Runs the handshake between `identity` (as `caller`) and a fresh bot
/// named `bot`, then starts the bot's media thread.
pub fn connect(identity: &IdentityKeyPair, caller: &str, bot: &Username) -> AppResult<EchoPair> {
    let (transport, candidates) = loopback()?;
    let (bot_transport, bot_candidates) = loopback()?;
    let bot_seed = seed()?;
    let bot_identity = IdentityKeyPair::from_seed(&bot_seed);

    let mut id = [0u8; 16];
    id.copy_from_slice(&seed()?[..16]);
    let params = OfferParams {
        call_id: HandshakeCallId(id),
        caller: caller.to_owned(),
        callee: bot.to_string(),
        candidates,
        profile: media_profile(),
    };
    let now = unix_now();
    let (waiting, offer) = ExpectAnswer::start(
        identity,
        params,
        bot_identity.public().clone(),
        *seed()?,
        *seed()?,
        now,
    )
    .map_err(AppError::internal)?;
    // The bot sees only bytes, as it would from the registry.
    let offer = Offer::from_bytes(&offer.to_bytes()).map_err(AppError::internal)?;
    let (answer, bot_call) = offer
        .verify(
            identity.public(),
            bot.as_str(),
            now,
            &OfferPolicy::default(),
        )
        .map_err(AppError::internal)?
        .accept(&bot_identity, bot_candidates, *seed()?, now)
        .map_err(AppError::internal)?;
    let caller_call = waiting
        .handle_answer(&answer, now, &OfferPolicy::default())
        .map_err(|_| AppError::internal("the local echo bot's answer did not verify"))?;

    let bot_hang_up = CallHandle::default();
    let bot = bot_hang_up.clone();
    let opts = CallOptions {
        echo: true,
        dsp: DspConfig::off(),
        duration: Some(BOT_LIMIT),
        ..CallOptions::default()
    };
    let audio = NullAudio.open().map_err(AppError::internal)?;
    std::thread::Builder::new()
        .name("pqvoice-echo-bot".into())
        .spawn(move || {
            let ran = Call::with_handle(bot_call, bot_transport, audio, opts, bot)
                .and_then(|c| c.run(&mut |_| {}));
            if let Err(e) = ran {
                tracing::warn!(error = %e, "local echo bot failed");
            }
        })
        .map_err(AppError::internal)?;
    Ok(EchoPair {
        caller: caller_call,
        transport,
        bot_hang_up,
    })
}
