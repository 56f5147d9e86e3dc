//! How WebKit draws the window on a computer without a GPU.
//!
//! WebKitGTK composites its pages through OpenGL. With no GPU (a virtual
//! machine, a remote desktop, Xvfb) that OpenGL is Mesa's software
//! rasteriser, llvmpipe, which redraws and composites a whole frame on the
//! CPU for every change on screen: in a call, where the timer and the
//! statistics change once a second, that was more than half of the app's
//! CPU (`bench/RESULTS.md`, desktop app). Without accelerated compositing
//! WebKit paints only the parts that changed, in software, into the window.
//! So the app turns compositing off when it finds no GPU, and leaves
//! WebKit's default alone when there is one.
//!
//! `PQVOICE_COMPOSITING=on` or `off` overrides the guess.

use std::path::Path;

/// What the environment asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compositing {
    /// Decide from the hardware ([`software_gl_only`]).
    Auto,
    /// Keep WebKit's accelerated compositing.
    On,
    /// Draw without accelerated compositing.
    Off,
}

impl Compositing {
    /// Reads `PQVOICE_COMPOSITING` (`on`, `off`; anything else is auto).
    pub fn from_env() -> Self {
        Self::parse(std::env::var("PQVOICE_COMPOSITING").ok().as_deref())
    }

    fn parse(v: Option<&str>) -> Self {
        match v.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("on") => Self::On,
            Some(v) if v.eq_ignore_ascii_case("off") => Self::Off,
            _ => Self::Auto,
        }
    }
}

/// Whether OpenGL can only be software here: Mesa is told to use software
/// (`libgl_always_software`, the value of `LIBGL_ALWAYS_SOFTWARE`), or `dev`
/// (normally `/dev`) has neither a DRM render node (`dri/renderD*`, what
/// every Mesa hardware driver opens) nor NVIDIA's proprietary control
/// device (`nvidiactl`).
pub fn software_gl_only(dev: &Path, libgl_always_software: Option<&str>) -> bool {
    if libgl_always_software.is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    let render_node = std::fs::read_dir(dev.join("dri")).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    });
    !(render_node || dev.join("nvidiactl").exists())
}

/// Whether the app should turn WebKit's accelerated compositing off.
pub fn compositing_off(choice: Compositing, software_only: impl FnOnce() -> bool) -> bool {
    match choice {
        Compositing::On => false,
        Compositing::Off => true,
        Compositing::Auto => software_only(),
    }
}

/// Turns accelerated compositing off in `window`'s WebKit view when there
/// is no GPU (or `PQVOICE_COMPOSITING=off`); logs what it chose.
#[cfg(target_os = "linux")]
pub fn apply<R: tauri::Runtime>(window: &tauri::WebviewWindow<R>) {
    let choice = Compositing::from_env();
    let off = compositing_off(choice, || {
        software_gl_only(
            Path::new("/dev"),
            std::env::var("LIBGL_ALWAYS_SOFTWARE").ok().as_deref(),
        )
    });
    if !off {
        tracing::debug!(?choice, "WebKit keeps accelerated compositing");
        return;
    }
    tracing::info!(
        ?choice,
        "no GPU found: WebKit draws without accelerated compositing"
    );
    let applied = window.with_webview(|webview| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
        if let Some(settings) = webview.inner().settings() {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    });
    if let Err(e) = applied {
        tracing::warn!(error = %e, "could not change WebKit's compositing");
    }
}

/// Other platforms' web views manage this themselves.
#[cfg(not(target_os = "linux"))]
pub fn apply<R: tauri::Runtime>(_window: &tauri::WebviewWindow<R>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_is_read_loosely_and_defaults_to_auto() {
        assert_eq!(Compositing::parse(None), Compositing::Auto);
        assert_eq!(Compositing::parse(Some("")), Compositing::Auto);
        assert_eq!(Compositing::parse(Some("maybe")), Compositing::Auto);
        assert_eq!(Compositing::parse(Some(" OFF ")), Compositing::Off);
        assert_eq!(Compositing::parse(Some("On")), Compositing::On);
    }

    #[test]
    fn overrides_win_over_the_hardware() {
        assert!(!compositing_off(Compositing::On, || true));
        assert!(compositing_off(Compositing::Off, || false));
        assert!(compositing_off(Compositing::Auto, || true));
        assert!(!compositing_off(Compositing::Auto, || false));
    }

    #[test]
    fn a_render_node_or_an_nvidia_device_means_a_gpu() {
        let dev = tempfile::tempdir().expect("temp dir");
        // Nothing at all: software only.
        assert!(software_gl_only(dev.path(), None));
        // A DRM card without a render node is a display, not a GPU for GL.
        std::fs::create_dir(dev.path().join("dri")).expect("dri");
        std::fs::write(dev.path().join("dri/card0"), b"").expect("card0");
        assert!(software_gl_only(dev.path(), None));
        std::fs::write(dev.path().join("dri/renderD128"), b"").expect("render node");
        assert!(!software_gl_only(dev.path(), None));
        // Mesa told to use software wins over the hardware.
        assert!(software_gl_only(dev.path(), Some("1")));
        assert!(software_gl_only(dev.path(), Some("true")));
        assert!(!software_gl_only(dev.path(), Some("0")));
        assert!(!software_gl_only(dev.path(), Some("")));

        let nvidia = tempfile::tempdir().expect("temp dir");
        std::fs::write(nvidia.path().join("nvidiactl"), b"").expect("nvidiactl");
        assert!(!software_gl_only(nvidia.path(), None));
    }
}
