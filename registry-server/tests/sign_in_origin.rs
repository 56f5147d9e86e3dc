//! A sign-in names the registry it is for: a signature made for another
//! registry's origin is refused with `wrong_origin`, so a malicious
//! registry cannot relay an honest registry's challenge to a user and
//! spend the answer there. Real servers on loopback ports.

mod common;

use std::net::{IpAddr, UdpSocket};

use common::*;
use proto::signaling::Origin;

fn origin(url: &str) -> Origin {
    Origin::from_url(url).expect("origin")
}

#[tokio::test]
async fn a_challenge_relayed_through_another_registry_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let honest = start(config(&dir.path().join("honest.sqlite3"))).await;
    let evil = start(config(&dir.path().join("evil.sqlite3"))).await;
    let alice = User::new(&honest, "alice", 1);
    alice.register().await;

    // The evil registry asks the honest one for a challenge in alice's
    // name and hands it to alice's client, which signs it for the registry
    // it talks to: the evil one.
    let relayed = alice.challenge().await;
    let evil_origin = origin(&format!("http://{}", evil.addr));
    let (s, v) = alice.redeem(&relayed, &alice.key, &evil_origin).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("wrong_origin")), "{v}");
    // Claiming the honest origin instead breaks the signature.
    let sig = alice.key.sign(
        proto::signaling::SIGN_IN_DOMAIN,
        &proto::signaling::sign_in_message(&alice.name, &evil_origin, &relayed),
    );
    let (s, v) = alice
        .post(
            "/auth/token",
            serde_json::json!({
                "username": "alice",
                "origin": alice.origin().as_str(),
                "challenge": b64(relayed.as_bytes()),
                "signature": b64(&sig.to_bytes()),
            }),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (401, Some("invalid_signature")));

    // Signed for the honest registry itself, a fresh challenge works.
    let (s, v) = alice
        .redeem(&alice.challenge().await, &alice.key, &alice.origin())
        .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn without_configured_origins_only_this_machine_at_this_port_and_scheme_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let alice = User::new(&server, "alice", 1);
    alice.register().await;
    let port = server.addr.port();
    let sign_in_for = |url: String| {
        let alice = &alice;
        async move {
            let ch = alice.challenge().await;
            alice.redeem(&ch, &alice.key, &origin(&url)).await
        }
    };
    for url in [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://LOCALHOST:{port}/"),
        format!("http://[::1]:{port}"),
    ] {
        let (s, v) = sign_in_for(url.clone()).await;
        assert_eq!(s, 200, "{url}: {v}");
    }
    for url in [
        format!("http://127.0.0.1:{}", port.wrapping_add(1).max(1)),
        format!("https://127.0.0.1:{port}"),
        format!("http://registry.example:{port}"),
        format!("http://203.0.113.7:{port}"),
    ] {
        let (s, v) = sign_in_for(url.clone()).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (401, Some("wrong_origin")),
            "{url}"
        );
    }

    // An address of this machine's own network interface passes too (what
    // a LAN user of "host a registry" types), when the machine has one.
    if let Some(ip) = lan_address() {
        let url = match ip {
            IpAddr::V4(v4) => format!("http://{v4}:{port}"),
            IpAddr::V6(v6) => format!("http://[{v6}]:{port}"),
        };
        let (s, v) = sign_in_for(url.clone()).await;
        assert_eq!(s, 200, "{url}: {v}");
    }
}

#[tokio::test]
async fn configured_origins_replace_the_default_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(&dir.path().join("reg.sqlite3"));
    // Behind a TLS-terminating proxy: clients know it by its public name.
    c.origins = vec![origin("https://voice.example.org")];
    let server = start(c).await;
    let alice = User::new(&server, "alice", 1);
    alice.register().await;
    let ch = alice.challenge().await;
    let (s, v) = alice.redeem(&ch, &alice.key, &alice.origin()).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("wrong_origin")), "{v}");
    let ch = alice.challenge().await;
    let public = origin("https://voice.example.org:443");
    let (s, v) = alice.redeem(&ch, &alice.key, &public).await;
    assert_eq!(s, 200, "{v}");
}

/// A non-loopback address of this machine, found by asking the kernel
/// which source address it would use towards a documentation address (a
/// UDP "connect" sends nothing).
fn lan_address() -> Option<IpAddr> {
    let sock = UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.1:9").ok()?;
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}
