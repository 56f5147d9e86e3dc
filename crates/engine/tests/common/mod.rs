//! Helpers shared by the engine's registry tests.

use std::time::Duration;

use engine::registry_client::{EventStream, RegistryEvent};

pub use testkit::name;

/// Waits for the first event matching `want`, skipping others.
pub async fn until(
    events: &mut EventStream,
    want: impl Fn(&RegistryEvent) -> bool,
) -> RegistryEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let ev = events.next().await.expect("event stream alive");
            if want(&ev) {
                return ev;
            }
        }
    })
    .await
    .expect("expected event within 10 s")
}
