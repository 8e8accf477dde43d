//! An ingest node in the test process: its own RTMP and SRT ports (free
//! ones), a fresh live bucket on the emulator, and fixed stream keys
//! instead of the platform's tables, so the media path is tested alone.

use skycast_core::stream::Latency;
use std::sync::Arc;

use skycast_ingest::{
    config::NodeConfig,
    directory::{StaticDirectory, StreamInfo},
    listen::{self, Ports},
    node::{Node, Notice},
    profile::Profile,
    store::S3Store,
};
use tokio::sync::mpsc;

pub struct NodeRig {
    pub node: Arc<Node>,
    pub events: mpsc::UnboundedReceiver<Notice>,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub directory: StaticDirectory,
    pub ports: Ports,
    pub config: NodeConfig,
    _srt: listen::srt::SrtListener,
    rtmp: tokio::task::JoinHandle<()>,
}

impl Drop for NodeRig {
    fn drop(&mut self) {
        self.rtmp.abort();
        let _ = std::fs::remove_dir_all(&self.config.spool_dir);
    }
}

impl NodeRig {
    /// A node configured by `tweak` (the spool, the bucket and the ports are set already).
    pub async fn start(tweak: impl FnOnce(&mut NodeConfig)) -> Self {
        Self::start_storing_through(tweak, None).await
    }

    /// The same, storing through `store_client` (a proxy the test controls)
    /// while the test reads the bucket directly.
    pub async fn start_storing_through(
        tweak: impl FnOnce(&mut NodeConfig),
        store_client: Option<aws_sdk_s3::Client>,
    ) -> Self {
        let prefix = crate::unique_prefix();
        let s3 = skycast_dev::sdk::s3(&crate::sdk_config().await);
        let mut config = NodeConfig::with_prefix(&prefix);
        config.spool_dir = std::env::temp_dir().join(format!("skycast-spool-{prefix}"));
        config.rtmp_port = 0;
        config.srt_port = 0;
        tweak(&mut config);
        s3.create_bucket().bucket(&config.live_bucket).send().await.expect("bucket");
        let bucket = config.live_bucket.clone();
        let directory = StaticDirectory::default();
        let (tx, events) = mpsc::unbounded_channel();
        let store = Arc::new(S3Store::new(store_client.unwrap_or_else(|| s3.clone()), bucket.clone()));
        let rtmp_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("rtmp port");
        let node = Node::start(config.clone(), store, Arc::new(directory.clone()), tx).await.expect("node");
        let srt = listen::srt::serve(Arc::clone(&node), "127.0.0.1:0".parse().expect("addr")).expect("srt port");
        let ports = Ports { rtmp: rtmp_listener.local_addr().expect("addr"), srt: srt.local };
        let rtmp = listen::rtmp::serve(Arc::clone(&node), rtmp_listener);
        Self { node, events, s3, bucket, directory, ports, config, _srt: srt, rtmp }
    }

    /// A new stream of `profile`: its id and key.
    pub fn add_stream(&self, profile: Profile) -> (String, String) {
        self.add_stream_with(profile, Latency::Standard)
    }

    /// A new stream of `profile` and `latency`: its id and key.
    pub fn add_stream_with(&self, profile: Profile, latency: Latency) -> (String, String) {
        let (id, key) = (skycast_core::ids::new_id(), skycast_core::stream::new_stream_key());
        self.directory.add(&key, StreamInfo { stream_id: id.clone(), owner_id: "rig".into(), profile, latency });
        (id, key)
    }

    /// What an encoder publishes to over SRT with `key`.
    pub fn srt_url(&self, key: &str) -> String {
        format!("srt://127.0.0.1:{}?streamid={key}&passphrase={key}", self.ports.srt.port())
    }

    /// OBS's Server and Stream Key joined, as ffmpeg takes them.
    pub fn rtmp_url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.ports.rtmp.port())
    }
}
