//! `skycast-dev`: the whole platform locally, in the foreground.
//!
//! `skycast-dev` serves; `skycast-dev openapi` prints the API document.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use skycast_core::{Config, resources::Resources};
use skycast_dev::{api, bootstrap, emulator::Emulator, keys, sdk};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve().await,
        Some("openapi") => {
            print!("{}", api::openapi_json());
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command {other:?}; use `skycast-dev [serve|openapi]`"),
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

async fn serve() -> anyhow::Result<()> {
    skycast_http::telemetry::init();
    let root = PathBuf::from(env_or("SKYCAST_ROOT", "."));
    let mut config = Config::from_env()?;

    // An endpoint from the environment (LocalStack) or real AWS credentials
    // win; otherwise the embedded emulator.
    let external = std::env::var("AWS_ENDPOINT_URL").ok().filter(|v| !v.is_empty());
    let mut emulator = None;
    let sdk_config = match &external {
        Some(endpoint) => {
            tracing::info!(%endpoint, "using AWS_ENDPOINT_URL");
            skycast_core::aws::load_sdk_config().await
        }
        None => {
            let port: u16 = env_or("SKYCAST_EMULATOR_PORT", "4566").parse().context("SKYCAST_EMULATOR_PORT")?;
            let binary = skycast_dev::emulator::default_python(&root);
            // From this thread, not a blocking-pool one: the kernel kills the
            // emulator when the thread that spawned it exits (PDEATHSIG), and
            // tokio retires idle blocking threads after 10 s.
            let started = Emulator::start(&binary, port)?;
            tracing::info!(endpoint = %started.endpoint(), "embedded AWS emulator (moto) is up");
            let endpoint = started.endpoint();
            emulator = Some(started);
            sdk::for_endpoint(&endpoint).await
        }
    };

    bootstrap::all(&sdk_config, &Resources::embedded(), &config.name_prefix).await.context("creating resources")?;
    tracing::info!(prefix = %config.name_prefix, "tables, buckets and queues are ready");

    if config.jwt_private_key_pem.is_none() {
        let path = keys::ensure_signing_key(&root.join(".dev"))?;
        config.jwt_private_key_pem =
            Some(std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?);
    }
    let addr: SocketAddr = env_or("SKYCAST_HTTP_ADDR", "127.0.0.1:8080").parse().context("SKYCAST_HTTP_ADDR")?;
    if std::env::var("SKYCAST_CDN_BASE_URL").is_err() {
        // Media URLs the API hands out point at where the local CDN listens.
        config.cdn_base_url = format!("http://{addr}/cdn");
    }
    if std::env::var("WS_BASE_URL").is_err() {
        // So do the relay's socket URLs.
        config.relay.ws_base_url = format!("ws://{addr}");
    }
    if std::env::var("SKYCAST_WEBHOOK_ALLOW_LOOPBACK").is_err() {
        // A receiver on this machine works out of the box (never in AWS).
        config.webhooks.allow_loopback = true;
    }
    let mut ctx = skycast_http::ApiContext::from_sdk(config.clone(), &sdk_config)?;
    ctx.webhooks =
        skycast_dev::services::webhook_outbox(&aws_sdk_sqs::Client::new(&sdk_config), &config.name_prefix).await?;
    let services = skycast_dev::services::start(&sdk_config, &config, &ctx.stores, &root, addr.port())
        .await
        .context("starting the ingest node")?;

    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let routes = api::routes().merge(skycast_dev::cdn::routes(sdk::s3(&sdk_config), &config.name_prefix));
    let dist = std::env::var_os("SKYCAST_WEB_DIST").map_or_else(|| root.join("web/dist"), PathBuf::from);
    if !dist.join("index.html").exists() {
        tracing::warn!(dist = %dist.display(), "the web app is not built (`make dev` builds it): serving the API only");
    }
    let mut app = skycast_dev::web::router(skycast_http::app::finish(routes, ctx), &dist);
    // The relay's sockets at /ws/: WS_BASE_URL defaults to this address.
    if let Some(relay) = services.relay_routes() {
        app = app.merge(relay);
    }
    if let Some(metrics) = services.metrics_routes() {
        app = app.merge(metrics);
    }
    tracing::info!(
        "Skycast on http://{addr}: the web app, the API under /api/, media under /cdn/  (Ctrl-C stops everything)"
    );
    // With each connection's peer address: per-address limits read it.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    // Sessions end cleanly: playlists closed with ENDLIST, `ended` sent.
    services.shutdown().await;

    if let Some(mut e) = emulator.take() {
        e.stop();
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
