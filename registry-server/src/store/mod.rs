//! Persistent storage behind one trait.
//!
//! The registry keeps *durable* facts here: accounts (username → identity
//! key), last-seen times, call records and the token MAC secret. *Live*
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

    /// The secret called `name`, storing `fresh` first if there is none.
    ///
    /// Every instance sharing a database thus agrees on one secret.
    async fn secret(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError>;
}
