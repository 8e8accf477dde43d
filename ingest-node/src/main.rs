//! `ingest-node`: the long-running ingest process.
//!
//! ```text
//! ingest-node serve      # register, listen on the RTMP and SRT ports, report on stream-events
//! ingest-node session --key <stream key> [--profile source|ladder] [--stream-id ID]
//! ```
//!
//! `session` takes one stream key by hand, without the platform's tables
//! (for trying an encoder); the key is read from `--key` or, better (the
//! command line is visible to every user of the machine), from
//! `SKYCAST_SESSION_KEY`. SIGTERM or Ctrl-C stops taking publishers,
//! finishes uploads, closes every playlist with ENDLIST and reports `ended`
//! before exiting.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use anyhow::{Context, bail};
use axum::http::StatusCode;
use skycast_ingest::{
    config::NodeConfig,
    control::RelaySetup,
    directory::{StaticDirectory, StreamInfo},
    listen,
    node::{Node, SessionEvent},
    profile::Profile,
    relay::{Hub, RelayConfig},
    store::S3Store,
};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => return serve().await,
        Some("session") => {}
        _ => bail!("usage: ingest-node serve | ingest-node session --key STREAM_KEY [--profile source|ladder]"),
    }
    let key = std::env::var("SKYCAST_SESSION_KEY")
        .ok()
        .or_else(|| arg(&args, "--key"))
        .context("give the stream key in SKYCAST_SESSION_KEY (or --key): 10–79 characters, it is the SRT passphrase")?;
    // What the node admits: anything else would be refused at every connect.
    if !skycast_core::stream::is_plausible_key(&key) {
        bail!("the stream key must be 10 to 79 characters of A-Z a-z 0-9 - _ (SRT passphrase rules)");
    }
    let profile = match arg(&args, "--profile").as_deref() {
        None | Some("ladder") => Profile::Ladder,
        Some("source") => Profile::Source,
        Some(other) => bail!("unknown profile {other:?}: use ladder or source"),
    };
    let config = NodeConfig::from_env()?;
    let sdk = skycast_core::aws::load_sdk_config().await;
    let store = Arc::new(S3Store::new(skycast_core::aws::s3(&sdk), config.live_bucket.clone()));
    let stream_id = arg(&args, "--stream-id").unwrap_or_else(skycast_core::ids::new_id);
    let directory = Arc::new(StaticDirectory::with(
        &key,
        StreamInfo { stream_id, owner_id: "local".into(), profile, latency: Default::default() },
    ));
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let listen_ip: std::net::IpAddr = config.listen_host.parse().context("SKYCAST_INGEST_LISTEN_HOST")?;
    let rtmp = tokio::net::TcpListener::bind((listen_ip, config.rtmp_port)).await.context("the RTMP port")?;
    let node = Node::start(config.clone(), store, directory, tx).await?;
    let srt = listen::srt::serve(Arc::clone(&node), (listen_ip, config.srt_port).into()).context("the SRT port")?;
    let rtmp_addr = rtmp.local_addr()?;
    let _rtmp = listen::rtmp::serve(Arc::clone(&node), rtmp);
    let host = &config.public_host;
    println!("RTMP: Server rtmp://{host}:{}/live  Stream Key: <your key>", rtmp_addr.port());
    println!("SRT:  srt://{host}:{}?streamid=<your key>&passphrase=<your key>", srt.local.port());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            Some(notice) = events.recv() => {
                match notice.event {
                    SessionEvent::Ended(summary) => {
                        println!("session {} ended: {:?}, {} segments, {:.1} s", notice.session_id, summary.reason, summary.segments(), summary.duration());
                    }
                    other => println!("session {}: {other:?}", notice.session_id),
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    srt.close().await;
    node.shutdown(skycast_ingest::control::DRAIN_DEADLINE).await;
    Ok(())
}

/// The node as a service: registered, listening, reporting, relaying.
async fn serve() -> anyhow::Result<()> {
    let core = skycast_core::Config::from_env()?;
    let config = NodeConfig::from_env()?;
    let sdk = skycast_core::aws::load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let events = match std::env::var("SKYCAST_EVENTS_QUEUE_URL") {
        Ok(url) => url,
        Err(_) => {
            let name = skycast_core::config::physical_name(&core.name_prefix, "stream-events");
            sqs.get_queue_url()
                .queue_name(&name)
                .send()
                .await?
                .queue_url
                .with_context(|| format!("queue {name} has no URL"))?
        }
    };
    let relay = match core.jwt_keys() {
        Ok(jwt) => Some(RelaySetup { config: RelayConfig::from_settings(&core.relay), jwt: Arc::new(jwt) }),
        Err(skycast_core::config::ConfigError::MissingSigningKey) => {
            tracing::warn!("no SKYCAST_JWT_PUBLIC_KEY: the session relay is off on this node");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let stores = skycast_core::store::Stores::dynamo(aws_sdk_dynamodb::Client::new(&sdk), &core.tables);
    let store = Arc::new(S3Store::new(skycast_core::aws::s3(&sdk), config.live_bucket.clone()));
    let service =
        skycast_ingest::control::serve(config, events, store, stores.clone(), core.limits.clone(), sqs, relay).await?;
    let draining = Arc::new(AtomicBool::new(false));
    let http = http_endpoint(service.relay.clone(), service.metrics_routes(), stores, draining.clone()).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("draining: no new publishers or sockets, finishing sessions");
    // A load balancer stops sending publishers here once health says so;
    // relay sockets stay up until their sessions' close frames are out.
    draining.store(true, Ordering::SeqCst);
    service.shutdown().await;
    if let Some(h) = http {
        h.abort();
    }
    Ok(())
}

/// The node's HTTP port (`SKYCAST_NODE_HTTP_ADDR`, formerly
/// `SKYCAST_INGEST_HEALTH_ADDR`), when set: `GET /health` for a load
/// balancer (SRT's UDP ports cannot be health-checked), `GET /ready`, and
/// the relay's sockets. Health and readiness answer 503 once the node drains.
async fn http_endpoint(
    relay: Option<Arc<Hub>>,
    metrics: axum::Router,
    stores: skycast_core::store::Stores,
    draining: Arc<AtomicBool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let Some((name, addr)) = get("SKYCAST_NODE_HTTP_ADDR")
        .map(|a| ("SKYCAST_NODE_HTTP_ADDR", a))
        .or_else(|| get("SKYCAST_INGEST_HEALTH_ADDR").map(|a| ("SKYCAST_INGEST_HEALTH_ADDR", a)))
    else {
        if relay.is_some() {
            tracing::warn!("no SKYCAST_NODE_HTTP_ADDR: the relay's sockets are not served");
        }
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("{name} {addr}"))?;
    tracing::info!(%addr, relay = relay.is_some(), "node HTTP endpoint");
    let health_draining = draining.clone();
    let mut app =
        axum::Router::new()
            .route(
                "/health",
                axum::routing::get(move || {
                    let draining = health_draining.load(Ordering::SeqCst);
                    async move {
                        if draining { (StatusCode::SERVICE_UNAVAILABLE, "draining") } else { (StatusCode::OK, "ok") }
                    }
                }),
            )
            .route(
                "/ready",
                axum::routing::get(move || {
                    let (draining, stores) = (draining.clone(), stores.clone());
                    async move { ready(&stores, draining.load(Ordering::SeqCst)).await }
                }),
            );
    app = app.merge(metrics);
    if let Some(hub) = relay {
        app = app.merge(hub.routes());
    }
    Ok(Some(tokio::spawn(async move {
        // The peer's address: /metrics answers this machine only.
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "node HTTP endpoint stopped");
        }
    })))
}

/// Ready: not draining, and the relay's table answers.
async fn ready(stores: &skycast_core::store::Stores, draining: bool) -> (StatusCode, axum::Json<serde_json::Value>) {
    let unready = |why: &str| {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"status": "unready", "reason": why})))
    };
    if draining {
        return unready("draining");
    }
    match stores.relay_sessions.get("00000000-0000-0000-0000-000000000000").await {
        Ok(_) => (StatusCode::OK, axum::Json(serde_json::json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the relay sessions table is not reachable");
            unready("the relay sessions table is not reachable")
        }
    }
}
