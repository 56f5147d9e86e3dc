//! Fixtures shared by the tests of several crates; a dev-dependency only.
//!
//! The engine's and the CLI's tests run against a real registry on loopback
//! (no mocks), and each of them used to spell out the same configuration.
//! It lives here once. The registry's own tests keep their fixtures in
//! `registry-server/tests/common`: depending on this crate would give them
//! a second copy of the registry library whose types do not match.

use std::net::SocketAddr;
use std::path::Path;

use proto::signaling::Username;

/// A registry configuration for tests: a free port on loopback, the
/// database in `dir`, and no request-rate limits (a test signs in and
/// calls faster than any person, and would trip them).
pub fn registry_config(dir: &Path) -> registry::Config {
    let mut c = registry::Config::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.join("registry.sqlite3"),
    );
    c.rate_per_ip = 0;
    c.rate_per_account = 0;
    c
}

/// `s` as a username. A name that breaks the rule is a typo in the test,
/// hence the panic.
pub fn name(s: &str) -> Username {
    Username::parse(s).expect("test names follow the username rule")
}

pub mod scenarios;
