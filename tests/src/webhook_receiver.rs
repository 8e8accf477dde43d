//! A webhook receiver on 127.0.0.1 for tests: it records every request and
//! answers as told (a status per request in turn, then 200), or never.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

#[derive(Clone, Default)]
struct Script {
    received: Arc<Mutex<Vec<Received>>>,
    /// Statuses for the first requests, in order; 200 after.
    statuses: Arc<Mutex<std::collections::VecDeque<u16>>>,
    hang: bool,
}

pub struct Receiver {
    pub url: String,
    script: Script,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Answers `statuses` in turn, then 200.
    pub async fn answering(statuses: &[u16]) -> Self {
        Self::start(Script { statuses: Arc::new(Mutex::new(statuses.iter().copied().collect())), ..Script::default() })
            .await
    }

    /// Takes requests and never answers.
    pub async fn hanging() -> Self {
        Self::start(Script { hang: true, ..Script::default() }).await
    }

    async fn start(script: Script) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a receiver");
        let addr: SocketAddr = listener.local_addr().expect("its address");
        let app = Router::new().route("/hook", post(take)).with_state(script.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url: format!("http://{addr}/hook"), script, task }
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn take(State(script): State<Script>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    if let Ok(mut r) = script.received.lock() {
        r.push(Received { headers, body, at: Instant::now() });
    }
    if script.hang {
        std::future::pending::<()>().await;
    }
    let status = script.statuses.lock().ok().and_then(|mut s| s.pop_front()).unwrap_or(200);
    (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), "thanks")
}
