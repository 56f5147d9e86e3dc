//! Replay protection for offers: the call ids seen inside the freshness
//! window, in a form a client can save across restarts.

use std::collections::VecDeque;

use super::{HandshakeCallId, HandshakeError, OfferPolicy, VerifiedOffer};
use crate::time::UnixTime;

/// Call ids of offers seen recently, to refuse a replayed offer that is
/// still inside the freshness window. Entries older than the window are
/// forgotten: by then [`Offer::verify`](super::Offer::verify) refuses the offer as expired.
#[derive(Debug, Default, Clone)]
pub struct SeenOffers {
    entries: VecDeque<(HandshakeCallId, UnixTime)>,
}

impl SeenOffers {
    /// Most call ids remembered at once; the oldest is forgotten first.
    pub const CAPACITY: usize = 4096;

    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the offer's call id, or refuses it if it was seen before.
    /// Call this after [`Offer::verify`](super::Offer::verify) succeeded (so that unauthenticated
    /// garbage cannot fill the set).
    pub fn check_and_insert(
        &mut self,
        offer: &VerifiedOffer,
        now: UnixTime,
        policy: &OfferPolicy,
    ) -> Result<(), HandshakeError> {
        let horizon = policy.max_age + policy.max_clock_skew;
        while let Some(&(_, seen)) = self.entries.front() {
            if now.as_secs().saturating_sub(seen.as_secs()) > horizon.as_secs()
                || self.entries.len() >= Self::CAPACITY
            {
                self.entries.pop_front();
            } else {
                break;
            }
        }
        let id = offer.offer.call_id;
        if self.entries.iter().any(|(seen, _)| *seen == id) {
            return Err(HandshakeError::ReplayedOffer);
        }
        self.entries.push_back((id, now));
        Ok(())
    }

    /// The remembered call ids with the time each was seen, oldest first,
    /// so that a client can keep them across a restart.
    pub fn entries(&self) -> impl Iterator<Item = (HandshakeCallId, UnixTime)> + '_ {
        self.entries.iter().copied()
    }

    /// Rebuilds the set from [`SeenOffers::entries`] saved earlier. Ids
    /// already outside the window at `now` are dropped, and at most
    /// [`SeenOffers::CAPACITY`] of the newest are kept, so a stored list
    /// cannot grow the set beyond what [`SeenOffers::check_and_insert`]
    /// would hold.
    pub fn restore(
        saved: impl IntoIterator<Item = (HandshakeCallId, UnixTime)>,
        now: UnixTime,
        policy: &OfferPolicy,
    ) -> Self {
        let horizon = (policy.max_age + policy.max_clock_skew).as_secs();
        let mut entries: Vec<(HandshakeCallId, UnixTime)> = saved
            .into_iter()
            .filter(|(_, seen)| now.as_secs().saturating_sub(seen.as_secs()) <= horizon)
            .collect();
        entries.sort_by_key(|(_, seen)| seen.as_secs());
        let excess = entries.len().saturating_sub(Self::CAPACITY);
        Self {
            entries: entries.into_iter().skip(excess).collect(),
        }
    }
}
