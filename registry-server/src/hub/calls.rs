//! Call setup and teardown: ringing a callee, the actions of either
//! party, and what each party may see of a call.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use proto::signaling::{
    CALL_ID_LEN, CallAction, CallId, CallState, CallStatus, ErrorCode, HandshakeBlob, Party,
    ServerEvent, Username, next_call_state,
};

use super::push::{accepted_text, incoming_call_text, push, push_encoded};
use super::{CALLEE_OFFLINE, Hub, Inner, LiveCall, Persist, is_connected};
use crate::error::AppError;
use crate::metrics;
use crate::store::CallRecord;

impl Hub {
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
    pub(super) fn transition(
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
}

/// A callee's Answer with its push to the caller, encoded in advance.
pub(super) struct Answer {
    blob: HandshakeBlob,
    push: Utf8Bytes,
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
