//! Whom the registry client is willing to talk to, and how.
//!
//! A bearer token is as good as the account it signs in to, so the client
//! must know that the other end of its connection is the registry the user
//! chose. Three cases:
//!
//! * `https://` with a publicly trusted certificate: WebPKI validation, as
//!   a browser does (plus any extra root the caller gives).
//! * `https://` with a **pinned certificate fingerprint** (a registry
//!   someone hosts on their own computer with a self-signed certificate):
//!   exactly the certificate whose SHA-256 is the pin is accepted, whatever
//!   names or dates it carries, and the server must still prove that it
//!   holds the certificate's private key in the handshake. This is the
//!   SSH-style "compare the fingerprint once" model; the host reads the
//!   fingerprint from their screen and the joining user types it in.
//! * `http://`: nothing is encrypted or authenticated, so a LAN neighbour
//!   can read the token and impersonate the user at the registry. Allowed
//!   silently only to a loopback address (local scripts and tests); any
//!   other address needs the caller's explicit consent
//!   ([`ConnectOptions::allow_insecure_http`]), which the front ends ask the
//!   user for after a warning that names where the address is
//!   ([`Reach`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

/// SHA-256 of a certificate's DER encoding: what a user pins.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint([u8; 32]);

/// Why a typed-in fingerprint was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a certificate fingerprint is 64 hexadecimal digits (SHA-256), optionally grouped with \
     spaces or colons"
)]
pub struct BadFingerprint;

impl CertFingerprint {
    /// The fingerprint of the certificate `der`.
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Reads a fingerprint as people copy it: hex digits in either case,
    /// grouped or not by spaces, colons or dashes.
    pub fn parse(text: &str) -> Result<Self, BadFingerprint> {
        let mut out = [0u8; 32];
        let mut n = 0usize;
        for c in text.chars() {
            if matches!(c, ' ' | ':' | '-' | '\t') {
                continue;
            }
            let d = c.to_digit(16).ok_or(BadFingerprint)?;
            let byte = out.get_mut(n / 2).ok_or(BadFingerprint)?;
            // `d` < 16, so the cast keeps every bit.
            *byte = (*byte << 4) | d as u8;
            n += 1;
        }
        if n == 64 {
            Ok(Self(out))
        } else {
            Err(BadFingerprint)
        }
    }

    /// The fingerprint of the first certificate in the PEM text `pem` (a
    /// chain's end-entity certificate comes first), if it has one.
    pub fn of_pem(pem: &[u8]) -> Option<Self> {
        use rustls::pki_types::pem::PemObject;
        let first = CertificateDer::pem_slice_iter(pem).next()?.ok()?;
        Some(Self::of_der(&first))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex without separators, for files and environment
    /// variables.
    pub fn to_hex(&self) -> String {
        proto::hex::encode(&self.0)
    }

    /// Sixteen groups of four upper-case hex digits: short enough chunks to
    /// read aloud and compare on two screens.
    pub fn grouped(&self) -> String {
        let hex = self.to_hex().to_uppercase();
        let groups: Vec<&str> = hex
            .as_bytes()
            .chunks(4)
            // Hex digits are ASCII, so every chunk is valid UTF-8.
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect();
        groups.join(" ")
    }
}

impl fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.grouped())
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({})", self.to_hex())
    }
}

/// Where a registry address points, as far as the URL alone tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// This computer (`localhost`, 127.0.0.0/8, `::1`).
    Loopback,
    /// A private or link-local network (RFC 1918, 100.64/10, 169.254/16,
    /// fc00::/7, fe80::/10) or a name that only resolves on one (a single
    /// label, `.local`, `.lan`, `.home.arpa`, `.internal`).
    PrivateNetwork,
    /// Anything else, including every other host name.
    Public,
}

impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Loopback => "this computer",
            Self::PrivateNetwork => "the local network",
            Self::Public => "the internet",
        })
    }
}

/// A registry URL's scheme and [`Reach`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlClass {
    /// `https://` (true) or `http://` (false).
    pub tls: bool,
    /// Where the host is.
    pub reach: Reach,
}

impl UrlClass {
    /// Whether using this URL sends tokens in the clear beyond this
    /// computer, which needs the user's explicit consent.
    pub fn is_insecure(&self) -> bool {
        !self.tls && self.reach != Reach::Loopback
    }
}

/// Why a registry URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("registry URL must look like http://host:port or https://host[:port]")]
pub struct BadUrl;

/// Classifies `url` (`http(s)://host[:port]`, an optional trailing slash).
pub fn classify(url: &str) -> Result<UrlClass, BadUrl> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(BadUrl);
    };
    let authority = rest.split('/').next().unwrap_or("");
    // Credentials in the URL are not ours to handle; refuse rather than
    // guess which part is the host.
    if authority.contains('@') {
        return Err(BadUrl);
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(BadUrl);
    }
    Ok(UrlClass {
        tls,
        reach: reach_of_host(host),
    })
}

fn reach_of_host(host: &str) -> Reach {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return reach_of_ip(ip);
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        Reach::Loopback
    } else if !name.contains('.')
        || [".local", ".lan", ".home.arpa", ".internal"]
            .iter()
            .any(|s| name.ends_with(s))
    {
        Reach::PrivateNetwork
    } else {
        Reach::Public
    }
}

fn reach_of_ip(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(v4) => reach_of_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return reach_of_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Reach::Loopback
            } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80 {
                Reach::PrivateNetwork
            } else {
                Reach::Public
            }
        }
    }
}

fn reach_of_v4(v4: Ipv4Addr) -> Reach {
    let [a, b, ..] = v4.octets();
    if v4.is_loopback() {
        Reach::Loopback
    } else if v4.is_private() || v4.is_link_local() || (a == 100 && (64..128).contains(&b)) {
        Reach::PrivateNetwork
    } else {
        Reach::Public
    }
}

/// How a [`crate::registry_client::RegistryClient`] may connect.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Extra PEM root certificate(s) to trust besides the WebPKI roots (a
    /// registry with its own CA).
    pub root_pem: Option<Vec<u8>>,
    /// Accept exactly the certificate with this fingerprint instead of
    /// validating a chain (a self-signed hosted registry).
    pub pinned: Option<CertFingerprint>,
    /// Allow `http://` to an address beyond loopback. Only after the user
    /// saw a warning.
    pub allow_insecure_http: bool,
}

/// Accepts one certificate, named by its fingerprint, and checks that the
/// server signs the handshake with that certificate's key.
///
/// What it does not check, on purpose: names and validity dates. The pin
/// already says which certificate this is; a hosted registry's certificate
/// carries whatever address the host had when it was made, and an expired
/// date would only turn a working pin into an outage.
#[derive(Debug)]
pub(crate) struct PinnedCertVerifier {
    pin: CertFingerprint,
    algorithms: WebPkiSupportedAlgorithms,
    /// The fingerprint of the last certificate refused, so the client can
    /// say which one it saw instead of a generic TLS failure.
    refused: Arc<Mutex<Option<CertFingerprint>>>,
}

impl PinnedCertVerifier {
    pub(crate) fn new(
        pin: CertFingerprint,
        algorithms: WebPkiSupportedAlgorithms,
        refused: Arc<Mutex<Option<CertFingerprint>>>,
    ) -> Self {
        Self {
            pin,
            algorithms,
            refused,
        }
    }
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = CertFingerprint::of_der(end_entity);
        if seen == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Some(seen);
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
    }

    // The pin names the certificate; these prove the peer holds its key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// WebPKI validation as rustls does it, noting the fingerprint of a
/// certificate it refuses, so that the client can say "not trusted, this is
/// its fingerprint" instead of a bare connection failure: the usual cause is
/// a self-signed hosted registry joined without its pin.
#[derive(Debug)]
pub(crate) struct WebPkiRecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    refused: Arc<Mutex<Option<CertFingerprint>>>,
}

impl WebPkiRecordingVerifier {
    pub(crate) fn new(
        inner: Arc<WebPkiServerVerifier>,
        refused: Arc<Mutex<Option<CertFingerprint>>>,
    ) -> Self {
        Self { inner, refused }
    }
}

impl ServerCertVerifier for WebPkiRecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if verdict.is_err() {
            *self.refused.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(CertFingerprint::of_der(end_entity));
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_as_people_copy_them() {
        let fp = CertFingerprint::of_der(b"certificate");
        let grouped = fp.grouped();
        assert_eq!(grouped.len(), 16 * 4 + 15);
        assert_eq!(CertFingerprint::parse(&grouped), Ok(fp));
        assert_eq!(CertFingerprint::parse(&fp.to_hex()), Ok(fp));
        let colons: Vec<String> = fp.as_bytes().iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(CertFingerprint::parse(&colons.join(":")), Ok(fp));
        // Too short, too long, not hex: refused without a panic.
        assert!(CertFingerprint::parse(&fp.to_hex()[..62]).is_err());
        assert!(CertFingerprint::parse(&format!("{}00", fp.to_hex())).is_err());
        assert!(CertFingerprint::parse(&"g".repeat(64)).is_err());
        assert!(CertFingerprint::parse("").is_err());
        assert!(CertFingerprint::parse("é".repeat(64).as_str()).is_err());
    }

    #[test]
    fn urls_are_classified_by_where_they_point() {
        let cases: [(Reach, &[&str]); 3] = [
            (
                Reach::Loopback,
                &[
                    "http://127.0.0.1:5001",
                    "http://localhost:5001/",
                    "http://[::1]:5001",
                    "http://127.8.9.10",
                    "http://[::ffff:127.0.0.1]:1",
                ],
            ),
            (
                Reach::PrivateNetwork,
                &[
                    "http://192.168.1.20:5001",
                    "http://10.0.0.1",
                    "http://172.16.5.5:80",
                    "http://169.254.1.1",
                    "http://100.64.0.1",
                    "http://[fd00::1]:5001",
                    "http://[fe80::1]:5001",
                    "http://nas:5001",
                    "http://phone.local:5001",
                ],
            ),
            (
                Reach::Public,
                &[
                    "http://203.0.113.7:5001",
                    "https://registry.example.org",
                    "http://[2001:db8::1]:5001",
                    "http://172.32.0.1",
                ],
            ),
        ];
        for (want, urls) in cases {
            for u in urls {
                assert_eq!(classify(u).expect(u).reach, want, "{u}");
            }
        }
        let insecure = |u: &str| classify(u).expect("url").is_insecure();
        assert!(insecure("http://192.168.1.2:5001"));
        assert!(!insecure("https://192.168.1.2:5001"));
        assert!(!insecure("http://127.0.0.1:5001"));
        for bad in ["ftp://x", "http://", "http://user@host", "127.0.0.1:5001"] {
            assert_eq!(classify(bad), Err(BadUrl), "{bad}");
        }
        assert_eq!(
            reach_of_ip(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)),
            Reach::Loopback
        );
    }
}
