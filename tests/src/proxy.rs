//! A TCP proxy a test can pause: while paused it refuses new connections
//! and cuts the open ones, as an outage of the service behind it would.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use tokio::{net::TcpListener, task::JoinHandle};

pub struct PausableProxy {
    pub addr: std::net::SocketAddr,
    paused: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl PausableProxy {
    /// Proxies 127.0.0.1:<ephemeral> to `upstream` (host:port).
    pub async fn start(upstream: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let paused = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (paused, connections) = (paused.clone(), connections.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if paused.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    if let Ok(mut c) = connections.lock() {
                        c.retain(|t| !t.is_finished());
                        c.push(task);
                    }
                }
            }
        });
        Ok(Self { addr, paused, connections, accept })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        if let Ok(mut c) = self.connections.lock() {
            for t in c.drain(..) {
                t.abort();
            }
        }
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}

impl Drop for PausableProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.pause();
    }
}
