//! What the engine's phone asks of the app: a peer's trust from the
//! contact book, how a call reaches the peer (the advertised address and
//! the relay choices of the settings), and the sound devices and options
//! of a call; and the settings and the microphone test those come from.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use engine::audio::AudioIo;
use engine::call::CallOptions;
use engine::contacts::ContactBook;
use engine::contacts::Trust;
use engine::dsp::DspConfig;
use engine::phone::{CallSnapshot, NetSettings, PhoneHooks};
use engine::profile::Profile;
use proto::signaling::Username;

use super::{Phone, lock};
use crate::devices::AudioChoice;
use crate::error::{AppError, AppResult};
use crate::settings::StoredSettings;

/// An echo test hangs up by itself after this long.
const ECHO_TEST_LIMIT: Duration = Duration::from_secs(300);

/// The app's answers to the engine's phone. It holds the app's phone
/// weakly: the phone owns the session that owns the engine's phone.
pub(super) struct AppHooks {
    pub(super) profile: Profile,
    pub(super) app: Weak<Phone>,
}

impl AppHooks {
    fn app(&self) -> Result<Arc<Phone>, String> {
        self.app
            .upgrade()
            .ok_or_else(|| "the app is shutting down".to_owned())
    }
}

impl PhoneHooks for AppHooks {
    fn trust_of(&self, peer: &Username) -> Trust {
        ContactBook::load(&self.profile)
            .ok()
            .and_then(|book| book.trust(peer))
            .unwrap_or(Trust::Unverified)
    }

    fn net_settings(&self) -> NetSettings {
        match self.app() {
            Ok(app) => app.net_settings(),
            // Shutting down: whatever call starts now ends with the app.
            Err(_) => NetSettings::default(),
        }
    }

    fn open_media(&self, call: &CallSnapshot) -> Result<(AudioIo, CallOptions), String> {
        let app = self.app()?;
        // The call takes the devices from a running microphone test.
        app.stop_mic_test();
        let audio = app.audio_choice().open().map_err(|e| e.to_string())?;
        let opts = CallOptions {
            duration: app.is_echo(call).then_some(ECHO_TEST_LIMIT),
            // Silent test audio has no echo or noise to remove; skipping the
            // DSP also keeps unoptimised debug builds in real time.
            dsp: if app.config().null_audio {
                DspConfig::off()
            } else {
                DspConfig::default()
            },
            // The least the playback ring keeps queued; the call keeps more
            // when the device takes larger chunks (`PlaybackTarget`).
            playback_low_water: Duration::from_millis(10),
            ..CallOptions::default()
        };
        Ok((audio, opts))
    }
}

impl Phone {
    /// The stored settings.
    pub fn settings(&self) -> StoredSettings {
        lock(&self.settings).clone()
    }

    /// Replaces and saves the stored settings.
    pub fn save_settings(&self, s: StoredSettings) -> AppResult<()> {
        s.save(&self.profile)?;
        *lock(&self.settings) = s;
        Ok(())
    }

    /// The audio the next call or mic test opens.
    pub fn audio_choice(&self) -> AudioChoice {
        if self.config.null_audio {
            return AudioChoice::Null;
        }
        let s = self.settings();
        AudioChoice::Devices {
            input: s.input_device,
            output: s.output_device,
        }
    }

    /// The registry's STUN and TURN servers, asked for again now (the
    /// calls that follow reuse the answer); the inner `Err` says why the
    /// registry could not tell.
    pub async fn ice_servers(&self) -> AppResult<Result<engine::net::IceServers, String>> {
        let s = self.session()?;
        Ok(s.calls.ice_servers(true).await)
    }

    /// How calls reach the peer, from the settings: a dual-stack socket on
    /// any port, the advertised address and the relay choices.
    pub fn net_settings(&self) -> NetSettings {
        let s = self.settings();
        let advertise = self.advertise().unwrap_or_else(|e| {
            // `set_settings` checks it; only a hand-edited file gets here.
            tracing::warn!(error = %e, "advertised address ignored");
            None
        });
        NetSettings {
            advertise,
            always_relay: s.always_relay,
            relay_strangers: s.relay_strangers,
            ..NetSettings::default()
        }
    }

    fn advertise(&self) -> AppResult<Option<SocketAddr>> {
        match self.settings().advertise_address {
            None => Ok(None),
            Some(a) => a.parse().map(Some).map_err(|_| {
                AppError::InvalidInput(format!(
                    "The advertised address \"{a}\" in the settings is not host:port."
                ))
            }),
        }
    }

    /// Opens the microphone and reports its level until stopped.
    pub fn start_mic_test(&self) -> AppResult<()> {
        let stop = Arc::new(AtomicBool::new(false));
        {
            let mut g = lock(&self.mic_test);
            if self.in_call.load(Ordering::SeqCst) {
                return Err(AppError::Busy(
                    "The microphone test is not available during a call.".into(),
                ));
            }
            if g.is_some() {
                return Ok(());
            }
            *g = Some(stop.clone());
        }
        let (choice, sink) = (self.audio_choice(), self.sink.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_stop = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("pqvoice-mic-test".into())
            .spawn(move || crate::devices::mic_test(choice, thread_stop, ready_tx, sink));
        let ready = match spawned {
            Err(e) => Err(AppError::internal(e)),
            Ok(_) => ready_rx.recv().unwrap_or_else(|_| {
                Err(AppError::Device(
                    "The microphone test stopped unexpectedly.".into(),
                ))
            }),
        };
        if ready.is_err() {
            *lock(&self.mic_test) = None;
        }
        ready
    }

    /// Stops the mic test (idempotent).
    pub fn stop_mic_test(&self) {
        if let Some(stop) = lock(&self.mic_test).take() {
            stop.store(true, Ordering::SeqCst);
        }
    }
}
