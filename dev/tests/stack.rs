//! `skycast-dev` as a user runs it: a real process serving on a real port,
//! its own emulator, and Ctrl-C (SIGINT) stopping all of it within seconds.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::json;
use skycast_tests::raw_http::request;

fn free_port() -> u16 {
    skycast_dev::emulator::free_port().expect("free port")
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

#[tokio::test]
async fn dev_stack_serves_the_api_and_stops_cleanly_on_ctrl_c() {
    let (http_port, emulator_port) = (free_port(), free_port());
    let root = std::env::temp_dir().join(format!("skycast-dev-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_skycast-dev"))
        .env("SKYCAST_ROOT", &root)
        .env("SKYCAST_MOTO_PYTHON", skycast_tests::moto_python())
        .env("SKYCAST_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("SKYCAST_EMULATOR_PORT", emulator_port.to_string())
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("SKYCAST_JWT_PRIVATE_KEY")
        .env_remove("SKYCAST_JWT_PRIVATE_KEY_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start skycast-dev");
    let addr = format!("127.0.0.1:{http_port}");

    let ready = skycast_tests::eventually(Duration::from_secs(60), || {
        let addr = addr.clone();
        async move { request(&addr, "GET", "/ready", None, None).await.ok().filter(|r| r.status == 200) }
    })
    .await;
    assert!(ready.is_some(), "the stack did not become ready");

    let key = root.join(".dev/jwt-ed25519.pem");
    assert!(key.exists(), "a development signing key is generated on first start");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let body = json!({"username": "devuser", "email": "dev@example.com", "password": skycast_tests::PASSWORD});
    let reg = request(&addr, "POST", "/auth/register", None, Some(&body)).await.unwrap();
    assert_eq!(reg.status, 201, "{}", reg.head);
    let token = reg.body["access_token"].as_str().unwrap().to_owned();
    let s = request(&addr, "POST", "/streams", Some(&token), Some(&json!({"title": "dev"}))).await.unwrap();
    assert_eq!(s.status, 201);
    let got = request(&addr, "GET", &format!("/streams/{}", s.body["id"].as_str().unwrap()), None, None).await.unwrap();
    assert_eq!(got.body["title"], "dev");
    let doc = request(&addr, "GET", "/openapi.json", None, None).await.unwrap();
    assert_eq!(doc.body["info"]["title"], "Skycast API");
    let missing = request(&addr, "GET", "/nope", None, None).await.unwrap();
    assert_eq!((missing.status, missing.body["error"]["code"].as_str()), (404, Some("not_found")));
    assert!(missing.head.to_ascii_lowercase().contains("x-request-id:"));

    // Ctrl-C: the whole stack, emulator included, is gone within seconds.
    let pid = child.id() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "skycast-dev still running 10 s after SIGINT");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    let gone =
        skycast_tests::eventually(Duration::from_secs(5), || async { (!port_open(emulator_port)).then_some(()) }).await;
    assert!(gone.is_some(), "the emulator outlived the stack");
    assert!(!port_open(http_port));
    let _ = std::fs::remove_dir_all(&root);
}
