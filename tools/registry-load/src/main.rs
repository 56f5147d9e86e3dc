//! `registry-load`: load generator for the registry (run by
//! `bench/registry.sh`).
//!
//! It behaves like many real clients on loopback: registers and signs in
//! `--clients` users with real hybrid signatures, holds one push WebSocket
//! per user, then places calls at a fixed rate between fixed pairs. Each
//! call is a complete setup as a client sees it:
//!
//! ```text
//! caller initiate ──► callee WS IncomingCall   (ring delivery)
//! callee accept   ──► caller WS Accepted       (answer delivery)
//! caller hangup   ──► callee WS Ended
//! ```
//!
//! Each step goes where `--via` says: on the client's own push socket (the
//! default, as the pqvoice client does while connected; the answer comes
//! back on that socket) or as an HTTP POST (`/call/initiate`, ...).
//!
//! Delivery latency is measured from just before the step is sent to the
//! moment the push is read from the other party's socket, so it includes
//! the request, the server's work and the push.
//!
//! It also reports the server's resident memory per idle connection (from
//! `/proc/<server-pid>/status`) and the CPU share of both processes.
//!
//! The registry lets one client address hold only so many connections
//! (`--max-connections-per-ip`, 64 by default), as it should against real
//! clients. Against a registry on loopback the generator therefore spreads
//! its clients over loopback source addresses (127.0.0.2, 127.0.0.3, ...;
//! all of 127/8 is local on Linux), `--per-source` clients on each: their
//! push sockets and, one pair at a time, their HTTP requests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use proto::identity::IdentityKeyPair;
use proto::signaling::{
    CallStatus, ChallengeResponse, HandshakeBlob, IdentityKeyBytes, InitiateRequest, Origin,
    REGISTER_DOMAIN, RegisterRequest, SIGN_IN_DOMAIN, ServerEvent, SignInRequest, SignInResponse,
    SignatureBytes, Username, parse, register_message, sign_in_message,
};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Load generator for the pqvoice registry.
#[derive(Debug, Parser)]
struct Args {
    /// Registry base URL.
    #[arg(long, default_value = "http://127.0.0.1:5001")]
    url: String,
    /// Signed-in WebSocket clients to hold (an even number).
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Call setups per second to attempt; a comma-separated list runs one
    /// calling phase per rate, in order, on the same connected clients.
    #[arg(long, default_value = "3000", value_delimiter = ',')]
    rate: Vec<u32>,
    /// Seconds of calling per rate.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Offer blob size in bytes (a real signed X-Wing offer is ~7 KB).
    #[arg(long, default_value_t = 7000)]
    offer_bytes: usize,
    /// Answer blob size in bytes.
    #[arg(long, default_value_t = 4500)]
    answer_bytes: usize,
    /// PID of the server, for its memory and CPU figures.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Username prefix (lets reruns on one database use fresh names).
    #[arg(long, default_value = "load")]
    prefix: String,
    /// How call steps reach the registry.
    #[arg(long, value_enum, default_value_t = Via::Ws)]
    via: Via,
    /// Clients per loopback source address (an even number), when the
    /// registry is on 127.0.0.0/8: each holds a push socket and, one pair
    /// at a time, an HTTP connection, so the default 32 stays under the
    /// registry's default cap of 64 connections per address.
    #[arg(long, default_value_t = 32)]
    per_source: usize,
}

/// Where the clients connect from: one loopback source address (and one
/// HTTP client bound to it) per `per_source` clients, or just the default
/// route for a registry that is not on loopback.
struct Sources {
    addrs: Vec<Option<IpAddr>>,
    http: Vec<reqwest::Client>,
    per_source: usize,
}

impl Sources {
    fn new(base: &str, clients: usize, per_source: usize) -> anyhow::Result<Self> {
        let loopback = registry_addr(base).is_ok_and(|a| a.ip().is_loopback() && a.is_ipv4());
        let addrs: Vec<Option<IpAddr>> = if loopback {
            // 127.0.0.2 on, skipping .0 and .255 so no address looks like a
            // network or broadcast one.
            (2u32..)
                .map(|n| Ipv4Addr::from(0x7f00_0000 | n))
                .filter(|a| !matches!(a.octets()[3], 0 | 255))
                .take(clients.div_ceil(per_source))
                .map(|a| Some(IpAddr::V4(a)))
                .collect()
        } else {
            vec![None]
        };
        let http = addrs
            .iter()
            .map(|a| {
                reqwest::Client::builder()
                    .pool_max_idle_per_host(per_source)
                    .tcp_nodelay(true)
                    .local_address(*a)
                    .build()
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            addrs,
            http,
            per_source,
        })
    }

    /// The source index of client `i`.
    fn of(&self, i: usize) -> usize {
        (i / self.per_source).min(self.addrs.len() - 1)
    }
}

/// The registry's socket address from a base URL `http://host:port`.
fn registry_addr(base: &str) -> anyhow::Result<SocketAddr> {
    let host_port = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("--url must be http://host:port"))?;
    let host_port = host_port.split('/').next().unwrap_or(host_port);
    Ok(host_port.parse()?)
}

/// One pair's initiate, serialized once for the whole run.
enum Initiate {
    /// The JSON body of `POST /call/initiate`.
    Http(bytes::Bytes),
    /// The socket message after its number: `,"callee":...,"offer":...}`.
    Ws(String),
}

/// Transport of the call steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Via {
    /// Messages on the caller's and callee's own push sockets.
    Ws,
    /// HTTP POSTs with the bearer token.
    Http,
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Client {
    token: String,
    ws: Ws,
}

fn now_unix() -> u64 {
    registry::unix_now()
}

async fn post_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: &impl serde::Serialize,
) -> anyhow::Result<T> {
    let mut req = http.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    let status = res.status();
    let bytes = res.bytes().await?;
    if !status.is_success() {
        anyhow::bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// POSTs a JSON body that is already serialized (the calling phase reuses
/// bodies so that the load generator spends its CPU on sockets, not on
/// re-encoding the same 9 KB of base64 for every call).
async fn post_raw<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &reqwest::Url,
    token: &str,
    body: bytes::Bytes,
) -> anyhow::Result<T> {
    let res = http
        .post(url.clone())
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await?;
    let status = res.status();
    let bytes = res.bytes().await?;
    if !status.is_success() {
        anyhow::bail!("HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// The calling phase's URLs, parsed once.
struct Urls {
    initiate: reqwest::Url,
    accept: reqwest::Url,
    hangup: reqwest::Url,
}

/// Registers (or reuses) and signs in one user; returns its token.
async fn provision(
    http: &reqwest::Client,
    base: &str,
    name: Username,
    seed: u64,
) -> anyhow::Result<String> {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..16].copy_from_slice(b"loadgen!");
    let key = IdentityKeyPair::from_seed(&s);
    let pk = key.public().to_bytes();
    let ts = now_unix();
    let sig = key.sign(REGISTER_DOMAIN, &register_message(&name, &pk, ts));
    let reg = RegisterRequest {
        username: name.clone(),
        identity_key: IdentityKeyBytes::new(pk)?,
        timestamp: ts,
        signature: SignatureBytes::new(sig.to_bytes())?,
    };
    if let Err(e) =
        post_json::<serde_json::Value>(http, format!("{base}/register"), None, &reg).await
        && !e.to_string().contains("username_taken")
    {
        return Err(e);
    }
    let ch: ChallengeResponse = post_json(
        http,
        format!("{base}/auth/challenge"),
        None,
        &serde_json::json!({ "username": name.as_str() }),
    )
    .await?;
    let origin = Origin::from_url(base)?;
    let sig = key.sign(
        SIGN_IN_DOMAIN,
        &sign_in_message(&name, &origin, &ch.challenge),
    );
    let res: SignInResponse = post_json(
        http,
        format!("{base}/auth/token"),
        None,
        &SignInRequest {
            username: name,
            origin,
            challenge: ch.challenge,
            signature: SignatureBytes::new(sig.to_bytes())?,
        },
    )
    .await?;
    Ok(res.token)
}

async fn open_ws(base: &str, token: &str, source: Option<IpAddr>) -> anyhow::Result<Ws> {
    let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    // Nagle off, as the pqvoice client has it: a step written in more than
    // one piece would otherwise wait for the server's delayed ACK (~40 ms).
    let (mut ws, _) = match source {
        None => tokio_tungstenite::connect_async_with_config(req, None, true).await?,
        Some(from) => {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(from, 0))?;
            let stream = socket.connect(registry_addr(base)?).await?;
            stream.set_nodelay(true)?;
            tokio_tungstenite::client_async_with_config(req, MaybeTlsStream::Plain(stream), None)
                .await?
        }
    };
    match next_event(&mut ws).await? {
        ServerEvent::Welcome { .. } => Ok(ws),
        other => anyhow::bail!("expected welcome, got {other:?}"),
    }
}

async fn next_event(ws: &mut Ws) -> anyhow::Result<ServerEvent> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .map_err(|_| anyhow::anyhow!("no push within 10 s"))?
            .ok_or_else(|| anyhow::anyhow!("socket closed"))??;
        if let Message::Text(t) = msg {
            return Ok(parse::<ServerEvent>(t.as_bytes())?);
        }
    }
}

/// Linux: utime + stime of a process, in seconds.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux we run on.
    Some((utime + stime) / 100.0)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

#[derive(Default)]
struct Samples {
    ring_us: Vec<u32>,
    answer_us: Vec<u32>,
    setup_us: Vec<u32>,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.clients >= 2 && args.clients % 2 == 0,
        "--clients must be even"
    );
    let base = args.url.trim_end_matches('/').to_owned();
    // With the engine in the same build, reqwest is compiled without a
    // default TLS provider; install ring's (an earlier install is fine).
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    anyhow::ensure!(
        args.per_source >= 2 && args.per_source % 2 == 0,
        "--per-source must be even"
    );
    let sources = Arc::new(Sources::new(&base, args.clients, args.per_source)?);
    println!(
        "{} clients from {} source address(es)",
        args.clients,
        sources.addrs.len()
    );
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;

    // 1. Accounts.
    let t = Instant::now();
    let gate = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let name = Username::parse(&format!("{}{i:05}", args.prefix))?;
        let http = sources.http[sources.of(i)].clone();
        let (base, gate) = (base.clone(), Arc::clone(&gate));
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            provision(&http, &base, name, i as u64).await
        }));
    }
    let mut tokens = Vec::with_capacity(args.clients);
    for task in tasks {
        tokens.push(task.await??);
    }
    println!(
        "provisioned {} accounts (register + sign-in) in {:.1} s",
        args.clients,
        t.elapsed().as_secs_f64()
    );

    // 2. WebSockets.
    let rss_before = args.server_pid.and_then(rss_kib);
    let t = Instant::now();
    let mut tasks = Vec::with_capacity(args.clients);
    for (i, token) in tokens.into_iter().enumerate() {
        let source = sources.addrs[sources.of(i)];
        let (base, gate) = (base.clone(), Arc::clone(&gate));
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let ws = open_ws(&base, &token, source).await?;
            anyhow::Ok(Client { token, ws })
        }));
    }
    let mut clients = Vec::with_capacity(args.clients);
    for task in tasks {
        clients.push(task.await??);
    }
    println!(
        "connected {} WebSockets in {:.1} s",
        clients.len(),
        t.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    if let (Some(before), Some(after)) = (rss_before, args.server_pid.and_then(rss_kib)) {
        let per = (after.saturating_sub(before)) as f64 / clients.len() as f64;
        println!("RESULT idle_rss_before_kib={before}");
        println!("RESULT idle_rss_after_kib={after}");
        println!("RESULT kib_per_idle_connection={per:.2}");
    }

    // Connecting thousands of sockets leaves the server work to finish
    // (last-seen writes, presence bookkeeping); wait until it is quiet so
    // the first phase measures calls, not that.
    if let Some(pid) = args.server_pid {
        let pid = pid.to_string();
        let t = Instant::now();
        let mut last = cpu_seconds(&pid);
        while t.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = cpu_seconds(&pid);
            let busy = match (last, now) {
                (Some(a), Some(b)) => b - a,
                _ => break,
            };
            last = now;
            // Under 3 % of one core over the last second counts as idle.
            if busy < 0.03 {
                break;
            }
        }
        println!("server quiet after {:.0} s", t.elapsed().as_secs_f64());
    }

    // 3. Calls, one phase per requested rate.
    let mut clients = clients;
    for &rate in &args.rate {
        anyhow::ensure!(rate > 0, "--rate must be positive");
        clients = call_phase(&args, &sources, &base, clients, rate, ncpu).await?;
        // Let queues drain before the next phase.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // Close politely so the server sees clean disconnects.
    for mut c in clients {
        let _ = c.ws.close(None).await;
    }
    Ok(())
}

/// Places calls at `rate` per second for `--seconds` between fixed pairs,
/// prints the figures as `RESULT rate=R key=value` lines and hands the
/// clients back.
async fn call_phase(
    args: &Args,
    sources: &Sources,
    base: &str,
    clients: Vec<Client>,
    rate: u32,
    ncpu: f64,
) -> anyhow::Result<Vec<Client>> {
    // 3. Calls: pair p = (2p calls 2p+1); pair p's j-th call starts at
    //    T0 + (p + j * pairs) / rate, so the whole run is one steady rate.
    let pairs = clients.len() / 2;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let duration = Duration::from_secs(args.seconds);
    let failures = Arc::new(AtomicU64::new(0));
    let late_starts = Arc::new(AtomicU64::new(0));
    let offer = HandshakeBlob::new(vec![0x5a; args.offer_bytes])?;
    let answer = HandshakeBlob::new(vec![0xa5; args.answer_bytes])?;
    let urls = Arc::new(Urls {
        initiate: format!("{base}/call/initiate").parse()?,
        accept: format!("{base}/call/accept").parse()?,
        hangup: format!("{base}/call/hangup").parse()?,
    });
    let answer_json: Arc<str> = serde_json::to_string(&answer)?.into();
    let self_pid = std::process::id().to_string();
    let server_pid = args.server_pid.map(|p| p.to_string());
    let cpu_self0 = cpu_seconds(&self_pid);
    let cpu_server0 = server_pid.as_deref().and_then(cpu_seconds);
    let t0 = tokio::time::Instant::now() + Duration::from_millis(200);
    let wall0 = Instant::now();
    let mut it = clients.into_iter();
    let mut tasks = Vec::with_capacity(pairs);
    for p in 0..pairs {
        let (Some(mut caller), Some(mut callee)) = (it.next(), it.next()) else {
            break;
        };
        // Both parties of a pair share a source (`--per-source` is even).
        let http = sources.http[sources.of(2 * p)].clone();
        let (urls, answer_json) = (Arc::clone(&urls), Arc::clone(&answer_json));
        let (failures, late_starts) = (Arc::clone(&failures), Arc::clone(&late_starts));
        let callee_name = format!("{}{:05}", args.prefix, 2 * p + 1);
        let initiate = match args.via {
            Via::Http => {
                Initiate::Http(bytes::Bytes::from(serde_json::to_vec(&InitiateRequest {
                    callee: Username::parse(&callee_name)?,
                    offer: offer.clone(),
                })?))
            }
            Via::Ws => Initiate::Ws(format!(
                r#","callee":"{callee_name}","offer":{}}}"#,
                serde_json::to_string(&offer)?
            )),
        };
        let offer_len = offer.len();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut j = 0u64;
            loop {
                let slot = t0 + interval.mul_f64((p as u64 + j * pairs as u64) as f64);
                if slot.duration_since(t0) >= duration {
                    break;
                }
                j += 1;
                if tokio::time::Instant::now() > slot + Duration::from_millis(5) {
                    late_starts.fetch_add(1, Ordering::Relaxed);
                } else {
                    tokio::time::sleep_until(slot).await;
                }
                let r = match &initiate {
                    Initiate::Http(body) => {
                        one_call(
                            &http,
                            &urls,
                            &mut caller,
                            &mut callee,
                            body,
                            offer_len,
                            &answer_json,
                            &mut samples,
                        )
                        .await
                    }
                    Initiate::Ws(tail) => {
                        one_call_ws(
                            &mut caller,
                            &mut callee,
                            j,
                            tail,
                            offer_len,
                            &answer_json,
                            &mut samples,
                        )
                        .await
                    }
                };
                if let Err(e) = r {
                    if failures.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("call failed: {e}");
                    }
                    // Resynchronise: drain whatever pushes are pending.
                    for ws in [&mut caller.ws, &mut callee.ws] {
                        while let Ok(Some(_)) =
                            tokio::time::timeout(Duration::from_millis(50), ws.next()).await
                        {
                        }
                    }
                }
            }
            (samples, caller, callee)
        }));
    }
    let mut all = Samples::default();
    let mut keep = Vec::with_capacity(pairs);
    for task in tasks {
        let (s, a, b) = task.await?;
        all.ring_us.extend(s.ring_us);
        all.answer_us.extend(s.answer_us);
        all.setup_us.extend(s.setup_us);
        keep.push((a, b));
    }
    let wall = wall0.elapsed().as_secs_f64() - 0.2;
    let cpu_self = cpu_seconds(&self_pid).zip(cpu_self0).map(|(a, b)| a - b);
    let cpu_server = server_pid
        .as_deref()
        .and_then(cpu_seconds)
        .zip(cpu_server0)
        .map(|(a, b)| a - b);

    all.ring_us.sort_unstable();
    all.answer_us.sort_unstable();
    all.setup_us.sort_unstable();
    let done = all.setup_us.len();
    let fails = failures.load(Ordering::Relaxed);
    let tag = format!("RESULT rate={rate}");
    println!("{tag} clients={}", 2 * keep.len());
    println!("{tag} calls_completed={done}");
    println!("{tag} calls_failed={fails}");
    println!("{tag} late_starts={}", late_starts.load(Ordering::Relaxed));
    println!("{tag} achieved_rate={:.0}", done as f64 / wall);
    for (name, v) in [
        ("ring", &all.ring_us),
        ("answer", &all.answer_us),
        ("setup", &all.setup_us),
    ] {
        println!(
            "{tag} {name}_ms_p50={:.2} {name}_ms_p99={:.2} {name}_ms_max={:.2}",
            percentile(v, 0.5),
            percentile(v, 0.99),
            percentile(v, 1.0)
        );
    }
    if let Some(c) = cpu_self {
        println!("{tag} loadgen_cpu_share={:.0}%", 100.0 * c / wall / ncpu);
    }
    if let Some(c) = cpu_server {
        println!("{tag} server_cpu_share={:.0}%", 100.0 * c / wall / ncpu);
    }
    let mut back = Vec::with_capacity(2 * keep.len());
    for (a, b) in keep {
        back.push(a);
        back.push(b);
    }
    Ok(back)
}

#[allow(clippy::too_many_arguments)]
async fn one_call(
    http: &reqwest::Client,
    urls: &Urls,
    caller: &mut Client,
    callee: &mut Client,
    initiate_body: &bytes::Bytes,
    offer_len: usize,
    answer_json: &str,
    samples: &mut Samples,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let status: CallStatus =
        post_raw(http, &urls.initiate, &caller.token, initiate_body.clone()).await?;
    let call_id = status.call_id;
    match next_event(&mut callee.ws).await? {
        ServerEvent::IncomingCall {
            call_id: id,
            offer: got,
            ..
        } if id == call_id && got.len() == offer_len => {}
        other => anyhow::bail!("callee expected incoming call, got {other:?}"),
    }
    let rung = Instant::now();
    let id_json = serde_json::to_string(&call_id)?;
    let body = format!(r#"{{"call_id":{id_json},"answer":{answer_json}}}"#);
    let _: CallStatus = post_raw(http, &urls.accept, &callee.token, body.into()).await?;
    match next_event(&mut caller.ws).await? {
        ServerEvent::Accepted { call_id: id, .. } if id == call_id => {}
        other => anyhow::bail!("caller expected accepted, got {other:?}"),
    }
    let answered = Instant::now();
    let body = format!(r#"{{"call_id":{id_json}}}"#);
    let _: CallStatus = post_raw(http, &urls.hangup, &caller.token, body.into()).await?;
    match next_event(&mut callee.ws).await? {
        ServerEvent::Ended { call_id: id, .. } if id == call_id => {}
        other => anyhow::bail!("callee expected ended, got {other:?}"),
    }
    samples.ring_us.push(micros(rung - start));
    samples.answer_us.push(micros(answered - rung));
    samples.setup_us.push(micros(answered - start));
    Ok(())
}

/// Sends a text frame on a client's socket.
async fn send(ws: &mut Ws, text: String) -> anyhow::Result<()> {
    use futures_util::SinkExt;
    ws.send(Message::Text(text.into())).await?;
    Ok(())
}

/// Reads the answer to call step `req` from a socket.
async fn reply(ws: &mut Ws, req: u64) -> anyhow::Result<CallStatus> {
    match next_event(ws).await? {
        ServerEvent::CallReply { req: r, status } if r == req => Ok(status),
        ServerEvent::CallRefused { req: r, error } if r == req => {
            anyhow::bail!("step refused: {} {}", error.code, error.message)
        }
        other => anyhow::bail!("expected the answer to step {req}, got {other:?}"),
    }
}

/// One call setup with every step on the parties' own sockets.
async fn one_call_ws(
    caller: &mut Client,
    callee: &mut Client,
    j: u64,
    initiate_tail: &str,
    offer_len: usize,
    answer_json: &str,
    samples: &mut Samples,
) -> anyhow::Result<()> {
    let req = 3 * j;
    let start = Instant::now();
    send(
        &mut caller.ws,
        format!(r#"{{"type":"initiate","req":{req}{initiate_tail}"#),
    )
    .await?;
    // The callee's push is what the ring time measures; the caller's answer
    // (the call id) is already waiting on its socket by then.
    let call_id = match next_event(&mut callee.ws).await? {
        ServerEvent::IncomingCall {
            call_id,
            offer: got,
            ..
        } if got.len() == offer_len => call_id,
        other => anyhow::bail!("callee expected incoming call, got {other:?}"),
    };
    let rung = Instant::now();
    anyhow::ensure!(
        reply(&mut caller.ws, req).await?.call_id == call_id,
        "the caller's answer names another call"
    );
    let id_json = serde_json::to_string(&call_id)?;
    send(
        &mut callee.ws,
        format!(
            r#"{{"type":"accept","req":{},"call_id":{id_json},"answer":{answer_json}}}"#,
            req + 1
        ),
    )
    .await?;
    match next_event(&mut caller.ws).await? {
        ServerEvent::Accepted { call_id: id, .. } if id == call_id => {}
        other => anyhow::bail!("caller expected accepted, got {other:?}"),
    }
    let answered = Instant::now();
    reply(&mut callee.ws, req + 1).await?;
    send(
        &mut caller.ws,
        format!(
            r#"{{"type":"hangup","req":{},"call_id":{id_json}}}"#,
            req + 2
        ),
    )
    .await?;
    match next_event(&mut callee.ws).await? {
        ServerEvent::Ended { call_id: id, .. } if id == call_id => {}
        other => anyhow::bail!("callee expected ended, got {other:?}"),
    }
    reply(&mut caller.ws, req + 2).await?;
    samples.ring_us.push(micros(rung - start));
    samples.answer_us.push(micros(answered - rung));
    samples.setup_us.push(micros(answered - start));
    Ok(())
}
