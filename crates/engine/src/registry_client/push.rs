//! The push WebSocket: a background task that keeps it connected, hands
//! the registry's pushes to an [`EventStream`] and carries call steps.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use proto::signaling::{CallStatus, ClientMessage, ServerEvent, Username, parse};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, connect_async_tls_with_config};

use super::{RegistryClient, RegistryError, SILENCE_LIMIT, Step, StepResult};

impl RegistryClient {
    /// Opens the push channel, kept connected in the background until the
    /// returned stream is dropped. `subscriptions` names the users whose
    /// presence changes are wanted; change them with
    /// [`EventStream::subscribe`].
    pub fn events(self: &Arc<Self>, subscriptions: Vec<Username>) -> EventStream {
        let (tx, rx) = mpsc::channel(256);
        let (subs_tx, subs_rx) = watch::channel(subscriptions);
        let task = tokio::spawn(run_events(Arc::clone(self), tx, subs_rx));
        EventStream {
            rx,
            subs: subs_tx,
            task,
        }
    }

    fn ws_url(&self) -> String {
        let rest = self
            .base
            .strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .or_else(|| {
                self.base
                    .strip_prefix("http://")
                    .map(|r| format!("ws://{r}"))
            })
            .unwrap_or_else(|| self.base.clone());
        format!("{rest}/ws")
    }
}

/// What the push channel reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    /// The socket is up and the registry sees this user online.
    Connected,
    /// The socket dropped; it is retried after `retry_in`.
    Disconnected {
        /// Why, for logs and status lines.
        reason: String,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// Something the registry pushed.
    Server(ServerEvent),
}

/// The live push channel of a [`RegistryClient`]; reconnects by itself.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<RegistryEvent>,
    subs: watch::Sender<Vec<Username>>,
    task: JoinHandle<()>,
}

impl EventStream {
    /// The next event; `None` only if the background task ended.
    pub async fn next(&mut self) -> Option<RegistryEvent> {
        self.rx.recv().await
    }

    /// Replaces the presence subscriptions (kept across reconnections).
    pub fn subscribe(&self, usernames: Vec<Username>) {
        self.subs.send_replace(usernames);
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run_events(
    client: Arc<RegistryClient>,
    tx: mpsc::Sender<RegistryEvent>,
    mut subs: watch::Receiver<Vec<Username>>,
) {
    let mut attempt = 0u32;
    loop {
        let reason = match connect_once(&client, &tx, &mut subs, &mut attempt).await {
            Ok(()) => "registry closed the connection".to_owned(),
            Err(e) => e,
        };
        if tx.is_closed() {
            return;
        }
        let retry_in = client.backoff.delay(attempt);
        attempt = attempt.saturating_add(1);
        tracing::debug!(%reason, ?retry_in, "registry socket down");
        if tx
            .send(RegistryEvent::Disconnected { reason, retry_in })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}

/// One connection's life. Resets `attempt` once the registry welcomed us.
async fn connect_once(
    client: &RegistryClient,
    tx: &mpsc::Sender<RegistryEvent>,
    subs: &mut watch::Receiver<Vec<Username>>,
    attempt: &mut u32,
) -> Result<(), String> {
    let token = client.token().await.map_err(|e| e.to_string())?;
    let mut request = client
        .ws_url()
        .into_client_request()
        .map_err(|e| format!("bad WebSocket URL: {e}"))?;
    let auth = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "token is not a valid header".to_owned())?;
    request.headers_mut().insert("authorization", auth);
    let connector = Connector::Rustls(Arc::clone(&client.tls));
    let (mut ws, _) =
        match connect_async_tls_with_config(request, None, true, Some(connector)).await {
            Ok(pair) => pair,
            Err(tungstenite::Error::Http(res)) if res.status().as_u16() == 401 => {
                // A restarted registry with a new secret: sign in afresh.
                client.forget_token(&token).await;
                return Err("token refused; signing in again".into());
            }
            Err(e) => return Err(client.connection_error(e).to_string()),
        };

    // Call steps of this connection: queued by the client's methods,
    // answered from the socket by number.
    let (step_tx, mut steps) = mpsc::channel::<Step>(16);
    let _live = LiveSocket::open(client, step_tx);
    let mut waiting: HashMap<u64, oneshot::Sender<StepResult>> = HashMap::new();
    let result = serve_socket(&mut ws, tx, subs, attempt, &mut steps, &mut waiting).await;
    // Steps queued but never written may go over HTTP; those written and
    // unanswered fail when `waiting` drops their senders.
    steps.close();
    while let Ok(step) = steps.try_recv() {
        let _ = step.answer.send(StepResult::NotSent);
    }
    result
}

/// Marks a connection's step queue as the client's live socket, and
/// unmarks it when the connection ends.
struct LiveSocket<'a> {
    client: &'a RegistryClient,
    queue: mpsc::Sender<Step>,
}

impl<'a> LiveSocket<'a> {
    fn open(client: &'a RegistryClient, queue: mpsc::Sender<Step>) -> Self {
        *client.socket.lock().unwrap_or_else(PoisonError::into_inner) = Some(queue.clone());
        Self { client, queue }
    }
}

impl Drop for LiveSocket<'_> {
    fn drop(&mut self) {
        let mut slot = self
            .client
            .socket
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A second event stream of the same client may have taken over.
        if slot.as_ref().is_some_and(|q| q.same_channel(&self.queue)) {
            *slot = None;
        }
    }
}

/// Settles the step numbered `req` with the registry's answer; an answer
/// nobody waits for (timed out) is dropped.
fn settle(
    waiting: &mut HashMap<u64, oneshot::Sender<StepResult>>,
    req: u64,
    answer: Result<CallStatus, RegistryError>,
) {
    if let Some(tx) = waiting.remove(&req) {
        let _ = tx.send(StepResult::Answered(answer));
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Runs one open socket until it closes or the stream's owner goes away.
async fn serve_socket(
    ws: &mut Socket,
    tx: &mpsc::Sender<RegistryEvent>,
    subs: &mut watch::Receiver<Vec<Username>>,
    attempt: &mut u32,
    steps: &mut mpsc::Receiver<Step>,
    waiting: &mut HashMap<u64, oneshot::Sender<StepResult>>,
) -> Result<(), String> {
    use futures_util::{SinkExt, StreamExt};

    let send_subs = |list: Vec<Username>| {
        let msg = ClientMessage::Subscribe { usernames: list };
        Message::Text(
            serde_json::to_string(&msg)
                .expect("ClientMessage always serializes")
                .into(),
        )
    };
    loop {
        tokio::select! {
            frame = tokio::time::timeout(SILENCE_LIMIT, ws.next()) => {
                let frame = match frame {
                    Err(_) => return Err("registry went silent".into()),
                    Ok(None) => return Ok(()),
                    Ok(Some(Err(e))) => return Err(e.to_string()),
                    Ok(Some(Ok(f))) => f,
                };
                match frame {
                    Message::Text(text) => {
                        let ev = match parse::<ServerEvent>(text.as_bytes()) {
                            Ok(ev) => ev,
                            Err(e) => {
                                tracing::warn!(error = %e, "unreadable push from registry");
                                continue;
                            }
                        };
                        match ev {
                            ServerEvent::CallReply { req, status } => {
                                settle(waiting, req, Ok(status));
                                continue;
                            }
                            ServerEvent::CallRefused { req, error } => {
                                let refused = RegistryError::Refused {
                                    status: error.code.http_status(),
                                    code: error.code,
                                    message: error.message,
                                };
                                settle(waiting, req, Err(refused));
                                continue;
                            }
                            _ => {}
                        }
                        if matches!(ev, ServerEvent::Welcome { .. }) {
                            *attempt = 0;
                            let list = subs.borrow_and_update().clone();
                            if !list.is_empty() {
                                ws.send(send_subs(list)).await.map_err(|e| e.to_string())?;
                            }
                            if tx.send(RegistryEvent::Connected).await.is_err() {
                                return Ok(());
                            }
                            continue;
                        }
                        if tx.send(RegistryEvent::Server(ev)).await.is_err() {
                            return Ok(());
                        }
                    }
                    Message::Close(_) => return Ok(()),
                    _ => {}
                }
            }
            Some(step) = steps.recv() => {
                let text = serde_json::to_string(&step.msg).expect("ClientMessage always serializes");
                if let Err(e) = ws.send(Message::Text(text.into())).await {
                    let _ = step.answer.send(StepResult::Answered(Err(
                        RegistryError::Unreachable(e.to_string()),
                    )));
                    return Err(e.to_string());
                }
                waiting.insert(step.req, step.answer);
            }
            changed = subs.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let list = subs.borrow_and_update().clone();
                ws.send(send_subs(list)).await.map_err(|e| e.to_string())?;
            }
        }
    }
}
