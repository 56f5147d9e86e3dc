//! The one error type of the commands, as the UI receives it.
//!
//! Every failed command rejects with `{ "kind": "...", "message": "..." }`
//! (docs/ui-api.md). `kind` is a stable tag the UI reacts to; `message` is
//! shown to the user as is, so it is always a full sentence without paths
//! of secret files, key material or decrypt-failure detail. Detail that
//! helps a developer goes to the log instead, via [`AppError::internal`].

use engine::account::AccountError;
use engine::dial::DialError;
use engine::registry_client::RegistryError;
use proto::signaling::ErrorCode;
use serde::ser::SerializeStruct;

/// Why a command failed. Each variant is one `kind` of the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// An argument failed validation (bad username, URL, port, path).
    #[error("{0}")]
    InvalidInput(String),
    /// The command needs an account and there is none.
    #[error("Sign up first: this device has no account yet.")]
    NotSignedUp,
    /// `sign_up` on a device that already has an account.
    #[error("This device already has an account ({0}).")]
    AlreadySignedUp(String),
    /// The registry has the name bound to another key.
    #[error("The name {0} is already taken on this registry. Choose another one.")]
    UsernameTaken(String),
    /// No connection to the registry.
    #[error("Cannot reach the registry at {0}. Check the address and your connection.")]
    RegistryUnreachable(String),
    /// The registry answered with an error.
    #[error("{0}")]
    Registry(String),
    /// The username is not registered.
    #[error("Nobody is registered as {0}.")]
    NoSuchUser(String),
    /// A contact's key changed and the change was not accepted.
    #[error(
        "The identity key of {0} has changed. Compare the new safety number with {0} and \
         accept the new key before calling."
    )]
    KeyChanged(String),
    /// The key to be pinned or marked verified is not the one whose safety
    /// number the user compared (it changed in between).
    #[error(
        "The key of {0} changed while you were comparing, so nothing was marked. Open the \
         safety number again and compare the new digits with {0}."
    )]
    NotCompared(String),
    /// Plain `http://` to a registry beyond this computer without the
    /// user's consent; holds where the address is ("the local network").
    #[error(
        "This registry address uses plain http:// to {0}: anyone on the way could read your \
         sign-in token and act as you. Use https://, or confirm that you accept the risk."
    )]
    InsecureHttp(String),
    /// The registry's certificate is not the one whose fingerprint was
    /// pinned.
    #[error(
        "The registry at {0} showed a certificate that does not match the fingerprint you \
         entered, so nothing was sent. Check the fingerprint with the registry's host."
    )]
    CertificateMismatch(String),
    /// No fingerprint was pinned and the registry's certificate is not
    /// publicly trusted (typically a registry hosted with a self-signed one).
    #[error(
        "The registry at {0} uses a certificate that is not publicly trusted, so nothing was \
         sent. If it is hosted on someone's computer, enter the certificate fingerprint its \
         host shows."
    )]
    UntrustedCertificate(String),
    /// Already in a call (or a mic test conflicts with one).
    #[error("{0}")]
    Busy(String),
    /// The call id is unknown or the call is in the wrong state.
    #[error("{0}")]
    NoCall(String),
    /// An audio device could not be opened.
    #[error("{0}")]
    Device(String),
    /// A file could not be written.
    #[error("{0}")]
    Io(String),
    /// The bundled registry could not start.
    #[error("{0}")]
    Hosting(String),
    /// Anything else; the detail is in the log.
    #[error("Something went wrong inside the app. Details are in the log.")]
    Internal,
}

impl AppError {
    /// The contract's `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::InvalidInput(_) => "invalid-input",
            AppError::NotSignedUp => "not-signed-up",
            AppError::AlreadySignedUp(_) => "already-signed-up",
            AppError::UsernameTaken(_) => "username-taken",
            AppError::RegistryUnreachable(_) => "registry-unreachable",
            AppError::Registry(_) => "registry",
            AppError::NoSuchUser(_) => "no-such-user",
            AppError::KeyChanged(_) => "key-changed",
            AppError::NotCompared(_) => "not-compared",
            AppError::InsecureHttp(_) => "insecure-http",
            AppError::CertificateMismatch(_) => "certificate-mismatch",
            AppError::UntrustedCertificate(_) => "certificate-untrusted",
            AppError::Busy(_) => "busy",
            AppError::NoCall(_) => "no-call",
            AppError::Device(_) => "device",
            AppError::Io(_) => "io",
            AppError::Hosting(_) => "hosting",
            AppError::Internal => "internal",
        }
    }

    /// Logs `detail` for developers and returns the generic error the user
    /// sees. Used wherever the detail could carry a path or internals.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        AppError::Internal
    }

    /// Maps a registry failure, `registry` naming the URL for messages and
    /// `user` the name the request was about (for `no-such-user`).
    pub fn from_registry(e: RegistryError, registry: &str, user: Option<&str>) -> Self {
        match &e {
            RegistryError::Unreachable(detail) => {
                tracing::warn!(%detail, registry, "registry unreachable");
                AppError::RegistryUnreachable(registry.to_owned())
            }
            RegistryError::Refused { code, message, .. } => match code {
                ErrorCode::UsernameTaken => {
                    AppError::UsernameTaken(user.unwrap_or("this name").to_owned())
                }
                ErrorCode::UnknownUser => {
                    AppError::NoSuchUser(user.unwrap_or("that user").to_owned())
                }
                _ => AppError::Registry(sentence(&format!("The registry refused: {message}"))),
            },
            RegistryError::Config(detail) => AppError::InvalidInput(sentence(&format!(
                "The registry address is unusable: {detail}"
            ))),
            RegistryError::Invalid(detail) => AppError::InvalidInput(sentence(&detail.to_string())),
            RegistryError::InsecureHttp(reach) => AppError::InsecureHttp(reach.to_string()),
            RegistryError::CertificateMismatch { expected, got } => {
                tracing::warn!(%expected, %got, registry, "registry certificate not the pinned one");
                AppError::CertificateMismatch(registry.to_owned())
            }
            RegistryError::UntrustedCertificate { got } => {
                tracing::warn!(%got, registry, "registry certificate not trusted");
                AppError::UntrustedCertificate(registry.to_owned())
            }
            RegistryError::BadAnswer(detail) => {
                tracing::warn!(%detail, registry, "unexpected registry answer");
                AppError::Registry(format!(
                    "The registry at {registry} sent an answer this app does not understand."
                ))
            }
        }
    }

    /// Maps a failure of call setup.
    pub fn from_dial(e: DialError, registry: &str, peer: &str) -> Self {
        match e {
            DialError::Registry(r) => Self::from_registry(r, registry, Some(peer)),
            DialError::Account(a) => Self::from(a),
            DialError::BadKey(_) => AppError::Registry(format!(
                "The registry sent a malformed identity key for {peer}."
            )),
            DialError::NotGenuine(_) => AppError::Registry(format!(
                "The call with {peer} did not verify and was refused."
            )),
            DialError::Socket { .. } | DialError::Random => Self::internal(e),
        }
    }
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::KeyChanged(name) => AppError::KeyChanged(name),
            AccountError::NotCompared(name, _) => AppError::NotCompared(name),
            AccountError::BadCompared(what) => AppError::InvalidInput(sentence(what)),
            AccountError::NoIdentity | AccountError::NotRegistered => AppError::NotSignedUp,
            other => AppError::internal(other),
        }
    }
}

impl From<engine::profile::ProfileError> for AppError {
    fn from(e: engine::profile::ProfileError) -> Self {
        AppError::internal(e)
    }
}

/// Capitalises the first letter and ends with a full stop, so that texts
/// coming from lower layers read as sentences.
pub fn sentence(s: &str) -> String {
    let s = s.trim();
    let mut out = String::with_capacity(s.len() + 1);
    let mut chars = s.chars();
    if let Some(c) = chars.next() {
        out.extend(c.to_uppercase());
        out.push_str(chars.as_str());
    }
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("AppError", 2)?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

/// Result of a command.
pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_serialize_as_kind_and_sentence() {
        let v = serde_json::to_value(AppError::KeyChanged("bob".into())).expect("json");
        assert_eq!(v["kind"], "key-changed");
        let msg = v["message"].as_str().expect("message");
        assert!(msg.starts_with("The identity key of bob"));
        assert!(msg.ends_with('.'));
        assert_eq!(v.as_object().expect("object").len(), 2);
    }

    #[test]
    fn sentences_are_capitalised_and_terminated() {
        assert_eq!(sentence("bad name"), "Bad name.");
        assert_eq!(sentence("Done!"), "Done!");
    }
}
