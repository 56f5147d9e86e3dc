//! Sound devices for the settings screen: the list, and the microphone
//! test; and which audio a call or that test opens. Everything device
//! specific sits behind `engine::audio`, so the shell never talks to cpal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use engine::audio::{AudioBackend, AudioIo, CpalAudio, NullAudio};
use serde::Serialize;

use crate::error::{AppError, AppResult, sentence};
use crate::events::{self, AudioLevels, UiSink, emit};

/// Which audio the calls use.
#[derive(Debug, Clone)]
pub enum AudioChoice {
    /// Silence in, nothing out (tests and CI).
    Null,
    /// Sound devices by name; `None` = the system default.
    Devices {
        /// Capture device.
        input: Option<String>,
        /// Playback device.
        output: Option<String>,
    },
}

impl AudioChoice {
    /// Opens the streams (blocking: sound servers can take a moment).
    pub fn open(&self) -> Result<AudioIo, AppError> {
        let opened = match self {
            AudioChoice::Null => NullAudio.open(),
            AudioChoice::Devices { input, output } => CpalAudio {
                input_device: input.clone(),
                output_device: output.clone(),
            }
            .open(),
        };
        opened.map_err(|e| {
            AppError::Device(sentence(&format!(
                "The audio device could not be opened: {e}"
            )))
        })
    }
}

/// One device; its id is its name, which is what the engine opens and what stays
/// the same across runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioDevice {
    /// Stable id (the device name).
    pub id: String,
    /// Name to show.
    pub name: String,
    /// The system's default device.
    pub is_default: bool,
}

/// `list_devices` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    /// Capture devices.
    pub inputs: Vec<AudioDevice>,
    /// Playback devices.
    pub outputs: Vec<AudioDevice>,
    /// Chosen capture device; `None` = system default.
    pub selected_input: Option<String>,
    /// Chosen playback device; `None` = system default.
    pub selected_output: Option<String>,
}

/// The devices of the default host, with the defaults marked. Devices
/// without a name cannot be selected again later, so they are left out.
pub fn list(selected_input: Option<String>, selected_output: Option<String>) -> DeviceList {
    let (default_in, default_out) = engine::audio::default_devices();
    let (ins, outs) = engine::audio::list_devices();
    let mark = |names: Vec<String>, default: &Option<String>| {
        let mut seen = std::collections::BTreeSet::new();
        names
            .into_iter()
            .filter(|n| !n.is_empty() && seen.insert(n.clone()))
            .map(|n| AudioDevice {
                is_default: default.as_deref() == Some(n.as_str()),
                id: n.clone(),
                name: n,
            })
            .collect()
    };
    DeviceList {
        inputs: mark(ins, &default_in),
        outputs: mark(outs, &default_out),
        selected_input,
        selected_output,
    }
}

/// Runs on its own thread: opens `choice`, reports whether that worked on
/// `ready`, then emits the microphone's level 10 times a second until
/// `stop` is set. Nothing is sent anywhere.
pub fn mic_test(
    choice: AudioChoice,
    stop: Arc<AtomicBool>,
    ready: std::sync::mpsc::Sender<AppResult<()>>,
    sink: Arc<dyn UiSink>,
) {
    let mut audio = match choice.open() {
        Ok(a) => {
            let _ = ready.send(Ok(()));
            a
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut buf = vec![0.0f32; 4096];
    let mut filter = events::LevelsFilter::default();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(events::MIC_TEST_LEVELS_INTERVAL);
        let peak = audio.drain_capture_peak(&mut buf);
        if audio.device_lost() {
            tracing::warn!("microphone lost during the mic test");
            break;
        }
        if let Some(l) = filter.changed(AudioLevels::perceptual(peak, 0.0)) {
            emit(&*sink, events::AUDIO_LEVELS, &l);
        }
    }
    audio.close();
}

/// Checks that `id` names a device of `list`.
pub fn check_id(id: &Option<String>, list: &[AudioDevice], what: &str) -> AppResult<()> {
    match id {
        Some(id) if !list.iter().any(|d| &d.id == id) => Err(AppError::InvalidInput(format!(
            "There is no {what} device called \"{}\".",
            id.chars().take(80).collect::<String>()
        ))),
        _ => Ok(()),
    }
}
