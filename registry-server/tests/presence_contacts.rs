//! Presence goes only to contacts: a user's online state and last-seen time
//! reach someone only if the user added them, live over the push socket as
//! the list changes; being in a call never shows; and a subscription frame
//! is answered from memory, however many names it carries.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use common::*;
use proto::signaling::{CallId, Presence, PresenceInfo, ServerEvent, Username};
use registry::AppState;
use registry::store::{
    CallRecord, ContactAdded, Sharer, SqliteStore, Store, StoreError, UserRecord,
};

/// The next presence push, skipping anything else.
async fn presence(ws: &mut Socket) -> PresenceInfo {
    loop {
        if let ServerEvent::Presence(p) = ws.next_event().await {
            return p;
        }
    }
}

#[tokio::test]
async fn a_stranger_sees_nothing_until_added_then_sees_it_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let (bob, b_ws) = online(&server, "bob", 2).await;
    let (mallory, mut m_ws) = online(&server, "mallory", 9).await;

    // Bob is online, but has not added mallory: every way of asking says
    // offline, never seen.
    let (s, v) = mallory.get("/fetch/bob").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["presence"].as_str(), v["last_seen"].is_null()),
        (Some("offline"), true)
    );
    let (_, v) = mallory.get("/users?q=bo").await;
    assert_eq!(v["users"][0]["username"], "bob");
    assert_eq!(v["users"][0]["presence"], "offline");
    assert!(v["users"][0]["last_seen"].is_null());
    m_ws.send_text(r#"{"type":"subscribe","usernames":["bob"]}"#)
        .await;
    let p = presence(&mut m_ws).await;
    assert_eq!((p.presence, p.last_seen), (Presence::Offline, None));
    // Bob going away and coming back is not pushed to her either.
    b_ws.close().await;
    m_ws.expect_silence(300).await;
    let mut b_ws = bob.ws(&server).await;
    m_ws.expect_silence(300).await;
    assert!(matches!(
        b_ws.next_event().await,
        ServerEvent::Welcome { .. }
    ));

    // Bob adds her: her existing subscription shows him at once.
    let v = bob.add_contact("mallory").await;
    assert_eq!(v["contacts"], serde_json::json!(["mallory"]));
    let p = presence(&mut m_ws).await;
    assert_eq!((p.username.as_str(), p.presence), ("bob", Presence::Online));
    let (_, v) = mallory.get("/fetch/bob").await;
    assert_eq!(v["presence"], "online");
    // Now his comings and goings reach her.
    b_ws.close().await;
    let p = presence(&mut m_ws).await;
    assert_eq!(p.presence, Presence::Offline);
    assert!(p.last_seen.is_some(), "a contact sees since when");
    let mut b_ws = bob.ws(&server).await;
    assert_eq!(presence(&mut m_ws).await.presence, Presence::Online);
    assert!(matches!(
        b_ws.next_event().await,
        ServerEvent::Welcome { .. }
    ));

    // One-way: bob does not see mallory, who never added him.
    b_ws.send_text(r#"{"type":"subscribe","usernames":["mallory"]}"#)
        .await;
    let p = presence(&mut b_ws).await;
    assert_eq!((p.presence, p.last_seen), (Presence::Offline, None));

    // Bob removes her: she is told he is gone, and learns nothing more.
    let v = bob.remove_contact("mallory").await;
    assert_eq!(v["contacts"], serde_json::json!([]));
    let p = presence(&mut m_ws).await;
    assert_eq!((p.presence, p.last_seen), (Presence::Offline, None));
    b_ws.close().await;
    m_ws.expect_silence(300).await;
    let (_, v) = mallory.get("/fetch/bob").await;
    assert_eq!(
        (v["presence"].as_str(), v["last_seen"].is_null()),
        (Some("offline"), true)
    );
    let (_, v) = bob.get("/contacts").await;
    assert_eq!(v["contacts"], serde_json::json!([]));
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_contact_added_while_offline_is_seen_on_the_next_connect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let (bob, _b_ws) = online(&server, "bob", 2).await;
    let mut alice = User::new(&server, "alice", 1);
    alice.register().await;
    alice.sign_in().await;
    bob.add_contact("alice").await;
    // Alice connects after the change: her socket loads it from the store.
    let mut a_ws = alice.ws(&server).await;
    assert!(matches!(
        a_ws.next_event().await,
        ServerEvent::Welcome { .. }
    ));
    a_ws.send_text(r#"{"type":"subscribe","usernames":["bob"]}"#)
        .await;
    assert_eq!(presence(&mut a_ws).await.presence, Presence::Online);
    // Contacts must be accounts, and not oneself.
    let (s, v) = bob
        .send_empty(reqwest::Method::PUT, "/contacts/nobody")
        .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("unknown_user")));
    let (s, _) = bob.send_empty(reqwest::Method::PUT, "/contacts/bob").await;
    assert_eq!(s, 400);
    let anonymous = User::new(&server, "alice", 1);
    let (s, _) = anonymous
        .send_empty(reqwest::Method::PUT, "/contacts/bob")
        .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn being_in_a_call_is_never_presence_only_busy_when_rung() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(config(&dir.path().join("reg.sqlite3"))).await;
    let (alice, mut a_ws) = online(&server, "alice", 1).await;
    let (bob, mut b_ws) = online(&server, "bob", 2).await;
    let (carol, mut c_ws) = online(&server, "carol", 3).await;
    // Bob shares with carol, so she watches him.
    bob.add_contact("carol").await;
    c_ws.send_text(r#"{"type":"subscribe","usernames":["bob"]}"#)
        .await;
    assert_eq!(presence(&mut c_ws).await.presence, Presence::Online);

    let (_, v) = alice.initiate("bob", b"offer").await;
    let id = call_id_of(&v);
    assert!(matches!(
        b_ws.next_event().await,
        ServerEvent::IncomingCall { .. }
    ));
    bob.accept(&id, b"answer").await;
    assert!(matches!(
        a_ws.next_event().await,
        ServerEvent::Accepted { .. }
    ));
    // The call starting pushed nothing to carol, and asking says online.
    c_ws.expect_silence(300).await;
    let (_, v) = carol.get("/fetch/bob").await;
    assert_eq!(v["presence"], "online");
    let (_, v) = carol.get("/users?q=bob").await;
    assert_eq!(v["users"][0]["presence"], "online");
    // Ringing him is how anyone learns he is busy.
    let (s, v) = carol.initiate("bob", b"offer").await;
    assert_eq!((s, v["state"].as_str()), (200, Some("busy")));
    assert!(matches!(c_ws.next_event().await, ServerEvent::Busy { .. }));
    // The call ending is not pushed as presence either.
    alice.call_op("hangup", &id).await;
    c_ws.expect_silence(300).await;
}

/// The SQLite store, counting the reads made from it. (Writes are left
/// out: last-seen times are written by a batching task on its own
/// schedule, not in answer to a frame.)
struct Counting {
    inner: SqliteStore,
    reads: AtomicUsize,
}

impl Counting {
    fn read(&self) {
        self.reads.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Store for Counting {
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.inner.create_user(user).await
    }
    async fn user(&self, username: &Username) -> Result<Option<UserRecord>, StoreError> {
        self.read();
        self.inner.user(username).await
    }
    async fn replace_key(
        &self,
        username: &Username,
        old_key: &[u8],
        new_key: &[u8],
        now: u64,
    ) -> Result<(), StoreError> {
        self.inner
            .replace_key(username, old_key, new_key, now)
            .await
    }
    async fn search_users(&self, prefix: &str, limit: u32) -> Result<Vec<UserRecord>, StoreError> {
        self.read();
        self.inner.search_users(prefix, limit).await
    }
    async fn set_last_seen(&self, username: &Username, at: u64) -> Result<(), StoreError> {
        self.inner.set_last_seen(username, at).await
    }
    async fn save_calls(&self, calls: &[CallRecord]) -> Result<(), StoreError> {
        self.inner.save_calls(calls).await
    }
    async fn call(&self, call_id: &CallId) -> Result<Option<CallRecord>, StoreError> {
        self.read();
        self.inner.call(call_id).await
    }
    async fn delete_calls_before(&self, cutoff: u64) -> Result<u64, StoreError> {
        self.inner.delete_calls_before(cutoff).await
    }
    async fn add_contact(
        &self,
        owner: &Username,
        contact: &Username,
        at: u64,
        max: usize,
    ) -> Result<ContactAdded, StoreError> {
        self.inner.add_contact(owner, contact, at, max).await
    }
    async fn remove_contact(
        &self,
        owner: &Username,
        contact: &Username,
    ) -> Result<bool, StoreError> {
        self.inner.remove_contact(owner, contact).await
    }
    async fn contacts(&self, owner: &Username) -> Result<Vec<Username>, StoreError> {
        self.read();
        self.inner.contacts(owner).await
    }
    async fn sharers(&self, user: &Username) -> Result<Vec<Sharer>, StoreError> {
        self.read();
        self.inner.sharers(user).await
    }
    async fn secret(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.inner.secret(name, fresh).await
    }
}

#[tokio::test]
async fn subscribing_to_many_names_reads_nothing_from_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = SqliteStore::open(&dir.path().join("reg.sqlite3"))
        .await
        .expect("sqlite");
    let counting = Arc::new(Counting {
        inner: sqlite,
        reads: AtomicUsize::new(0),
    });
    // The registry over the counting store, on a real port.
    let c = config(&dir.path().join("unused"));
    let tcp = tokio::net::TcpListener::bind(c.listen).await.expect("bind");
    let listener = registry::net::CappedListener::new(tcp, 1000, 1000, None).expect("listener");
    let addr = listener.local_addr();
    let mut c = c;
    c.listen = addr;
    let header_timeout = c.header_timeout;
    let state = AppState::new(c, Arc::clone(&counting) as Arc<dyn Store>)
        .await
        .expect("state");
    tokio::spawn(registry::net::serve(
        listener,
        registry::app(state.clone()),
        header_timeout,
        state.shutdown.subscribe(),
    ));
    let fake = FakeServer { addr };
    let (bob, _b_ws) = online_at(&fake, "bob", 2).await;
    let (_alice, mut a_ws) = online_at(&fake, "alice", 1).await;
    bob.add_contact("alice").await;

    // A thousand names, most of them nobody's, and bob among them.
    let mut names: Vec<String> = (0..999).map(|i| format!("user{i:04}")).collect();
    names.push("bob".into());
    let frame = serde_json::json!({"type": "subscribe", "usernames": names}).to_string();
    let before = counting.reads.load(Ordering::SeqCst);
    for _ in 0..5 {
        a_ws.send_text(&frame).await;
        let mut seen = 0;
        while seen < names.len() {
            let p = presence(&mut a_ws).await;
            let expect = if p.username.as_str() == "bob" {
                Presence::Online
            } else {
                Presence::Offline
            };
            assert_eq!(p.presence, expect, "{}", p.username);
            seen += 1;
        }
    }
    let after = counting.reads.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "store reads for five subscribe frames");
    // The counter does count: a lookup over HTTP reads.
    bob.get("/fetch/alice").await;
    assert!(counting.reads.load(Ordering::SeqCst) > after);
    let _ = state.shutdown.send(true);
}

/// Where a registry built by hand listens.
struct FakeServer {
    addr: std::net::SocketAddr,
}

async fn online_at(server: &FakeServer, name: &str, seed: u8) -> (User, Socket) {
    let mut u = User {
        name: Username::parse(name).expect("valid name"),
        key: proto::identity::IdentityKeyPair::from_seed(&[seed; 32]),
        base: format!("http://{}", server.addr),
        http: http_client(),
        token: None,
    };
    u.register().await;
    u.sign_in().await;
    let mut ws = Socket::connect(server.addr, u.token.as_deref().expect("signed in")).await;
    assert!(matches!(ws.next_event().await, ServerEvent::Welcome { .. }));
    (u, ws)
}
