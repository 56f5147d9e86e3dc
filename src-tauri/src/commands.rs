//! Commands the UI may invoke (docs/ui-api.md). Their names are written
//! once, in `src-tauri/commands.list`, which registers them (`lib.rs`),
//! declares them to the ACL (`build.rs`) and is what `capabilities/`
//! must grant.
//!
//! Commands validate their arguments again (the UI already did) and turn
//! every failure into an [`AppError`]; the work itself lives in the phone
//! service and the engine.

use engine::account::{self, AccountInfo, Outcome};
use engine::contacts::{Compared, ContactBook, Observation};
use engine::dial;
use proto::identity::PublicIdentity;
use proto::safety::SafetyNumber as ProtoSafetyNumber;
use proto::signaling::{ErrorCode, Presence, Username};
use serde::{Deserialize, Serialize};
use tauri::State;
use zeroize::Zeroizing;

use crate::devices::{self, DeviceList};
use crate::error::{AppError, AppResult};
use crate::events::{CallDirection, CallSnapshot, Trust, trust_in};
use crate::hosting::{self, HostStatus, HostedRegistry};
use crate::phone::{fingerprint, parse_username};
use crate::state::AppState;

/// What the UI shows about this build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// Version of the app.
    pub version: String,
    /// Registry the app is pointed at.
    pub registry_url: String,
}

/// This device's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The registered username.
    pub username: String,
    /// The registry it is registered with.
    pub registry_url: String,
    /// Short fingerprint of the identity key.
    pub fingerprint: String,
}

/// One row of the contact list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// Username.
    pub username: String,
    /// Presence as the registry reports it (offline if unknown).
    pub presence: Presence,
    /// Trust in the pinned key.
    pub trust: Trust,
    /// Unix ms of the last call with them.
    pub last_call_at: Option<u64>,
}

/// `safety_number` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SafetyNumber {
    /// The contact.
    pub username: String,
    /// 12 groups of 5 digits.
    pub groups: Vec<String>,
    /// Trust in the key the number was computed with.
    pub trust: Trust,
    /// The whole fingerprint (64 hex digits) of the key the number was
    /// computed with. `mark_verified` and `accept_key_change` take it
    /// back, so that what is pinned is the key whose number was shown.
    pub fingerprint: String,
}

/// Settings as the UI sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The registry in use.
    pub registry_url: String,
    /// The pinned SHA-256 of the registry's certificate, grouped for
    /// reading (a registry hosted with a self-signed certificate).
    #[serde(default)]
    pub registry_fingerprint: Option<String>,
    /// The user agreed to plain `http://` to this non-loopback registry.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Ring tone for incoming calls.
    pub ring_sound: bool,
    /// OS notification for incoming calls.
    pub notifications: bool,
    /// `host:port` for media, or `None`.
    pub advertise_address: Option<String>,
    /// Every call through the registry's relay.
    #[serde(default)]
    pub always_relay: bool,
    /// Calls with people who are not chosen contacts through the relay.
    #[serde(default = "relay_strangers_default")]
    pub relay_strangers: bool,
}

fn relay_strangers_default() -> bool {
    crate::settings::StoredSettings::default().relay_strangers
}

/// How the app reaches one of the registry's TURN relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelayTransport {
    /// Datagrams.
    Udp,
    /// A TCP stream (where UDP is blocked).
    Tcp,
}

/// What the registry offers for calls between homes, as the settings page
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatus {
    /// The registry answers STUN: calls learn their public address.
    pub stun: bool,
    /// One entry per TURN relay the registry hands out credentials for.
    pub relays: Vec<RelayTransport>,
    /// Why the registry could not be asked; the rest is empty then.
    pub error: Option<String>,
}

impl NetworkStatus {
    /// The status of what the registry answered (or why it did not).
    pub fn of(servers: Result<engine::net::IceServers, String>) -> Self {
        match servers {
            Ok(s) => Self {
                stun: !s.stun.is_empty(),
                relays: s
                    .turn
                    .iter()
                    .map(|t| match t.transport {
                        engine::net::TurnTransport::Udp => RelayTransport::Udp,
                        engine::net::TurnTransport::Tcp => RelayTransport::Tcp,
                    })
                    .collect(),
                error: None,
            },
            Err(e) => Self {
                stun: false,
                relays: Vec::new(),
                error: Some(crate::error::sentence(&e)),
            },
        }
    }
}

/// A call in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The call.
    pub call_id: String,
    /// The other party.
    pub peer: String,
    /// A call to the echo test.
    pub echo: bool,
    /// Which way.
    pub direction: CallDirection,
    /// How it ended.
    pub outcome: &'static str,
    /// Unix ms.
    pub started_at: u64,
    /// Seconds of conversation.
    pub duration_secs: u64,
}

/// `export_identity` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportResult {
    /// Absolute path written.
    pub path: String,
}

/// Checks and normalizes a registry URL: http(s), a host, no path, query
/// or whitespace; no trailing slash.
pub fn normalize_registry_url(url: &str) -> AppResult<String> {
    let url = url.trim().trim_end_matches('/');
    let bad = || {
        AppError::InvalidInput(
            "The registry address must look like http://host:port or https://host.".into(),
        )
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(bad)?;
    let host_ok = !rest.is_empty()
        && rest.len() <= 253
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    if !host_ok {
        return Err(bad());
    }
    Ok(url.to_owned())
}

/// Checks how the user asked to reach `url`: a typed-in certificate
/// fingerprint (https only; empty means none) and consent to plain http.
/// Refuses plain `http://` beyond this computer without that consent.
/// Returns the pin as hex and the consent, kept only where it applies.
pub fn registry_link(
    url: &str,
    fingerprint: Option<&str>,
    allow_insecure_http: bool,
) -> AppResult<(Option<String>, bool)> {
    use engine::registry_tls::{CertFingerprint, classify};
    let class = classify(url)
        .map_err(|e| AppError::InvalidInput(crate::error::sentence(&e.to_string())))?;
    let pin = match fingerprint.map(str::trim).filter(|f| !f.is_empty()) {
        None => None,
        Some(_) if !class.tls => {
            return Err(AppError::InvalidInput(
                "A certificate fingerprint only applies to an https:// registry address.".into(),
            ));
        }
        Some(f) => Some(
            CertFingerprint::parse(f)
                .map_err(|_| {
                    AppError::InvalidInput(
                        "The certificate fingerprint must be 64 hexadecimal digits, as the \
                         registry's host shows it."
                            .into(),
                    )
                })?
                .to_hex(),
        ),
    };
    if class.is_insecure() && !allow_insecure_http {
        return Err(AppError::InsecureHttp(class.reach.to_string()));
    }
    Ok((pin, class.is_insecure() && allow_insecure_http))
}

fn account_of(state: &AppState) -> AppResult<Option<Account>> {
    let Some(info) = account::account(&state.profile)? else {
        return Ok(None);
    };
    let identity = account::load_identity(&state.profile)?;
    Ok(Some(Account {
        username: info.username,
        registry_url: info.registry,
        fingerprint: fingerprint(identity.public()),
    }))
}

/// Returns the app version and the registry it is pointed at.
#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    // The page's first command: WebKit is up and the UI's script runs.
    static ASKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    crate::startup::mark(&ASKED, "page loaded (first command)");
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        registry_url: state.config.default_registry.clone(),
    }
}

/// This device's account, or `null` before the first sign-up. Also sends
/// the registry link's state again ([`crate::phone::Phone::resend_status`]):
/// this is the UI's start-up call, made once it listens to events.
#[tauri::command]
pub fn get_account(state: State<'_, AppState>) -> AppResult<Option<Account>> {
    state.phone.resend_status();
    account_of(&state)
}

/// Creates the identity, registers `username` with it and goes online.
/// `registry_fingerprint` pins the registry's certificate (a self-signed
/// hosted registry); `allow_insecure_http` is the user's consent to plain
/// http beyond this computer, given after the form's warning.
#[tauri::command]
pub async fn sign_up(
    state: State<'_, AppState>,
    registry_url: String,
    username: String,
    registry_fingerprint: Option<String>,
    allow_insecure_http: Option<bool>,
) -> AppResult<Account> {
    let url = normalize_registry_url(&registry_url)?;
    let user = parse_username(&username)?;
    let (pin, insecure_ok) = registry_link(
        &url,
        registry_fingerprint.as_deref(),
        allow_insecure_http.unwrap_or(false),
    )?;
    if let Some(existing) = account::account(&state.profile)? {
        return Err(AppError::AlreadySignedUp(existing.username));
    }
    let info = AccountInfo {
        username: user.to_string(),
        registry: url,
        registry_fingerprint: pin,
        allow_insecure_http: insecure_ok,
    };
    let (identity, _) = account::load_or_create_identity(&state.profile)?;
    let identity = std::sync::Arc::new(identity);
    register_at(&info, &user, identity).await?;
    account::set_account(&state.profile, &info)?;
    state.phone.open_session(info)?;
    account_of(&state)?.ok_or_else(|| AppError::internal("account vanished after sign-up"))
}

/// Registers `user` with `identity` at the registry of `info`, connecting
/// as it says. A name already bound to this very key (a second sign-up, a
/// registry move back) is fine: signing in with the key proves it.
async fn register_at(
    info: &AccountInfo,
    user: &Username,
    identity: std::sync::Arc<proto::identity::IdentityKeyPair>,
) -> AppResult<()> {
    let url = info.registry.as_str();
    let client = engine::registry_client::RegistryClient::with_options(
        url,
        user.clone(),
        identity,
        &info.connect_options()?,
    )
    .map_err(|e| AppError::from_registry(e, url, Some(user.as_str())))?;
    match client.register().await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(ErrorCode::UsernameTaken) => match client.sign_in().await {
            Ok(()) => Ok(()),
            Err(_) => Err(AppError::UsernameTaken(user.to_string())),
        },
        Err(e) => Err(AppError::from_registry(e, url, Some(user.as_str()))),
    }
}

/// Contacts matching `query`, plus an exact registered username.
#[tauri::command]
pub async fn list_contacts(state: State<'_, AppState>, query: String) -> AppResult<Vec<Contact>> {
    static ASKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    crate::startup::mark(&ASKED, "first contact list asked");
    let phone = &state.phone;
    let session = phone.session()?;
    let q = query.trim().to_lowercase();
    if q.len() > 64 {
        return Err(AppError::InvalidInput(
            "The search text is too long.".into(),
        ));
    }
    let book = ContactBook::load(&state.profile)?;
    let mut last_call: std::collections::BTreeMap<String, u64> = Default::default();
    for h in account::history(&state.profile)? {
        let at = h.started_at.saturating_mul(1000);
        let e = last_call.entry(h.peer).or_default();
        *e = (*e).max(at);
    }
    let users: Vec<Username> = book
        .names()
        .filter(|n| n.as_str().contains(&q))
        .cloned()
        .collect();
    // The registry's view gives presence and shows a changed key; when it
    // cannot be asked, the local data still lists the contact.
    let checked = phone.check_keys(&session, &users).await;
    let mut out = Vec::new();
    for (name, checked) in users.iter().map(Username::as_str).zip(checked) {
        let presence = match checked {
            Ok((_, _, presence)) => presence,
            Err(e) => {
                tracing::warn!(contact = %name, error = %e, "contact not refreshed from the registry");
                Presence::Offline
            }
        };
        out.push(Contact {
            username: name.to_owned(),
            presence,
            trust: phone.trust_of(name),
            last_call_at: last_call.get(name).copied(),
        });
    }
    out.sort_by(|a, b| {
        b.last_call_at
            .cmp(&a.last_call_at)
            .then_with(|| a.username.cmp(&b.username))
    });
    if !q.is_empty()
        && !users.iter().any(|u| u.as_str() == q)
        && q != session.info.username
        && let Ok(user) = parse_username(&q)
        && let Ok(info) = session.client.fetch(&user).await
    {
        out.push(Contact {
            username: user.to_string(),
            presence: info.presence,
            trust: Trust::Unverified,
            last_call_at: None,
        });
    }
    phone.resubscribe();
    crate::startup::first_contacts_listed();
    Ok(out)
}

/// The call in progress, if any.
#[tauri::command]
pub async fn current_call(state: State<'_, AppState>) -> AppResult<Option<CallSnapshot>> {
    Ok(state.phone.current().await)
}

/// Rings `username`.
#[tauri::command]
pub async fn start_call(state: State<'_, AppState>, username: String) -> AppResult<CallSnapshot> {
    state.phone.start_call(&username).await
}

/// Starts the echo test.
#[tauri::command]
pub async fn echo_test(state: State<'_, AppState>) -> AppResult<CallSnapshot> {
    state.phone.echo_test().await
}

/// Cancels our ringing call.
#[tauri::command]
pub async fn cancel_call(state: State<'_, AppState>, call_id: String) -> AppResult<()> {
    state.phone.cancel_call(&call_id).await
}

/// Answers a ringing call.
#[tauri::command]
pub async fn accept_call(state: State<'_, AppState>, call_id: String) -> AppResult<CallSnapshot> {
    state.phone.accept_call(&call_id).await
}

/// Declines a ringing call.
#[tauri::command]
pub async fn reject_call(state: State<'_, AppState>, call_id: String) -> AppResult<()> {
    state.phone.reject_call(&call_id).await
}

/// Hangs up.
#[tauri::command]
pub async fn hang_up(state: State<'_, AppState>, call_id: String) -> AppResult<()> {
    state.phone.hang_up(&call_id).await
}

/// Mutes or unmutes the microphone of the current call.
#[tauri::command]
pub async fn set_mute(state: State<'_, AppState>, muted: bool) -> AppResult<()> {
    state.phone.set_mute(muted).await
}

/// The sound devices.
#[tauri::command]
pub async fn list_devices(state: State<'_, AppState>) -> AppResult<DeviceList> {
    let s = state.phone.settings();
    // Enumerating devices can block on the sound server.
    tauri::async_runtime::spawn_blocking(move || devices::list(s.input_device, s.output_device))
        .await
        .map_err(AppError::internal)
}

/// Chooses the sound devices (`null` = system default).
#[tauri::command]
pub async fn select_devices(
    state: State<'_, AppState>,
    input: Option<String>,
    output: Option<String>,
) -> AppResult<()> {
    let list = tauri::async_runtime::spawn_blocking(|| devices::list(None, None))
        .await
        .map_err(AppError::internal)?;
    devices::check_id(&input, &list.inputs, "input")?;
    devices::check_id(&output, &list.outputs, "output")?;
    let mut s = state.phone.settings();
    s.input_device = input;
    s.output_device = output;
    state.phone.save_settings(s)
}

/// Starts the microphone test.
#[tauri::command]
pub async fn start_mic_test(state: State<'_, AppState>) -> AppResult<()> {
    let phone = state.phone.clone();
    tauri::async_runtime::spawn_blocking(move || phone.start_mic_test())
        .await
        .map_err(AppError::internal)?
}

/// Stops the microphone test.
#[tauri::command]
pub fn stop_mic_test(state: State<'_, AppState>) {
    state.phone.stop_mic_test();
}

fn settings_of(state: &AppState) -> AppResult<Settings> {
    let s = state.phone.settings();
    let (registry_url, pin, allow_insecure_http) = match account::account(&state.profile)? {
        Some(a) => (a.registry, a.registry_fingerprint, a.allow_insecure_http),
        None => (state.config.default_registry.clone(), None, false),
    };
    let registry_fingerprint = pin
        .as_deref()
        .and_then(|h| engine::registry_tls::CertFingerprint::parse(h).ok())
        .map(|f| f.grouped());
    Ok(Settings {
        registry_url,
        registry_fingerprint,
        allow_insecure_http,
        ring_sound: s.ring_sound,
        notifications: s.notifications,
        advertise_address: s.advertise_address,
        always_relay: s.always_relay,
        relay_strangers: s.relay_strangers,
    })
}

/// The settings.
#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> AppResult<Settings> {
    settings_of(&state)
}

/// What the registry offers for calls between homes (STUN, TURN relays),
/// asked again now.
#[tauri::command]
pub async fn network_status(state: State<'_, AppState>) -> AppResult<NetworkStatus> {
    Ok(NetworkStatus::of(state.phone.ice_servers().await?))
}

/// Stores the settings; a new registry URL moves the account there.
#[tauri::command]
pub async fn set_settings(state: State<'_, AppState>, settings: Settings) -> AppResult<Settings> {
    let url = normalize_registry_url(&settings.registry_url)?;
    let advertise = match settings.advertise_address.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(a) => {
            a.parse::<std::net::SocketAddr>().map_err(|_| {
                AppError::InvalidInput(
                    "The advertised address must be an IP address and port, like 203.0.113.7:40000."
                        .into(),
                )
            })?;
            Some(a.to_owned())
        }
    };
    let (pin, insecure_ok) = registry_link(
        &url,
        settings.registry_fingerprint.as_deref(),
        settings.allow_insecure_http,
    )?;
    if let Some(mut info) = account::account(&state.profile)?
        && (info.registry != url
            || info.registry_fingerprint != pin
            || info.allow_insecure_http != insecure_ok)
    {
        let identity = std::sync::Arc::new(account::load_identity(&state.profile)?);
        let user = parse_username(&info.username)?;
        info.registry = url;
        info.registry_fingerprint = pin;
        info.allow_insecure_http = insecure_ok;
        register_at(&info, &user, identity).await?;
        account::set_account(&state.profile, &info)?;
        state.phone.close_session();
        state.phone.open_session(info)?;
    } else if account::account(&state.profile)?.is_none() && url != state.config.default_registry {
        return Err(AppError::NotSignedUp);
    }
    let mut s = state.phone.settings();
    s.ring_sound = settings.ring_sound;
    s.notifications = settings.notifications;
    s.advertise_address = advertise;
    s.always_relay = settings.always_relay;
    s.relay_strangers = settings.relay_strangers;
    state.phone.save_settings(s)?;
    settings_of(&state)
}

/// The key of `name` to compute the safety number with: a pending new key,
/// else the pinned one, else the one the registry serves now (not pinned).
async fn key_for_safety(state: &AppState, name: &Username) -> AppResult<(PublicIdentity, Trust)> {
    let book = ContactBook::load(&state.profile)?;
    if let Some(c) = book.get(name) {
        let key = c.pending().unwrap_or(c.pinned()).clone();
        return Ok((key, trust_in(&book, name)));
    }
    let s = state.phone.session()?;
    let (key, _, _) = state.phone.check_key(&s, name).await?;
    Ok((key, Trust::Unverified))
}

/// The safety number with `username`.
#[tauri::command]
pub async fn safety_number(
    state: State<'_, AppState>,
    username: String,
) -> AppResult<SafetyNumber> {
    let user = parse_username(&username)?;
    let s = state.phone.session()?;
    let (theirs, trust) = key_for_safety(&state, &user).await?;
    let n = ProtoSafetyNumber::new(
        &s.info.username,
        s.identity.public(),
        user.as_str(),
        &theirs,
    );
    Ok(SafetyNumber {
        username: user.to_string(),
        groups: n.groups().to_vec(),
        trust,
        fingerprint: account::fingerprint_hex(&theirs),
    })
}

/// What the UI says the user compared: the fingerprint that came with the
/// safety number it showed.
fn compared(fingerprint: &str) -> AppResult<Compared> {
    Compared::fingerprint(fingerprint).map_err(|_| {
        AppError::InvalidInput(
            "The key fingerprint must be the 64 hex digits that came with the safety number."
                .into(),
        )
    })
}

/// Marks the key of `username` whose safety number the user compared
/// (`fingerprint` came with that number) as verified, pinning it first if
/// this is the first contact. Refused with `not-compared` when the pinned
/// key, or on first contact the key the registry serves now, is another;
/// then nothing is pinned or marked. The check is the contact book's.
#[tauri::command]
pub async fn mark_verified(
    state: State<'_, AppState>,
    username: String,
    fingerprint: String,
) -> AppResult<()> {
    let user = parse_username(&username)?;
    let compared = compared(&fingerprint)?;
    let s = state.phone.session()?;
    let book = ContactBook::load(&state.profile)?;
    if book.trust(&user) == Some(Trust::KeyChanged) {
        return Err(AppError::KeyChanged(user.to_string()));
    }
    // On first contact, the key to pin is the one the registry serves now.
    let served = match book.pinned(&user) {
        Some(_) => None,
        None => Some(state.phone.check_key(&s, &user).await?.0),
    };
    ContactBook::update(&state.profile, |book| {
        if let Some(key) = &served
            && book.observe(&user, key) == Observation::Changed
        {
            // Pinned meanwhile (a call) with another key than the served one.
            return Err(account::AccountError::KeyChanged(user.to_string()));
        }
        book.mark_verified(&user, &compared)
    })?;
    state.phone.resubscribe();
    // Someone whose key the user verified is a contact: they see our
    // presence (best effort; the next connect adds them if this fails).
    dial::share_presence(&s.client, &user).await;
    Ok(())
}

/// Pins the new key of `username` that the user compared (`fingerprint`
/// came with its safety number); calls are allowed again, unverified.
/// Refused with `not-compared` when the new key on record is another one
/// (it changed again since the number was shown).
#[tauri::command]
pub fn accept_key_change(
    state: State<'_, AppState>,
    username: String,
    fingerprint: String,
) -> AppResult<()> {
    let user = parse_username(&username)?;
    let compared = compared(&fingerprint)?;
    ContactBook::update(&state.profile, |book| book.accept_change(&user, &compared))?;
    Ok(())
}

/// The call history, newest first.
#[tauri::command]
pub fn history(state: State<'_, AppState>) -> AppResult<Vec<HistoryEntry>> {
    let echo_bot = state.config.echo_bot.as_str();
    Ok(account::history(&state.profile)?
        .into_iter()
        .rev()
        .map(|h| HistoryEntry {
            echo: h.peer == echo_bot,
            direction: match h.direction {
                account::Direction::Outgoing => CallDirection::Outgoing,
                account::Direction::Incoming => CallDirection::Incoming,
            },
            outcome: match h.outcome {
                Outcome::Completed => "answered",
                Outcome::Missed => "missed",
                Outcome::Rejected => "rejected",
                Outcome::Cancelled => "cancelled",
                Outcome::Busy => "busy",
                Outcome::Failed => "failed",
            },
            started_at: h.started_at.saturating_mul(1000),
            duration_secs: h.duration_s,
            call_id: h.call_id,
            peer: h.peer,
        })
        .collect())
}

/// Writes an encrypted backup of the identity to `path`.
#[tauri::command]
pub async fn export_identity(
    state: State<'_, AppState>,
    path: String,
    passphrase: String,
) -> AppResult<ExportResult> {
    // From here on the passphrase is wiped when dropped.
    let passphrase = Zeroizing::new(passphrase);
    let target = crate::backup::check_path(&path)?;
    let info = account::account(&state.profile)?.ok_or(AppError::NotSignedUp)?;
    let identity = account::export_identity(&state.profile)?;
    let written = tauri::async_runtime::spawn_blocking(move || {
        crate::backup::export(
            &target,
            &passphrase,
            &info.username,
            &info.registry,
            &identity,
        )
    })
    .await
    .map_err(AppError::internal)??;
    Ok(ExportResult {
        path: written.display().to_string(),
    })
}

fn host_lock(state: &AppState) -> std::sync::MutexGuard<'_, Option<HostedRegistry>> {
    state.host.lock().unwrap_or_else(|p| p.into_inner())
}

fn host_status(state: &AppState) -> HostStatus {
    let mut g = host_lock(state);
    let alive = g.as_mut().map(HostedRegistry::alive);
    match (alive, g.as_ref()) {
        (Some(true), Some(h)) => h.status(),
        _ => {
            *g = None;
            hosting::stopped()
        }
    }
}

/// Starts hosting a registry on this computer.
#[tauri::command]
pub async fn host_registry_start(
    state: State<'_, AppState>,
    port: Option<u32>,
) -> AppResult<HostStatus> {
    let port = match port {
        None => hosting::DEFAULT_PORT,
        Some(p) if (1024..=65535).contains(&p) => p as u16,
        Some(_) => {
            return Err(AppError::InvalidInput(
                "The port must be a number from 1024 to 65535.".into(),
            ));
        }
    };
    if host_status(&state).running {
        return Ok(host_status(&state));
    }
    let dir = state.profile.dir().join("hosted-registry");
    let hosted = tauri::async_runtime::spawn_blocking(move || HostedRegistry::start(port, &dir))
        .await
        .map_err(AppError::internal)??;
    let mut g = host_lock(&state);
    if let Some(old) = g.replace(hosted) {
        old.stop();
    }
    drop(g);
    Ok(host_status(&state))
}

/// Stops the hosted registry (idempotent).
#[tauri::command]
pub async fn host_registry_stop(state: State<'_, AppState>) -> AppResult<HostStatus> {
    let hosted = host_lock(&state).take();
    if let Some(h) = hosted {
        tauri::async_runtime::spawn_blocking(move || h.stop())
            .await
            .map_err(AppError::internal)?;
    }
    Ok(hosting::stopped())
}

/// Whether a registry is hosted here.
#[tauri::command]
pub fn host_registry_status(state: State<'_, AppState>) -> HostStatus {
    host_status(&state)
}

/// Every command's name, from the one list in `commands.list` that also
/// registers the handlers (`lib.rs`) and declares them to the ACL
/// (`build.rs`).
pub const COMMANDS: &[&str] = {
    macro_rules! app_commands {
        ($($name:ident),* $(,)?) => {
            &[$(stringify!($name)),*]
        };
    }
    include!("../commands.list")
};
