//! Offers seen recently, remembered across restarts.
//!
//! An offer stays acceptable for [`OfferPolicy::max_age`] (plus clock
//! skew), and [`SeenOffers`] refuses a second copy of one inside that
//! window. In memory alone that guard forgets everything when the client
//! restarts, so an offer captured on its way through the registry could
//! ring again right after a restart. [`RecentOffers`] keeps the ids in the
//! profile (`seen-offers.json`, 0600, written atomically before the call
//! rings) and loads them at start. Only ids inside the window are kept:
//! older ones are refused as expired anyway.

use proto::handshake::{HandshakeCallId, HandshakeError, OfferPolicy, SeenOffers, VerifiedOffer};
use proto::time::UnixTime;
use serde::{Deserialize, Serialize};

use crate::account::{AccountError, from_hex, to_hex};
use crate::profile::Profile;

const FILE: &str = "seen-offers.json";

/// The stored form: each offer's call id (hex) and when it was seen.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    offers: Vec<StoredOffer>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredOffer {
    call_id: String,
    seen_at: u64,
}

/// Why an incoming offer was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecentOffersError {
    /// The offer was seen before: a replay.
    #[error(transparent)]
    Replayed(#[from] HandshakeError),
    /// The profile could not be written; the offer is refused rather than
    /// let through unrecorded.
    #[error(transparent)]
    Account(#[from] AccountError),
}

/// The replay guard of one profile: [`SeenOffers`] that is saved on
/// every new offer and loaded at start.
#[derive(Debug)]
pub struct RecentOffers {
    profile: Profile,
    seen: SeenOffers,
}

impl RecentOffers {
    /// Loads the ids saved in `profile` that are still inside the window
    /// at `now`. A damaged file is an error, as for the other profile
    /// files; no file is an empty set.
    pub fn load(
        profile: &Profile,
        now: UnixTime,
        policy: &OfferPolicy,
    ) -> Result<Self, AccountError> {
        let corrupt = || AccountError::Corrupt { file: FILE };
        let stored: Stored = match profile.read(FILE)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| corrupt())?,
            None => Stored::default(),
        };
        let mut saved = Vec::with_capacity(stored.offers.len().min(SeenOffers::CAPACITY));
        for o in stored.offers {
            let id = from_hex(&o.call_id)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .ok_or_else(corrupt)?;
            saved.push((HandshakeCallId(id), UnixTime::from_secs(o.seen_at)));
        }
        Ok(Self {
            profile: profile.clone(),
            seen: SeenOffers::restore(saved, now, policy),
        })
    }

    /// An empty set over `profile`, for a client that could not load the
    /// saved one and chooses to start without it; the next offer's save
    /// replaces the file.
    pub fn empty(profile: &Profile) -> Self {
        Self {
            profile: profile.clone(),
            seen: SeenOffers::new(),
        }
    }

    /// Refuses an offer seen before (in this run or an earlier one within
    /// the window) and records a new one on disk before it may ring.
    pub fn check_and_insert(
        &mut self,
        offer: &VerifiedOffer,
        now: UnixTime,
        policy: &OfferPolicy,
    ) -> Result<(), RecentOffersError> {
        self.seen.check_and_insert(offer, now, policy)?;
        self.save()?;
        Ok(())
    }

    fn save(&self) -> Result<(), AccountError> {
        let stored = Stored {
            offers: self
                .seen
                .entries()
                .map(|(id, at)| StoredOffer {
                    call_id: to_hex(&id.0),
                    seen_at: at.as_secs(),
                })
                .collect(),
        };
        let bytes =
            serde_json::to_vec(&stored).map_err(|_| AccountError::Corrupt { file: FILE })?;
        self.profile.write_secret(FILE, &bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::handshake::{ExpectAnswer, HandshakeCallId, Offer, OfferParams};
    use proto::identity::IdentityKeyPair;

    const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

    /// A genuine offer from alice to bob, as bob verifies it at `now`.
    fn offer_bytes(alice: &IdentityKeyPair, bob: &IdentityKeyPair, id: u8) -> Vec<u8> {
        let params = OfferParams {
            call_id: HandshakeCallId([id; 16]),
            caller: "alice".into(),
            callee: "bob".into(),
            candidates: vec![proto::handshake::Candidate::new(
                proto::handshake::CandidateKind::Host,
                "127.0.0.1:4000".parse().expect("addr"),
                u16::MAX,
            )],
            profile: crate::dial::media_profile(),
        };
        let (_, offer) = ExpectAnswer::start(
            alice,
            params,
            bob.public().clone(),
            [id; 32],
            [!id; 32],
            NOW,
        )
        .expect("offer");
        offer.to_bytes()
    }

    fn verified(bytes: &[u8], alice: &IdentityKeyPair, now: UnixTime) -> VerifiedOffer {
        Offer::from_bytes(bytes)
            .expect("parses")
            .verify(alice.public(), "bob", now, &OfferPolicy::default())
            .expect("verifies")
    }

    #[test]
    fn a_replayed_offer_is_refused_after_a_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let profile = Profile::open(dir.path().join("p")).expect("profile");
        let (alice, bob) = (
            IdentityKeyPair::from_seed(&[1; 32]),
            IdentityKeyPair::from_seed(&[2; 32]),
        );
        let policy = OfferPolicy::default();
        let bytes = offer_bytes(&alice, &bob, 7);
        let mut before = RecentOffers::load(&profile, NOW, &policy).expect("no file yet");
        before
            .check_and_insert(&verified(&bytes, &alice, NOW), NOW, &policy)
            .expect("first time");
        drop(before);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(profile.dir().join(FILE))
                .expect("saved")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // The client restarts 30 s later; the offer is replayed.
        let later = UnixTime::from_secs(NOW.as_secs() + 30);
        let mut after = RecentOffers::load(&profile, later, &policy).expect("reload");
        assert!(matches!(
            after.check_and_insert(&verified(&bytes, &alice, later), later, &policy),
            Err(RecentOffersError::Replayed(HandshakeError::ReplayedOffer))
        ));
        // Another genuine offer still rings.
        let other = offer_bytes(&alice, &bob, 8);
        after
            .check_and_insert(&verified(&other, &alice, later), later, &policy)
            .expect("a new offer");
    }

    #[test]
    fn ids_outside_the_window_are_dropped_and_damage_is_reported() {
        let dir = tempfile::tempdir().expect("tmp");
        let profile = Profile::open(dir.path().join("p")).expect("profile");
        let policy = OfferPolicy::default();
        let (alice, bob) = (
            IdentityKeyPair::from_seed(&[1; 32]),
            IdentityKeyPair::from_seed(&[2; 32]),
        );
        let bytes = offer_bytes(&alice, &bob, 9);
        let mut r = RecentOffers::load(&profile, NOW, &policy).expect("empty");
        r.check_and_insert(&verified(&bytes, &alice, NOW), NOW, &policy)
            .expect("first");
        let horizon = (policy.max_age + policy.max_clock_skew).as_secs();
        let much_later = UnixTime::from_secs(NOW.as_secs() + horizon + 1);
        let r = RecentOffers::load(&profile, much_later, &policy).expect("reload");
        assert_eq!(r.seen.entries().count(), 0);

        profile
            .write_secret(FILE, b"{\"offers\":[{\"call_id\":\"zz\",\"seen_at\":1}]}")
            .expect("write");
        assert!(matches!(
            RecentOffers::load(&profile, NOW, &policy),
            Err(AccountError::Corrupt { .. })
        ));
    }
}
