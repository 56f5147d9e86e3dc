//! "Host a registry on this computer": runs the bundled `pqvoice-registry`
//! binary as a child process with its database in the app data folder.
//!
//! A child process (not the registry library in-process) keeps the
//! registry's own runtime, logging and database apart from the app, and is
//! the same binary the README shows running as a service.
//!
//! It listens on every interface, so it speaks TLS: the first start makes a
//! self-signed certificate ([`HostCertificate`], key file 0600 beside the
//! database) and every later start reuses it, so the fingerprint friends
//! pinned stays valid. The settings screen shows that fingerprint; a
//! joining user types it in and their client accepts exactly this
//! certificate (see `engine::registry_tls`). Registration stays open to
//! anyone who can reach the port; the screen says so.

use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use engine::registry_tls::CertFingerprint;
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
    /// Addresses friends should enter (`https://IP:PORT`).
    pub urls: Vec<String>,
    /// SHA-256 of the registry's certificate, in groups of four hex digits,
    /// that friends pin when they join.
    pub fingerprint: Option<String>,
    /// Where its database lives.
    pub data_dir: Option<String>,
}

/// A running hosted registry.
#[derive(Debug)]
pub struct HostedRegistry {
    child: Child,
    port: u16,
    data_dir: PathBuf,
    fingerprint: CertFingerprint,
}

/// Certificate file of the hosted registry, in its data folder.
pub const CERT_FILE: &str = "tls-cert.pem";
/// Private key file of the hosted registry (mode 0600).
pub const KEY_FILE: &str = "tls-key.pem";

/// The hosted registry's self-signed TLS certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCertificate {
    /// The PEM certificate.
    pub cert: PathBuf,
    /// The PEM private key.
    pub key: PathBuf,
    /// What joining users pin.
    pub fingerprint: CertFingerprint,
}

impl HostCertificate {
    /// The certificate in `data_dir`, made on first use and reused after:
    /// a new one would break every friend's pin.
    pub fn load_or_create(data_dir: &Path) -> AppResult<Self> {
        let cert = data_dir.join(CERT_FILE);
        let key = data_dir.join(KEY_FILE);
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            AppError::Hosting(format!(
                "The registry's TLS certificate could not be {what}: {e}."
            ))
        };
        if key.is_file()
            && let Ok(pem) = std::fs::read(&cert)
            && let Some(fingerprint) = CertFingerprint::of_pem(&pem)
        {
            // Tighten a key file someone loosened; the registry only reads it.
            restrict_to_owner(&key).map_err(|e| failed("protected", &e))?;
            return Ok(Self {
                cert,
                key,
                fingerprint,
            });
        }
        // The names are informative only: clients pin the certificate, so
        // it stays valid when this computer's address changes.
        let mut names = vec!["localhost".to_owned()];
        if let Some(ip) = lan_address() {
            names.push(ip.to_string());
        }
        let made = rcgen::generate_simple_self_signed(names).map_err(|e| failed("made", &e))?;
        // Key first: a crash between the two writes leaves no certificate,
        // and the next start makes a fresh pair.
        write_private(&key, made.signing_key.serialize_pem().as_bytes())
            .map_err(|e| failed("saved", &e))?;
        let tmp = data_dir.join(format!("{CERT_FILE}.tmp"));
        std::fs::write(&tmp, made.cert.pem())
            .and_then(|()| std::fs::rename(&tmp, &cert))
            .map_err(|e| failed("saved", &e))?;
        Ok(Self {
            cert,
            key,
            fingerprint: CertFingerprint::of_der(made.cert.der()),
        })
    }
}

/// Writes `bytes` to `path` atomically, readable by the owner only from the
/// first byte on.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(unix)]
fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_to_owner(_path: &Path) -> std::io::Result<()> {
    Ok(())
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
    /// Starts the registry on `port` (all interfaces, TLS) with its
    /// database and certificate in `data_dir`, and waits until it accepts
    /// connections.
    pub fn start(port: u16, data_dir: &Path) -> AppResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            AppError::Hosting(format!(
                "The registry's data folder could not be created: {e}."
            ))
        })?;
        let tls = HostCertificate::load_or_create(data_dir)?;
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
            .arg("--tls-cert")
            .arg(&tls.cert)
            .arg("--tls-key")
            .arg(&tls.key)
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
                    fingerprint: tls.fingerprint,
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
            urls: vec![format!("https://{}", SocketAddr::new(ip, self.port))],
            fingerprint: Some(self.fingerprint.grouped()),
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
        fingerprint: None,
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
    fn the_certificate_is_made_once_and_reused() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = HostCertificate::load_or_create(dir.path()).expect("make");
        let pem = std::fs::read(&first.cert).expect("cert file");
        assert_eq!(CertFingerprint::of_pem(&pem), Some(first.fingerprint));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(
                mode(&first.key),
                0o600,
                "the private key is the owner's only"
            );
            // Loosened by hand: the next start tightens it again.
            std::fs::set_permissions(&first.key, std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
            let again = HostCertificate::load_or_create(dir.path()).expect("reuse");
            assert_eq!(mode(&again.key), 0o600);
        }
        let key = std::fs::read(&first.key).expect("key file");
        let second = HostCertificate::load_or_create(dir.path()).expect("reuse");
        assert_eq!(second, first, "the same certificate, so friends' pins hold");
        assert_eq!(std::fs::read(&second.key).expect("key file"), key);

        // Without a certificate file a new pair is made.
        std::fs::remove_file(&first.cert).expect("rm");
        let fresh = HostCertificate::load_or_create(dir.path()).expect("remake");
        assert_ne!(fresh.fingerprint, first.fingerprint);
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
