//! `make bench`: figures, each with a baseline measured in the same run.
//!
//! 1. Init time of each function binary: exec → its first request for an
//!    event, against a stand-in for the Lambda Runtime API, vs a hello-world
//!    Lambda. Target ≤ 30 ms.
//! 2. GET /streams/{id} through the whole router vs the bare DynamoDB GetItem
//!    it makes, same emulator, interleaved. Target: extra p99 ≤ 1 ms.
//! 3. The media token check: the edge's decision for a tokened private
//!    request vs a plain public one, in-process; then whole local CDN
//!    requests, private with a token vs public without, interleaved, and the
//!    bare S3 GET under both. Target: ≤ 50 µs extra at p99.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use serde_json::json;
use skycast_core::auth::JwtKeys;
use tokio::{io::AsyncReadExt, net::TcpListener};
use tower::ServiceExt;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Spawns `binary` as Lambda would and times exec → first `GET …/invocation/next`.
async fn init_time(binary: &std::path::Path, key_pem: &str, endpoint: &str) -> std::io::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?.to_string();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_SESSION_TOKEN", "bench")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("SKYCAST_JWT_PRIVATE_KEY", key_pem)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let elapsed = async {
        let (mut sock, _) = listener.accept().await?;
        let mut buf = [0u8; 256];
        let n = sock.read(&mut buf).await?;
        if !buf[..n].windows(15).any(|w| w == b"invocation/next") {
            return Err(std::io::Error::other(format!(
                "unexpected first call: {}",
                String::from_utf8_lossy(&buf[..n])
            )));
        }
        Ok(started.elapsed())
    };
    let result = tokio::time::timeout(Duration::from_secs(10), elapsed).await;
    let _ = child.kill();
    let _ = child.wait();
    result.map_err(|_| std::io::Error::other("no request for an event within 10 s"))?
}

async fn bench_init(bin_dir: &std::path::Path, endpoint: &str) -> anyhow::Result<()> {
    let key = JwtKeys::generate_pkcs8_pem();
    const RUNS: usize = 30;
    println!("\n## Function init time (exec → first event request), {RUNS} runs each, target ≤ 30 ms");
    println!("{:<14} {:>9} {:>9} {:>9} {:>16}", "binary", "p50 ms", "p95 ms", "max ms", "p50 vs baseline");
    let mut baseline = None;
    for name in ["lambda_hello", "auth", "streams"] {
        let path = bin_dir.join(name);
        anyhow::ensure!(path.exists(), "{} is not built (make bench builds it)", path.display());
        let mut times = Vec::new();
        for _ in 0..RUNS {
            times.push(init_time(&path, &key, endpoint).await?);
        }
        times.sort();
        let p50 = percentile(&times, 0.5);
        let base = *baseline.get_or_insert(p50);
        let verdict = if name == "lambda_hello" {
            "baseline".to_owned()
        } else {
            format!("{:.2}×", p50.as_secs_f64() / base.as_secs_f64())
        };
        println!(
            "{:<14} {:>9.2} {:>9.2} {:>9.2} {:>16}",
            name,
            ms(p50),
            ms(percentile(&times, 0.95)),
            ms(*times.last().unwrap()),
            verdict
        );
    }
    Ok(())
}

async fn bench_get_stream(endpoint: &str) -> anyhow::Result<()> {
    let prefix = skycast_tests::unique_prefix();
    let sdk = skycast_dev::sdk::for_endpoint(endpoint).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    skycast_dev::bootstrap::tables(&dynamodb, &skycast_core::resources::Resources::embedded(), &prefix).await?;
    let mut config = skycast_core::Config::with_prefix(&prefix);
    config.jwt_private_key_pem = Some(JwtKeys::generate_pkcs8_pem());
    let table = config.tables.streams.clone();
    let ctx = skycast_http::ApiContext::from_sdk(config, &sdk)?;
    let api = skycast_tests::TestApi { router: skycast_dev::api::router(ctx.clone()), ctx, dynamodb: dynamodb.clone() };
    let owner = api.register("bencher").await;
    let stream = api.create_stream(&owner, json!({"title": "bench", "description": "d".repeat(500)})).await;
    let id = stream["id"].as_str().unwrap().to_owned();

    const N: usize = 2000;
    let (mut via_router, mut bare) = (Vec::with_capacity(N), Vec::with_capacity(N));
    for i in 0..(N + 200) {
        // Interleaved, so both see the same emulator conditions.
        let t = Instant::now();
        let req = Request::builder().uri(format!("/streams/{id}")).body(Body::empty())?;
        let res = api.router.clone().oneshot(req).await?;
        anyhow::ensure!(res.status() == 200, "router answered {}", res.status());
        let _ = res.into_body().collect().await?;
        let r = t.elapsed();
        let t = Instant::now();
        let out = dynamodb.get_item().table_name(&table).key("id", AttributeValue::S(id.clone())).send().await?;
        anyhow::ensure!(out.item.is_some());
        let b = t.elapsed();
        if i >= 200 {
            via_router.push(r);
            bare.push(b);
        }
    }
    via_router.sort();
    bare.sort();
    println!(
        "\n## GET /streams/{{id}}: whole router vs the bare GetItem, {N} interleaved requests on one emulator, target extra p99 ≤ 1 ms"
    );
    println!("{:<22} {:>9} {:>9} {:>9}", "", "p50 ms", "p99 ms", "max ms");
    for (name, t) in [("router (GET /streams)", &via_router), ("bare GetItem", &bare)] {
        println!(
            "{:<22} {:>9.3} {:>9.3} {:>9.3}",
            name,
            ms(percentile(t, 0.5)),
            ms(percentile(t, 0.99)),
            ms(*t.last().unwrap())
        );
    }
    let extra50 = ms(percentile(&via_router, 0.5)) - ms(percentile(&bare, 0.5));
    let extra99 = ms(percentile(&via_router, 0.99)) - ms(percentile(&bare, 0.99));
    println!(
        "extra: p50 {extra50:+.3} ms, p99 {extra99:+.3} ms (ratio p99 {:.2}×)",
        percentile(&via_router, 0.99).as_secs_f64() / percentile(&bare, 0.99).as_secs_f64()
    );
    Ok(())
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn row(name: &str, t: &mut [Duration]) -> (Duration, Duration) {
    t.sort();
    let (p50, p99) = (percentile(t, 0.5), percentile(t, 0.99));
    println!("{name:<34} {:>10.2} {:>10.2} {:>10.2}", us(p50), us(p99), us(*t.last().unwrap_or(&Duration::ZERO)));
    (p50, p99)
}

async fn bench_token_check(endpoint: &str) -> anyhow::Result<()> {
    use skycast_core::playback::{Access, MediaRequest, MediaState, PlaybackSigner};
    // The decision alone: parse + HMAC verify, against parse + a public pass.
    let signer = PlaybackSigner::new(b"a playback key of the right length, 48 chars....");
    let (s, x) = (skycast_core::ids::new_id(), skycast_core::ids::new_id());
    let now = skycast_core::timefmt::unix_now();
    let token = signer.token(&s, &x, now + 3600, 7);
    let private_uri = format!("/t/{token}/live/{s}/{x}/source/seg_000042.m4s");
    let public_uri = format!("/live/{s}/{x}/source/seg_000042.m4s");
    let private = Access { state: MediaState::Private, epoch: 7 };
    const M: usize = 100_000;
    let (mut checked, mut plain) = (Vec::with_capacity(M), Vec::with_capacity(M));
    for _ in 0..M {
        let t = Instant::now();
        let ok = MediaRequest::parse(&private_uri).is_some_and(|r| signer.allows(&r, private, now));
        checked.push(t.elapsed());
        anyhow::ensure!(ok, "the token checks");
        let t = Instant::now();
        let ok = MediaRequest::parse(&public_uri).is_some_and(|r| signer.allows(&r, Access::PUBLIC, now));
        plain.push(t.elapsed());
        anyhow::ensure!(ok);
    }
    println!("\n## Media token check, target ≤ 50 µs extra at p99");
    println!("{:<34} {:>10} {:>10} {:>10}", "the edge's decision, in-process", "p50 µs", "p99 µs", "max µs");
    let (_, c99) = row("private, tokened (parse + HMAC)", &mut checked);
    let (_, p99) = row("public, plain (parse only)", &mut plain);
    println!("extra at p99: {:+.2} µs ({:.1}× the plain pass)", us(c99) - us(p99), us(c99) / us(p99).max(0.001));

    // Whole requests through the local CDN: the same bytes, private with a
    // token vs public without (both read the session's access entry, as the
    // edge reads its store), and the bare S3 GET of each, interleaved.
    let api = skycast_tests::api_with(|_| {}).await;
    let sdk = skycast_dev::sdk::for_endpoint(endpoint).await;
    let s3 = skycast_dev::sdk::s3(&sdk);
    let prefix = api.ctx.config.name_prefix.clone();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let resources = skycast_core::resources::Resources::embedded();
    skycast_dev::bootstrap::queues(&sqs, &resources, &prefix).await?;
    skycast_dev::bootstrap::buckets(&s3, &sqs, &resources, &prefix).await?;
    let bucket = api.ctx.config.buckets.live.clone();
    let segment = vec![7u8; 64 * 1024];
    let (ps, px, us_, ux) = (
        skycast_core::ids::new_id(),
        skycast_core::ids::new_id(),
        skycast_core::ids::new_id(),
        skycast_core::ids::new_id(),
    );
    for (stream, session) in [(&ps, &px), (&us_, &ux)] {
        let key = format!("live/{stream}/{session}/source/seg_000001.m4s");
        s3.put_object().bucket(&bucket).key(key).body(segment.clone().into()).send().await?;
    }
    let access = api.ctx.stores.access.set_stream(&ps, &px, skycast_core::stream::Visibility::Private).await?;
    let signer = api.ctx.playback.as_ref().ok_or_else(|| anyhow::anyhow!("no playback key"))?;
    let token = signer.token(&ps, &px, now + 3600, access.epoch);
    let private_path = format!("/cdn/t/{token}/live/{ps}/{px}/source/seg_000001.m4s");
    let public_path = format!("/cdn/live/{us_}/{ux}/source/seg_000001.m4s");
    const N: usize = 1000;
    let mut times: [Vec<Duration>; 4] = Default::default();
    for i in 0..(N + 100) {
        for (which, path) in [(0, &private_path), (1, &public_path)] {
            let t = Instant::now();
            let res = api.router.clone().oneshot(Request::builder().uri(path.as_str()).body(Body::empty())?).await?;
            anyhow::ensure!(res.status() == 200, "{path}: {}", res.status());
            let _ = res.into_body().collect().await?;
            let e = t.elapsed();
            let key = path.rsplit_once("/live/").map(|(_, k)| format!("live/{k}")).unwrap_or_default();
            let t = Instant::now();
            let out = s3.get_object().bucket(&bucket).key(key).send().await?;
            let _ = out.body.collect().await?;
            let b = t.elapsed();
            if i >= 100 {
                times[which].push(e);
                times[which + 2].push(b);
            }
        }
    }
    let [mut private_cdn, mut public_cdn, mut private_s3, mut public_s3] = times;
    println!(
        "\n{:<34} {:>10} {:>10} {:>10}",
        format!("local CDN, 64 KiB segment, {N} each"),
        "p50 µs",
        "p99 µs",
        "max µs"
    );
    let (_, a) = row("private, tokened, via /cdn/", &mut private_cdn);
    let (_, b) = row("public, plain, via /cdn/", &mut public_cdn);
    let (_, c) = row("bare S3 GET (private's object)", &mut private_s3);
    let (_, d) = row("bare S3 GET (public's object)", &mut public_s3);
    println!(
        "token check, private vs public at p99: {:+.1} µs; each vs its bare S3 GET (entry read + check + router): {:+.1} / {:+.1} µs",
        us(a) - us(b),
        us(a) - us(c),
        us(b) - us(d)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bin_dir = std::env::current_exe()?.parent().map(PathBuf::from).unwrap_or_default();
    let endpoint = skycast_tests::emulator_endpoint().to_owned();
    println!(
        "# Skycast benchmarks ({} build, emulator {endpoint})",
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
    bench_init(&bin_dir, &endpoint).await?;
    bench_get_stream(&endpoint).await?;
    bench_token_check(&endpoint).await?;
    Ok(())
}
