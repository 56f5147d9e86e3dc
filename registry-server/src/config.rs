//! Server configuration: command-line flags, environment variables and an
//! optional TOML file, in that order of precedence.
//!
//! Every setting has a flag (`--ring-timeout-secs`), an environment
//! variable (`PQVOICE_REGISTRY_RING_TIMEOUT_SECS`) and a TOML key
//! (`ring_timeout_secs`). A flag beats the environment, which beats the
//! file, which beats the built-in default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use proto::signaling::{Origin, TurnUri};
use serde::Deserialize;

/// Default lifetime of TURN credentials, in seconds.
pub const DEFAULT_TURN_TTL_SECS: u64 = 3600;

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// SQLite database file.
    pub db: PathBuf,
    /// PEM certificate chain and private key; plain HTTP when `None`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// How long a call may ring before it counts as missed.
    pub ring_timeout: Duration,
    /// How long a sign-in challenge stays valid.
    pub challenge_ttl: Duration,
    /// The origins (`scheme://host:port`) clients reach this registry by;
    /// a sign-in must be signed for one of them. Empty: this machine at
    /// the listening scheme and port (see [`crate::auth::OriginPolicy`]).
    pub origins: Vec<Origin>,
    /// How long a bearer token stays valid.
    pub token_ttl: Duration,
    /// How long an active call survives a party's lost connection before
    /// the registry declares it ended (media is peer-to-peer and may go on).
    pub disconnect_grace: Duration,
    /// How long finished calls stay in memory for status polling.
    pub finished_call_retention: Duration,
    /// Requests per second allowed per client IP (0: unlimited).
    pub rate_per_ip: u32,
    /// Burst allowed per client IP.
    pub burst_per_ip: u32,
    /// Requests per second allowed per signed-in account (0: unlimited).
    pub rate_per_account: u32,
    /// Burst allowed per account.
    pub burst_per_account: u32,
    /// Most open TCP connections (HTTP and WebSocket together).
    pub max_connections: usize,
    /// Most open TCP connections from one client address (an IPv6 client
    /// counts by its /64).
    pub max_connections_per_ip: usize,
    /// How long a client may take to send a request's header, from the
    /// connection's start or its previous response (so also how long an
    /// idle keep-alive connection stays open).
    pub header_timeout: Duration,
    /// How long call records are kept in the database.
    pub call_retention: Duration,
    /// How often old call records are deleted.
    pub call_sweep_interval: Duration,
    /// A second listener that serves only `/metrics`; when set, the main
    /// listener does not serve it at all.
    pub metrics_listen: Option<SocketAddr>,
    /// File holding the bearer token `/metrics` requires; without one,
    /// `/metrics` answers only clients on a loopback address.
    pub metrics_token_file: Option<PathBuf>,
    /// Most seconds one HTTP request may take.
    pub request_timeout: Duration,
    /// Queue of pushes per WebSocket; a client that lets it fill is dropped.
    pub ws_queue: usize,
    /// How long one WebSocket frame may wait for the client to take it
    /// before the socket is closed.
    pub ws_send_timeout: Duration,
    /// Log as JSON lines instead of human-readable text.
    pub log_json: bool,
    /// Where the STUN Binding listener (UDP) runs.
    pub stun_listen: StunListen,
    /// TURN servers whose credentials `/ice` hands out (canonical URIs).
    pub turn_uris: Vec<TurnUri>,
    /// File with the secret shared with the TURN servers
    /// (coturn's `static-auth-secret`); required with `turn_uris`.
    pub turn_secret_file: Option<PathBuf>,
    /// How long issued TURN credentials stay valid.
    pub turn_ttl: Duration,
}

/// Where the registry answers STUN Binding requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StunListen {
    /// UDP on the HTTP listener's address and port (the default). If that
    /// UDP port is taken, the registry runs without STUN and says so.
    SameAsHttp,
    /// UDP on this address; failing to bind it stops the start.
    At(SocketAddr),
    /// No STUN listener.
    Off,
}

impl std::str::FromStr for StunListen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(Self::Off),
            _ => text
                .parse()
                .map(Self::At)
                .map_err(|_| format!("expected ADDRESS:PORT or off, got {text:?}")),
        }
    }
}

impl<'de> Deserialize<'de> for StunListen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Config {
    /// Defaults for a server on `listen` with database `db`; tests start here.
    pub fn new(listen: SocketAddr, db: PathBuf) -> Self {
        Self {
            listen,
            db,
            tls: None,
            ring_timeout: Duration::from_secs(45),
            challenge_ttl: Duration::from_secs(60),
            origins: Vec::new(),
            token_ttl: Duration::from_secs(12 * 3600),
            disconnect_grace: Duration::from_secs(30),
            finished_call_retention: Duration::from_secs(10),
            rate_per_ip: 50,
            burst_per_ip: 200,
            rate_per_account: 20,
            burst_per_account: 60,
            max_connections: 20_000,
            max_connections_per_ip: 64,
            header_timeout: Duration::from_secs(10),
            call_retention: Duration::from_secs(30 * 86_400),
            call_sweep_interval: Duration::from_secs(3600),
            metrics_listen: None,
            metrics_token_file: None,
            request_timeout: Duration::from_secs(10),
            ws_queue: 256,
            ws_send_timeout: crate::ws::SEND_TIMEOUT,
            log_json: false,
            stun_listen: StunListen::SameAsHttp,
            turn_uris: Vec::new(),
            turn_secret_file: None,
            turn_ttl: Duration::from_secs(DEFAULT_TURN_TTL_SECS),
        }
    }
}

/// Command-line flags (each also readable from the environment).
#[derive(Debug, Parser)]
#[command(
    name = "pqvoice-registry",
    version,
    about = "Self-hostable pqvoice registry"
)]
pub struct Args {
    /// TOML file with any of the settings below (flags and env win).
    #[arg(long, env = "PQVOICE_REGISTRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:5001].
    #[arg(long, env = "PQVOICE_REGISTRY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// SQLite database file, created and migrated on start
    /// [default: pqvoice-registry.sqlite3].
    #[arg(long, env = "PQVOICE_REGISTRY_DB")]
    pub db: Option<PathBuf>,
    /// PEM certificate chain; enables TLS together with --tls-key.
    #[arg(long, env = "PQVOICE_REGISTRY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "PQVOICE_REGISTRY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A URL clients use to reach this registry, such as
    /// https://voice.example.org; sign-ins signed for any other origin are
    /// refused. Repeat it (or separate with commas) for several. Set it
    /// behind a reverse proxy or when clients use a DNS name [default:
    /// localhost, loopback, this machine's addresses and host name, at the
    /// listening port and scheme].
    #[arg(long, env = "PQVOICE_REGISTRY_ORIGIN", value_delimiter = ',')]
    pub origin: Vec<String>,
    /// Seconds a call rings before it is missed [default: 45].
    #[arg(long, env = "PQVOICE_REGISTRY_RING_TIMEOUT_SECS")]
    pub ring_timeout_secs: Option<u64>,
    /// Seconds a bearer token stays valid [default: 43200].
    #[arg(long, env = "PQVOICE_REGISTRY_TOKEN_TTL_SECS")]
    pub token_ttl_secs: Option<u64>,
    /// Seconds an active call survives a lost connection [default: 30].
    #[arg(long, env = "PQVOICE_REGISTRY_DISCONNECT_GRACE_SECS")]
    pub disconnect_grace_secs: Option<u64>,
    /// Requests per second per client IP, 0 for no limit [default: 50].
    #[arg(long, env = "PQVOICE_REGISTRY_RATE_PER_IP")]
    pub rate_per_ip: Option<u32>,
    /// Burst per client IP [default: 200].
    #[arg(long, env = "PQVOICE_REGISTRY_BURST_PER_IP")]
    pub burst_per_ip: Option<u32>,
    /// Requests per second per account, 0 for no limit [default: 20].
    #[arg(long, env = "PQVOICE_REGISTRY_RATE_PER_ACCOUNT")]
    pub rate_per_account: Option<u32>,
    /// Burst per account [default: 60].
    #[arg(long, env = "PQVOICE_REGISTRY_BURST_PER_ACCOUNT")]
    pub burst_per_account: Option<u32>,
    /// Most open connections [default: 20000].
    #[arg(long, env = "PQVOICE_REGISTRY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Most open connections from one client address, IPv6 counted by
    /// /64 [default: 64].
    #[arg(long, env = "PQVOICE_REGISTRY_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Seconds a client may take to send a request header; also the idle
    /// timeout of keep-alive connections [default: 10].
    #[arg(long, env = "PQVOICE_REGISTRY_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Days call records are kept; older ones are deleted hourly
    /// [default: 30].
    #[arg(long, env = "PQVOICE_REGISTRY_CALL_RETENTION_DAYS")]
    pub call_retention_days: Option<u64>,
    /// Serve `/metrics` on this address only (not on --listen).
    #[arg(long, env = "PQVOICE_REGISTRY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// File with a bearer token that `/metrics` then requires; without it
    /// `/metrics` answers loopback clients only.
    #[arg(long, env = "PQVOICE_REGISTRY_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// Log JSON lines [default: false].
    #[arg(long, env = "PQVOICE_REGISTRY_LOG_JSON")]
    pub log_json: Option<bool>,
    /// Answer STUN Binding requests on this UDP address, or `off`; clients
    /// learn their public address from it [default: the --listen address
    /// and port, over UDP].
    #[arg(long, env = "PQVOICE_REGISTRY_STUN_LISTEN")]
    pub stun_listen: Option<StunListen>,
    /// A TURN relay to hand out credentials for, as
    /// turn:HOST:PORT?transport=udp|tcp (coturn with use-auth-secret).
    /// Repeat it (or separate with commas) for several; needs
    /// --turn-secret-file.
    #[arg(long, env = "PQVOICE_REGISTRY_TURN_URI", value_delimiter = ',')]
    pub turn_uri: Vec<String>,
    /// File holding the secret shared with the TURN relays (coturn's
    /// static-auth-secret); readable by its owner only.
    #[arg(long, env = "PQVOICE_REGISTRY_TURN_SECRET_FILE")]
    pub turn_secret_file: Option<PathBuf>,
    /// Seconds the issued TURN credentials stay valid [default: 3600].
    #[arg(long, env = "PQVOICE_REGISTRY_TURN_TTL")]
    pub turn_ttl: Option<u64>,
    /// Shut down (gracefully, as on SIGTERM) once the process that started
    /// this one has exited, checked every second (Unix). For a registry
    /// run as another program's child, such as the desktop app's "host a
    /// registry": it must not outlive the app, even a killed one.
    #[arg(long, env = "PQVOICE_REGISTRY_EXIT_WITH_PARENT")]
    pub exit_with_parent: bool,
}

/// The TOML file: the same settings as the flags, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    db: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    origin: Option<Vec<String>>,
    ring_timeout_secs: Option<u64>,
    token_ttl_secs: Option<u64>,
    disconnect_grace_secs: Option<u64>,
    rate_per_ip: Option<u32>,
    burst_per_ip: Option<u32>,
    rate_per_account: Option<u32>,
    burst_per_account: Option<u32>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    header_timeout_secs: Option<u64>,
    call_retention_days: Option<u64>,
    metrics_listen: Option<SocketAddr>,
    metrics_token_file: Option<PathBuf>,
    log_json: Option<bool>,
    stun_listen: Option<StunListen>,
    turn_uri: Option<Vec<String>>,
    turn_secret_file: Option<PathBuf>,
    turn_ttl: Option<u64>,
}

impl Args {
    /// Merges flags/env over the TOML file (if any) over the defaults.
    pub fn resolve(self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let listen = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5001)));
        let db = self
            .db
            .or(file.db)
            .unwrap_or_else(|| PathBuf::from("pqvoice-registry.sqlite3"));
        let mut c = Config::new(listen, db);
        let cert = self.tls_cert.or(file.tls_cert);
        let key = self.tls_key.or(file.tls_key);
        c.tls = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => anyhow::bail!("tls_cert and tls_key must be given together"),
        };
        let origins = if self.origin.is_empty() {
            file.origin.unwrap_or_default()
        } else {
            self.origin
        };
        c.origins = origins
            .iter()
            .map(|url| {
                Origin::from_url(url.trim()).map_err(|e| anyhow::anyhow!("origin {url:?}: {e}"))
            })
            .collect::<anyhow::Result<_>>()?;
        if let Some(s) = self.ring_timeout_secs.or(file.ring_timeout_secs) {
            c.ring_timeout = Duration::from_secs(s);
        }
        if let Some(s) = self.token_ttl_secs.or(file.token_ttl_secs) {
            c.token_ttl = Duration::from_secs(s);
        }
        if let Some(s) = self.disconnect_grace_secs.or(file.disconnect_grace_secs) {
            c.disconnect_grace = Duration::from_secs(s);
        }
        c.rate_per_ip = self
            .rate_per_ip
            .or(file.rate_per_ip)
            .unwrap_or(c.rate_per_ip);
        c.burst_per_ip = self
            .burst_per_ip
            .or(file.burst_per_ip)
            .unwrap_or(c.burst_per_ip);
        c.rate_per_account = self
            .rate_per_account
            .or(file.rate_per_account)
            .unwrap_or(c.rate_per_account);
        c.burst_per_account = self
            .burst_per_account
            .or(file.burst_per_account)
            .unwrap_or(c.burst_per_account);
        c.max_connections = self
            .max_connections
            .or(file.max_connections)
            .unwrap_or(c.max_connections);
        c.max_connections_per_ip = self
            .max_connections_per_ip
            .or(file.max_connections_per_ip)
            .unwrap_or(c.max_connections_per_ip);
        if c.max_connections_per_ip == 0 {
            anyhow::bail!("max_connections_per_ip must be at least 1");
        }
        if let Some(s) = self.header_timeout_secs.or(file.header_timeout_secs) {
            if s == 0 {
                anyhow::bail!("header_timeout_secs must be at least 1");
            }
            c.header_timeout = Duration::from_secs(s);
        }
        if let Some(d) = self.call_retention_days.or(file.call_retention_days) {
            c.call_retention = Duration::from_secs(d.saturating_mul(86_400));
        }
        c.metrics_listen = self.metrics_listen.or(file.metrics_listen);
        c.metrics_token_file = self.metrics_token_file.or(file.metrics_token_file);
        c.log_json = self.log_json.or(file.log_json).unwrap_or(false);
        c.stun_listen = self
            .stun_listen
            .or(file.stun_listen)
            .unwrap_or(c.stun_listen);
        let turn_uris = if self.turn_uri.is_empty() {
            file.turn_uri.unwrap_or_default()
        } else {
            self.turn_uri
        };
        c.turn_uris = turn_uris
            .iter()
            .map(|uri| TurnUri::parse(uri.trim()).map_err(|e| anyhow::anyhow!("turn_uri: {e}")))
            .collect::<anyhow::Result<_>>()?;
        c.turn_secret_file = self.turn_secret_file.or(file.turn_secret_file);
        if c.turn_uris.is_empty() != c.turn_secret_file.is_none() {
            anyhow::bail!("turn_uri and turn_secret_file must be given together");
        }
        if let Some(s) = self.turn_ttl.or(file.turn_ttl) {
            if s == 0 {
                anyhow::bail!("turn_ttl must be at least 1 second");
            }
            c.turn_ttl = Duration::from_secs(s);
        }
        Ok(c)
    }
}

fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("bad config {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:7000\"\nring_timeout_secs = 5\nrate_per_ip = 7\n",
        )
        .expect("write");
        let args = Args::parse_from([
            "pqvoice-registry",
            "--config",
            path.to_str().expect("utf-8 path"),
            "--rate-per-ip",
            "9",
        ]);
        let c = args.resolve().expect("valid config");
        assert_eq!(c.listen, SocketAddr::from(([127, 0, 0, 1], 7000)));
        assert_eq!(c.ring_timeout, Duration::from_secs(5));
        assert_eq!(c.rate_per_ip, 9);
        assert_eq!(c.burst_per_ip, 200);
    }

    #[test]
    fn origins_come_from_flags_or_the_file_in_canonical_form() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.toml");
        std::fs::write(&path, "origin = [\"https://Voice.Example.org/\"]\n").expect("write");
        let file = path.to_str().expect("utf-8 path");
        let c = Args::parse_from(["pqvoice-registry", "--config", file])
            .resolve()
            .expect("valid config");
        let names: Vec<&str> = c.origins.iter().map(Origin::as_str).collect();
        assert_eq!(names, ["https://voice.example.org:443"]);
        let c = Args::parse_from([
            "pqvoice-registry",
            "--config",
            file,
            "--origin",
            "https://a.example",
            "--origin",
            "http://b.example:8080,http://[::1]:5001",
        ])
        .resolve()
        .expect("valid config");
        let names: Vec<&str> = c.origins.iter().map(Origin::as_str).collect();
        assert_eq!(
            names,
            [
                "https://a.example:443",
                "http://b.example:8080",
                "http://[::1]:5001"
            ]
        );
        assert!(
            Args::parse_from(["pqvoice-registry", "--origin", "ftp://x.example"])
                .resolve()
                .is_err()
        );
        let c = Args::parse_from(["pqvoice-registry"])
            .resolve()
            .expect("defaults");
        assert!(c.origins.is_empty());
    }

    #[test]
    fn connection_metrics_and_retention_settings_resolve() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.toml");
        std::fs::write(
            &path,
            "max_connections_per_ip = 8\ncall_retention_days = 7\n\
             metrics_listen = \"127.0.0.1:9100\"\n",
        )
        .expect("write");
        let c = Args::parse_from([
            "pqvoice-registry",
            "--config",
            path.to_str().expect("utf-8 path"),
            "--header-timeout-secs",
            "3",
            "--metrics-token-file",
            "/etc/pqvoice/metrics.token",
        ])
        .resolve()
        .expect("valid config");
        assert_eq!(c.max_connections_per_ip, 8);
        assert_eq!(c.header_timeout, Duration::from_secs(3));
        assert_eq!(c.call_retention, Duration::from_secs(7 * 86_400));
        assert_eq!(
            c.metrics_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 9100)))
        );
        assert_eq!(
            c.metrics_token_file.as_deref(),
            Some(Path::new("/etc/pqvoice/metrics.token"))
        );
        // The defaults: 64 per address, 10 s, 30 days, /metrics on --listen.
        let d = Args::parse_from(["pqvoice-registry"])
            .resolve()
            .expect("defaults");
        assert_eq!(
            (d.max_connections_per_ip, d.header_timeout, d.call_retention),
            (
                64,
                Duration::from_secs(10),
                Duration::from_secs(30 * 86_400)
            )
        );
        assert!(d.metrics_listen.is_none() && d.metrics_token_file.is_none());
        // A cap of zero would refuse everyone; a zero timeout, every request.
        for bad in [
            ["pqvoice-registry", "--max-connections-per-ip", "0"],
            ["pqvoice-registry", "--header-timeout-secs", "0"],
        ] {
            assert!(Args::parse_from(bad).resolve().is_err());
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.toml");
        std::fs::write(&path, "ring_timeout = 5\n").expect("write");
        let args = Args::parse_from([
            "pqvoice-registry",
            "--config",
            path.to_str().expect("utf-8 path"),
        ]);
        assert!(args.resolve().is_err());
    }

    #[test]
    fn stun_and_turn_settings_resolve() {
        let d = Args::parse_from(["pqvoice-registry"])
            .resolve()
            .expect("defaults");
        assert_eq!(d.stun_listen, StunListen::SameAsHttp);
        assert!(d.turn_uris.is_empty() && d.turn_secret_file.is_none());
        assert_eq!(d.turn_ttl, Duration::from_secs(3600));

        let off = Args::parse_from(["pqvoice-registry", "--stun-listen", "off"])
            .resolve()
            .expect("off");
        assert_eq!(off.stun_listen, StunListen::Off);

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.toml");
        std::fs::write(
            &path,
            "stun_listen = \"[::]:3478\"\nturn_uri = [\"turn:relay.example.org\"]\n\
             turn_secret_file = \"/etc/pqvoice/turn-secret\"\nturn_ttl = 600\n",
        )
        .expect("write");
        let file = path.to_str().expect("utf-8 path");
        let c = Args::parse_from(["pqvoice-registry", "--config", file])
            .resolve()
            .expect("valid config");
        assert_eq!(
            c.stun_listen,
            StunListen::At("[::]:3478".parse().expect("address"))
        );
        let uris: Vec<String> = c.turn_uris.iter().map(ToString::to_string).collect();
        assert_eq!(uris, ["turn:relay.example.org:3478?transport=udp"]);
        assert_eq!(c.turn_ttl, Duration::from_secs(600));
        // Flags replace the file's list.
        let c = Args::parse_from([
            "pqvoice-registry",
            "--config",
            file,
            "--turn-uri",
            "turn:192.0.2.1:3478?transport=udp,turn:192.0.2.1:3478?transport=tcp",
        ])
        .resolve()
        .expect("valid config");
        assert_eq!(c.turn_uris.len(), 2);

        for bad in [
            vec!["pqvoice-registry", "--turn-uri", "turn:relay.example.org"],
            vec!["pqvoice-registry", "--turn-secret-file", "/tmp/x"],
            vec![
                "pqvoice-registry",
                "--turn-uri",
                "http://relay.example.org",
                "--turn-secret-file",
                "/tmp/x",
            ],
            vec!["pqvoice-registry", "--turn-ttl", "0"],
        ] {
            assert!(Args::parse_from(&bad).resolve().is_err(), "{bad:?}");
        }
        assert!(Args::try_parse_from(["pqvoice-registry", "--stun-listen", "nowhere"]).is_err());
    }
}
