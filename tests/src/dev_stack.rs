//! `skycast-dev` as a user runs it, as a process on free ports with its own
//! emulator: the stack tests and the web benchmark start it the same way.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use skycast_dev::emulator::free_port;

use crate::{encoder::ChildGuard, raw_http::request};

pub struct DevStack {
    pub child: ChildGuard,
    pub addr: String,
    pub root: PathBuf,
    pub emulator_port: u16,
    pub http_port: u16,
}

/// Starts `exe` (a `skycast-dev` binary) as `make dev` would, on free ports,
/// with `extra_env` on top, and waits until it is ready.
pub async fn start(exe: &Path, extra_env: &[(&str, String)]) -> anyhow::Result<DevStack> {
    let (http_port, emulator_port) = (free_port()?, free_port()?);
    let root = std::env::temp_dir().join(format!("skycast-dev-{}-{http_port}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let mut cmd = Command::new(exe);
    cmd.env("SKYCAST_ROOT", &root)
        .env("SKYCAST_MOTO_PYTHON", crate::moto_python())
        .env("SKYCAST_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("SKYCAST_EMULATOR_PORT", emulator_port.to_string())
        .env("SKYCAST_CDN_BASE_URL", format!("http://127.0.0.1:{http_port}/cdn"))
        // Each stack its own ingest ports: stacks run side by side.
        .env("SKYCAST_RTMP_PORT", free_port()?.to_string())
        .env("SKYCAST_SRT_PORT", std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port().to_string())
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("SKYCAST_JWT_PRIVATE_KEY")
        .env_remove("SKYCAST_JWT_PRIVATE_KEY_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let child = ChildGuard(cmd.spawn()?);
    let addr = format!("127.0.0.1:{http_port}");
    let ready = crate::eventually(Duration::from_secs(60), || {
        let addr = addr.clone();
        async move { request(&addr, "GET", "/ready", None, None).await.ok().filter(|r| r.status == 200) }
    })
    .await;
    anyhow::ensure!(ready.is_some(), "skycast-dev did not become ready");
    Ok(DevStack { child, addr, root, emulator_port, http_port })
}
