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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use proto::signaling::{
    CALL_ID_LEN, CallAction, CallId, CallState, CallStatus, ErrorCode, HandshakeBlob, Party,
    Presence, PresenceInfo, ServerEvent, Username, next_call_state,
};
use tokio::sync::mpsc;

use crate::error::AppError;
use crate::metrics;
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

    /// Rings `callee` for `caller` with `offer`.
    ///
    /// A callee already in a call yields a call in state `Busy` (and a
    /// `Busy` push to the caller). Fails with [`CALLEE_OFFLINE`] when the
    /// callee has no socket.
    pub fn initiate(
        self: &Arc<Self>,
        caller: &Username,
        callee: &Username,
        offer: HandshakeBlob,
        now: u64,
    ) -> Result<CallStatus, AppError> {
        if caller == callee {
            return Err(AppError::new(ErrorCode::SelfCall, "cannot call yourself"));
        }
        let mut bytes = [0u8; CALL_ID_LEN];
        crate::random_bytes(&mut bytes);
        let call_id = CallId::from_bytes(bytes);
        // Encoded before taking the lock, which the other runtime thread
        // may be waiting for: it is the biggest push the registry makes.
        let ring = incoming_call_text(&call_id, caller, &offer, now);
        let mut inner = self.lock();
        if inner.in_call.contains_key(caller) {
            return Err(AppError::new(
                ErrorCode::AlreadyInCall,
                "you are already ringing or in a call; hang up first",
            ));
        }
        if !is_connected(&inner, callee) {
            return Err(AppError::new(CALLEE_OFFLINE, "callee is not connected"));
        }
        metrics::CALLS_INITIATED.inc();
        let busy = inner.in_call.contains_key(callee);
        let record = CallRecord {
            call_id: call_id.clone(),
            caller: caller.clone(),
            callee: callee.clone(),
            state: if busy {
                CallState::Busy
            } else {
                CallState::Ringing
            },
            created_at: now,
            updated_at: now,
            ended_by: None,
        };
        let status = status_of(&record, Party::Caller, None, None);
        let _ = self.persist.send(Persist::Call(record.clone()));
        if busy {
            metrics::count_finished(CallState::Busy);
            inner.calls.insert(
                call_id.clone(),
                LiveCall {
                    record,
                    offer: None,
                    answer: None,
                },
            );
            inner.finished.push_back((Instant::now(), call_id.clone()));
            push(
                &mut inner,
                caller,
                &ServerEvent::Busy {
                    call_id,
                    callee: callee.clone(),
                },
            );
            return Ok(status);
        }
        inner.calls.insert(
            call_id.clone(),
            LiveCall {
                record,
                offer: Some(offer),
                answer: None,
            },
        );
        inner.in_call.insert(caller.clone(), call_id.clone());
        inner.in_call.insert(callee.clone(), call_id.clone());
        push_encoded(&mut inner, callee, ring);
        drop(inner);

        let hub = Arc::clone(self);
        let timeout = self.config.ring_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            hub.ring_timeout(&call_id, crate::unix_now());
        });
        Ok(status)
    }

    fn ring_timeout(self: &Arc<Self>, call_id: &CallId, now: u64) {
        let mut inner = self.lock();
        let Some(call) = inner.calls.get(call_id) else {
            return;
        };
        if call.record.state != CallState::Ringing {
            return;
        }
        let callee = call.record.callee.clone();
        let _ = self.transition(&mut inner, &callee, call_id, CallAction::Timeout, None, now);
    }

    /// `user` accepts, rejects or hangs up `call_id`.
    ///
    /// Returns [`ErrorCode::CallNotFound`] for calls no longer in memory;
    /// the caller may then consult the store for a precise answer.
    pub fn act(
        self: &Arc<Self>,
        user: &Username,
        call_id: &CallId,
        action: CallAction,
        answer: Option<HandshakeBlob>,
        now: u64,
    ) -> Result<CallStatus, AppError> {
        // The answer's push is encoded before taking the lock, as in
        // `initiate`; it is only sent if the transition succeeds.
        let answer = answer.map(|blob| Answer {
            push: accepted_text(call_id, &blob),
            blob,
        });
        let mut inner = self.lock();
        self.transition(&mut inner, user, call_id, action, answer, now)
    }

    /// Applies one validated transition and sends its pushes.
    fn transition(
        &self,
        inner: &mut Inner,
        user: &Username,
        call_id: &CallId,
        action: CallAction,
        answer: Option<Answer>,
        now: u64,
    ) -> Result<CallStatus, AppError> {
        let call = inner
            .calls
            .get_mut(call_id)
            .ok_or_else(|| AppError::new(ErrorCode::CallNotFound, "no such call"))?;
        let party = party_of(&call.record, user)?;
        let next = next_call_state(call.record.state, party, action)?;
        call.record.state = next;
        call.record.updated_at = now;
        if next == CallState::Ended && action == CallAction::Hangup {
            call.record.ended_by = Some(user.clone());
        }
        let mut accepted = None;
        if next == CallState::Active
            && let Some(Answer { blob, push }) = answer
        {
            call.answer = Some(blob);
            accepted = Some(push);
        }
        if next.is_final() {
            // The blobs have served their purpose; do not keep them.
            call.offer = None;
            call.answer = None;
        }
        let record = call.record.clone();
        let status = status_of(&record, party, None, None);
        let _ = self.persist.send(Persist::Call(record.clone()));

        let (caller, callee) = (record.caller.clone(), record.callee.clone());
        let id = call_id.clone();
        match next {
            CallState::Active => {
                metrics::CALLS_ACCEPTED.inc();
                if let Some(text) = accepted {
                    push_encoded(inner, &caller, text);
                }
            }
            CallState::Rejected => push(inner, &caller, &ServerEvent::Rejected { call_id: id }),
            CallState::Cancelled => push(inner, &callee, &ServerEvent::Cancelled { call_id: id }),
            CallState::Missed => {
                let ev = ServerEvent::Missed {
                    call_id: id,
                    caller: caller.clone(),
                    callee: callee.clone(),
                };
                push(inner, &caller, &ev);
                push(inner, &callee, &ev);
            }
            CallState::Ended => {
                let by = record.ended_by.clone();
                let ev = ServerEvent::Ended { call_id: id, by };
                // Tell the other side; on a disconnect tell whoever is left.
                let other = if party == Party::Caller {
                    &callee
                } else {
                    &caller
                };
                push(inner, other, &ev);
            }
            CallState::Ringing | CallState::Busy => {}
        }
        if next.is_final() {
            metrics::count_finished(next);
            for u in [&caller, &callee] {
                if inner.in_call.get(u) == Some(call_id) {
                    inner.in_call.remove(u);
                }
            }
            inner.finished.push_back((Instant::now(), call_id.clone()));
        }
        Ok(status)
    }

    /// `call_id` as `user` sees it, if it is still in memory.
    pub fn status(
        &self,
        user: &Username,
        call_id: &CallId,
    ) -> Option<Result<CallStatus, AppError>> {
        let inner = self.lock();
        let call = inner.calls.get(call_id)?;
        Some(party_of(&call.record, user).map(|party| {
            status_of(
                &call.record,
                party,
                call.offer.as_ref(),
                call.answer.as_ref(),
            )
        }))
    }

    /// Calls ringing for `user`, with their offers.
    pub fn incoming(&self, user: &Username) -> Vec<CallStatus> {
        let inner = self.lock();
        inner
            .in_call
            .get(user)
            .and_then(|id| inner.calls.get(id))
            .filter(|c| c.record.state == CallState::Ringing && c.record.callee == *user)
            .map(|c| status_of(&c.record, Party::Callee, c.offer.as_ref(), None))
            .into_iter()
            .collect()
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

fn party_of(record: &CallRecord, user: &Username) -> Result<Party, AppError> {
    if *user == record.caller {
        Ok(Party::Caller)
    } else if *user == record.callee {
        Ok(Party::Callee)
    } else {
        Err(AppError::new(
            ErrorCode::NotAParty,
            "you are not a party to this call",
        ))
    }
}

/// What `party` may see of a call: the offer only as callee while ringing,
/// the answer only as caller once active.
fn status_of(
    record: &CallRecord,
    party: Party,
    offer: Option<&HandshakeBlob>,
    answer: Option<&HandshakeBlob>,
) -> CallStatus {
    CallStatus {
        call_id: record.call_id.clone(),
        caller: record.caller.clone(),
        callee: record.callee.clone(),
        state: record.state,
        created_at: record.created_at,
        updated_at: record.updated_at,
        offer: offer.filter(|_| party == Party::Callee).cloned(),
        answer: answer.filter(|_| party == Party::Caller).cloned(),
    }
}

/// The status of a stored call for `user`, refusing non-parties.
pub fn stored_status(record: &CallRecord, user: &Username) -> Result<CallStatus, AppError> {
    let party = party_of(record, user)?;
    Ok(status_of(record, party, None, None))
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

/// A callee's Answer with its push to the caller, encoded in advance.
struct Answer {
    blob: HandshakeBlob,
    push: Utf8Bytes,
}

fn encode(ev: &ServerEvent) -> Utf8Bytes {
    match ev {
        ServerEvent::IncomingCall {
            call_id,
            caller,
            offer,
            created_at,
        } => incoming_call_text(call_id, caller, offer, *created_at),
        ServerEvent::Accepted { call_id, answer } => accepted_text(call_id, answer),
        // Serializing our own enum of strings and numbers cannot fail.
        other => {
            Utf8Bytes::from(serde_json::to_string(other).expect("ServerEvent always serializes"))
        }
    }
}

// The two pushes that carry handshake blobs are most of the bytes the
// registry writes. Every string in them is from a character set that JSON
// never escapes (hex call ids, usernames of `a-z 0-9 _ . -`, base64), so
// they are written directly, from borrowed parts, instead of through
// serde_json, which would scan each of their ~10 KB for characters to
// escape. The text is the same as serde_json's (tested below).

/// The `incoming_call` push.
fn incoming_call_text(
    call_id: &CallId,
    caller: &Username,
    offer: &HandshakeBlob,
    created_at: u64,
) -> Utf8Bytes {
    use std::fmt::Write;
    let mut t = String::with_capacity(96 + offer.as_base64().len());
    let _ = write!(
        t,
        r#"{{"type":"incoming_call","call_id":"{call_id}","caller":"{caller}","offer":"{}","created_at":{created_at}}}"#,
        offer.as_base64()
    );
    Utf8Bytes::from(t)
}

/// The `accepted` push.
fn accepted_text(call_id: &CallId, answer: &HandshakeBlob) -> Utf8Bytes {
    use std::fmt::Write;
    let mut t = String::with_capacity(80 + answer.as_base64().len());
    let _ = write!(
        t,
        r#"{{"type":"accepted","call_id":"{call_id}","answer":"{}"}}"#,
        answer.as_base64()
    );
    Utf8Bytes::from(t)
}

fn push(inner: &mut Inner, user: &Username, ev: &ServerEvent) {
    push_encoded(inner, user, encode(ev));
}

fn push_encoded(inner: &mut Inner, user: &Username, text: Utf8Bytes) {
    let Some(conn) = inner.conns.get_mut(user) else {
        return;
    };
    let Some(tx) = &conn.tx else {
        return;
    };
    match tx.try_send(text) {
        Ok(()) => metrics::WS_PUSHES.inc(),
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(%user, "push queue full; dropping the connection");
            metrics::WS_SLOW_DROPS.inc();
            conn.tx = None;
        }
        // The socket task is already gone; its disconnect cleans up.
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

/// Tells everyone watching `user` whom `user` shares with its current
/// presence.
fn publish_presence(inner: &mut Inner, user: &Username, now: u64) {
    let Some(watchers) = inner.watchers.get(user) else {
        return;
    };
    let watchers: Vec<Username> = watchers
        .iter()
        .filter(|w| {
            *w == user
                || inner
                    .conns
                    .get(*w)
                    .is_some_and(|c| c.sharers.contains(user))
        })
        .cloned()
        .collect();
    // A change happens now, so now is also when the user was last seen
    // (for a disconnect: the moment they left).
    let info = PresenceInfo {
        username: user.clone(),
        presence: presence_of(inner, user),
        last_seen: Some(now),
    };
    let text = encode(&ServerEvent::Presence(info));
    for w in &watchers {
        push_encoded(inner, w, text.clone());
    }
}

/// How long the writer lets records gather after the first one arrives.
///
/// Each transaction costs the same handful of round trips to SQLite's
/// thread whatever it holds, and on a small machine those thread wake-ups
/// cost more than the rows: writing each call step on its own cost the
/// registry ~3 ms of CPU per call at 100 calls/s. Records only serve
/// history and calls already evicted from memory (kept there 10 s by
/// default), so they can wait this long.
pub const WRITE_BATCH_WINDOW: Duration = Duration::from_millis(50);

/// Batches durable writes: whatever queued up during the window after the
/// first record, or while the last batch was written, goes into the next
/// transaction.
async fn write_records(mut rx: mpsc::UnboundedReceiver<Persist>, store: Arc<dyn Store>) {
    const BATCH: usize = 1024;
    let mut calls = Vec::with_capacity(BATCH);
    let mut seen: HashMap<Username, u64> = HashMap::new();
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(WRITE_BATCH_WINDOW).await;
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Persist::Call(c) => calls.push(c),
                Persist::LastSeen(u, at) => {
                    seen.insert(u, at);
                }
            }
            next = if calls.len() + seen.len() < BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !calls.is_empty() {
            if let Err(e) = store.save_calls(&calls).await {
                tracing::error!(error = %e, n = calls.len(), "could not store call records");
            }
            calls.clear();
        }
        for (u, at) in seen.drain() {
            if let Err(e) = store.set_last_seen(&u, at).await {
                tracing::error!(error = %e, "could not store last-seen time");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_pushes_are_written_exactly_as_serde_json_writes_them() {
        let name = |s: &str| Username::parse(s).expect("valid name");
        for (len, seed) in [(1usize, 7u8), (2, 9), (3, 0), (7000, 0x5a), (16 * 1024, 3)] {
            let bytes: Vec<u8> = (0..len)
                .map(|i| (i as u8).wrapping_mul(31) ^ seed)
                .collect();
            let blob = HandshakeBlob::new(bytes).expect("blob within the cap");
            let call_id = CallId::from_bytes([seed; CALL_ID_LEN]);
            for ev in [
                ServerEvent::IncomingCall {
                    call_id: call_id.clone(),
                    caller: name("a.l-i_c3"),
                    offer: blob.clone(),
                    created_at: u64::from(seed) * 1_000_003,
                },
                ServerEvent::Accepted {
                    call_id: call_id.clone(),
                    answer: blob.clone(),
                },
            ] {
                let ours = encode(&ev);
                let theirs = serde_json::to_string(&ev).expect("serializes");
                assert_eq!(ours.as_str(), theirs, "{len} bytes");
                let back: ServerEvent = serde_json::from_str(ours.as_str()).expect("parses");
                assert_eq!(back, ev);
            }
        }
        // Other events still go through serde_json.
        let ev = ServerEvent::Rejected {
            call_id: CallId::from_bytes([1; CALL_ID_LEN]),
        };
        assert_eq!(
            encode(&ev).as_str(),
            serde_json::to_string(&ev).expect("serializes")
        );
    }
}
