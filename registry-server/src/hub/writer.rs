//! The storage writer task: durable records leave the hub's lock at once
//! and reach the [`Store`] in batches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use proto::signaling::Username;
use tokio::sync::mpsc;

use super::Persist;
use crate::store::Store;

/// How long the writer lets records gather after the first one arrives.
///
/// Each transaction costs the same handful of round trips to SQLite's
/// thread whatever it holds, and on a small machine those thread wake-ups
/// cost more than the rows: writing each call step on its own cost the
/// registry ~3 ms of CPU per call at 100 calls/s. Records only serve
/// history and calls already evicted from memory (kept there 10 s by
/// default), so they can wait this long.
pub const WRITE_BATCH_WINDOW: Duration = Duration::from_millis(50);

/// Batches durable writes: whatever queued up during the window after the
/// first record, or while the last batch was written, goes into the next
/// transaction.
pub(super) async fn write_records(mut rx: mpsc::UnboundedReceiver<Persist>, store: Arc<dyn Store>) {
    const BATCH: usize = 1024;
    let mut calls = Vec::with_capacity(BATCH);
    let mut seen: HashMap<Username, u64> = HashMap::new();
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(WRITE_BATCH_WINDOW).await;
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Persist::Call(c) => calls.push(c),
                Persist::LastSeen(u, at) => {
                    seen.insert(u, at);
                }
            }
            next = if calls.len() + seen.len() < BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !calls.is_empty() {
            if let Err(e) = store.save_calls(&calls).await {
                tracing::error!(error = %e, n = calls.len(), "could not store call records");
            }
            calls.clear();
        }
        for (u, at) in seen.drain() {
            if let Err(e) = store.set_last_seen(&u, at).await {
                tracing::error!(error = %e, "could not store last-seen time");
            }
        }
    }
}
