//! `make bench`, relay part (issue 14): the node's WebSocket relay against a
//! minimal broadcast written directly on the same WebSocket library (axum's,
//! tungstenite), each served by a child process (this binary, `serve`) so
//! its CPU and memory are its own; the clients and operators are here.
//!
//! - Latency client → operator (p50/p99) and server CPU with 1, 10 and 50
//!   operators on one session, and 100 sessions of 5 operators: 2 Mbps per
//!   client in 32 KB messages, each stamped with its send time.
//! - Memory with a stalled operator (connected, never reading) while the
//!   client sends 64 MB: the relay drops it once its queue is full; the
//!   baseline queues without bound.

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{
    Router,
    extract::{Path, State, WebSocketUpgrade, ws::Message as Ws},
    response::Response,
    routing::get,
};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use skycast_core::auth::jwt::JwtKeys;
use skycast_ingest::relay::{Hub, OpenSession, RelayConfig};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    sync::mpsc,
};
use tokio_tungstenite::{connect_async, tungstenite::Message};

const MESSAGE: usize = 32 * 1024;
const PEM_ENV: &str = "SKYCAST_BENCH_RELAY_PEM";

fn keys(pem: &str) -> anyhow::Result<JwtKeys> {
    Ok(JwtKeys::from_pkcs8_pem(pem, "skycast", Duration::from_secs(3600))?)
}

fn client_of(s: usize) -> String {
    format!("c{s}")
}

fn operator_of(s: usize, o: usize) -> String {
    format!("o{s}_{o}")
}

// ---- the child: a server ----

type Rooms = Arc<Mutex<HashMap<String, Vec<mpsc::UnboundedSender<Bytes>>>>>;

/// The baseline: every client message to every operator's unbounded channel.
async fn baseline_socket(
    State(rooms): State<Rooms>,
    Path((session, user)): Path<(String, String)>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(1 << 24).on_upgrade(move |socket| async move {
        let (mut sink, mut stream) = socket.split();
        if user.starts_with('c') {
            while let Some(Ok(m)) = stream.next().await {
                if let Ws::Binary(b) = m {
                    let rooms = rooms.lock().unwrap_or_else(|p| p.into_inner());
                    for tx in rooms.get(&session).into_iter().flatten() {
                        let _ = tx.send(b.clone());
                    }
                }
            }
        } else {
            let (tx, mut rx) = mpsc::unbounded_channel();
            rooms.lock().unwrap_or_else(|p| p.into_inner()).entry(session).or_default().push(tx);
            tokio::spawn(async move { while stream.next().await.is_some() {} });
            while let Some(b) = rx.recv().await {
                if sink.send(Ws::Binary(b)).await.is_err() {
                    break;
                }
            }
        }
    })
}

async fn serve(kind: &str, sessions: usize, operators: usize) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = if kind == "relay" {
        let pem = std::env::var(PEM_ENV).context("the signing key")?;
        let mut config = RelayConfig::default();
        config.limits.max_operators = operators;
        let hub = Hub::new(config, Arc::new(keys(&pem)?));
        for s in 0..sessions {
            let operators = (0..operators).map(|o| operator_of(s, o)).collect();
            hub.open(OpenSession {
                session_id: format!("s{s}"),
                client_id: client_of(s),
                operators,
                ..OpenSession::default()
            });
        }
        hub.routes()
    } else {
        Router::new().route("/ws/stream/{session}/{user}", get(baseline_socket)).with_state(Rooms::default())
    };
    println!("{port}");
    // Serve until the parent closes our stdin.
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while stdin.next_line().await?.is_some() {}
    Ok(())
}

// ---- the parent: clients, operators, measurement ----

struct Child {
    process: tokio::process::Child,
    port: u16,
}

impl Child {
    async fn start(kind: &str, sessions: usize, operators: usize, pem: &str) -> anyhow::Result<Self> {
        let mut process = Command::new(std::env::current_exe()?)
            .args(["serve", kind, &sessions.to_string(), &operators.to_string()])
            .env(PEM_ENV, pem)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = process.stdout.take().context("stdout")?;
        let line = BufReader::new(stdout).lines().next_line().await?.context("no port")?;
        Ok(Self { port: line.trim().parse()?, process })
    }

    /// CPU seconds and resident memory (bytes) so far. CPU from each
    /// thread's schedstat (nanoseconds: a quiet server uses less than the
    /// 10 ms ticks of /proc/<pid>/stat over a whole run).
    fn usage(&self) -> (f64, u64) {
        let pid = self.process.id().unwrap_or(0);
        let mut cpu_ns = 0u64;
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            cpu_ns += stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        (cpu_ns as f64 / 1e9, rss_kb * 1024)
    }
}

fn url(port: u16, session: usize, user: &str, keys: &JwtKeys) -> String {
    let token = keys.issue(user, user).unwrap_or_default();
    format!("ws://127.0.0.1:{port}/ws/stream/s{session}/{user}?token={token}")
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Figures {
    p50_ms: f64,
    p99_ms: f64,
    cores: f64,
}

/// `sessions` × (1 client at `bps`, `operators` reading) for `seconds`.
async fn measure(
    kind: &str,
    sessions: usize,
    operators: usize,
    bps: u64,
    seconds: u64,
    pem: &str,
) -> anyhow::Result<Figures> {
    let keys = keys(pem)?;
    let child = Child::start(kind, sessions, operators, pem).await?;
    let epoch = Instant::now();
    let delays = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for s in 0..sessions {
        for o in 0..operators {
            let (mut ws, _) = connect_async(url(child.port, s, &operator_of(s, o), &keys)).await?;
            let delays = delays.clone();
            readers.push(tokio::spawn(async move {
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Binary(b) = m {
                        let sent = u64::from_be_bytes(b[..8].try_into().unwrap_or([0; 8]));
                        let delay = epoch.elapsed().as_nanos() as u64 - sent.min(epoch.elapsed().as_nanos() as u64);
                        delays.lock().unwrap_or_else(|p| p.into_inner()).push(delay as f64 / 1e6);
                    }
                }
            }));
        }
    }
    // Operators are let in just after their upgrade: give them a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let every = Duration::from_secs_f64(MESSAGE as f64 * 8.0 / bps as f64);
    let count = (seconds as f64 / every.as_secs_f64()) as usize;
    let (cpu_before, _) = child.usage();
    let started = Instant::now();
    let mut clients = Vec::new();
    for s in 0..sessions {
        let (mut ws, _) = connect_async(url(child.port, s, &client_of(s), &keys)).await?;
        clients.push(tokio::spawn(async move {
            let mut pace = tokio::time::interval(every);
            for _ in 0..count {
                pace.tick().await;
                let mut body = vec![0u8; MESSAGE];
                body[..8].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_be_bytes());
                if ws.send(Message::binary(body)).await.is_err() {
                    break;
                }
            }
            ws
        }));
    }
    let mut open = Vec::new();
    for c in clients {
        open.push(c.await?);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (cpu_after, _) = child.usage();
    let wall = started.elapsed().as_secs_f64();
    for r in &readers {
        r.abort();
    }
    drop(open);
    let mut d = std::mem::take(&mut *delays.lock().unwrap_or_else(|p| p.into_inner()));
    if d.len() < count * sessions * operators / 2 {
        bail!("{kind}: only {} of {} messages arrived", d.len(), count * sessions * operators);
    }
    d.sort_by(f64::total_cmp);
    Ok(Figures { p50_ms: pct(&d, 0.5), p99_ms: pct(&d, 0.99), cores: (cpu_after - cpu_before) / wall })
}

const ROUNDS: usize = 3;

/// The round with the median CPU.
fn median(mut rounds: Vec<Figures>) -> Figures {
    rounds.sort_by(|a, b| a.cores.total_cmp(&b.cores));
    rounds.swap_remove(rounds.len() / 2)
}

/// Resident memory growth of the server while one operator of two never reads.
async fn stalled(kind: &str, pem: &str) -> anyhow::Result<(f64, f64)> {
    let keys = keys(pem)?;
    let child = Child::start(kind, 1, 2, pem).await?;
    let (mut reading, _) = connect_async(url(child.port, 0, &operator_of(0, 0), &keys)).await?;
    let (_stalled, _) = connect_async(url(child.port, 0, &operator_of(0, 1), &keys)).await?;
    let reader = tokio::spawn(async move { while reading.next().await.is_some() {} });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, rss_before) = child.usage();
    let (mut client, _) = connect_async(url(child.port, 0, &client_of(0), &keys)).await?;
    let mut peak = rss_before;
    let mut pace = tokio::time::interval(Duration::from_millis(2));
    for i in 0..2048 {
        pace.tick().await;
        client.send(Message::binary(vec![0u8; MESSAGE])).await?;
        if i % 64 == 0 {
            peak = peak.max(child.usage().1);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, rss_after) = child.usage();
    reader.abort();
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    Ok((mb(peak.saturating_sub(rss_before)), mb(rss_after.saturating_sub(rss_before))))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        let n = |i: usize| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(1);
        return serve(args.get(2).map_or("relay", String::as_str), n(3), n(4)).await;
    }
    let pem = JwtKeys::generate_pkcs8_pem();
    println!("# Skycast relay benchmarks (2 Mbps per client in 32 KB messages, loopback)");
    println!("{:<34} {:>9} {:>9} {:>9} {:>9}", "", "p50 ms", "p99 ms", "cores", "CPU ×");
    for (sessions, operators, seconds) in [(1, 1, 6), (1, 10, 6), (1, 50, 6), (100, 5, 6)] {
        // Three rounds, alternating, each kind's median round: a few ms of
        // CPU per second is at the mercy of one busy moment of the machine.
        let (mut relays, mut bases) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            relays.push(measure("relay", sessions, operators, 2_000_000, seconds, &pem).await?);
            bases.push(measure("baseline", sessions, operators, 2_000_000, seconds, &pem).await?);
        }
        let (relay, base) = (median(relays), median(bases));
        let label = format!("{sessions} session(s) × {operators} operator(s)");
        println!(
            "{:<34} {:>9.2} {:>9.2} {:>9.3} {:>9.2}   (baseline {:.2} / {:.2} ms, {:.3} cores)",
            format!("relay, {label}"),
            relay.p50_ms,
            relay.p99_ms,
            relay.cores,
            relay.cores / base.cores.max(1e-6),
            base.p50_ms,
            base.p99_ms,
            base.cores,
        );
    }
    println!("targets: p99 ≤ 10 ms with 10 operators; CPU ≤ 1.3× the baseline");
    let (relay_peak, relay_end) = stalled("relay", &pem).await?;
    let (base_peak, base_end) = stalled("baseline", &pem).await?;
    println!("\n## A stalled operator while the client sends 64 MB (server resident memory growth)");
    println!(
        "relay: peak +{relay_peak:.1} MB, after +{relay_end:.1} MB (queue bound 16 MB, then the operator is dropped)"
    );
    println!("baseline: peak +{base_peak:.1} MB, after +{base_end:.1} MB (unbounded queue)");
    Ok(())
}
