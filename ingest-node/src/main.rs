//! `ingest-node`: the long-running ingest process.
//!
//! ```text
//! ingest-node serve      # register, take start/stop commands from SQS, report on stream-events
//! ingest-node session --port 6000 --key <stream key> [--protocol srt|rtmp] [--profile source|ladder] [--stream-id ID]
//! ```
//!
//! `session` runs one session by hand, without the API (for trying an encoder).
//! SIGTERM or Ctrl-C stops taking publishers, finishes uploads, closes every
//! playlist with ENDLIST and reports `ended` before exiting.

use std::sync::Arc;

use anyhow::{Context, bail};
use skycast_core::stream::Protocol;
use skycast_ingest::{
    config::NodeConfig,
    node::{Node, SessionEvent, SessionSpec},
    profile::Profile,
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
        _ => bail!(
            "usage: ingest-node serve | ingest-node session --port PORT --key STREAM_KEY [--protocol srt|rtmp] [--profile source|ladder]"
        ),
    }
    let port: u16 = arg(&args, "--port").context("--port is required")?.parse().context("--port")?;
    let key = arg(&args, "--key").context("--key is required (10–79 characters: it is the SRT passphrase)")?;
    if !(10..=79).contains(&key.len()) {
        bail!("--key must be 10 to 79 characters (SRT passphrase rules)");
    }
    let profile = match arg(&args, "--profile").as_deref() {
        None | Some("source") => Profile::Source,
        Some("ladder") => Profile::Ladder,
        Some(other) => bail!("unknown profile {other:?}: use source or ladder"),
    };
    let protocol = match arg(&args, "--protocol").as_deref() {
        None | Some("srt") => Protocol::Srt,
        Some("rtmp") => Protocol::Rtmp,
        Some(other) => bail!("unknown protocol {other:?}: use srt or rtmp"),
    };
    let config = NodeConfig::from_env()?;
    let sdk = skycast_core::aws::load_sdk_config().await;
    let s3 = skycast_core::aws::s3(&sdk);
    let store = Arc::new(S3Store::new(s3, config.live_bucket.clone()));
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let host = config.public_host.clone();
    let node = Node::start(config, store, tx).await?;
    let spec = SessionSpec {
        stream_id: arg(&args, "--stream-id").unwrap_or_else(skycast_core::ids::new_id),
        session_id: skycast_core::ids::new_id(),
        port,
        protocol,
        stream_key: key,
        profile,
    };
    match protocol {
        Protocol::Srt => {
            println!("OBS → Server: srt://{host}:{port}?passphrase=<your key>&pbkeylen=16  (Stream Key: leave empty)")
        }
        Protocol::Rtmp => println!("OBS → Server: rtmp://{host}:{port}/live  Stream Key: <your key>"),
    }
    node.start_session(spec.clone()).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            Some(notice) = events.recv() => {
                match notice.event {
                    SessionEvent::Ended(summary) => {
                        println!("session ended: {:?}, {} segments, {:.1} s", summary.reason, summary.segments(), summary.duration());
                        return Ok(());
                    }
                    other => println!("session {}: {other:?}", spec.session_id),
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    node.shutdown().await;
    Ok(())
}

async fn queue_url(sqs: &aws_sdk_sqs::Client, env: &str, prefix: &str, logical: &str) -> anyhow::Result<String> {
    if let Ok(url) = std::env::var(env) {
        return Ok(url);
    }
    let name = skycast_core::config::physical_name(prefix, logical);
    sqs.get_queue_url().queue_name(&name).send().await?.queue_url.with_context(|| format!("queue {name} has no URL"))
}

/// The node as a service: registered, driven by the API over SQS.
async fn serve() -> anyhow::Result<()> {
    let core = skycast_core::Config::from_env()?;
    let config = NodeConfig::from_env()?;
    let sdk = skycast_core::aws::load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let commands = queue_url(&sqs, "SKYCAST_COMMAND_QUEUE_URL", &core.name_prefix, "ingest-commands").await?;
    let events = queue_url(&sqs, "SKYCAST_EVENTS_QUEUE_URL", &core.name_prefix, "stream-events").await?;
    let stores = skycast_core::store::Stores::dynamo(aws_sdk_dynamodb::Client::new(&sdk), &core.tables);
    let node_id = std::env::var("SKYCAST_NODE_ID").unwrap_or_else(|_| skycast_core::ids::new_id());
    let s3 = skycast_core::aws::s3(&sdk);
    let store = Arc::new(S3Store::new(s3, config.live_bucket.clone()));
    let queues = skycast_ingest::control::Queues { commands, events };
    let service = skycast_ingest::control::serve(config, node_id, queues, store, stores.ingest.clone(), sqs).await?;
    let health = health_endpoint().await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("draining: no new commands, finishing sessions");
    // A load balancer stops sending publishers here once this goes quiet.
    if let Some(h) = health {
        h.abort();
    }
    service.shutdown().await;
    Ok(())
}

/// `GET /health` on `SKYCAST_INGEST_HEALTH_ADDR`, when set: what a load
/// balancer probes, since SRT's UDP ports cannot be health-checked.
async fn health_endpoint() -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(addr) = std::env::var("SKYCAST_INGEST_HEALTH_ADDR").ok().filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let listener =
        tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("SKYCAST_INGEST_HEALTH_ADDR {addr}"))?;
    tracing::info!(%addr, "health endpoint");
    let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "health endpoint stopped");
        }
    })))
}
