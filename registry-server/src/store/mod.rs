//! Persistent storage behind one trait.
//!
//! The registry keeps *durable* facts here: accounts (username → identity
//! key), last-seen times, contact lists (whom each user shares presence
//! with), call records (kept for a configured number of days, see
//! [`delete_expired_calls`]) and the token MAC secret. *Live*
//! facts (who is connected, which call rings right now, the offer and answer
//! blobs) stay in memory in [`crate::hub`], because they die with the
//! connections that carry them anyway.
//!
//! [`Store`] is written so that a second backend (PostgreSQL, for several
//! registry instances behind a load balancer) needs no change above it:
//! every method is one statement or one short transaction, conflicts come
//! back as [`StoreError::Conflict`] rather than as driver errors, and times
//! are plain Unix seconds. See `docs/registry.md` for that plan.

mod sqlite;

pub use sqlite::SqliteStore;

use std::time::Duration;

use async_trait::async_trait;
use proto::signaling::{CallId, CallState, Username};

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The unique name.
    pub username: Username,
    /// `PublicIdentity::to_bytes` of the current key.
    pub identity_key: Vec<u8>,
    /// When the name was claimed, Unix seconds.
    pub created_at: u64,
    /// When the key last changed, Unix seconds.
    pub key_updated_at: u64,
    /// When the user was last connected, Unix seconds.
    pub last_seen: Option<u64>,
}

/// One call as stored (without the handshake blobs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The call.
    pub call_id: CallId,
    /// Who rang.
    pub caller: Username,
    /// Who was rung.
    pub callee: Username,
    /// Latest known state.
    pub state: CallState,
    /// When it was placed, Unix seconds.
    pub created_at: u64,
    /// When it last changed, Unix seconds.
    pub updated_at: u64,
    /// Who hung up, if someone did.
    pub ended_by: Option<Username>,
}

/// Outcome of [`Store::add_contact`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactAdded {
    /// The contact is new on the list.
    Added,
    /// The contact was on the list already.
    AlreadyThere,
    /// The list is full; nothing changed.
    Full,
}

/// Someone who shares their presence with a user: they added that user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharer {
    /// The account that added the user.
    pub owner: Username,
    /// When `owner` was last connected, Unix seconds.
    pub last_seen: Option<u64>,
}

/// Storage failures, split so callers can answer precisely.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already exists (username taken) or a compare-and-swap
    /// found a different value.
    #[error("conflict")]
    Conflict,
    /// A stored value no longer parses (corruption or manual edits).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database itself failed.
    #[error("database error: {0}")]
    Backend(String),
}

/// Everything the registry persists.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts a new account; [`StoreError::Conflict`] if the name is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;

    /// The account named `username`, if any.
    async fn user(&self, username: &Username) -> Result<Option<UserRecord>, StoreError>;

    /// Replaces the key of `username` if it is still `old_key`;
    /// [`StoreError::Conflict`] otherwise (another rotation won the race).
    async fn replace_key(
        &self,
        username: &Username,
        old_key: &[u8],
        new_key: &[u8],
        now: u64,
    ) -> Result<(), StoreError>;

    /// Up to `limit` accounts whose name starts with `prefix`, by name.
    async fn search_users(&self, prefix: &str, limit: u32) -> Result<Vec<UserRecord>, StoreError>;

    /// Records that `username` was connected at `at`.
    async fn set_last_seen(&self, username: &Username, at: u64) -> Result<(), StoreError>;

    /// Inserts or updates call records, all in one transaction.
    async fn save_calls(&self, calls: &[CallRecord]) -> Result<(), StoreError>;

    /// The stored record of a call.
    async fn call(&self, call_id: &CallId) -> Result<Option<CallRecord>, StoreError>;

    /// Deletes the call records last changed before `cutoff` (Unix
    /// seconds); returns how many went.
    async fn delete_calls_before(&self, cutoff: u64) -> Result<u64, StoreError>;

    /// Puts `contact` on `owner`'s list (both must be accounts), unless the
    /// list already holds `max` names.
    async fn add_contact(
        &self,
        owner: &Username,
        contact: &Username,
        at: u64,
        max: usize,
    ) -> Result<ContactAdded, StoreError>;

    /// Takes `contact` off `owner`'s list; `false` if it was not on it.
    async fn remove_contact(
        &self,
        owner: &Username,
        contact: &Username,
    ) -> Result<bool, StoreError>;

    /// `owner`'s list, by name.
    async fn contacts(&self, owner: &Username) -> Result<Vec<Username>, StoreError>;

    /// Everyone who has `user` on their list, i.e. whose presence `user`
    /// may see.
    async fn sharers(&self, user: &Username) -> Result<Vec<Sharer>, StoreError>;

    /// The secret called `name`, storing `fresh` first if there is none.
    ///
    /// Every instance sharing a database thus agrees on one secret.
    async fn secret(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError>;
}

/// Deletes the call records that `retention` has run out for at `now`
/// (Unix seconds): those last changed more than `retention` ago.
pub async fn delete_expired_calls(
    store: &dyn Store,
    now: u64,
    retention: Duration,
) -> Result<u64, StoreError> {
    store
        .delete_calls_before(now.saturating_sub(retention.as_secs()))
        .await
}
