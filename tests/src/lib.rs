//! The test harness: the embedded emulator, a fresh set of tables per test,
//! and helpers to call the API as a client would.
//!
//! One moto server serves a whole test binary; each test gets its own name
//! prefix, so its tables are its own and tests run in parallel.

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use skycast_core::{Config, auth::JwtKeys, resources::Resources};
use skycast_dev::{bootstrap, emulator::Emulator, sdk};
use skycast_http::ApiContext;
use tower::ServiceExt;

pub mod dev_stack;
pub mod encoder;
pub mod iam;
pub mod media;
pub mod node_rig;
pub mod proxy;
pub mod raw_http;
pub mod webhook_receiver;
pub mod ws;

/// The Python that `make deps` installs moto into.
pub fn moto_python() -> std::path::PathBuf {
    skycast_dev::emulator::default_python(&project_root())
}

pub fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(|p| p.to_path_buf()).unwrap_or_default()
}

/// The emulator's endpoint, starting it on first use.
///
/// It is spawned from a thread that never exits: the kernel kills the
/// emulator when the spawning *thread* dies (PR_SET_PDEATHSIG), and test
/// threads come and go.
pub fn emulator_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(spawn_emulator)
}

/// Starts a moto server that lives as long as this process: its endpoint.
pub fn spawn_emulator() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = skycast_dev::emulator::free_port()
            .map_err(|e| e.to_string())
            .and_then(|port| Emulator::start(&moto_python(), port).map_err(|e| e.to_string()));
        match started {
            Ok(emulator) => {
                let _ = tx.send(Ok(emulator.endpoint()));
                // Keep the emulator (and this thread) for the life of the process.
                loop {
                    std::thread::park();
                }
                #[allow(unreachable_code)]
                drop(emulator);
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        }
    });
    match rx.recv() {
        Ok(Ok(endpoint)) => endpoint,
        Ok(Err(e)) => panic!("cannot start the emulator: {e}"),
        Err(_) => panic!("emulator thread died"),
    }
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk::for_endpoint(emulator_endpoint()).await
}

/// A name prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// The API over fresh tables, called in-process as API Gateway or the local
/// server would call it.
#[derive(Clone)]
pub struct TestApi {
    pub router: Router,
    pub ctx: ApiContext,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

pub async fn api() -> TestApi {
    api_with(|_| {}).await
}

pub async fn api_with(tweak: impl FnOnce(&mut Config)) -> TestApi {
    let prefix = unique_prefix();
    let sdk = sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    bootstrap::tables(&dynamodb, &Resources::embedded(), &prefix).await.expect("create tables");
    let mut config = Config::with_prefix(&prefix);
    config.jwt_private_key_pem = Some(JwtKeys::generate_pkcs8_pem());
    tweak(&mut config);
    let ctx = ApiContext::from_sdk(config, &sdk).expect("context");
    // The API and the CDN's part on one router, as `make dev` serves them.
    let routes = skycast_dev::api::routes().merge(skycast_dev::cdn::routes(skycast_dev::sdk::s3(&sdk), &prefix));
    TestApi { router: skycast_http::app::finish(routes, ctx.clone()), ctx, dynamodb }
}

/// An SQS batch of these message bodies, as Lambda delivers one (ids m0, m1, …).
pub fn sqs_batch(bodies: &[String]) -> aws_lambda_events::event::sqs::SqsEvent {
    let mut batch = aws_lambda_events::event::sqs::SqsEvent::default();
    for (i, b) in bodies.iter().enumerate() {
        let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
        m.message_id = Some(format!("m{i}"));
        m.body = Some(b.clone());
        batch.records.push(m);
    }
    batch
}

/// A loopback address no other request of this process has used.
pub fn fresh_client_addr() -> SocketAddr {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    loop {
        let [_, a, b, c] = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_be_bytes();
        if c != 0 {
            return SocketAddr::from(([127, a, b, c], 40000));
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
}

/// A registered user with a live token pair.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub access: String,
    pub refresh: String,
}

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApi {
    /// Sends `req` as a client would. Unless the request names its client
    /// address (`ConnectInfo`, see [`TestApi::call_from`]), each request comes
    /// from an address of its own, so per-address limits stay out of tests
    /// that are not about them.
    pub async fn send(&self, mut req: Request<Body>) -> Reply {
        if req.extensions().get::<ConnectInfo<SocketAddr>>().is_none() {
            req.extensions_mut().insert(ConnectInfo(fresh_client_addr()));
        }
        let res = self.router.clone().oneshot(req).await.expect("router is infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply { status, headers, body }
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        self.call_from(None, method, path, token, body).await
    }

    /// A request from client address `from` (or a fresh one).
    pub async fn call_from(
        &self,
        from: Option<SocketAddr>,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(addr) = from {
            req = req.extension(ConnectInfo(addr));
        }
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.expect("request")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn register(&self, username: &str) -> Account {
        let r = self
            .post(
                "/auth/register",
                None,
                serde_json::json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "register {username}: {:?}", r.body);
        Account {
            id: r.body["user"]["id"].as_str().expect("id").to_owned(),
            username: r.body["user"]["username"].as_str().expect("username").to_owned(),
            access: r.body["access_token"].as_str().expect("access").to_owned(),
            refresh: r.body["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }

    pub async fn create_stream(&self, owner: &Account, body: Value) -> Value {
        let r = self.post("/streams", Some(&owner.access), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body
    }
}

/// Polls `check` until it returns `Some` or `limit` passes.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The samples of a Prometheus / OpenMetrics text exposition: the value of
/// each `name{labels}` line (labels as written, `""` for none).
pub fn metric_samples(text: &str) -> std::collections::HashMap<(String, String), f64> {
    let mut out = std::collections::HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        out.insert((name.to_owned(), labels.to_owned()), value);
    }
    out
}
