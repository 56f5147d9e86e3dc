//! Live state: who is connected, which calls ring or run, who watches whose
//! presence, and the push queues of the WebSockets.
//!
//! Presence (online, or offline since when) is shared only with contacts: a
//! user sees another's presence only if that other user added them
//! ([`crate::store::Store::add_contact`]). Everyone else sees "offline,
//! never seen", the same as for a name nobody uses. Whether a user is in a
//! call is not presence at all: it shows only as a `busy` answer to
//! someone who rings them. So that a subscription frame is answered from
//! memory, each connected user's socket carries the set of people who
//! share with them (loaded once when it connects, kept current by
//! [`Hub::contact_added`] and [`Hub::contact_removed`]), and the hub keeps
//! the last-seen time of everyone in those sets.
//!
//! Everything here lives in memory behind one mutex. Each operation holds it
//! for a few map look-ups and non-blocking `try_send`s, never across an
//! `.await`, so one lock serves thousands of call setups per second and
//! makes every transition atomic: two parties racing to accept and hang up
//! see one winner.
//!
//! Pushes are serialized once and queued per connection in a bounded
//! channel. A client that stops reading until its queue fills is cut off
//! (its sender is dropped, its socket task ends), so one slow client can
//! never stall the registry or grow its memory.
//!
//! Durable records (call outcomes, last-seen times) are handed to a writer
//! task that batches them into the [`Store`]; a slow disk delays the record,
//! never the ring.

mod calls;
mod push;
mod writer;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use proto::signaling::{
    CallAction, CallId, CallState, ErrorCode, HandshakeBlob, Presence, PresenceInfo, ServerEvent,
    Username,
};
use tokio::sync::mpsc;

pub use calls::stored_status;
use push::{publish_presence, push};
pub use writer::WRITE_BATCH_WINDOW;
use writer::write_records;

use crate::store::{CallRecord, Sharer, Store};

/// Timing knobs of the hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// How long a call rings before it is missed.
    pub ring_timeout: Duration,
    /// How long an active call survives a party's lost connection.
    pub disconnect_grace: Duration,
    /// How long finished calls stay answerable from memory.
    pub finished_call_retention: Duration,
}

/// A write for the storage writer task.
#[derive(Debug)]
enum Persist {
    Call(CallRecord),
    LastSeen(Username, u64),
}

struct Conn {
    id: u64,
    /// `None` once the client was cut off for not reading; the socket task
    /// then sees its queue closed and ends.
    tx: Option<mpsc::Sender<Utf8Bytes>>,
    subscriptions: Vec<Username>,
    /// Everyone who added this user, and so lets them see their presence.
    sharers: HashSet<Username>,
}

/// Contact changes that reached a user while their socket was loading its
/// sharers from the store: replayed over what the load returned, in order,
/// so a change is kept whether or not the load already saw it.
#[derive(Default)]
struct Loading {
    /// Sockets of the user loading now.
    count: usize,
    /// `(owner, shares)` in the order the changes were stored.
    edits: Vec<(Username, bool)>,
}

struct LiveCall {
    record: CallRecord,
    offer: Option<HandshakeBlob>,
    answer: Option<HandshakeBlob>,
}

#[derive(Default)]
struct Inner {
    conns: HashMap<Username, Conn>,
    calls: HashMap<CallId, LiveCall>,
    /// The one ringing or active call of each user.
    in_call: HashMap<Username, CallId>,
    /// Target user → users subscribed to its presence.
    watchers: HashMap<Username, HashSet<Username>>,
    /// Finished calls in the order they finished, for eviction.
    finished: VecDeque<(Instant, CallId)>,
    /// Users whose socket is reading its sharers from the store.
    loading: HashMap<Username, Loading>,
    /// When users last disconnected (or were last seen by the store, as
    /// loaded with someone's sharers); one entry at most per account.
    last_seen: HashMap<Username, u64>,
}

/// The live registry state shared by all requests and sockets.
pub struct Hub {
    inner: Mutex<Inner>,
    config: HubConfig,
    persist: mpsc::UnboundedSender<Persist>,
    next_conn: AtomicU64,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("config", &self.config).finish()
    }
}

/// Result of [`Hub::initiate`] when the callee is not connected: the caller
/// must tell an unknown name from an offline user using the store.
pub const CALLEE_OFFLINE: ErrorCode = ErrorCode::CalleeOffline;

impl Hub {
    /// A hub whose durable writes go to `store` through a writer task.
    ///
    /// Must be called inside a tokio runtime.
    pub fn new(config: HubConfig, store: Arc<dyn Store>) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_records(rx, store));
        Arc::new(Self {
            inner: Mutex::new(Inner::default()),
            config,
            persist: tx,
            next_conn: AtomicU64::new(1),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a bug; the maps are still
        // consistent between statements, so keep serving rather than cascade.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts loading `user`'s sharers for a new socket: contact changes
    /// from now on are kept for [`Hub::connect`] to replay. Dropping the
    /// returned guard without connecting forgets them again.
    pub fn begin_load(self: &Arc<Self>, user: &Username) -> SharersLoad {
        self.lock().loading.entry(user.clone()).or_default().count += 1;
        SharersLoad {
            hub: Arc::clone(self),
            user: user.clone(),
            done: false,
        }
    }

    /// Registers the push socket of `user`, replacing an older one.
    /// `sharers` is what the store returned after [`Hub::begin_load`].
    ///
    /// Queues `Welcome` first, then any calls already ringing for the user
    /// (so a client that reconnects mid-ring still sees them).
    pub fn connect(
        &self,
        user: &Username,
        tx: mpsc::Sender<Utf8Bytes>,
        mut load: SharersLoad,
        sharers: Vec<Sharer>,
        now: u64,
    ) -> u64 {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        load.done = true;
        let edits = end_load(&mut inner, user);
        let mut set = HashSet::with_capacity(sharers.len());
        for s in sharers {
            if let Some(at) = s.last_seen {
                let seen = inner.last_seen.entry(s.owner.clone()).or_insert(at);
                *seen = (*seen).max(at);
            }
            set.insert(s.owner);
        }
        for (owner, shares) in edits {
            if shares {
                set.insert(owner);
            } else {
                set.remove(&owner);
            }
        }
        if let Some(old) = inner.conns.remove(user) {
            unsubscribe_all(&mut inner, user, &old.subscriptions);
        }
        inner.conns.insert(
            user.clone(),
            Conn {
                id,
                tx: Some(tx),
                subscriptions: Vec::new(),
                sharers: set,
            },
        );
        push(
            &mut inner,
            user,
            &ServerEvent::Welcome {
                username: user.clone(),
                server_time: now,
            },
        );
        if let Some(call_id) = inner.in_call.get(user).cloned()
            && let Some(call) = inner.calls.get(&call_id)
            && call.record.state == CallState::Ringing
            && call.record.callee == *user
            && let Some(offer) = call.offer.clone()
        {
            let ev = ServerEvent::IncomingCall {
                call_id: call_id.clone(),
                caller: call.record.caller.clone(),
                offer,
                created_at: call.record.created_at,
            };
            push(&mut inner, user, &ev);
        }
        publish_presence(&mut inner, user, now);
        drop(inner);
        let _ = self.persist.send(Persist::LastSeen(user.clone(), now));
        id
    }

    /// Closes `user`'s push socket on this instance, if one is open: its
    /// queue closes, the socket task ends and [`Hub::disconnect`] cleans
    /// up. For a key rotation, since the socket was opened with a token of
    /// the old key.
    pub fn close_socket(&self, user: &Username) {
        if let Some(conn) = self.lock().conns.get_mut(user) {
            conn.tx = None;
        }
    }

    /// Forgets the push socket `conn_id` of `user` and cleans up after it:
    /// a call ringing for or from the user ends at once, an active call ends
    /// after the disconnect grace unless the user comes back.
    pub fn disconnect(self: &Arc<Self>, user: &Username, conn_id: u64, now: u64) {
        let mut inner = self.lock();
        match inner.conns.get(user) {
            Some(c) if c.id == conn_id => {}
            // Replaced by a newer socket: that one owns the user now.
            _ => return,
        }
        let Some(conn) = inner.conns.remove(user) else {
            return;
        };
        unsubscribe_all(&mut inner, user, &conn.subscriptions);
        inner.last_seen.insert(user.clone(), now);
        if let Some(call_id) = inner.in_call.get(user).cloned() {
            let state = inner.calls.get(&call_id).map(|c| c.record.state);
            match state {
                Some(CallState::Ringing) => {
                    let _ = self.transition(
                        &mut inner,
                        user,
                        &call_id,
                        CallAction::Disconnect,
                        None,
                        now,
                    );
                }
                Some(CallState::Active) => {
                    let hub = Arc::clone(self);
                    let user = user.clone();
                    let grace = self.config.disconnect_grace;
                    tokio::spawn(async move {
                        tokio::time::sleep(grace).await;
                        hub.end_if_still_gone(&user, &call_id, crate::unix_now());
                    });
                }
                _ => {}
            }
        }
        publish_presence(&mut inner, user, now);
        drop(inner);
        let _ = self.persist.send(Persist::LastSeen(user.clone(), now));
    }

    fn end_if_still_gone(self: &Arc<Self>, user: &Username, call_id: &CallId, now: u64) {
        let mut inner = self.lock();
        if inner.conns.contains_key(user) {
            return;
        }
        let _ = self.transition(&mut inner, user, call_id, CallAction::Disconnect, None, now);
    }

    /// Replaces the presence subscriptions of `user`'s socket `conn_id`.
    ///
    /// Returns the presence of every named user as `user` may see it,
    /// entirely from memory. A name that does not share with `user` is
    /// still watched, so that it shows up live if that user adds them.
    pub fn subscribe(
        &self,
        user: &Username,
        conn_id: u64,
        targets: Vec<Username>,
        now: u64,
    ) -> Vec<PresenceInfo> {
        let mut inner = self.lock();
        let old = match inner.conns.get_mut(user) {
            Some(c) if c.id == conn_id => std::mem::take(&mut c.subscriptions),
            _ => return Vec::new(),
        };
        unsubscribe_all(&mut inner, user, &old);
        let mut unique: Vec<Username> = targets;
        unique.sort();
        unique.dedup();
        for t in &unique {
            inner
                .watchers
                .entry(t.clone())
                .or_default()
                .insert(user.clone());
        }
        let snapshot = unique
            .iter()
            .map(|t| visible_presence(&inner, user, t, now))
            .collect();
        if let Some(c) = inner.conns.get_mut(user) {
            c.subscriptions = unique;
        }
        snapshot
    }

    /// Whether each of `targets` shares presence with `viewer`, if
    /// `viewer` has a socket (whose sharers are then in memory); `None`
    /// otherwise, for the caller to ask the store.
    pub fn shares_with(&self, viewer: &Username, targets: &[Username]) -> Option<Vec<bool>> {
        let inner = self.lock();
        let conn = inner.conns.get(viewer)?;
        Some(
            targets
                .iter()
                .map(|t| t == viewer || conn.sharers.contains(t))
                .collect(),
        )
    }

    /// The presence of `user` now, and when they were last seen if offline
    /// and known to this hub. Callers must check that the asker may see it.
    pub fn presence(&self, user: &Username) -> (Presence, Option<u64>) {
        let inner = self.lock();
        (
            presence_of(&inner, user),
            inner.last_seen.get(user).copied(),
        )
    }

    /// `owner` (last seen at `owner_last_seen` by the store) put
    /// `contact` on their list (the store has it): `contact` may now see
    /// `owner`'s presence, and sees it at once if watching.
    pub fn contact_added(
        &self,
        owner: &Username,
        contact: &Username,
        owner_last_seen: Option<u64>,
        now: u64,
    ) {
        if let Some(at) = owner_last_seen {
            let mut inner = self.lock();
            let seen = inner.last_seen.entry(owner.clone()).or_insert(at);
            *seen = (*seen).max(at);
        }
        self.contact_changed(owner, contact, true, now);
    }

    /// `owner` took `contact` off their list (the store has it): from now
    /// on `contact` sees `owner` as offline and never seen.
    pub fn contact_removed(&self, owner: &Username, contact: &Username, now: u64) {
        self.contact_changed(owner, contact, false, now);
    }

    fn contact_changed(&self, owner: &Username, contact: &Username, shares: bool, now: u64) {
        let mut inner = self.lock();
        if let Some(l) = inner.loading.get_mut(contact) {
            l.edits.push((owner.clone(), shares));
        }
        let Some(conn) = inner.conns.get_mut(contact) else {
            return;
        };
        let changed = if shares {
            conn.sharers.insert(owner.clone())
        } else {
            conn.sharers.remove(owner)
        };
        let watching = inner
            .watchers
            .get(owner)
            .is_some_and(|w| w.contains(contact));
        if changed && watching {
            let info = visible_presence(&inner, contact, owner, now);
            push(&mut inner, contact, &ServerEvent::Presence(info));
        }
    }
    /// Evicts finished calls older than the retention time.
    pub fn sweep(&self) {
        let keep = self.config.finished_call_retention;
        let mut inner = self.lock();
        while let Some((at, _)) = inner.finished.front() {
            if at.elapsed() < keep {
                break;
            }
            if let Some((_, id)) = inner.finished.pop_front() {
                inner.calls.remove(&id);
            }
        }
    }

    /// Number of push sockets (for tests and metrics).
    pub fn connected_count(&self) -> usize {
        self.lock().conns.len()
    }
}

fn is_connected(inner: &Inner, user: &Username) -> bool {
    inner.conns.get(user).is_some_and(|c| c.tx.is_some())
}

/// Online or offline; a call in progress is deliberately not presence.
fn presence_of(inner: &Inner, user: &Username) -> Presence {
    if is_connected(inner, user) {
        Presence::Online
    } else {
        Presence::Offline
    }
}

/// `target`'s presence as `viewer` (who has a socket) may see it.
fn visible_presence(inner: &Inner, viewer: &Username, target: &Username, now: u64) -> PresenceInfo {
    let shared = target == viewer
        || inner
            .conns
            .get(viewer)
            .is_some_and(|c| c.sharers.contains(target));
    if !shared {
        return PresenceInfo {
            username: target.clone(),
            presence: Presence::Offline,
            last_seen: None,
        };
    }
    let presence = presence_of(inner, target);
    PresenceInfo {
        username: target.clone(),
        presence,
        last_seen: match presence {
            Presence::Offline => inner.last_seen.get(target).copied(),
            _ => Some(now),
        },
    }
}

/// Ends one load of `user`'s sharers; returns the changes to replay.
fn end_load(inner: &mut Inner, user: &Username) -> Vec<(Username, bool)> {
    let Some(l) = inner.loading.get_mut(user) else {
        return Vec::new();
    };
    l.count = l.count.saturating_sub(1);
    // Another socket of the user may still be loading: it needs the same
    // changes, so they are only dropped with the last load.
    if l.count == 0 {
        inner
            .loading
            .remove(user)
            .map(|l| l.edits)
            .unwrap_or_default()
    } else {
        l.edits.clone()
    }
}

/// One socket's load of its user's sharers, from [`Hub::begin_load`] to
/// [`Hub::connect`].
pub struct SharersLoad {
    hub: Arc<Hub>,
    user: Username,
    done: bool,
}

impl Drop for SharersLoad {
    fn drop(&mut self) {
        if !self.done {
            end_load(&mut self.hub.lock(), &self.user);
        }
    }
}

fn unsubscribe_all(inner: &mut Inner, watcher: &Username, targets: &[Username]) {
    for t in targets {
        if let Some(set) = inner.watchers.get_mut(t) {
            set.remove(watcher);
            if set.is_empty() {
                inner.watchers.remove(t);
            }
        }
    }
}
