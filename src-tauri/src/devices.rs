//! Sound devices for the settings screen: the list, and the microphone test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ringbuf::traits::Consumer;
use serde::Serialize;

use crate::error::{AppError, AppResult};
use crate::events::{self, AudioLevels, UiSink, emit};
use crate::phone::AudioChoice;

/// One device; its id is its name, which is what cpal opens and what stays
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
    use cpal::traits::{DeviceTrait, HostTrait};
    let host = cpal::default_host();
    let default_in = host.default_input_device().and_then(|d| d.name().ok());
    let default_out = host.default_output_device().and_then(|d| d.name().ok());
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
        let mut peak = 0.0f32;
        loop {
            let n = audio.capture.pop_slice(&mut buf);
            if n == 0 {
                break;
            }
            peak = buf[..n].iter().fold(peak, |m, s| m.max(s.abs()));
        }
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
