//! Sessions nobody will end otherwise, ended by any node: those of a node
//! that stopped heartbeating (it crashed, or its instance went), those this
//! node held before it restarted, and sessions `start` armed that no
//! publisher reached. Every node sweeps every [`SWEEP_EVERY`]; a dead node's
//! session is taken over with a conditional write (one node wins), closed
//! from what is in S3 ([`crate::recover`]), and reported `ended`, so the
//! platform makes its recording.

use std::{collections::HashSet, sync::Arc, time::Duration};

use skycast_core::{
    store::{StoreError, Stores, StreamIndex},
    stream::Stream,
    timefmt,
};
use tokio::sync::mpsc;

use crate::{
    node::{EndReason, Notice, SessionEvent, SessionSummary},
    recover::finish_from_store,
    session::RenditionStats,
    store::ObjectStore,
};

/// How often every node looks for sessions to end. With heartbeats every
/// 10 s and a node counted dead 30 s after its last, a dead node's
/// sessions end within about 45 s.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

pub struct Reaper {
    pub stores: Stores,
    pub store: Arc<dyn ObjectStore>,
    pub events: mpsc::UnboundedSender<Notice>,
    pub node_id: String,
    pub waiting_timeout: Duration,
    pub segment_seconds: u32,
}

impl Reaper {
    /// One sweep. `at_start`: the node has just started and runs nothing,
    /// so sessions the table says it holds are left over from before it
    /// restarted, and end too (at any other time a session it just claimed
    /// may not be running yet: its own are left alone). Returns how many
    /// sessions it ended.
    pub async fn sweep(&self, at_start: bool) -> Result<usize, StoreError> {
        let now = timefmt::unix_now();
        let alive: HashSet<String> = self.stores.ingest.live_nodes(now).await?.into_iter().map(|n| n.node_id).collect();
        let mut ended = 0;
        for status in ["waiting", "live"] {
            let index = StreamIndex::ByStatus(status.into());
            let mut cursor = None;
            loop {
                let (page, next) = self.stores.streams.query(&index, cursor, 100).await?;
                for stream in page {
                    match self.consider(&stream, &alive, at_start, now).await {
                        Ok(true) => ended += 1,
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(stream_id = %stream.id, error = %e, "cannot end a session; next sweep")
                        }
                    }
                }
                match next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
        }
        Ok(ended)
    }

    async fn consider(&self, s: &Stream, alive: &HashSet<String>, at_start: bool, now: i64) -> Result<bool, String> {
        let Some(session) = s.session_id.as_deref() else { return Ok(false) };
        match s.ingest_node_id.as_deref() {
            None => {
                // Armed by `start`; no publisher came.
                let started = s.started_at.as_deref().and_then(|t| timefmt::parse_rfc3339_unix(t).ok());
                let waited = started.map_or(0, |t| now - t);
                if waited < self.waiting_timeout.as_secs() as i64 {
                    return Ok(false);
                }
                tracing::info!(stream_id = %s.id, session_id = %session, "armed session got no publisher; ending it");
                self.report(s, session, EndReason::NoPublisher, Vec::new(), false);
                Ok(true)
            }
            Some(node) if node == self.node_id && !at_start => Ok(false),
            Some(node) if node != self.node_id && alive.contains(node) => Ok(false),
            Some(node) => {
                let stamp = timefmt::now_rfc3339();
                let taken = self.stores.streams.take_over(&s.id, session, node, &self.node_id, &stamp).await;
                if !taken.map_err(|e| e.to_string())? {
                    return Ok(false);
                }
                tracing::warn!(stream_id = %s.id, session_id = %session, from = %node, "ending a session its node no longer runs");
                let prefix = skycast_core::recording::session_prefix(&s.id, session);
                let finished = finish_from_store(self.store.as_ref(), &prefix, self.segment_seconds)
                    .await
                    .map_err(|e| e.to_string())?;
                self.report(
                    s,
                    session,
                    EndReason::Failed("ingest node lost".into()),
                    finished.renditions,
                    finished.thumbnail,
                );
                Ok(true)
            }
        }
    }

    fn report(
        &self,
        s: &Stream,
        session: &str,
        reason: EndReason,
        renditions: Vec<(String, RenditionStats)>,
        thumbnail: bool,
    ) {
        let summary = SessionSummary { reason, renditions, publishes: 0, thumbnail };
        let _ = self.events.send(Notice {
            stream_id: s.id.clone(),
            session_id: session.to_owned(),
            event: SessionEvent::Ended(summary),
        });
    }
}
