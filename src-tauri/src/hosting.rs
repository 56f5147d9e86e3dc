//! "Host a registry on this computer": runs the bundled `pqvoice-registry`
//! binary as a child process with its database in the app data folder.
//!
//! A child process (not the registry library in-process) keeps the
//! registry's own runtime, logging and database apart from the app, and is
//! the same binary the README shows running as a service.

use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{AppError, AppResult};

/// Port used when the user gives none.
pub const DEFAULT_PORT: u16 = 5001;
/// Name of the registry binary.
pub const REGISTRY_BINARY: &str = "pqvoice-registry";

/// `HostStatus` of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostStatus {
    /// Whether the registry runs.
    pub running: bool,
    /// Addresses friends should enter.
    pub urls: Vec<String>,
    /// Where its database lives.
    pub data_dir: Option<String>,
}

/// A running hosted registry.
#[derive(Debug)]
pub struct HostedRegistry {
    child: Child,
    port: u16,
    data_dir: PathBuf,
}

/// The registry binary this app runs: [`registry_binary_for`] the running
/// executable.
fn registry_binary() -> PathBuf {
    registry_binary_for(std::env::current_exe().ok().as_deref())
}

/// Where the registry binary is for an app executable at `app_exe`: the
/// file next to it if there is one, else the bare name for `PATH` to find.
///
/// "Next to it" is where both ways of getting the app put the registry: the
/// .deb of `scripts/package.sh` installs it beside `/usr/bin/pqvoice-desktop`,
/// and a `cargo build` of the workspace leaves both in `target/<profile>/`.
pub fn registry_binary_for(app_exe: Option<&Path>) -> PathBuf {
    let name = format!("{REGISTRY_BINARY}{}", std::env::consts::EXE_SUFFIX);
    app_exe
        .and_then(Path::parent)
        .map(|dir| dir.join(&name))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The address other machines reach this one at, if any: the source
/// address of the default route (a UDP `connect` sends nothing).
fn lan_address() -> Option<IpAddr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

impl HostedRegistry {
    /// Starts the registry on `port` (all interfaces) with its database in
    /// `data_dir`, and waits until it accepts connections.
    pub fn start(port: u16, data_dir: &Path) -> AppResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            AppError::Hosting(format!(
                "The registry's data folder could not be created: {e}."
            ))
        })?;
        if TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(300),
        )
        .is_ok()
        {
            return Err(AppError::Hosting(format!(
                "Port {port} is already in use on this computer. Choose another port."
            )));
        }
        let log = std::fs::File::create(data_dir.join("registry.log")).map_err(|e| {
            AppError::Hosting(format!(
                "The registry's log file could not be created: {e}."
            ))
        })?;
        let log2 = log.try_clone().map_err(AppError::internal)?;
        let mut child = Command::new(registry_binary())
            .arg("--listen")
            .arg(format!("0.0.0.0:{port}"))
            .arg("--db")
            .arg(data_dir.join("registry.sqlite3"))
            // [`HostedRegistry::stop`] ends it when the app quits; this
            // flag makes it end by itself when the app cannot (killed,
            // crashed).
            .arg("--exit-with-parent")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| {
                AppError::Hosting(format!(
                    "The bundled registry ({REGISTRY_BINARY}) could not be started: {e}."
                ))
            })?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(AppError::Hosting(format!(
                    "The registry stopped at once ({status}); is port {port} in use? \
                     See registry.log in its data folder."
                )));
            }
            let up = TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_millis(200),
            )
            .is_ok();
            if up {
                return Ok(Self {
                    child,
                    port,
                    data_dir: data_dir.to_path_buf(),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AppError::Hosting(
                    "The registry did not start listening within 10 seconds.".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the settings screen shows.
    pub fn status(&self) -> HostStatus {
        let ip = lan_address().unwrap_or(IpAddr::from([127, 0, 0, 1]));
        HostStatus {
            running: true,
            urls: vec![format!("http://{}", SocketAddr::new(ip, self.port))],
            data_dir: Some(self.data_dir.display().to_string()),
        }
    }

    /// Whether the child still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the registry: SIGTERM for a graceful shutdown (it closes the
    /// sockets and the database), a kill if it has not exited in 3 s.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status when nothing is hosted.
pub fn stopped() -> HostStatus {
    HostStatus {
        running: false,
        urls: Vec::new(),
        data_dir: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_beside_the_app_is_preferred() {
        let dir = tempfile::tempdir().expect("tmp");
        let app = dir.path().join("pqvoice-desktop");
        let bundled = dir
            .path()
            .join(format!("{REGISTRY_BINARY}{}", std::env::consts::EXE_SUFFIX));
        std::fs::write(&app, b"").expect("write app");
        std::fs::write(&bundled, b"").expect("write registry");
        assert_eq!(registry_binary_for(Some(&app)), bundled);
    }

    #[test]
    fn without_a_bundled_registry_path_decides() {
        let dir = tempfile::tempdir().expect("tmp");
        let app = dir.path().join("pqvoice-desktop");
        std::fs::write(&app, b"").expect("write app");
        let bare = PathBuf::from(format!("{REGISTRY_BINARY}{}", std::env::consts::EXE_SUFFIX));
        assert_eq!(registry_binary_for(Some(&app)), bare);
        // A directory of that name is not a binary.
        std::fs::create_dir(dir.path().join(&bare)).expect("mkdir");
        assert_eq!(registry_binary_for(Some(&app)), bare);
        assert_eq!(registry_binary_for(None), bare);
    }
}
