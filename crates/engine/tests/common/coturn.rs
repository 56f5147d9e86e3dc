//! A real coturn (`turnserver`) for the tests: started in the foreground
//! with a generated configuration (TURN REST credentials through
//! `use-auth-secret`, no TLS, loopback peers allowed) on a free port, and
//! stopped when dropped.
//!
//! Included with `#[path]` by the tests that need a relay. Where
//! `turnserver` is not installed, [`Coturn::start`] returns `None` after a
//! loud message, so a developer machine without coturn still runs the rest;
//! with `PQVOICE_REQUIRE_COTURN` set (CI, `scripts/test`) a missing
//! `turnserver` fails the test instead.

#![allow(dead_code)]

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The realm the test relays use.
pub const REALM: &str = "pqvoice.test";
/// Where to look for `turnserver` besides `PATH` (Debian installs it here).
const KNOWN_PATHS: [&str; 2] = ["/usr/bin/turnserver", "/usr/sbin/turnserver"];
/// How long coturn may take to answer its first STUN request.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running coturn.
pub struct Coturn {
    child: Child,
    /// The UDP and TCP address it listens on (one port for both).
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

/// What to start coturn with.
#[derive(Debug, Clone)]
pub struct CoturnOptions {
    /// The shared secret (`static-auth-secret`).
    pub secret: String,
    /// Address to listen on and relay from.
    pub ip: IpAddr,
    /// Extra configuration lines, appended as they are.
    pub extra: Vec<String>,
}

impl CoturnOptions {
    /// On 127.0.0.1 with `secret`.
    pub fn new(secret: &str) -> Self {
        Self {
            secret: secret.to_owned(),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            extra: Vec::new(),
        }
    }
}

/// The `turnserver` binary, if installed.
pub fn turnserver() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("turnserver"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| KNOWN_PATHS.iter().map(PathBuf::from).find(|p| p.is_file()))
}

/// Whether this run must have coturn (`PQVOICE_REQUIRE_COTURN` set and not
/// empty or `0`).
pub fn required() -> bool {
    std::env::var("PQVOICE_REQUIRE_COTURN").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A port free for both UDP and TCP on `ip`, as far as can be told now.
fn free_port(ip: IpAddr) -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind((ip, 0)).expect("bind a UDP port");
        let port = udp.local_addr().expect("local address").port();
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on {ip}");
}

impl Coturn {
    /// coturn on 127.0.0.1 with `secret`; `None` when it is not installed
    /// and not required.
    pub fn start(secret: &str) -> Option<Self> {
        Self::start_with(&CoturnOptions::new(secret))
    }

    /// coturn as `options` say; `None` when it is not installed and not
    /// required.
    pub fn start_with(options: &CoturnOptions) -> Option<Self> {
        let Some(binary) = turnserver() else {
            assert!(
                !required(),
                "PQVOICE_REQUIRE_COTURN is set but turnserver is not installed (apt-get install coturn)"
            );
            eprintln!(
                "\n*** SKIPPED: turnserver (coturn) is not installed; this test needs a real \
                 TURN relay. Install it (apt-get install coturn) or set PQVOICE_REQUIRE_COTURN=1 \
                 to make its absence an error. ***\n"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port(options.ip);
        let addr = SocketAddr::new(options.ip, port);
        let conf = write_config(dir.path(), options, port);
        let log = std::fs::File::create(dir.path().join("turnserver.log")).expect("log file");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("turnserver starts");
        let mut coturn = Self { child, addr, dir };
        coturn.wait_ready();
        Some(coturn)
    }

    /// What coturn logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("turnserver.log")).unwrap_or_default()
    }

    /// Waits until coturn answers a STUN Binding request on UDP.
    fn wait_ready(&mut self) {
        let probe = UdpSocket::bind((self.addr.ip(), 0)).expect("probe socket");
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        // A minimal Binding request: type, length 0, magic cookie, an id.
        let mut request = [0u8; 20];
        request[1] = 0x01;
        request[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
        request[8..20].copy_from_slice(b"pqvoice-test");
        let deadline = Instant::now() + START_TIMEOUT;
        let mut buf = [0u8; 512];
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("turnserver exited at start ({status}):\n{}", self.log());
            }
            let _ = probe.send_to(&request, self.addr);
            if let Ok((n, from)) = probe.recv_from(&mut buf)
                && from == self.addr
                && n >= 20
                && buf[0..2] == [0x01, 0x01]
            {
                return;
            }
        }
        panic!(
            "turnserver did not answer on {} within {START_TIMEOUT:?}:\n{}",
            self.addr,
            self.log()
        );
    }
}

fn write_config(dir: &Path, options: &CoturnOptions, port: u16) -> PathBuf {
    let ip = options.ip;
    let mut lines = vec![
        format!("listening-ip={ip}"),
        format!("relay-ip={ip}"),
        format!("listening-port={port}"),
        "use-auth-secret".to_owned(),
        format!("static-auth-secret={}", options.secret),
        format!("realm={REALM}"),
        "fingerprint".to_owned(),
        "no-tls".to_owned(),
        "no-dtls".to_owned(),
        "no-cli".to_owned(),
        "no-rfc5780".to_owned(),
        "no-software-attribute".to_owned(),
        "allow-loopback-peers".to_owned(),
        "no-multicast-peers".to_owned(),
        format!("userdb={}", dir.join("turndb").display()),
        format!("pidfile={}", dir.join("turnserver.pid").display()),
        "log-file=stdout".to_owned(),
        "simple-log".to_owned(),
    ];
    lines.extend(options.extra.iter().cloned());
    let path = dir.join("turnserver.conf");
    let mut f = std::fs::File::create(&path).expect("config file");
    for line in lines {
        writeln!(f, "{line}").expect("write config");
    }
    path
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
