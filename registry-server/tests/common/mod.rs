//! Shared helpers: a real registry on a loopback port with a temporary
//! SQLite file, and raw HTTP + WebSocket clients that speak the wire format
//! directly (the engine's client is tested in crates/engine/tests).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proto::identity::IdentityKeyPair;
use proto::signaling::*;
use registry::{Config, Server};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Loopback config with limits that tests do not trip by accident.
pub fn config(db: &Path) -> Config {
    let mut c = Config::new(SocketAddr::from(([127, 0, 0, 1], 0)), db.to_path_buf());
    c.rate_per_ip = 0;
    c.rate_per_account = 0;
    c.ring_timeout = Duration::from_secs(30);
    c
}

pub async fn start(c: Config) -> Server {
    Server::start(c).await.expect("registry starts")
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn now() -> u64 {
    registry::unix_now()
}

/// A user speaking raw JSON to the registry.
pub struct User {
    pub name: Username,
    pub key: IdentityKeyPair,
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

impl User {
    pub fn new(server: &Server, name: &str, seed: u8) -> Self {
        Self {
            name: Username::parse(name).expect("valid test name"),
            key: IdentityKeyPair::from_seed(&[seed; 32]),
            base: format!("http://{}", server.addr),
            http: http_client(),
            token: None,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON body"))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON body"))
    }

    pub fn register_body(&self, key: &IdentityKeyPair) -> Value {
        let pk = key.public().to_bytes();
        let ts = now();
        let sig = key.sign(REGISTER_DOMAIN, &register_message(&self.name, &pk, ts));
        json!({
            "username": self.name.as_str(),
            "identity_key": b64(&pk),
            "timestamp": ts,
            "signature": b64(&sig.to_bytes()),
        })
    }

    pub async fn register(&self) {
        let (s, v) = self.post("/register", self.register_body(&self.key)).await;
        assert_eq!(s, 201, "register {}: {v}", self.name);
    }

    /// The origin this user's client signs: that of the URL it talks to.
    pub fn origin(&self) -> Origin {
        Origin::from_url(&self.base).expect("test URL has an origin")
    }

    /// A fresh challenge for this user's name.
    pub async fn challenge(&self) -> Challenge {
        let (s, v) = self
            .post("/auth/challenge", json!({"username": self.name.as_str()}))
            .await;
        assert_eq!(s, 200, "challenge: {v}");
        let ch: ChallengeResponse = serde_json::from_value(v).expect("challenge body");
        ch.challenge
    }

    /// Trades `challenge`, signed with `key` for `origin`, for a token.
    pub async fn redeem(
        &self,
        challenge: &Challenge,
        key: &IdentityKeyPair,
        origin: &Origin,
    ) -> (u16, Value) {
        let sig = key.sign(
            SIGN_IN_DOMAIN,
            &sign_in_message(&self.name, origin, challenge),
        );
        self.post(
            "/auth/token",
            json!({
                "username": self.name.as_str(),
                "origin": origin.as_str(),
                "challenge": b64(challenge.as_bytes()),
                "signature": b64(&sig.to_bytes()),
            }),
        )
        .await
    }

    /// Challenge + signature with `key` (normally our own).
    pub async fn sign_in_with(&self, key: &IdentityKeyPair) -> (u16, Value) {
        let challenge = self.challenge().await;
        self.redeem(&challenge, key, &self.origin()).await
    }

    pub async fn sign_in(&mut self) {
        let (s, v) = self.sign_in_with(&self.key).await;
        assert_eq!(s, 200, "sign in: {v}");
        self.token = Some(v["token"].as_str().expect("token").to_owned());
    }

    pub async fn ws(&self, server: &Server) -> Socket {
        Socket::connect(server.addr, self.token.as_deref().expect("signed in")).await
    }

    pub async fn initiate(&self, callee: &str, offer: &[u8]) -> (u16, Value) {
        self.post(
            "/call/initiate",
            json!({"callee": callee, "offer": b64(offer)}),
        )
        .await
    }

    pub async fn accept(&self, call_id: &str, answer: &[u8]) -> (u16, Value) {
        self.post(
            "/call/accept",
            json!({"call_id": call_id, "answer": b64(answer)}),
        )
        .await
    }

    pub async fn call_op(&self, op: &str, call_id: &str) -> (u16, Value) {
        self.post(&format!("/call/{op}"), json!({"call_id": call_id}))
            .await
    }

    /// Adds `name` to this user's contacts, letting them see our presence.
    pub async fn add_contact(&self, name: &str) -> Value {
        let (s, v) = self
            .send_empty(reqwest::Method::PUT, &format!("/contacts/{name}"))
            .await;
        assert_eq!(s, 200, "add contact {name}: {v}");
        v
    }

    /// Takes `name` off this user's contacts.
    pub async fn remove_contact(&self, name: &str) -> Value {
        let (s, v) = self
            .send_empty(reqwest::Method::DELETE, &format!("/contacts/{name}"))
            .await;
        assert_eq!(s, 200, "remove contact {name}: {v}");
        v
    }

    /// A body-less request with our token.
    pub async fn send_empty(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON body"))
    }
}

/// A user with a signed-in push socket, ready to call.
pub async fn online(server: &Server, name: &str, seed: u8) -> (User, Socket) {
    let mut u = User::new(server, name, seed);
    u.register().await;
    u.sign_in().await;
    let mut ws = u.ws(server).await;
    match ws.next_event().await {
        ServerEvent::Welcome { username, .. } => assert_eq!(username, u.name),
        other => panic!("expected welcome, got {other:?}"),
    }
    (u, ws)
}

pub struct Socket {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Socket {
    pub async fn connect(addr: SocketAddr, token: &str) -> Self {
        let mut req = format!("ws://{addr}/ws")
            .into_client_request()
            .expect("ws request");
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connects");
        Self { ws }
    }

    /// The next pushed event (pings skipped), failing after 5 s.
    pub async fn next_event(&mut self) -> ServerEvent {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("an event within 5 s")
                .expect("socket open")
                .expect("frame");
            if let Message::Text(t) = msg {
                return parse::<ServerEvent>(t.as_bytes()).expect("valid event");
            }
        }
    }

    /// Asserts that nothing arrives for `ms` milliseconds.
    pub async fn expect_silence(&mut self, ms: u64) {
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(ms), self.ws.next()).await
        {
            panic!("unexpected event: {t}");
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

pub fn call_id_of(v: &Value) -> String {
    v["call_id"].as_str().expect("call_id").to_owned()
}

/// A plain HTTP client. Building a workspace unifies reqwest's features, and
/// the engine turns on `rustls-no-provider`, so a rustls crypto provider must
/// be installed before any client is built (a second install is a no-op).
pub fn http_client() -> reqwest::Client {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
