//! REST handlers: accounts, sign-in, directory and the call endpoints.
//!
//! The call endpoints keep the prototype's paths and meaning
//! (`/register`, `/fetch/<user>`, `/call/*`), now authenticated with a
//! bearer token. Each handler checks its input, asks the [`crate::hub`] or
//! the [`crate::store`], and answers JSON; all refusals are [`AppError`]s.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use proto::identity::{HybridSignature, PublicIdentity};
use proto::signaling::{
    AcceptRequest, CallAction, CallId, CallStatus, ChallengeRequest, ChallengeResponse, ErrorCode,
    HangupRequest, IncomingCalls, InitiateRequest, PresenceInfo, REGISTER_DOMAIN,
    ROTATE_KEY_DOMAIN, RegisterRequest, RegisterResponse, RejectRequest, RotateKeyRequest,
    SIGN_IN_DOMAIN, SearchQuery, SignInRequest, SignInResponse, UserInfo, UserList, Username,
    Validate, check_timestamp, hex, register_message, rotate_key_message, sign_in_message,
};

use crate::AppState;
use crate::contacts;
use crate::error::AppError;
use crate::hub::{self, CALLEE_OFFLINE};
use crate::limits::{AuthUser, Body, path_segment};
use crate::metrics;
use crate::store::{StoreError, UserRecord};
use crate::unix_now;

fn parse_key(bytes: &[u8]) -> Result<PublicIdentity, AppError> {
    PublicIdentity::from_bytes(bytes).map_err(|_| {
        AppError::new(
            ErrorCode::InvalidIdentityKey,
            "identity key does not decode",
        )
    })
}

fn verify_error() -> AppError {
    AppError::new(ErrorCode::InvalidSignature, "signature does not verify")
}

fn verify(key: &PublicIdentity, domain: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), AppError> {
    let sig = HybridSignature::from_bytes(sig).map_err(|_| verify_error())?;
    key.verify(domain, msg, &sig).map_err(|_| verify_error())
}

fn unknown_user() -> AppError {
    AppError::new(ErrorCode::UnknownUser, "no user has this name")
}

/// `POST /register`: claims a username for an identity key.
pub async fn register(
    State(state): State<AppState>,
    Body(req): Body<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), AppError> {
    let now = unix_now();
    check_timestamp(req.timestamp, now)?;
    let key = parse_key(req.identity_key.as_bytes())?;
    let msg = register_message(&req.username, req.identity_key.as_bytes(), req.timestamp);
    verify(&key, REGISTER_DOMAIN, &msg, req.signature.as_bytes())?;
    let record = UserRecord {
        username: req.username.clone(),
        identity_key: key.to_bytes(),
        created_at: now,
        key_updated_at: now,
        last_seen: None,
    };
    match state.store.create_user(&record).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(AppError::new(
                ErrorCode::UsernameTaken,
                "this username is already registered",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    metrics::REGISTRATIONS.inc();
    tracing::info!(user = %req.username, "registered");
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse {
            username: req.username,
            fingerprint: hex(&key.fingerprint()),
        }),
    ))
}

/// `POST /auth/challenge`: a fresh challenge to sign.
///
/// Any well-formed name gets one, without a database read, so neither the
/// answer nor its timing tells whether the name is registered.
pub async fn challenge(
    State(state): State<AppState>,
    Body(req): Body<ChallengeRequest>,
) -> Json<ChallengeResponse> {
    let expires_at = unix_now() + state.config.challenge_ttl.as_secs();
    let challenge = state.auth.issue_challenge(&req.username, expires_at);
    Json(ChallengeResponse {
        challenge,
        expires_at,
    })
}

/// `POST /auth/token`: a bearer token for a challenge signed, with this
/// registry's origin, by the account's key.
pub async fn token(
    State(state): State<AppState>,
    Body(req): Body<SignInRequest>,
) -> Result<Json<SignInResponse>, AppError> {
    let now = unix_now();
    state.auth.check_origin(&req.origin)?;
    // Spend the challenge before checking the signature: a wrong guess
    // burns it, so each challenge allows one attempt.
    state
        .auth
        .take_challenge(&req.username, &req.challenge, now)?;
    // An unknown name fails exactly as a wrong signature does, so sign-in
    // does not tell which names exist.
    let user = state
        .store
        .user(&req.username)
        .await?
        .ok_or_else(verify_error)?;
    let key = parse_key(&user.identity_key)?;
    let msg = sign_in_message(&req.username, &req.origin, &req.challenge);
    verify(&key, SIGN_IN_DOMAIN, &msg, req.signature.as_bytes())?;
    let expires_at = now + state.config.token_ttl.as_secs();
    metrics::SIGN_INS.inc();
    Ok(Json(SignInResponse {
        token: state
            .auth
            .issue_token(&req.username, &user.identity_key, expires_at),
        expires_at,
    }))
}

/// `POST /account/rotate-key`: replaces the key, signed by old and new key.
pub async fn rotate_key(
    State(state): State<AppState>,
    Body(req): Body<RotateKeyRequest>,
) -> Result<Json<RegisterResponse>, AppError> {
    let now = unix_now();
    check_timestamp(req.timestamp, now)?;
    let user = state
        .store
        .user(&req.username)
        .await?
        .ok_or_else(unknown_user)?;
    let old = parse_key(&user.identity_key)?;
    let new = parse_key(req.new_identity_key.as_bytes())?;
    let msg = rotate_key_message(
        &req.username,
        &user.identity_key,
        req.new_identity_key.as_bytes(),
        req.timestamp,
    );
    verify(&old, ROTATE_KEY_DOMAIN, &msg, req.old_signature.as_bytes())?;
    verify(&new, ROTATE_KEY_DOMAIN, &msg, req.new_signature.as_bytes())?;
    match state
        .store
        .replace_key(&req.username, &user.identity_key, &new.to_bytes(), now)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(AppError::new(
                ErrorCode::KeyMismatch,
                "the key changed meanwhile; sign with the current key",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    // Tokens of the old key are refused from now on; a push socket opened
    // with one goes too.
    state.hub.close_socket(&req.username);
    tracing::info!(user = %req.username, "identity key rotated");
    Ok(Json(RegisterResponse {
        username: req.username,
        fingerprint: hex(&new.fingerprint()),
    }))
}

fn user_info(user: UserRecord, seen: PresenceInfo) -> Result<UserInfo, AppError> {
    let key = parse_key(&user.identity_key)?;
    let identity_key = proto::signaling::IdentityKeyBytes::new(user.identity_key)
        .map_err(|_| AppError::new(ErrorCode::Internal, "stored key is oversized"))?;
    Ok(UserInfo {
        username: user.username,
        identity_key,
        fingerprint: hex(&key.fingerprint()),
        presence: seen.presence,
        last_seen: seen.last_seen,
    })
}

/// `GET /fetch/<username>`: a user's key, and their presence if they
/// share it with the asker.
pub async fn fetch(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    raw: Result<Path<String>, PathRejection>,
) -> Result<Json<UserInfo>, AppError> {
    let name = path_segment(raw, Username::parse)?;
    let user = state.store.user(&name).await?.ok_or_else(unknown_user)?;
    let seen = contacts::visible_presence(&state, &me, std::slice::from_ref(&user))
        .await?
        .pop()
        .ok_or_else(|| AppError::new(ErrorCode::Internal, "no presence for the user"))?;
    Ok(Json(user_info(user, seen)?))
}

/// `GET /users?q=<prefix>&limit=<n>`: directory search, with presence
/// for the users who share it with the asker.
pub async fn search(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<UserList>, AppError> {
    let Query(q) = query.map_err(|e| AppError::new(ErrorCode::InvalidField, e.body_text()))?;
    q.validate()?;
    let users = state.store.search_users(&q.q, q.limit).await?;
    let users = contacts::visible_presence(&state, &me, &users).await?;
    Ok(Json(UserList { users }))
}

/// `POST /call/initiate`: rings the callee with the caller's signed Offer.
pub async fn initiate(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Body(req): Body<InitiateRequest>,
) -> Result<Json<CallStatus>, AppError> {
    initiate_call(&state, &me, &req.callee, req.offer)
        .await
        .map(Json)
}

/// Rings `callee` for `me`: the one implementation behind
/// `POST /call/initiate` and the socket's `initiate` message.
pub(crate) async fn initiate_call(
    state: &AppState,
    me: &Username,
    callee: &Username,
    offer: proto::signaling::HandshakeBlob,
) -> Result<CallStatus, AppError> {
    match state.hub.initiate(me, callee, offer, unix_now()) {
        Ok(status) => Ok(status),
        Err(e) if e.code() == CALLEE_OFFLINE => {
            // Tell a typo from an offline friend.
            if state.store.user(callee).await?.is_none() {
                Err(unknown_user())
            } else {
                Err(e)
            }
        }
        Err(e) => Err(e),
    }
}

/// One step on an existing call by `me`: the one implementation behind
/// accept, reject and hangup, over HTTP and over the socket.
pub(crate) async fn act(
    state: &AppState,
    me: &Username,
    call_id: &CallId,
    action: CallAction,
    answer: Option<proto::signaling::HandshakeBlob>,
) -> Result<CallStatus, AppError> {
    match state.hub.act(me, call_id, action, answer, unix_now()) {
        Ok(status) => Ok(status),
        Err(e) if e.code() == ErrorCode::CallNotFound => {
            // Evicted from memory: a stored call is finished, so any step
            // on it is a wrong transition (or not the user's business).
            match state.store.call(call_id).await? {
                Some(record) => {
                    hub::stored_status(&record, me)?;
                    Err(AppError::new(
                        ErrorCode::InvalidTransition,
                        format!("the call is already {}", record.state.as_str()),
                    ))
                }
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// `POST /call/accept`: the callee picks up with a signed Answer.
pub async fn accept(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Body(req): Body<AcceptRequest>,
) -> Result<Json<CallStatus>, AppError> {
    act(
        &state,
        &me,
        &req.call_id,
        CallAction::Accept,
        Some(req.answer),
    )
    .await
    .map(Json)
}

/// `POST /call/reject`: the callee declines.
pub async fn reject(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Body(req): Body<RejectRequest>,
) -> Result<Json<CallStatus>, AppError> {
    act(&state, &me, &req.call_id, CallAction::Reject, None)
        .await
        .map(Json)
}

/// `POST /call/hangup`: either party ends (or the caller cancels) a call.
pub async fn hangup(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Body(req): Body<HangupRequest>,
) -> Result<Json<CallStatus>, AppError> {
    act(&state, &me, &req.call_id, CallAction::Hangup, None)
        .await
        .map(Json)
}

/// `GET /call/status/<call_id>`: polling fallback.
pub async fn status(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    raw: Result<Path<String>, PathRejection>,
) -> Result<Json<CallStatus>, AppError> {
    let call_id = path_segment(raw, CallId::parse)?;
    if let Some(found) = state.hub.status(&me, &call_id) {
        return found.map(Json);
    }
    match state.store.call(&call_id).await? {
        Some(record) => Ok(Json(hub::stored_status(&record, &me)?)),
        None => Err(AppError::new(ErrorCode::CallNotFound, "no such call")),
    }
}

/// `GET /call/incoming`: calls ringing for me (polling fallback).
pub async fn incoming(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
) -> Json<IncomingCalls> {
    Json(IncomingCalls {
        calls: state.hub.incoming(&me),
    })
}
