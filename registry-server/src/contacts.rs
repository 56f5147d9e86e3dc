//! Contact lists and who may see whose presence.
//!
//! `PUT /contacts/<name>` puts a name on the signed-in user's list,
//! `DELETE /contacts/<name>` takes it off, `GET /contacts` reads the list.
//! Being on someone's list is what lets you see their presence: the
//! relation is one-way (owner → contact) and the owner alone decides it.
//! Two people who added each other see each other.
//!
//! Each change is written to the store first and then told to the
//! [`crate::hub`], which holds the relation in memory for connected users.
//! One owner's changes run one at a time, so the hub applies them in the
//! order the store did and cannot end up showing presence the store no
//! longer grants.

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use proto::signaling::{ContactList, ErrorCode, MAX_CONTACTS, Presence, PresenceInfo, Username};
use tokio::sync::{Mutex, MutexGuard};

use crate::AppState;
use crate::error::AppError;
use crate::limits::{AuthUser, path_segment};
use crate::store::{ContactAdded, UserRecord};
use crate::unix_now;

/// Locks that serialize each owner's contact changes (owners hashed onto
/// a fixed set, so the memory does not grow with the number of users).
static OWNER_LOCKS: [Mutex<()>; 64] = [const { Mutex::const_new(()) }; 64];

async fn lock_owner(owner: &Username) -> MutexGuard<'static, ()> {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(owner.as_str());
    OWNER_LOCKS[(h % OWNER_LOCKS.len() as u64) as usize]
        .lock()
        .await
}

async fn list_of(state: &AppState, owner: &Username) -> Result<Json<ContactList>, AppError> {
    Ok(Json(ContactList {
        contacts: state.store.contacts(owner).await?,
    }))
}

/// `GET /contacts`: the signed-in user's list.
pub async fn list(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
) -> Result<Json<ContactList>, AppError> {
    list_of(&state, &me).await
}

/// `PUT /contacts/<name>`: adds `name`, who may from now on see the
/// signed-in user's presence. Adding a name already there changes nothing.
pub async fn add(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    raw: Result<Path<String>, PathRejection>,
) -> Result<Json<ContactList>, AppError> {
    let name = path_segment(raw, Username::parse)?;
    if name == me {
        return Err(AppError::new(
            ErrorCode::InvalidField,
            "you cannot add yourself as a contact",
        ));
    }
    let _turn = lock_owner(&me).await;
    if state.store.user(&name).await?.is_none() {
        return Err(AppError::new(
            ErrorCode::UnknownUser,
            "no user has this name",
        ));
    }
    match state
        .store
        .add_contact(&me, &name, unix_now(), MAX_CONTACTS)
        .await?
    {
        ContactAdded::Added | ContactAdded::AlreadyThere => {}
        ContactAdded::Full => {
            return Err(AppError::new(
                ErrorCode::InvalidField,
                format!("a contact list holds at most {MAX_CONTACTS} names"),
            ));
        }
    }
    // Who sees us now should also see since when we are away, if we are.
    let last_seen = state.store.user(&me).await?.and_then(|u| u.last_seen);
    state.hub.contact_added(&me, &name, last_seen, unix_now());
    list_of(&state, &me).await
}

/// `DELETE /contacts/<name>`: takes `name` off the list; they see the
/// signed-in user as offline (never seen) from now on. Removing a name not
/// on the list changes nothing.
pub async fn remove(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    raw: Result<Path<String>, PathRejection>,
) -> Result<Json<ContactList>, AppError> {
    let name = path_segment(raw, Username::parse)?;
    let _turn = lock_owner(&me).await;
    state.store.remove_contact(&me, &name).await?;
    state.hub.contact_removed(&me, &name, unix_now());
    list_of(&state, &me).await
}

/// The presence of each of `users` as `viewer` may see it: real for those
/// who added `viewer` (and for `viewer`), offline and never seen for the
/// rest. One store read at most, none if `viewer` has a push socket.
pub async fn visible_presence(
    state: &AppState,
    viewer: &Username,
    users: &[UserRecord],
) -> Result<Vec<PresenceInfo>, AppError> {
    let names: Vec<Username> = users.iter().map(|u| u.username.clone()).collect();
    let shares = match state.hub.shares_with(viewer, &names) {
        Some(s) => s,
        None => {
            let sharers: HashSet<Username> = state
                .store
                .sharers(viewer)
                .await?
                .into_iter()
                .map(|s| s.owner)
                .collect();
            names
                .iter()
                .map(|n| n == viewer || sharers.contains(n))
                .collect()
        }
    };
    let now = unix_now();
    Ok(users
        .iter()
        .zip(shares)
        .map(|(u, shared)| {
            if !shared {
                return PresenceInfo {
                    username: u.username.clone(),
                    presence: Presence::Offline,
                    last_seen: None,
                };
            }
            let (presence, live_seen) = state.hub.presence(&u.username);
            PresenceInfo {
                username: u.username.clone(),
                presence,
                last_seen: match presence {
                    Presence::Offline => live_seen.max(u.last_seen),
                    Presence::Online => Some(now),
                },
            }
        })
        .collect())
}
