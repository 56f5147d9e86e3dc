//! Call setup around the registry, shared by the CLI and the desktop app:
//! the contact's key checked against its pin, the signed Offer sent, the
//! Answer verified, an incoming Offer verified and answered.
//!
//! The registry only relays the signed handshake blobs. Everything that
//! decides whether a call is genuine happens here, against keys pinned in
//! the profile: a registry that substitutes a key is caught by the pin (and
//! on first use by the safety number), and a forged Offer or Answer fails
//! its hybrid signature.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use proto::handshake::{
    Answer, Candidate, CandidateKind, Established, ExpectAnswer, HandshakeCallId, MediaProfile,
    Offer, OfferParams, OfferPolicy, VerifiedOffer,
};
use proto::identity::{IdentityKeyPair, PublicIdentity};
use proto::safety::SafetyNumber;
use proto::signaling::{CallId, Username};

use crate::account::AccountError;
use crate::codec::{DEFAULT_PACKET_LEN, DEFAULT_REDUNDANCY};
use crate::contacts::{ContactBook, Observation};
use crate::profile::Profile;
use crate::recent_offers::{RecentOffers, RecentOffersError};
use crate::registry_client::{RegistryClient, RegistryError};

/// Why a call could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The registry refused or could not be reached.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The profile (pins, identity) could not be used; includes a changed key.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The registry served an identity key that does not parse.
    #[error("the registry sent a malformed identity key for {0}")]
    BadKey(String),
    /// The peer's Offer or Answer did not verify. Deliberately without
    /// detail: which check failed is of use only to an attacker.
    #[error("the call from {0} did not verify and was refused")]
    NotGenuine(String),
    /// The media socket could not be opened.
    #[error("cannot open the call's UDP socket on {addr}: {source}")]
    Socket {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The OS gave no randomness.
    #[error("the operating system gave no randomness")]
    Random,
}

impl DialError {
    /// True if the contact's key no longer matches its pin.
    pub fn is_key_change(&self) -> bool {
        matches!(self, DialError::Account(AccountError::KeyChanged(_)))
    }
}

/// The media profile this build offers: constant 240-byte packets, each
/// carrying the current frame and one redundant earlier frame.
pub fn media_profile() -> MediaProfile {
    MediaProfile {
        packet_len: DEFAULT_PACKET_LEN,
        redundancy: DEFAULT_REDUNDANCY,
        ..MediaProfile::DEFAULT
    }
}

/// Seconds since the Unix epoch (kept here for the callers that import it
/// from `dial`; the clock itself is read in [`crate::clock`]).
pub use crate::clock::unix_now;

fn random32() -> Result<zeroize::Zeroizing<[u8; 32]>, DialError> {
    let mut b = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut b[..]).map_err(|_| DialError::Random)?;
    Ok(b)
}

/// Binds the call's UDP socket on `listen` and lists the host candidates to
/// offer the peer: `advertise` first (a forwarded port), then the bound
/// address, or, for a wildcard bind, loopback and the host's outbound
/// address. Earlier entries get the higher local preference.
pub fn bind_media(
    listen: SocketAddr,
    advertise: Option<SocketAddr>,
) -> Result<(UdpSocket, Vec<Candidate>), DialError> {
    let socket = UdpSocket::bind(listen).map_err(|source| DialError::Socket {
        addr: listen,
        source,
    })?;
    let local = socket.local_addr().map_err(|source| DialError::Socket {
        addr: listen,
        source,
    })?;
    let mut candidates = Vec::new();
    if let Some(a) = advertise {
        candidates.push(a);
    }
    if local.ip().is_unspecified() {
        candidates.push(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            local.port(),
        ));
        if let Some(ip) = outbound_ip() {
            candidates.push(SocketAddr::new(ip, local.port()));
        }
    } else if advertise != Some(local) {
        candidates.push(local);
    }
    candidates.dedup();
    candidates.truncate(proto::handshake::MAX_CANDIDATES);
    let candidates = (0..=u16::MAX)
        .rev()
        .zip(candidates)
        .map(|(local_pref, addr)| Candidate::new(CandidateKind::Host, addr, local_pref))
        .collect();
    Ok((socket, candidates))
}

/// The local address the OS would route outbound traffic from. `connect`
/// on UDP only picks a route; no packet leaves the machine.
fn outbound_ip() -> Option<IpAddr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// A contact's key as the registry serves it, checked against the pin (and
/// pinned on first use). Returns the key and whether it was newly pinned.
/// A key that differs from the pin is kept in the contact book as the
/// pending change and refused ([`AccountError::KeyChanged`]).
pub async fn contact_key(
    client: &RegistryClient,
    profile: &Profile,
    name: &Username,
) -> Result<(PublicIdentity, bool), DialError> {
    let info = client.fetch(name).await?;
    let key = PublicIdentity::from_bytes(info.identity_key.as_bytes())
        .map_err(|_| DialError::BadKey(name.to_string()))?;
    let seen = ContactBook::update(profile, |book| Ok(book.observe(name, &key)))?;
    match seen {
        Observation::FirstSeen => Ok((key, true)),
        Observation::Same => Ok((key, false)),
        Observation::Changed => Err(AccountError::KeyChanged(name.to_string()).into()),
    }
}

/// Adds `name` to our contacts at the registry, so they see our presence.
/// Best effort: a registry that is down or predates contact lists must not
/// stop a call; the front ends add any missing ones again when they
/// connect ([`chosen_contacts`], [`RegistryClient::ensure_contacts`]).
///
/// Only people the user chose get it: someone they call or whose key they
/// verify. A key pinned because its owner rang us is not a choice, or
/// anyone could learn our presence by ringing once.
pub async fn share_presence(client: &RegistryClient, name: &Username) {
    if let Err(e) = client.add_contact(name).await {
        tracing::debug!(contact = %name, error = %e, "could not add the contact at the registry");
    }
}

/// The contacts the user chose ([`ContactBook::chosen`]: called at least
/// once, or verified), plus those of `also` that are contacts, for
/// [`RegistryClient::ensure_contacts`] when a front end connects.
pub fn chosen_contacts(
    profile: &Profile,
    also: impl IntoIterator<Item = String>,
) -> Result<Vec<Username>, AccountError> {
    let book = ContactBook::load(profile)?;
    let mut chosen: std::collections::BTreeSet<Username> = book
        .chosen(&crate::account::history(profile)?)
        .into_iter()
        .collect();
    chosen.extend(
        also.into_iter()
            .filter_map(|n| Username::parse(&n).ok())
            .filter(|n| book.contains(n)),
    );
    Ok(chosen.into_iter().collect())
}

/// The safety number of `me` and `them`, in groups of digits.
pub fn safety_number(
    me: &str,
    mine: &PublicIdentity,
    them: &str,
    theirs: &PublicIdentity,
) -> String {
    SafetyNumber::new(me, mine, them, theirs).groups().join(" ")
}

/// An outgoing call that rings; finish it with the Answer.
#[derive(Debug)]
pub struct Ringing {
    /// The registry's id of the call.
    pub call_id: CallId,
    /// Whom we ring.
    pub callee: Username,
    waiting: ExpectAnswer,
}

impl Ringing {
    /// Verifies the callee's Answer against the pinned key and its age
    /// (the offers' freshness window); the call's keys come out of it.
    pub fn answered(self, answer: &[u8]) -> Result<Established, DialError> {
        let not_genuine = || DialError::NotGenuine(self.callee.to_string());
        let answer = Answer::from_bytes(answer).map_err(|_| not_genuine())?;
        self.waiting
            .handle_answer(&answer, unix_now(), &OfferPolicy::default())
            .map_err(|_| not_genuine())
    }
}

/// Rings `callee`: checks its key against the pin, signs an Offer for the
/// media `candidates` and hands it to the registry.
pub async fn place_call(
    client: &RegistryClient,
    profile: &Profile,
    identity: &IdentityKeyPair,
    callee: &Username,
    candidates: Vec<Candidate>,
) -> Result<Ringing, DialError> {
    let (key, _) = contact_key(client, profile, callee).await?;
    let mut id = [0u8; 16];
    id.copy_from_slice(&random32()?[..16]);
    let params = OfferParams {
        call_id: HandshakeCallId(id),
        caller: client.username().to_string(),
        callee: callee.to_string(),
        candidates,
        profile: media_profile(),
    };
    // The X-Wing seed and the SAS nonce are drawn separately: the nonce is
    // revealed to the callee later, the seed never leaves this process.
    let (waiting, offer) = ExpectAnswer::start(
        identity,
        params,
        key,
        *random32()?,
        *random32()?,
        unix_now(),
    )
    .map_err(|_| DialError::NotGenuine(callee.to_string()))?;
    // Calling someone makes them a contact; that request runs beside the
    // ring so it adds no delay.
    let (status, ()) = tokio::join!(
        client.initiate(callee, offer.to_bytes()),
        share_presence(client, callee)
    );
    let status = status?;
    Ok(Ringing {
        call_id: status.call_id,
        callee: callee.clone(),
        waiting,
    })
}

/// An incoming Offer that verified against the caller's pinned key.
#[derive(Debug)]
pub struct Verified {
    /// Who calls.
    pub caller: Username,
    /// The caller's identity key (pinned).
    pub caller_key: PublicIdentity,
    offer: VerifiedOffer,
}

/// Checks an incoming Offer: the caller's key against its pin, the hybrid
/// signature, the callee name, the age, and that it was not seen before
/// (in this run or, through the profile, an earlier one).
pub async fn verify_incoming(
    client: &RegistryClient,
    profile: &Profile,
    caller: &Username,
    offer: &[u8],
    seen: &mut RecentOffers,
) -> Result<Verified, DialError> {
    let (key, _) = contact_key(client, profile, caller).await?;
    let not_genuine = || DialError::NotGenuine(caller.to_string());
    let offer = Offer::from_bytes(offer).map_err(|_| not_genuine())?;
    let now = unix_now();
    let policy = OfferPolicy::default();
    let verified = offer
        .verify(&key, client.username().as_str(), now, &policy)
        .map_err(|_| not_genuine())?;
    seen.check_and_insert(&verified, now, &policy)
        .map_err(|e| match e {
            RecentOffersError::Replayed(_) => not_genuine(),
            RecentOffersError::Account(e) => DialError::Account(e),
        })?;
    Ok(Verified {
        caller: caller.clone(),
        caller_key: key,
        offer: verified,
    })
}

impl Verified {
    /// Answers: signs the Answer (to be sent with
    /// [`RegistryClient::accept`]) and derives the call's keys.
    pub fn accept(
        self,
        identity: &IdentityKeyPair,
        candidates: Vec<Candidate>,
    ) -> Result<(Vec<u8>, Established), DialError> {
        let caller = self.caller.to_string();
        let (answer, established) = self
            .offer
            .accept(identity, candidates, *random32()?, unix_now())
            .map_err(|_| DialError::NotGenuine(caller))?;
        Ok((answer.to_bytes(), established))
    }
}
