//! Pushes to the WebSockets: encoding each event once, queueing it per
//! connection without blocking, and fanning presence out to watchers.

use axum::extract::ws::Utf8Bytes;
use proto::signaling::{CallId, HandshakeBlob, PresenceInfo, ServerEvent, Username};
use tokio::sync::mpsc;

use super::{Inner, presence_of};
use crate::metrics;

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
pub(super) fn incoming_call_text(
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
pub(super) fn accepted_text(call_id: &CallId, answer: &HandshakeBlob) -> Utf8Bytes {
    use std::fmt::Write;
    let mut t = String::with_capacity(80 + answer.as_base64().len());
    let _ = write!(
        t,
        r#"{{"type":"accepted","call_id":"{call_id}","answer":"{}"}}"#,
        answer.as_base64()
    );
    Utf8Bytes::from(t)
}

pub(super) fn push(inner: &mut Inner, user: &Username, ev: &ServerEvent) {
    push_encoded(inner, user, encode(ev));
}

pub(super) fn push_encoded(inner: &mut Inner, user: &Username, text: Utf8Bytes) {
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
pub(super) fn publish_presence(inner: &mut Inner, user: &Username, now: u64) {
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
#[cfg(test)]
mod tests {
    use super::*;
    use proto::signaling::CALL_ID_LEN;

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
