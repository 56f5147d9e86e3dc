//! The push WebSocket (`GET /ws`, authenticated with the bearer token).
//!
//! One socket per signed-in client, one task per socket. The task waits on
//! three things at once: pushes queued by the [`crate::hub`], frames from the
//! client (presence subscriptions, pings, and call steps: the same initiate,
//! accept, reject and hangup as the HTTP endpoints, answered on this socket,
//! so a connected client pays no HTTP request per step), and server shutdown. It sends
//! a WebSocket ping every [`PING_INTERVAL`] and drops a client that has sent
//! nothing for two intervals, so half-open connections do not keep a user
//! "online". A client that stops reading cannot hold its socket open
//! either: a send that the network does not take within [`SEND_TIMEOUT`]
//! ends the socket.
//!
//! Before its `welcome`, a socket reads from the store who shares presence
//! with its user (see [`crate::hub`]); that is the socket's one store read
//! for presence, and subscription frames are answered from memory.
//!
//! Buffers are kept small on purpose: idle sockets are the registry's main
//! memory cost, and pushes are a few KiB at most.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use proto::signaling::{
    CallAction, CallStatus, ClientMessage, MAX_CLIENT_WS_MESSAGE, ServerEvent, Username,
};
use tokio::sync::mpsc;

use crate::AppState;
use crate::api;
use crate::client_input;
use crate::error::AppError;
use crate::limits::AuthUser;
use crate::metrics;
use crate::unix_now;

/// How often the server pings an idle client.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);

/// How long one frame may wait for the client's TCP window by default
/// (`Config::ws_send_timeout`). Pushes are a few KiB; a client that leaves
/// this long without reading is gone or hostile, and waiting for it would
/// hold a connection slot forever.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// Close code sent when the server shuts down (RFC 6455: "service restart").
const CLOSE_RESTART: u16 = 1012;

/// Close code sent when the socket cannot be set up for now (RFC 6455:
/// "try again later").
const CLOSE_TRY_AGAIN: u16 = 1013;

/// `GET /ws`: upgrades to the push socket of the signed-in user.
pub async fn upgrade(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ws: WebSocketUpgrade,
) -> Response {
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(MAX_CLIENT_WS_MESSAGE)
        .max_frame_size(MAX_CLIENT_WS_MESSAGE)
        .on_upgrade(move |socket| serve_socket(state, user, socket))
}

/// Sends one frame, giving up after `limit`; `false` if the socket is
/// done for.
async fn send(socket: &mut WebSocket, msg: Message, limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, socket.send(msg)).await,
        Ok(Ok(()))
    )
}

async fn serve_socket(state: AppState, user: Username, mut socket: WebSocket) {
    let limit = state.config.ws_send_timeout;
    let load = state.hub.begin_load(&user);
    let sharers = match state.store.sharers(&user).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "could not load contacts for a socket");
            let frame = CloseFrame {
                code: CLOSE_TRY_AGAIN,
                reason: "registry storage unavailable".into(),
            };
            let _ = send(&mut socket, Message::Close(Some(frame)), limit).await;
            return;
        }
    };
    metrics::WS_OPEN.inc();
    let (tx, mut rx) = mpsc::channel(state.config.ws_queue);
    let conn_id = state.hub.connect(&user, tx, load, sharers, unix_now());
    let mut shutdown = state.shutdown.subscribe();
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + first_ping_delay(conn_id),
        PING_INTERVAL,
    );
    let mut quiet_ticks = 0u32;
    'socket: loop {
        tokio::select! {
            push = rx.recv() => match push {
                Some(text) => {
                    if !send(&mut socket, Message::Text(text), limit).await {
                        break;
                    }
                }
                // Replaced by a newer socket, or cut off for not reading.
                None => break,
            },
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    quiet_ticks = 0;
                    if let Some(reply) = handle_client(&state, &user, conn_id, text.as_bytes()).await {
                        for ev in reply {
                            let text = serde_json::to_string(&ev)
                                .expect("ServerEvent always serializes");
                            if !send(&mut socket, Message::Text(text.into()), limit).await {
                                // The whole socket, not just this reply.
                                break 'socket;
                            }
                        }
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    quiet_ticks = 0;
                    let ev = error_event(proto::signaling::SignalingError::new(
                        proto::signaling::ErrorCode::MalformedJson,
                        "binary frames are not accepted; send JSON text",
                    ));
                    let text = serde_json::to_string(&ev).expect("ServerEvent always serializes");
                    if !send(&mut socket, Message::Text(text.into()), limit).await {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => quiet_ticks = 0,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            _ = ping.tick() => {
                quiet_ticks += 1;
                if quiet_ticks > 2 || !send(&mut socket, Message::Ping(Default::default()), limit).await {
                    break;
                }
            }
            _ = shutdown.changed() => {
                let frame = CloseFrame { code: CLOSE_RESTART, reason: "registry shutting down".into() };
                let _ = send(&mut socket, Message::Close(Some(frame)), limit).await;
                break;
            }
        }
    }
    state.hub.disconnect(&user, conn_id, unix_now());
    metrics::WS_OPEN.dec();
}

/// When a socket's first ping is due: somewhere in `[PING_INTERVAL / 2,
/// 3 × PING_INTERVAL / 2)`, spread by the connection number. Clients that
/// connect together (all of them after a registry restart) would otherwise
/// be pinged together every interval, a burst of thousands of sends.
fn first_ping_delay(conn_id: u64) -> Duration {
    let span = PING_INTERVAL.as_millis() as u64;
    // Fibonacci hashing scatters consecutive ids over the whole span.
    let offset = conn_id.wrapping_mul(0x9e37_79b9_7f4a_7c15) % span;
    PING_INTERVAL / 2 + Duration::from_millis(offset)
}

fn error_event(e: proto::signaling::SignalingError) -> ServerEvent {
    metrics::count_error(e.code);
    ServerEvent::Error(e.to_body())
}

/// Answers one client frame; the events go straight back on this socket.
async fn handle_client(
    state: &AppState,
    user: &Username,
    conn_id: u64,
    bytes: &[u8],
) -> Option<Vec<ServerEvent>> {
    // Every frame counts against the account's rate, readable or not.
    let limited = state.limits.check_account(user).err().map(|e| e.0);
    let msg = match client_input::client_frame(bytes) {
        Ok(m) => m,
        Err(e) => return Some(vec![error_event(limited.unwrap_or(e))]),
    };
    if let Some(e) = limited {
        return Some(vec![match msg.request_id() {
            Some(req) => refused(req, e),
            None => error_event(e),
        }]);
    }
    match msg {
        ClientMessage::Ping { nonce } => Some(vec![ServerEvent::Pong { nonce }]),
        ClientMessage::Subscribe { usernames } => {
            let snapshot = state.hub.subscribe(user, conn_id, usernames, unix_now());
            Some(snapshot.into_iter().map(ServerEvent::Presence).collect())
        }
        ClientMessage::Initiate { req, callee, offer } => Some(vec![reply(
            req,
            api::initiate_call(state, user, &callee, offer).await,
        )]),
        ClientMessage::Accept {
            req,
            call_id,
            answer,
        } => Some(vec![reply(
            req,
            api::act(state, user, &call_id, CallAction::Accept, Some(answer)).await,
        )]),
        ClientMessage::Reject { req, call_id } => Some(vec![reply(
            req,
            api::act(state, user, &call_id, CallAction::Reject, None).await,
        )]),
        ClientMessage::Hangup { req, call_id } => Some(vec![reply(
            req,
            api::act(state, user, &call_id, CallAction::Hangup, None).await,
        )]),
    }
}

/// The answer to a call step sent on the socket.
fn reply(req: u64, result: Result<CallStatus, AppError>) -> ServerEvent {
    match result {
        Ok(status) => ServerEvent::CallReply { req, status },
        Err(e) => refused(req, e.0),
    }
}

fn refused(req: u64, e: proto::signaling::SignalingError) -> ServerEvent {
    metrics::count_error(e.code);
    ServerEvent::CallRefused {
        req,
        error: e.to_body(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_pings_of_consecutive_connections_are_spread_over_the_interval() {
        let delays: Vec<Duration> = (1..=1000).map(first_ping_delay).collect();
        for d in &delays {
            assert!(
                *d >= PING_INTERVAL / 2 && *d < PING_INTERVAL * 3 / 2,
                "{d:?}"
            );
        }
        // Ten equal slices of the range each get a fair share.
        let mut slices = [0u32; 10];
        for d in &delays {
            let into = (*d - PING_INTERVAL / 2).as_millis() * 10 / PING_INTERVAL.as_millis();
            slices[into as usize] += 1;
        }
        assert!(
            slices.iter().all(|&n| (60..=140).contains(&n)),
            "{slices:?}"
        );
    }
}
