//! Start-up milestones in the log, to see where a slow start goes. No
//! other module of the shell is used here, so any may mark a milestone.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// When `run` began.
static STARTED: OnceLock<Instant> = OnceLock::new();

/// Logs, once per process, that the first contact list has been answered:
/// the contacts screen asks for it as it opens, so this marks the end of a
/// start-up for a signed-in user. Shown with
/// `PQVOICE_LOG=pqvoice_desktop::startup=info`; `bench/app.sh` times cold
/// starts by it.
pub(crate) fn first_contacts_listed() {
    static DONE: AtomicBool = AtomicBool::new(false);
    mark(&DONE, "first contact list answered");
}

/// Logs, once per process (`done` remembers), a start-up milestone with the
/// time since `run` began, under the same target as
/// [`first_contacts_listed`]: where a slow start-up goes.
pub(crate) fn mark(done: &AtomicBool, what: &'static str) {
    if !done.swap(true, Ordering::Relaxed) {
        let since_start_ms = STARTED.get().map(|t| t.elapsed().as_millis() as u64);
        tracing::info!(target: "pqvoice_desktop::startup", since_start_ms, "{what}");
    }
}

/// Starts the clock the milestones are measured from (once per process).
pub(crate) fn begin() {
    STARTED.get_or_init(Instant::now);
}
