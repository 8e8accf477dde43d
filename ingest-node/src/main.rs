//! `ingest-node`: the long-running ingest process.
//!
//! Until the start/stop API drives it over SQS (issue 3, next step), it runs
//! one session from the command line:
//!
//! ```text
//! ingest-node session --port 6000 --key <stream key> [--profile source|ladder] [--stream-id ID]
//! ```
//!
//! SIGTERM or Ctrl-C stops taking publishers, finishes uploads, and closes
//! every playlist with ENDLIST before exiting.

use std::sync::Arc;

use anyhow::{Context, bail};
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
    if args.get(1).map(String::as_str) != Some("session") {
        bail!("usage: ingest-node session --port PORT --key STREAM_KEY [--profile source|ladder] [--stream-id ID]");
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
    let config = NodeConfig::from_env()?;
    let sdk = skycast_core::aws::load_sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    let store = Arc::new(S3Store::new(s3, config.live_bucket.clone()));
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let host = config.public_host.clone();
    let node = Node::start(config, store, tx).await?;
    let spec = SessionSpec {
        stream_id: arg(&args, "--stream-id").unwrap_or_else(skycast_core::ids::new_id),
        session_id: skycast_core::ids::new_id(),
        port,
        stream_key: key,
        profile,
    };
    println!("OBS → Server: srt://{host}:{port}?passphrase=<your key>&pbkeylen=16  (Stream Key: leave empty)");
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
