//! The phone: the account's session at the registry and its calls, as the
//! UI sees them.
//!
//! The call flow itself is the engine's (`engine::phone`, decisions in
//! docs/engine.md): its driver runs the one call at a time against the
//! registry and the media thread. This module is the adapter: commands
//! become the driver's inputs ([`Phone::start_call`], …), the driver's
//! snapshots become the contract's events (`ui`), and `hooks` gives
//! the driver the app's devices, settings and contact book. What the UI
//! calls a call is the registry's id in hex, or the label of a local echo
//! test.

mod hooks;
mod keys;
mod session;
mod ui;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use engine::account::{self, Direction};
use engine::call::CallHandle;
use engine::phone::{self as core, PhoneError, SetupError};
use engine::profile::Profile;

use crate::config::AppConfig;
use crate::error::{AppError, AppResult, sentence};
use crate::events::{self, CallSnapshot, RegistryStatus, UiSink};
use crate::settings::StoredSettings;
pub use keys::{fingerprint, parse_username};
pub(crate) use session::Session;

/// The local echo test's name and bot, kept while it runs.
#[derive(Default)]
struct Local {
    label: String,
    bot: Option<CallHandle>,
}

/// The phone service. One per app; commands reach it through `AppState`.
pub struct Phone {
    sink: Arc<dyn UiSink>,
    profile: Profile,
    config: AppConfig,
    settings: Mutex<StoredSettings>,
    session: Mutex<Option<Session>>,
    local: Mutex<Local>,
    /// A call is shown (the mic test is refused meanwhile).
    in_call: AtomicBool,
    mic_test: Mutex<Option<Arc<AtomicBool>>>,
    /// The last `registry-status` sent, for [`Phone::resend_status`].
    link: Mutex<Option<RegistryStatus>>,
}

/// Locks `m`; its data stays consistent between field updates, so a panic
/// elsewhere while it was held must not take calls down with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn no_call() -> AppError {
    AppError::NoCall("That call is not in progress any more.".into())
}

fn phone_error(e: PhoneError) -> AppError {
    match e {
        PhoneError::Busy => AppError::Busy("You are already in a call. Hang up first.".into()),
        PhoneError::NoCall => no_call(),
        PhoneError::NotRinging => AppError::NoCall("This call is not ringing any more.".into()),
        PhoneError::SettingUp => {
            AppError::NoCall("The call is still being set up; try again in a moment.".into())
        }
    }
}

impl Phone {
    /// A phone over `profile`; call [`Phone::start`] once the runtime runs.
    pub fn new(sink: Arc<dyn UiSink>, profile: Profile, config: AppConfig) -> Arc<Self> {
        Arc::new(Self {
            sink,
            settings: Mutex::new(StoredSettings::load(&profile)),
            profile,
            config,
            session: Mutex::new(None),
            local: Mutex::new(Local::default()),
            in_call: AtomicBool::new(false),
            mic_test: Mutex::new(None),
            link: Mutex::new(None),
        })
    }

    /// Test hook: the check of the next incoming offer panics.
    #[doc(hidden)]
    pub fn fault_next_incoming(&self) {
        if let Some(s) = self.session_opt() {
            s.calls.fault_next_offer_check();
        }
    }

    /// Test hook: the next `accept_call` panics while it answers.
    #[doc(hidden)]
    pub fn fault_next_accept(&self) {
        if let Some(s) = self.session_opt() {
            s.calls.fault_next_accept();
        }
    }

    /// The profile directory.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The app configuration.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        lock(&self.local)
    }

    fn set_in_call(&self, on: bool) {
        self.in_call.store(on, Ordering::SeqCst);
    }

    /// The call in progress, for `current_call` (not while it is still
    /// being placed or checked: the UI has not heard of it yet).
    pub async fn current(&self) -> Option<CallSnapshot> {
        let s = self.session_opt()?;
        s.calls.current().await.and_then(|c| self.to_ui(&c))
    }

    /// The engine's snapshot of the call the UI names `id`.
    async fn call(&self, s: &Session, id: &str) -> AppResult<core::CallSnapshot> {
        s.calls
            .current()
            .await
            .filter(|c| self.ui_id(c) == id)
            .ok_or_else(no_call)
    }

    fn shown(&self, s: &core::CallSnapshot) -> AppResult<CallSnapshot> {
        self.to_ui(s).ok_or_else(no_call)
    }

    /// Rings `name` (the echo test when it is the echo bot).
    pub async fn start_call(&self, name: &str) -> AppResult<CallSnapshot> {
        let callee = parse_username(name)?;
        let s = self.session()?;
        if callee.as_str() == s.info.username {
            return Err(AppError::InvalidInput("You cannot call yourself.".into()));
        }
        if s.calls.current().await.is_some() {
            return Err(phone_error(PhoneError::Busy));
        }
        // The registry's answer tells a missing user apart and announces a
        // key change to the UI. A changed key is refused by the phone below,
        // which records the attempt in the history as it does for the CLI.
        let (_, trust, _) = self.check_key(&s, &callee).await?;
        if trust != events::Trust::KeyChanged {
            self.stop_mic_test();
        }
        match s.calls.place(callee.clone()).await {
            Ok(c) => self.shown(&c).map(ui::ringing),
            Err(SetupError::Phone(e)) => Err(phone_error(e)),
            // Rang, then ended at once (busy): the UI sees it ring, then end.
            Err(SetupError::Ended(c)) => match &c.end {
                Some((core::EndReason::Failed, msg)) if c.trust == events::Trust::KeyChanged => {
                    tracing::debug!(?msg, "key changed while placing");
                    Err(AppError::KeyChanged(callee.to_string()))
                }
                Some((core::EndReason::Failed, msg)) => {
                    let msg = msg.as_deref().unwrap_or("the call could not be placed");
                    Err(if msg.contains("still sees you in a call") {
                        AppError::Busy(sentence(msg))
                    } else {
                        AppError::Registry(sentence(msg))
                    })
                }
                _ => self.shown(&c).map(ui::ringing),
            },
        }
    }

    /// Cancels our ringing call.
    pub async fn cancel_call(&self, id: &str) -> AppResult<()> {
        let s = self.session()?;
        let c = self.call(&s, id).await?;
        if c.direction != Direction::Outgoing {
            return Err(no_call());
        }
        if c.state != core::CallState::RingingOut {
            return Err(AppError::NoCall(
                "The call was already answered; hang up instead.".into(),
            ));
        }
        s.calls.hang_up(c.call).await.map_err(phone_error)
    }

    /// Answers the ringing call `id`. A caller whose key changed can be
    /// answered only once the user accepted the new key.
    pub async fn accept_call(&self, id: &str) -> AppResult<CallSnapshot> {
        let s = self.session()?;
        let c = self.call(&s, id).await?;
        if c.trust == events::Trust::KeyChanged
            && self.trust_of(c.peer.as_str()) == events::Trust::KeyChanged
        {
            return Err(AppError::KeyChanged(c.peer.to_string()));
        }
        match s.calls.accept(c.call).await {
            Ok(c) => self.shown(&c),
            Err(SetupError::Phone(e)) => Err(phone_error(e)),
            Err(SetupError::Ended(c)) => match &c.end {
                Some((core::EndReason::Failed, msg)) => Err(AppError::internal(
                    msg.as_deref().unwrap_or("answering the call failed"),
                )),
                _ => Err(AppError::NoCall("The caller hung up.".into())),
            },
        }
    }

    /// Declines the ringing call `id`.
    pub async fn reject_call(&self, id: &str) -> AppResult<()> {
        let s = self.session()?;
        let c = self.call(&s, id).await?;
        s.calls.reject(c.call).await.map_err(phone_error)
    }

    /// Hangs up call `id` (cancels or declines it while it rings).
    pub async fn hang_up(&self, id: &str) -> AppResult<()> {
        let s = self.session()?;
        let c = self.call(&s, id).await?;
        s.calls.hang_up(c.call).await.map_err(phone_error)
    }

    /// Mutes or unmutes the current call.
    pub async fn set_mute(&self, muted: bool) -> AppResult<()> {
        let none = || AppError::NoCall("There is no call to mute.".into());
        let s = self.session_opt().ok_or_else(none)?;
        let c = s.calls.current().await.ok_or_else(none)?;
        s.calls.set_muted(c.call, muted).await.map_err(|_| none())
    }

    /// The echo test: the registry-side echo bot if it is online, else a
    /// bot in this process over loopback (a real handshake, no registry).
    pub async fn echo_test(&self) -> AppResult<CallSnapshot> {
        let s = self.session()?;
        let bot = parse_username(&self.config.echo_bot)?;
        if bot.as_str() != s.info.username {
            let online = match s.client.fetch(&bot).await {
                Ok(info) => info.presence != proto::signaling::Presence::Offline,
                Err(_) => false,
            };
            if online {
                return self.start_call(bot.as_str()).await;
            }
        }
        if s.calls.current().await.is_some() {
            return Err(phone_error(PhoneError::Busy));
        }
        let mut tag = [0u8; 8];
        getrandom::fill(&mut tag).map_err(AppError::internal)?;
        let label = format!("echo-{}", account::to_hex(&tag));
        let (identity, me, peer) = (s.identity.clone(), s.info.username.clone(), bot.clone());
        let pair = tauri::async_runtime::spawn_blocking(move || {
            crate::echo::connect(&identity, &me, &peer)
        })
        .await
        .map_err(AppError::internal)??;
        *self.local() = Local {
            label: label.clone(),
            bot: Some(pair.bot_hang_up.clone()),
        };
        match s
            .calls
            .start_local(bot, label, pair.caller, pair.transport)
            .await
        {
            Ok(c) => self.shown(&c).map(ui::ringing),
            Err(e) => {
                pair.bot_hang_up.hang_up();
                Err(phone_error(e))
            }
        }
    }

    /// The bot name of the echo test (for history entries).
    pub fn echo_bot(&self) -> &str {
        &self.config.echo_bot
    }
}
