use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use serde_json::json;
use skycast_core::{Config, auth::JwtKeys};
use skycast_tests::{TestApi, api, sdk_config, unique_prefix};

fn raw(method: Method, path: &str, content_type: Option<&str>, token: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_json_errors() {
    let api = api().await;
    let r = api.get("/no/such/thing", None).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = api.call(Method::PUT, "/streams", None, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
    assert!(r.headers.get(header::ALLOW).is_some(), "405 keeps its Allow header");
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
    let r = api.get("/auth/login", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn malformed_bodies_are_4xx_naming_what_is_wrong() {
    let api = api().await;
    let a = api.register("bodies").await;
    let cases: Vec<(Option<&str>, Vec<u8>, StatusCode, &str)> = vec![
        (Some("application/json"), b"{\"title\":".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
        (Some("application/json"), b"".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
        (Some("application/json"), vec![0xff, 0xfe, 0x00], StatusCode::BAD_REQUEST, "invalid_json"),
        (Some("application/json"), b"[1,2]".to_vec(), StatusCode::BAD_REQUEST, "invalid_body"),
        (Some("application/json"), b"{\"title\": [1]}".to_vec(), StatusCode::BAD_REQUEST, "invalid_body"),
        (
            Some("text/plain"),
            b"{\"title\":\"x\"}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (None, b"{\"title\":\"x\"}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (Some("application/json"), vec![b' '; 1024 * 1024 + 1], StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
    ];
    for (ct, body, status, code) in cases {
        let len = body.len();
        let r = api.send(raw(Method::POST, "/streams", ct, Some(&a.access), body)).await;
        assert_eq!((r.status, r.code()), (status, code), "{ct:?} {len} bytes: {:?}", r.body);
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Exactly 1 MiB is accepted as far as the size goes.
    let mut body = json!({"title": "x"}).to_string().into_bytes();
    body.resize(1024 * 1024, b' ');
    let r = api.send(raw(Method::POST, "/streams", Some("application/json"), Some(&a.access), body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn no_malformed_request_gets_a_5xx() {
    let api = api().await;
    let a = api.register("fuzzer").await;
    let stream = api.create_stream(&a, json!({"title": "target"})).await;
    let id = stream["id"].as_str().unwrap();
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let bodies: Vec<Vec<u8>> = vec![
        vec![],
        b"null".to_vec(),
        b"{".to_vec(),
        b"[]".to_vec(),
        b"\"string\"".to_vec(),
        b"{\"username\":{},\"email\":[],\"password\":1e999,\"title\":null,\"refresh_token\":false}".to_vec(),
        b"{\"title\":\"\\ud800\"}".to_vec(),
        deep.into_bytes(),
        vec![0u8; 300],
    ];
    let routes = [
        (Method::POST, "/auth/register".to_owned()),
        (Method::POST, "/auth/login".to_owned()),
        (Method::POST, "/auth/refresh".to_owned()),
        (Method::POST, "/auth/logout".to_owned()),
        (Method::GET, "/auth/me".to_owned()),
        (Method::POST, "/streams".to_owned()),
        (Method::GET, "/streams?limit=-1&cursor=%FF".to_owned()),
        (Method::GET, format!("/streams/{id}")),
        (Method::PATCH, format!("/streams/{id}")),
        (Method::DELETE, "/streams/%00".to_owned()),
        (Method::POST, format!("/streams/{id}/key?x=1")),
        (Method::PATCH, "/streams/..%2F..%2Fetc".to_owned()),
    ];
    for (method, path) in &routes {
        for token in [None, Some("not.a.jwt"), Some(a.access.as_str())] {
            for body in &bodies {
                for ct in [Some("application/json"), Some("application/x-www-form-urlencoded"), None] {
                    let r = api.send(raw(method.clone(), path, ct, token, body.clone())).await;
                    assert!(r.status.as_u16() < 500, "{method} {path} {token:?} {ct:?}: {} {:?}", r.status, r.body);
                    if !r.status.is_success() {
                        assert!(!r.code().is_empty(), "{method} {path}: error without the JSON body: {:?}", r.body);
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let api = api().await;
    for path in ["/health", "/nope", "/auth/me"] {
        let r = api.get(path, None).await;
        let id = r.headers.get("x-request-id").expect(path).to_str().unwrap();
        assert_eq!(id.len(), 36, "{path}");
    }
    // A caller's own id is kept, so logs can be joined across systems.
    let req = Request::builder().uri("/health").header("x-request-id", "trace-me-123").body(Body::empty()).unwrap();
    assert_eq!(api.send(req).await.headers["x-request-id"], "trace-me-123");
}

#[tokio::test]
async fn cors_is_configurable() {
    let open = api().await;
    let preflight = || {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/streams")
            .header(header::ORIGIN, "https://player.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-type")
            .body(Body::empty())
            .unwrap()
    };
    let r = open.send(preflight()).await;
    assert!(r.status.is_success(), "{:?}", r.status);
    assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");

    let strict = skycast_tests::api_with(|c| {
        c.cors_origins = skycast_core::config::CorsOrigins::List(vec!["https://app.example".into()])
    })
    .await;
    let r = strict.send(preflight()).await;
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "foreign origin not allowed");
    let req =
        Request::builder().uri("/health").header(header::ORIGIN, "https://app.example").body(Body::empty()).unwrap();
    assert_eq!(strict.send(req).await.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
}

#[tokio::test]
async fn health_and_readiness() {
    let api = api().await;
    let r = api.get("/health", None).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let r = api.get("/ready", None).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("ready")));

    // Tables missing: not ready, and it says which.
    let mut config = Config::with_prefix(&unique_prefix());
    config.jwt_private_key_pem = Some(JwtKeys::generate_pkcs8_pem());
    let sdk = sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let ctx = skycast_http::ApiContext::from_sdk(config.clone(), &sdk).unwrap();
    let broken = TestApi { router: skycast_dev::api::router(ctx.clone()), ctx, dynamodb };
    let r = broken.get("/ready", None).await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "not_ready"));
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&config.tables.users), "{message}");
    // Anyone may ask: the answer names the table, never an ARN or AWS's text.
    assert!(
        !message.contains("arn:") && !message.contains("ResourceNotFound") && !message.contains("Exception"),
        "{message}"
    );
    // A function asks only after its own tables (what its IAM policy lets it describe).
    let vod_ctx = broken.ctx.clone().for_role("vod");
    let vod =
        TestApi { router: skycast_dev::api::router(vod_ctx.clone()), ctx: vod_ctx, dynamodb: broken.dynamodb.clone() };
    let r = vod.get("/ready", None).await;
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&config.tables.limits) && !message.contains(&config.tables.users), "{message}");
    assert_eq!(broken.get("/health", None).await.status, StatusCode::OK, "liveness does not depend on storage");
    // A storage failure surfaces as 503 with the error body, never a panic.
    let r = broken
        .post(
            "/auth/register",
            None,
            json!({"username": "nobody", "email": "n@example.com", "password": skycast_tests::PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
}
