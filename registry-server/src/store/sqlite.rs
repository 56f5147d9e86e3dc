//! The embedded SQLite backend (sqlx), the default for a self-hosted
//! single-instance registry.
//!
//! The file is opened in WAL mode with `synchronous = NORMAL`: readers never
//! block the writer, and a crash can lose at most the last transactions but
//! never corrupt the file. Migrations in `registry-server/migrations` are
//! compiled into the binary and applied on open.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use proto::signaling::{CallId, CallState, Username};
use sqlx::Row;
use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use super::{CallRecord, ContactAdded, Sharer, Store, StoreError, UserRecord};

/// Accounts and call records in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        Self::open_with(options).await
    }

    /// Opens a private in-memory database (for tests).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").map_err(backend)?;
        // One connection: each in-memory connection would be its own database.
        Self::open_pool(options, 1).await
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        Self::open_pool(options, 4).await
    }

    async fn open_pool(options: SqliteConnectOptions, size: u32) -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(size)
            .connect_with(options)
            .await
            .map_err(backend)?;
        migrator()
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }

    /// Closes the pool, waiting for open statements to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The schema migrations, embedded in the binary.
///
/// Built by hand rather than with `sqlx::migrate!`: the macro pulls in
/// sqlx's compile-time machinery, which builds a second copy of SQLite for
/// the proc-macro host (about a minute of every cold build). Version,
/// description and checksum (SHA-384 of the file) are the ones the macro
/// would record, so databases created by earlier builds keep migrating.
fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            "init".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("../../migrations/0001_init.sql")),
            false,
        ),
        Migration::new(
            2,
            "contacts".into(),
            MigrationType::Simple,
            SqlStr::from_static(include_str!("../../migrations/0002_contacts.sql")),
            false,
        ),
    ])
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn db_error(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return StoreError::Conflict;
    }
    backend(e)
}

// SQLite integers are signed; times are far below i64::MAX, and a stored
// negative value can only come from outside edits, which read as 0.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn username(text: &str) -> Result<Username, StoreError> {
    Username::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn user_from_row(row: &SqliteRow) -> Result<UserRecord, StoreError> {
    let name: String = row.try_get("username").map_err(backend)?;
    Ok(UserRecord {
        username: username(&name)?,
        identity_key: row.try_get("identity_key").map_err(backend)?,
        created_at: to_u64(row.try_get("created_at").map_err(backend)?),
        key_updated_at: to_u64(row.try_get("key_updated_at").map_err(backend)?),
        last_seen: row
            .try_get::<Option<i64>, _>("last_seen")
            .map_err(backend)?
            .map(to_u64),
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (username, identity_key, created_at, key_updated_at, last_seen) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(user.username.as_str())
        .bind(&user.identity_key)
        .bind(to_i64(user.created_at))
        .bind(to_i64(user.key_updated_at))
        .bind(user.last_seen.map(to_i64))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn user(&self, name: &Username) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT username, identity_key, created_at, key_updated_at, last_seen \
             FROM users WHERE username = ?",
        )
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn replace_key(
        &self,
        name: &Username,
        old_key: &[u8],
        new_key: &[u8],
        now: u64,
    ) -> Result<(), StoreError> {
        // Compare-and-swap in one statement: a concurrent rotation that
        // already replaced the key makes this one match no row.
        let done = sqlx::query(
            "UPDATE users SET identity_key = ?, key_updated_at = ? \
             WHERE username = ? AND identity_key = ?",
        )
        .bind(new_key)
        .bind(to_i64(now))
        .bind(name.as_str())
        .bind(old_key)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> Result<Vec<UserRecord>, StoreError> {
        // Usernames cannot contain LIKE wildcards except `_`, so a range
        // scan on the primary key replaces LIKE: [prefix, prefix + U+FFFF).
        let upper = format!("{prefix}\u{ffff}");
        let rows = sqlx::query(
            "SELECT username, identity_key, created_at, key_updated_at, last_seen \
             FROM users WHERE username >= ? AND username < ? ORDER BY username LIMIT ?",
        )
        .bind(prefix)
        .bind(upper)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_last_seen(&self, name: &Username, at: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_seen = ? WHERE username = ?")
            .bind(to_i64(at))
            .bind(name.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn save_calls(&self, calls: &[CallRecord]) -> Result<(), StoreError> {
        // One multi-row upsert per chunk: each statement is a round trip to
        // SQLite's thread, which costs more than the rows themselves. Rows
        // of one statement are applied in order, so a call's later state in
        // the same batch wins.
        const ROWS_PER_STATEMENT: usize = 256;
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        for chunk in calls.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO calls (call_id, caller, callee, state, created_at, updated_at, ended_by) ",
            );
            q.push_values(chunk, |mut row, c| {
                row.push_bind(c.call_id.as_str())
                    .push_bind(c.caller.as_str())
                    .push_bind(c.callee.as_str())
                    .push_bind(c.state.as_str())
                    .push_bind(to_i64(c.created_at))
                    .push_bind(to_i64(c.updated_at))
                    .push_bind(c.ended_by.as_ref().map(Username::as_str));
            });
            q.push(
                " ON CONFLICT (call_id) DO UPDATE SET \
                 state = excluded.state, updated_at = excluded.updated_at, ended_by = excluded.ended_by",
            );
            q.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn call(&self, call_id: &CallId) -> Result<Option<CallRecord>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT call_id, caller, callee, state, created_at, updated_at, ended_by \
             FROM calls WHERE call_id = ?",
        )
        .bind(call_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        else {
            return Ok(None);
        };
        let id: String = row.try_get("call_id").map_err(backend)?;
        let caller: String = row.try_get("caller").map_err(backend)?;
        let callee: String = row.try_get("callee").map_err(backend)?;
        let state: String = row.try_get("state").map_err(backend)?;
        let ended_by: Option<String> = row.try_get("ended_by").map_err(backend)?;
        Ok(Some(CallRecord {
            call_id: CallId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            caller: username(&caller)?,
            callee: username(&callee)?,
            state: CallState::from_wire_name(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown call state {state:?}")))?,
            created_at: to_u64(row.try_get("created_at").map_err(backend)?),
            updated_at: to_u64(row.try_get("updated_at").map_err(backend)?),
            ended_by: ended_by.as_deref().map(username).transpose()?,
        }))
    }

    async fn delete_calls_before(&self, cutoff: u64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM calls WHERE updated_at < ?")
            .bind(to_i64(cutoff))
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn add_contact(
        &self,
        owner: &Username,
        contact: &Username,
        at: u64,
        max: usize,
    ) -> Result<ContactAdded, StoreError> {
        // The size check and the insert are one statement, so two adds at
        // once cannot both slip under the cap.
        let done = sqlx::query(
            "INSERT INTO contacts (owner, contact, added_at) \
             SELECT ?1, ?2, ?3 WHERE (SELECT COUNT(*) FROM contacts WHERE owner = ?1) < ?4 \
             ON CONFLICT (owner, contact) DO NOTHING",
        )
        .bind(owner.as_str())
        .bind(contact.as_str())
        .bind(to_i64(at))
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 1 {
            return Ok(ContactAdded::Added);
        }
        let there = sqlx::query("SELECT 1 FROM contacts WHERE owner = ? AND contact = ?")
            .bind(owner.as_str())
            .bind(contact.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(if there.is_some() {
            ContactAdded::AlreadyThere
        } else {
            ContactAdded::Full
        })
    }

    async fn remove_contact(
        &self,
        owner: &Username,
        contact: &Username,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM contacts WHERE owner = ? AND contact = ?")
            .bind(owner.as_str())
            .bind(contact.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn contacts(&self, owner: &Username) -> Result<Vec<Username>, StoreError> {
        let rows = sqlx::query("SELECT contact FROM contacts WHERE owner = ? ORDER BY contact")
            .bind(owner.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|r| username(&r.try_get::<String, _>("contact").map_err(backend)?))
            .collect()
    }

    async fn sharers(&self, user: &Username) -> Result<Vec<Sharer>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.owner, u.last_seen FROM contacts c \
             JOIN users u ON u.username = c.owner WHERE c.contact = ?",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|r| {
                let owner: String = r.try_get("owner").map_err(backend)?;
                let last_seen: Option<i64> = r.try_get("last_seen").map_err(backend)?;
                Ok(Sharer {
                    owner: username(&owner)?,
                    last_seen: last_seen.map(to_u64),
                })
            })
            .collect()
    }

    async fn secret(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        // Insert-or-keep, then read: two instances starting at once end up
        // with whichever secret was written first.
        sqlx::query(
            "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        let row = sqlx::query("SELECT value FROM secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        row.try_get("value").map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SHA-384 of `migrations/0001_init.sql` as `sqlx::migrate!` recorded it
    /// in every database created so far. If this test fails, the file was
    /// edited, and existing registries would refuse to start: add a new
    /// migration instead.
    const INIT_CHECKSUM: &str = "34572191975a75faff9f2792c9d33d7484af3e49da42bf8d58167b5c90348b2198cfccc93d7138183dd598c1d8b56615";

    #[tokio::test]
    async fn the_recorded_migration_matches_what_earlier_builds_stored() {
        let store = SqliteStore::in_memory().await.unwrap();
        let row = sqlx::query(
            "SELECT version, description, checksum FROM _sqlx_migrations WHERE version = 1",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        let version: i64 = row.get(0);
        let description: String = row.get(1);
        let checksum: Vec<u8> = row.get(2);
        let hex = proto::hex::encode(&checksum);
        assert_eq!((version, description.as_str()), (1, "init"));
        assert_eq!(hex, INIT_CHECKSUM);
    }

    #[tokio::test]
    async fn a_batch_over_several_statements_keeps_each_calls_last_state() {
        let store = SqliteStore::in_memory().await.unwrap();
        let name = |s: &str| Username::parse(s).unwrap();
        let record = |i: u32, state: CallState, at: u64| {
            let mut id = [0u8; proto::signaling::CALL_ID_LEN];
            id[..4].copy_from_slice(&i.to_be_bytes());
            CallRecord {
                call_id: CallId::from_bytes(id),
                caller: name("alice"),
                callee: name("bob"),
                state,
                created_at: 100,
                updated_at: at,
                ended_by: (state == CallState::Ended).then(|| name("bob")),
            }
        };
        // 700 calls, more than two statements' worth of rows: every third
        // goes ringing → active → ended within the batch, the others ring
        // and are missed, and one stays ringing.
        let mut batch = Vec::new();
        for i in 0..700 {
            batch.push(record(i, CallState::Ringing, 100));
            if i == 699 {
                continue;
            }
            if i % 3 == 0 {
                batch.push(record(i, CallState::Active, 101));
                batch.push(record(i, CallState::Ended, 102));
            } else {
                batch.push(record(i, CallState::Missed, 145));
            }
        }
        store.save_calls(&batch).await.unwrap();
        for i in [0u32, 1, 2, 3, 299, 300, 698, 699] {
            let want = match i {
                699 => record(i, CallState::Ringing, 100),
                i if i % 3 == 0 => record(i, CallState::Ended, 102),
                _ => record(i, CallState::Missed, 145),
            };
            let got = store.call(&want.call_id).await.unwrap().expect("stored");
            assert_eq!(got, want, "call {i}");
        }
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM calls")
            .fetch_one(&store.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 700);
    }

    fn user(name: &str) -> UserRecord {
        UserRecord {
            username: Username::parse(name).unwrap(),
            identity_key: vec![1, 2, 3],
            created_at: 1,
            key_updated_at: 1,
            last_seen: Some(50),
        }
    }

    #[tokio::test]
    async fn call_records_past_retention_are_deleted_and_newer_ones_kept() {
        let store = SqliteStore::in_memory().await.unwrap();
        let name = |s: &str| Username::parse(s).unwrap();
        let day = 86_400;
        let now = 1_000 * day;
        let record = |i: u8, updated_at: u64| CallRecord {
            call_id: CallId::from_bytes([i; proto::signaling::CALL_ID_LEN]),
            caller: name("alice"),
            callee: name("bob"),
            state: CallState::Ended,
            created_at: updated_at - 60,
            updated_at,
            ended_by: None,
        };
        // 31 and 30 days + 1 s old go; exactly 30 days old and younger stay.
        let old = [record(1, now - 31 * day), record(2, now - 30 * day - 1)];
        let kept = [
            record(3, now - 30 * day),
            record(4, now - day),
            record(5, now),
        ];
        store.save_calls(&old).await.unwrap();
        store.save_calls(&kept).await.unwrap();
        let gone = crate::store::delete_expired_calls(&store, now, Duration::from_secs(30 * day))
            .await
            .unwrap();
        assert_eq!(gone, 2);
        for r in &old {
            assert_eq!(store.call(&r.call_id).await.unwrap(), None);
        }
        for r in &kept {
            assert_eq!(store.call(&r.call_id).await.unwrap().as_ref(), Some(r));
        }
    }

    #[tokio::test]
    async fn contact_lists_are_capped_idempotent_and_read_both_ways() {
        let store = SqliteStore::in_memory().await.unwrap();
        for n in ["alice", "bob", "carol", "dave"] {
            store.create_user(&user(n)).await.unwrap();
        }
        let (alice, bob, carol, dave) = (
            user("alice").username,
            user("bob").username,
            user("carol").username,
            user("dave").username,
        );
        assert_eq!(
            store.add_contact(&alice, &bob, 7, 2).await.unwrap(),
            ContactAdded::Added
        );
        assert_eq!(
            store.add_contact(&alice, &bob, 8, 2).await.unwrap(),
            ContactAdded::AlreadyThere
        );
        assert_eq!(
            store.add_contact(&alice, &carol, 9, 2).await.unwrap(),
            ContactAdded::Added
        );
        assert_eq!(
            store.add_contact(&alice, &dave, 9, 2).await.unwrap(),
            ContactAdded::Full
        );
        // At the cap, a name already there still reads as there.
        assert_eq!(
            store.add_contact(&alice, &carol, 9, 2).await.unwrap(),
            ContactAdded::AlreadyThere
        );
        // Not an account: refused by the foreign key, nothing stored.
        let ghost = Username::parse("ghost").unwrap();
        assert!(store.add_contact(&bob, &ghost, 9, 2).await.is_err());
        store.add_contact(&carol, &bob, 9, 2).await.unwrap();
        assert_eq!(
            store.contacts(&alice).await.unwrap(),
            vec![bob.clone(), carol.clone()]
        );
        let mut sharers = store.sharers(&bob).await.unwrap();
        sharers.sort_by(|a, b| a.owner.cmp(&b.owner));
        assert_eq!(
            sharers,
            vec![
                Sharer {
                    owner: alice.clone(),
                    last_seen: Some(50)
                },
                Sharer {
                    owner: carol.clone(),
                    last_seen: Some(50)
                },
            ]
        );
        assert!(store.remove_contact(&alice, &bob).await.unwrap());
        assert!(!store.remove_contact(&alice, &bob).await.unwrap());
        assert_eq!(store.contacts(&alice).await.unwrap(), vec![carol]);
        assert_eq!(store.sharers(&bob).await.unwrap().len(), 1);
    }
}
