//! How the node meets the platform: it registers itself (a heartbeat item
//! with a TTL), opens its two public ports, reports its sessions on
//! `stream-events`, and watches the table for sessions their owners stopped.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use skycast_core::{
    events::StreamEvent,
    store::{IngestNode, IngestStore, Stores, queue::MessageSender, queue::send},
    timefmt,
};
use tokio::sync::mpsc;

use crate::{
    directory::TableDirectory,
    listen::{self, Ports},
    node::{EndReason, Node, Notice, SessionEvent},
    reaper::{self, Reaper},
};

pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// How long a drain waits for uploads before leaving them to the spool: the
/// whole shutdown stays within 10 s even while S3 is down.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(5);
/// How long relay sessions have to record their end and close their sockets.
pub const RELAY_DEADLINE: Duration = Duration::from_secs(3);
/// How often the node checks that the table still wants its sessions: how
/// long `POST /streams/{id}/stop` takes to reach the node, at most.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The machine's 1-minute load average (Linux's `/proc/loadavg`).
async fn load_average() -> Option<f64> {
    let text = tokio::fs::read_to_string("/proc/loadavg").await.ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Keeps the node's registration fresh until the task is dropped.
pub async fn heartbeat(store: Arc<dyn IngestStore>, node: Arc<Node>, mut registration: IngestNode) {
    loop {
        let now = timefmt::unix_now();
        registration.heartbeat_at = now;
        registration.expires_at = now + 120;
        registration.sessions = node.running().await as u32;
        registration.load_1m = load_average().await;
        match store.register(&registration).await {
            Ok(()) => crate::metrics::metrics().heartbeat_stored(),
            Err(e) => tracing::warn!(error = %e, "heartbeat not stored"),
        }
        tokio::time::sleep(HEARTBEAT).await;
    }
}

/// Ends the sessions nobody else will, every [`reaper::SWEEP_EVERY`].
pub async fn sweep(reaper: Reaper) {
    loop {
        tokio::time::sleep(reaper::SWEEP_EVERY).await;
        if let Err(e) = reaper.sweep(false).await {
            tracing::warn!(error = %e, "sweep failed; next one");
        }
    }
}

/// Ends what the table no longer wants here, every [`WATCH_EVERY`].
pub async fn watch(node: Arc<Node>) {
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        node.reconcile().await;
    }
}

fn end_reason(r: &EndReason) -> String {
    match r {
        EndReason::Stopped => "stopped".into(),
        EndReason::PublisherGone => "publisher_gone".into(),
        EndReason::NoPublisher => "no_publisher".into(),
        EndReason::Failed(why) => format!("failed: {why}"),
    }
}

/// The wire form of a session event.
pub fn stream_event(n: &Notice) -> StreamEvent {
    let (stream_id, session_id, at) = (n.stream_id.clone(), n.session_id.clone(), timefmt::now_rfc3339());
    match &n.event {
        SessionEvent::Waiting => StreamEvent::Waiting { stream_id, session_id, at },
        SessionEvent::Live { renditions } => {
            StreamEvent::Live { stream_id, session_id, at, renditions: renditions.clone() }
        }
        SessionEvent::Stats(figures) => StreamEvent::Stats { stream_id, session_id, at, figures: figures.clone() },
        SessionEvent::Ended(s) => StreamEvent::Ended {
            stream_id,
            session_id,
            at,
            renditions: s.renditions.iter().map(|(n, _)| n.clone()).collect(),
            figures: s.figures(),
            reason: end_reason(&s.reason),
        },
    }
}

/// Sends every session event to `queue_url`, in order, retrying failures.
pub async fn publish_events(
    mut notices: mpsc::UnboundedReceiver<Notice>,
    sender: Arc<dyn MessageSender>,
    queue_url: String,
) {
    while let Some(n) = notices.recv().await {
        let event = stream_event(&n);
        let mut delay = Duration::from_millis(200);
        while let Err(e) = send(sender.as_ref(), &queue_url, &event).await {
            tracing::warn!(error = %e, "stream event not sent; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }
}

/// The session relay, when the node runs it: its settings, and the keys that
/// verify users' access tokens.
pub struct RelaySetup {
    pub config: crate::relay::RelayConfig,
    pub jwt: Arc<skycast_core::auth::JwtKeys>,
}

/// A node serving the platform: registered with a heartbeat, listening on
/// its two ports, reporting its sessions, watching for stops.
pub struct Service {
    pub node: Arc<Node>,
    /// The relay's sockets (`Hub::routes`), served on the node's HTTP port.
    pub relay: Option<Arc<crate::relay::Hub>>,
    pub ports: Ports,
    node_id: String,
    registry: Arc<dyn IngestStore>,
    rtmp: tokio::task::JoinHandle<()>,
    srt: listen::srt::SrtListener,
    heartbeat: tokio::task::JoinHandle<()>,
    watch: tokio::task::JoinHandle<()>,
    sweep: tokio::task::JoinHandle<()>,
    events: tokio::task::JoinHandle<()>,
}

/// Opens the node's ports and starts serving.
pub async fn serve(
    config: crate::config::NodeConfig,
    events_queue: String,
    store: Arc<dyn crate::store::ObjectStore>,
    stores: Stores,
    limits: skycast_core::limits::Limits,
    sqs: aws_sdk_sqs::Client,
    relay: Option<RelaySetup>,
) -> std::io::Result<Service> {
    let listen_ip: std::net::IpAddr = config.listen_host.parse().map_err(std::io::Error::other)?;
    let rtmp_listener = tokio::net::TcpListener::bind(SocketAddr::new(listen_ip, config.rtmp_port)).await?;
    let (tx, notices) = mpsc::unbounded_channel();
    let directory = Arc::new(TableDirectory {
        stores: stores.clone(),
        cdn_base_url: config.cdn_base_url.clone(),
        limits: limits.clone(),
    });
    let reaper = Reaper {
        stores: stores.clone(),
        store: Arc::clone(&store),
        events: tx.clone(),
        node_id: config.node_id.clone(),
        waiting_timeout: config.waiting_timeout,
        segment_seconds: config.segment_seconds,
    };
    // Sessions this node held before it restarted end first: what its
    // spool still holds is stored, then each is closed from what is in S3,
    // so their publishers, coming back, start clean ones.
    let leftovers = crate::recover::store_spool(store.as_ref(), &config.spool_dir).await;
    if leftovers > 0 {
        tracing::info!(files = leftovers, "stored what the spool held from before");
    }
    match reaper.sweep(true).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(sessions = n, "ended sessions left over from before"),
        Err(e) => tracing::warn!(error = %e, "cannot look for sessions left over; the next sweep will"),
    }
    let node = Node::start(config.clone(), store, directory, tx).await?;
    let srt = listen::srt::serve(Arc::clone(&node), SocketAddr::new(listen_ip, config.srt_port))?;
    let ports = Ports { rtmp: rtmp_listener.local_addr()?, srt: srt.local };
    let rtmp = listen::rtmp::serve(Arc::clone(&node), rtmp_listener);
    let registration = IngestNode {
        node_id: config.node_id.clone(),
        public_host: config.public_host.clone(),
        rtmp_port: ports.rtmp.port(),
        srt_port: ports.srt.port(),
        http_port: config.http_port,
        sessions: 0,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        load_1m: None,
        heartbeat_at: 0,
        expires_at: 0,
    };
    tracing::info!(node_id = %config.node_id, rtmp = %ports.rtmp, srt = %ports.srt, "ingest node serving");
    let sender = Arc::new(skycast_core::store::queue::SqsSender::new(sqs));
    let relay = relay.map(|r| {
        let records = Arc::new(crate::relay_records::TableRecords {
            sessions: stores.relay_sessions.clone(),
            nodes: stores.ingest.clone(),
            node_id: config.node_id.clone(),
        });
        crate::relay::Hub::with_records(r.config, r.jwt, records)
    });
    Ok(Service {
        relay,
        events: tokio::spawn(publish_events(notices, sender, events_queue)),
        heartbeat: tokio::spawn(heartbeat(stores.ingest.clone(), Arc::clone(&node), registration)),
        watch: tokio::spawn(watch(Arc::clone(&node))),
        sweep: tokio::spawn(sweep(reaper)),
        registry: stores.ingest.clone(),
        node_id: config.node_id,
        rtmp,
        srt,
        ports,
        node,
    })
}

impl Service {
    /// `GET /metrics`: the node's Prometheus metrics (see `metrics`), to
    /// this machine only: the port also carries the relay's public sockets,
    /// and the scraper (the CloudWatch agent, or Prometheus beside it) is
    /// local. A peer elsewhere gets 404, as for any path it may not see.
    pub fn metrics_routes(&self) -> axum::Router {
        use axum::response::IntoResponse;
        let node = Arc::clone(&self.node);
        axum::Router::new().route(
            "/metrics",
            axum::routing::get(move |request: axum::extract::Request| {
                let node = Arc::clone(&node);
                let peer = request.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0);
                async move {
                    if peer.is_some_and(|p| !p.ip().is_loopback()) {
                        return axum::http::StatusCode::NOT_FOUND.into_response();
                    }
                    let sessions = node.running().await;
                    let text = crate::metrics::metrics().render(sessions, &node.config().spool_dir).await;
                    ([(axum::http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
                }
            }),
        )
    }

    /// Stops taking publishers, ends every session at once (playlists
    /// closed with ENDLIST), and returns once their `ended` events are sent.
    pub async fn shutdown(self) {
        self.rtmp.abort();
        self.srt.close().await;
        self.watch.abort();
        self.sweep.abort();
        self.heartbeat.abort();
        // Relay sessions finish (close 1001, recorded) while media sessions close.
        let relay = async {
            if let Some(hub) = &self.relay {
                hub.shutdown(RELAY_DEADLINE).await;
            }
        };
        tokio::join!(relay, self.node.shutdown(DRAIN_DEADLINE));
        // The node's last reference goes, closing its event channel: the
        // publisher sends what is left and returns. Both last calls are
        // bounded together: with AWS unreachable they must not hold the exit.
        drop(self.node);
        let deregister = async {
            if let Err(e) = self.registry.deregister(&self.node_id).await {
                tracing::warn!(error = %e, "registration not removed; it expires on its own");
            }
        };
        let last = async { tokio::join!(deregister, self.events) };
        if tokio::time::timeout(Duration::from_millis(1500), last).await.is_err() {
            tracing::warn!("AWS unreachable while exiting: the registration expires on its own");
        }
    }
}
