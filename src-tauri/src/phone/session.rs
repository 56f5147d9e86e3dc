//! The account's session at the registry: its client, the engine's phone
//! running on it, and the task that shows the phone's events to the UI.

use std::sync::Arc;

use engine::account::{self, AccountInfo};
use engine::contacts::ContactBook;
use engine::dial;
use engine::phone as core;
use engine::recent_offers::RecentOffers;
use engine::registry_client::RegistryClient;
use proto::handshake::OfferPolicy;
use proto::identity::IdentityKeyPair;
use proto::signaling::Username;

use super::{Phone, hooks, keys::parse_username, lock, ui};
use crate::error::{AppError, AppResult};
use crate::events::{self, RegistryState, RegistryStatus, emit};

/// The signed-in side of the account.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) info: AccountInfo,
    pub(crate) identity: Arc<IdentityKeyPair>,
    pub(crate) client: Arc<RegistryClient>,
    /// The engine's phone; its driver stops with the last session handle.
    pub(super) calls: core::Phone,
    _events: Arc<EventTask>,
}

/// Stops turning the phone's events into UI events with the session.
struct EventTask(tauri::async_runtime::JoinHandle<()>);

impl Drop for EventTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Phone {
    /// Opens the session if this device has an account.
    pub fn start(self: &Arc<Self>) {
        match account::account(&self.profile) {
            Ok(Some(info)) => {
                if let Err(e) = self.open_session(info) {
                    tracing::error!(error = %e, "cannot start the phone");
                }
            }
            Ok(None) => self.status(RegistryState::Offline, None),
            Err(e) => tracing::error!(error = %e, "cannot read the account"),
        }
    }

    pub(super) fn status(&self, state: RegistryState, message: Option<String>) {
        // Emitted under the lock, so that a resend never overtakes a newer one.
        let mut link = lock(&self.link);
        let status = link.insert(RegistryStatus { state, message });
        emit(&*self.sink, events::REGISTRY_STATUS, &*status);
    }

    /// Sends the last `registry-status` again. The phone starts, and
    /// usually connects, before the page has loaded and subscribed, so the
    /// status sent "after start-up" would otherwise be lost after every
    /// restart; `get_account`, which the UI calls once it listens, calls
    /// this.
    pub fn resend_status(&self) {
        if let Some(status) = &*lock(&self.link) {
            emit(&*self.sink, events::REGISTRY_STATUS, status);
        }
    }

    /// The current session, or `not-signed-up`.
    pub(crate) fn session(&self) -> AppResult<Session> {
        self.session_opt().ok_or(AppError::NotSignedUp)
    }

    /// The session if signed up.
    pub(crate) fn session_opt(&self) -> Option<Session> {
        lock(&self.session).clone()
    }

    /// Builds the client for `info` and starts the engine's phone on it,
    /// replacing any previous session.
    pub(crate) fn open_session(self: &Arc<Self>, info: AccountInfo) -> AppResult<Session> {
        let identity = Arc::new(account::load_identity(&self.profile)?);
        let user = parse_username(&info.username)?;
        let client = Arc::new(
            RegistryClient::with_options(
                &info.registry,
                user,
                identity.clone(),
                &info.connect_options()?,
            )
            .map_err(|e| AppError::from_registry(e, &info.registry, None))?,
        );
        let seen = RecentOffers::load(&self.profile, dial::unix_now(), &OfferPolicy::default())
            .unwrap_or_else(|e| {
                // The ids expire within minutes; starting without them
                // beats refusing every call.
                tracing::error!(error = %e, "seen offers unreadable; starting without them");
                RecentOffers::empty(&self.profile)
            });
        let hooks = Arc::new(hooks::AppHooks {
            profile: self.profile.clone(),
            app: Arc::downgrade(self),
        });
        self.status(RegistryState::Connecting, None);
        // A call shown by a session this one replaces is over with it.
        self.set_in_call(false);
        // The engine's phone spawns on the current runtime; the app's
        // start-up runs outside it.
        let rt = tauri::async_runtime::handle();
        let _inside = rt.inner().enter();
        let (calls, events) = core::Phone::start(
            Arc::clone(&client),
            Arc::clone(&identity),
            self.profile.clone(),
            seen,
            hooks,
            self.pinned_usernames(),
        );
        // The pinned contacts the user chose see our presence, whatever
        // the registry's list lost or never had (pins older than it).
        if let Ok(chosen) = dial::chosen_contacts(&self.profile, []) {
            let sync = Arc::clone(&client);
            tauri::async_runtime::spawn(async move {
                if let Err(e) = sync.ensure_contacts(&chosen).await {
                    tracing::debug!(error = %e, "could not update the contact list at the registry");
                }
            });
        }
        let task = tauri::async_runtime::spawn(ui::pump(Arc::clone(self), events));
        let session = Session {
            info,
            identity,
            client,
            calls,
            _events: Arc::new(EventTask(task)),
        };
        *lock(&self.session) = Some(session.clone());
        Ok(session)
    }

    fn pinned_usernames(&self) -> Vec<Username> {
        ContactBook::load(&self.profile)
            .map(|book| book.names().cloned().collect())
            .unwrap_or_default()
    }

    /// Re-sends the presence subscriptions (after a new pin).
    pub(crate) fn resubscribe(&self) {
        if let Some(s) = self.session_opt() {
            s.calls.subscribe(self.pinned_usernames());
        }
    }

    /// Replaces the session after the account moved to another registry.
    pub(crate) fn close_session(&self) {
        let old = lock(&self.session).take();
        drop(old);
    }

    /// Hangs up whatever runs; used when the app exits. The engine's
    /// phone waits for its hang-up (or decline) to reach the registry,
    /// bounded by [`core::SHUTDOWN_WAIT`], so quitting never hangs on an
    /// unreachable registry.
    pub fn shutdown(&self) {
        self.stop_mic_test();
        if let Some(s) = self.session_opt() {
            tauri::async_runtime::block_on(s.calls.shutdown());
        }
        self.close_session();
    }
}
