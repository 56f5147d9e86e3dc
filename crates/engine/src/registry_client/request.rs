//! The client's HTTP requests: sign-up and sign-in, the directory and
//! contacts, and the call steps (sent on the push socket when one is up).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex as StdMutex, PoisonError};

use proto::identity::IdentityKeyPair;
use proto::signaling::{
    AcceptRequest, CallId, CallStatus, ChallengeRequest, ChallengeResponse, ClientMessage,
    ContactList, ErrorBody, ErrorCode, HandshakeBlob, HangupRequest, IdentityKeyBytes,
    IncomingCalls, InitiateRequest, Origin, PresenceInfo, REGISTER_DOMAIN, ROTATE_KEY_DOMAIN,
    RegisterRequest, RegisterResponse, RejectRequest, RotateKeyRequest, SIGN_IN_DOMAIN,
    SignInRequest, SignInResponse, SignatureBytes, UserInfo, UserList, Username, register_message,
    rotate_key_message, sign_in_message,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, oneshot};

use super::{
    Backoff, REQUEST_TIMEOUT, RegistryClient, RegistryError, Step, StepResult,
    TOKEN_REFRESH_MARGIN, tls_config, unix_now,
};
use crate::registry_tls::{ConnectOptions, classify};

impl RegistryClient {
    /// A client of the registry at `base_url` (`http://` or `https://`)
    /// acting as `username` with `identity`.
    pub fn new(
        base_url: &str,
        username: Username,
        identity: Arc<IdentityKeyPair>,
    ) -> Result<Self, RegistryError> {
        Self::with_root_certificate(base_url, username, identity, None)
    }

    /// Like [`RegistryClient::new`], also trusting the PEM root
    /// certificate(s) in `root_pem` (for a registry with its own CA).
    pub fn with_root_certificate(
        base_url: &str,
        username: Username,
        identity: Arc<IdentityKeyPair>,
        root_pem: Option<&[u8]>,
    ) -> Result<Self, RegistryError> {
        let options = ConnectOptions {
            root_pem: root_pem.map(<[u8]>::to_vec),
            ..ConnectOptions::default()
        };
        Self::with_options(base_url, username, identity, &options)
    }

    /// A client that connects as `options` says: a pinned certificate, an
    /// extra root, or consent to plain `http://` beyond loopback. Refuses
    /// `http://` to another machine without that consent, and a pin on an
    /// `http://` URL (there is no certificate to pin).
    pub fn with_options(
        base_url: &str,
        username: Username,
        identity: Arc<IdentityKeyPair>,
        options: &ConnectOptions,
    ) -> Result<Self, RegistryError> {
        let base = base_url.trim_end_matches('/').to_owned();
        // From the URL the user gave, never from anything a server says.
        let origin = Origin::from_url(&base).map_err(|e| RegistryError::Config(e.detail))?;
        let class = classify(&base).map_err(|e| RegistryError::Config(e.to_string()))?;
        if !class.tls && options.pinned.is_some() {
            return Err(RegistryError::Config(
                "a certificate fingerprint needs an https:// registry URL".into(),
            ));
        }
        if class.is_insecure() && !options.allow_insecure_http {
            return Err(RegistryError::InsecureHttp(class.reach));
        }
        let refused_cert = Arc::new(StdMutex::new(None));
        let tls = tls_config(options, &refused_cert)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| RegistryError::Config(e.to_string()))?;
        Ok(Self {
            http,
            tls,
            pinned: options.pinned,
            refused_cert,
            base,
            origin,
            username,
            identity,
            token: Mutex::new(None),
            backoff: Backoff::default(),
            socket: std::sync::Mutex::new(None),
            next_req: AtomicU64::new(1),
            socket_steps: AtomicU64::new(0),
        })
    }

    /// Uses `backoff` for the event stream's reconnections.
    pub fn set_backoff(&mut self, backoff: Backoff) {
        self.backoff = backoff;
    }

    /// Whom this client acts as.
    pub fn username(&self) -> &Username {
        &self.username
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The error for a connection that failed with `e`: a pin mismatch or
    /// an untrusted certificate if the verifier refused one meanwhile, else
    /// unreachable.
    pub(super) fn connection_error(&self, e: impl std::fmt::Display) -> RegistryError {
        let refused = self
            .refused_cert
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match (self.pinned, refused) {
            (Some(expected), Some(got)) => RegistryError::CertificateMismatch { expected, got },
            (None, Some(got)) => RegistryError::UntrustedCertificate { got },
            (_, None) => RegistryError::Unreachable(e.to_string()),
        }
    }

    async fn read<T: DeserializeOwned>(res: reqwest::Response) -> Result<T, RegistryError> {
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| RegistryError::Unreachable(e.to_string()))?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::BadAnswer(e.to_string()))
        } else {
            match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => Err(RegistryError::Refused {
                    status: status.as_u16(),
                    code: body.code,
                    message: body.message,
                }),
                Err(_) => Err(RegistryError::BadAnswer(format!(
                    "HTTP {status} without an error body"
                ))),
            }
        }
    }

    async fn post_public<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, RegistryError> {
        let res = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .map_err(|e| self.connection_error(e))?;
        Self::read(res).await
    }

    /// Claims the username for this identity key (first come, first served).
    pub async fn register(&self) -> Result<RegisterResponse, RegistryError> {
        let key = self.identity.public().to_bytes();
        let timestamp = unix_now();
        let msg = register_message(&self.username, &key, timestamp);
        let sig = self.identity.sign(REGISTER_DOMAIN, &msg).to_bytes();
        let req = RegisterRequest {
            username: self.username.clone(),
            identity_key: IdentityKeyBytes::new(key)?,
            timestamp,
            signature: SignatureBytes::new(sig)?,
        };
        self.post_public("/register", &req).await
    }

    /// Signs in now (challenge, signature, token), replacing any token.
    pub async fn sign_in(&self) -> Result<(), RegistryError> {
        let mut slot = self.token.lock().await;
        let token = self.fetch_token().await?;
        *slot = Some(token);
        Ok(())
    }

    async fn fetch_token(&self) -> Result<(String, u64), RegistryError> {
        let ch: ChallengeResponse = self
            .post_public(
                "/auth/challenge",
                &ChallengeRequest {
                    username: self.username.clone(),
                },
            )
            .await?;
        let msg = sign_in_message(&self.username, &self.origin, &ch.challenge);
        let sig = self.identity.sign(SIGN_IN_DOMAIN, &msg).to_bytes();
        let res: SignInResponse = self
            .post_public(
                "/auth/token",
                &SignInRequest {
                    username: self.username.clone(),
                    origin: self.origin.clone(),
                    challenge: ch.challenge,
                    signature: SignatureBytes::new(sig)?,
                },
            )
            .await?;
        Ok((res.token, res.expires_at))
    }

    /// A token valid for at least a minute more, signing in if needed.
    pub(super) async fn token(&self) -> Result<String, RegistryError> {
        let mut slot = self.token.lock().await;
        if let Some((token, exp)) = slot.as_ref()
            && exp.saturating_sub(unix_now()) > TOKEN_REFRESH_MARGIN
        {
            return Ok(token.clone());
        }
        let fresh = self.fetch_token().await?;
        let token = fresh.0.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    pub(super) async fn forget_token(&self, used: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|(t, _)| t == used) {
            *slot = None;
        }
    }

    /// Sends an authenticated request built by `build`; on `unauthorized`
    /// signs in again and retries once.
    pub(super) async fn authed<T: DeserializeOwned>(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<T, RegistryError> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let res = build(&self.http, &self.base)
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| self.connection_error(e))?;
            match Self::read(res).await {
                Err(RegistryError::Refused {
                    code: ErrorCode::Unauthorized,
                    ..
                }) if attempt == 0 => self.forget_token(&token).await,
                other => return other,
            }
        }
        Err(RegistryError::BadAnswer("token refused twice".into()))
    }

    /// A user's identity key and presence (`GET /fetch/<user>`).
    pub async fn fetch(&self, user: &Username) -> Result<UserInfo, RegistryError> {
        let path = format!("/fetch/{user}");
        self.authed(|c, base| c.get(format!("{base}{path}"))).await
    }

    /// Users whose name starts with `prefix`, with presence.
    pub async fn search(
        &self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<PresenceInfo>, RegistryError> {
        // The prefix is restricted to username characters, which need no
        // escaping in a query string; the server refuses anything else.
        let path = format!("/users?q={prefix}&limit={limit}");
        let list: UserList = self
            .authed(|c, base| c.get(format!("{base}{path}")))
            .await?;
        Ok(list.users)
    }

    /// The people this user shares presence with (`GET /contacts`).
    pub async fn contacts(&self) -> Result<Vec<Username>, RegistryError> {
        let list: ContactList = self
            .authed(|c, base| c.get(format!("{base}/contacts")))
            .await?;
        Ok(list.contacts)
    }

    /// Adds `user` to the contacts, so that they see this user's presence
    /// (`PUT /contacts/<user>`; adding someone already there is fine).
    /// Returns the list as it is now.
    pub async fn add_contact(&self, user: &Username) -> Result<Vec<Username>, RegistryError> {
        let path = format!("/contacts/{user}");
        let list: ContactList = self
            .authed(|c, base| c.put(format!("{base}{path}")))
            .await?;
        Ok(list.contacts)
    }

    /// Takes `user` off the contacts: they see this user as offline from
    /// now on (`DELETE /contacts/<user>`). Returns the list as it is now.
    pub async fn remove_contact(&self, user: &Username) -> Result<Vec<Username>, RegistryError> {
        let path = format!("/contacts/{user}");
        let list: ContactList = self
            .authed(|c, base| c.delete(format!("{base}{path}")))
            .await?;
        Ok(list.contacts)
    }

    /// Adds whichever of `users` the registry's list lacks: one read, and
    /// one write per missing name. Front ends run it with their pinned
    /// contacts, so pins made before registries kept contact lists (or
    /// while this one was unreachable) still share presence.
    pub async fn ensure_contacts(&self, users: &[Username]) -> Result<(), RegistryError> {
        let have: std::collections::HashSet<Username> =
            self.contacts().await?.into_iter().collect();
        for user in users
            .iter()
            .filter(|u| !have.contains(*u) && *u != self.username())
        {
            match self.add_contact(user).await {
                Ok(_) => {}
                // An account that is gone (or a name pinned by mistake)
                // should not stop the others.
                Err(RegistryError::Refused {
                    code: ErrorCode::UnknownUser,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// How many call steps were answered on the push socket rather than
    /// over HTTP (for diagnostics and tests).
    pub fn socket_steps(&self) -> u64 {
        self.socket_steps.load(Ordering::Relaxed)
    }

    /// Sends a call step on the live push socket and waits for its answer;
    /// `None` when there is no socket (or it closed before the step was
    /// written), so the caller uses HTTP.
    async fn on_socket(
        &self,
        build: impl FnOnce(u64) -> ClientMessage,
    ) -> Option<Result<CallStatus, RegistryError>> {
        let queue = self
            .socket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let step = Step {
            req,
            msg: build(req),
            answer: tx,
        };
        queue.send(step).await.ok()?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(StepResult::Answered(r))) => {
                self.socket_steps.fetch_add(1, Ordering::Relaxed);
                Some(r)
            }
            Ok(Ok(StepResult::NotSent)) => None,
            Ok(Err(_)) => Some(Err(RegistryError::Unreachable(
                "the registry connection dropped before it answered".into(),
            ))),
            Err(_) => Some(Err(RegistryError::Unreachable(
                "no answer from the registry in time".into(),
            ))),
        }
    }

    /// Rings `callee` with the caller's signed Offer (opaque bytes).
    pub async fn initiate(
        &self,
        callee: &Username,
        offer: Vec<u8>,
    ) -> Result<CallStatus, RegistryError> {
        let body = InitiateRequest {
            callee: callee.clone(),
            offer: HandshakeBlob::new(offer)?,
        };
        let step = |req| ClientMessage::Initiate {
            req,
            callee: body.callee.clone(),
            offer: body.offer.clone(),
        };
        if let Some(answer) = self.on_socket(step).await {
            return answer;
        }
        self.authed(|c, base| c.post(format!("{base}/call/initiate")).json(&body))
            .await
    }

    /// Accepts a ringing call with the callee's signed Answer.
    pub async fn accept(
        &self,
        call_id: &CallId,
        answer: Vec<u8>,
    ) -> Result<CallStatus, RegistryError> {
        let body = AcceptRequest {
            call_id: call_id.clone(),
            answer: HandshakeBlob::new(answer)?,
        };
        let step = |req| ClientMessage::Accept {
            req,
            call_id: body.call_id.clone(),
            answer: body.answer.clone(),
        };
        if let Some(answer) = self.on_socket(step).await {
            return answer;
        }
        self.authed(|c, base| c.post(format!("{base}/call/accept")).json(&body))
            .await
    }

    /// Declines a ringing call.
    pub async fn reject(&self, call_id: &CallId) -> Result<CallStatus, RegistryError> {
        let step = |req| ClientMessage::Reject {
            req,
            call_id: call_id.clone(),
        };
        if let Some(answer) = self.on_socket(step).await {
            return answer;
        }
        let body = RejectRequest {
            call_id: call_id.clone(),
        };
        self.authed(|c, base| c.post(format!("{base}/call/reject")).json(&body))
            .await
    }

    /// Ends a call, or cancels it while it still rings.
    pub async fn hangup(&self, call_id: &CallId) -> Result<CallStatus, RegistryError> {
        let step = |req| ClientMessage::Hangup {
            req,
            call_id: call_id.clone(),
        };
        if let Some(answer) = self.on_socket(step).await {
            return answer;
        }
        let body = HangupRequest {
            call_id: call_id.clone(),
        };
        self.authed(|c, base| c.post(format!("{base}/call/hangup")).json(&body))
            .await
    }

    /// Where a call stands (polling fallback).
    pub async fn status(&self, call_id: &CallId) -> Result<CallStatus, RegistryError> {
        let path = format!("/call/status/{call_id}");
        self.authed(|c, base| c.get(format!("{base}{path}"))).await
    }

    /// Calls ringing for this user right now, with their Offers.
    pub async fn incoming(&self) -> Result<Vec<CallStatus>, RegistryError> {
        let list: IncomingCalls = self
            .authed(|c, base| c.get(format!("{base}/call/incoming")))
            .await?;
        Ok(list.calls)
    }

    /// Replaces this user's identity key with `new_identity`, signed by
    /// both keys. Afterwards build a new client with the new key.
    pub async fn rotate_key(
        &self,
        new_identity: &IdentityKeyPair,
    ) -> Result<RegisterResponse, RegistryError> {
        let old_key = self.identity.public().to_bytes();
        let new_key = new_identity.public().to_bytes();
        let timestamp = unix_now();
        let msg = rotate_key_message(&self.username, &old_key, &new_key, timestamp);
        let req = RotateKeyRequest {
            username: self.username.clone(),
            new_identity_key: IdentityKeyBytes::new(new_key)?,
            timestamp,
            old_signature: SignatureBytes::new(
                self.identity.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes(),
            )?,
            new_signature: SignatureBytes::new(
                new_identity.sign(ROTATE_KEY_DOMAIN, &msg).to_bytes(),
            )?,
        };
        self.post_public("/account/rotate-key", &req).await
    }
}
