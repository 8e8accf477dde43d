//! The Lambda path: API Gateway HTTP API (v2) events, parsed by lambda_http
//! exactly as in AWS, into the same router.

use base64::{Engine, engine::general_purpose::STANDARD};
use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use skycast_tests::{PASSWORD, TestApi, api};
use tower::ServiceExt;

fn event(
    method: &str,
    route_key: &str,
    raw_path: &str,
    query: &str,
    token: Option<&str>,
    body: Option<(&str, bool)>,
    path_params: Value,
) -> String {
    let mut headers = json!({"host": "abc123.execute-api.eu-west-1.amazonaws.com", "user-agent": "curl/8", "x-forwarded-proto": "https"});
    if let Some(t) = token {
        headers["authorization"] = json!(format!("Bearer {t}"));
    }
    let mut query_params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query_params.insert(k.to_owned(), json!(v));
    }
    let mut e = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10", "userAgent": "curl/8"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": route_key,
            "stage": "$default",
            "time": "21/Nov/2026:13:00:00 +0000",
            "timeEpoch": 1795266000000u64
        },
        "isBase64Encoded": false
    });
    if !query_params.is_empty() {
        e["queryStringParameters"] = Value::Object(query_params);
    }
    if !path_params.is_null() {
        e["pathParameters"] = path_params;
    }
    if let Some((b, base64)) = body {
        e["headers"]["content-type"] = json!("application/json");
        e["body"] = json!(if base64 { STANDARD.encode(b) } else { b.to_owned() });
        e["isBase64Encoded"] = json!(base64);
    }
    e.to_string()
}

async fn invoke(api: &TestApi, event: &str) -> (StatusCode, Value) {
    let req = lambda_http::request::from_str(event).expect("lambda_http parses the event");
    let res = api.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn api_gateway_v2_events_reach_the_routers() {
    let api = api().await;
    let body = json!({"username": "lambdauser", "email": "l@example.com", "password": PASSWORD}).to_string();
    let (status, reg) = invoke(
        &api,
        &event("POST", "POST /auth/register", "/auth/register", "", None, Some((&body, true)), Value::Null),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "base64 body: {reg:?}");
    let token = reg["access_token"].as_str().unwrap();

    let body = json!({"title": "from lambda", "visibility": "private"}).to_string();
    let (status, stream) =
        invoke(&api, &event("POST", "POST /streams", "/streams", "", Some(token), Some((&body, false)), Value::Null))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{stream:?}");
    let id = stream["id"].as_str().unwrap();

    let path = format!("/streams/{id}");
    let (status, got) =
        invoke(&api, &event("GET", "GET /streams/{id}", &path, "", Some(token), None, json!({"id": id}))).await;
    assert_eq!((status, got["title"].as_str()), (StatusCode::OK, Some("from lambda")));
    let (status, _) = invoke(&api, &event("GET", "GET /streams/{id}", &path, "", None, None, json!({"id": id}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "private stream, anonymous caller");

    let (status, page) =
        invoke(&api, &event("GET", "GET /streams", "/streams", "owner=me&limit=1", Some(token), None, Value::Null))
            .await;
    assert_eq!(status, StatusCode::OK, "{page:?}");
    assert_eq!(page["items"][0]["id"], id);
    let (status, err) =
        invoke(&api, &event("GET", "GET /streams", "/streams", "limit=500", None, None, Value::Null)).await;
    assert_eq!((status, err["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")));

    let (status, err) =
        invoke(&api, &event("POST", "POST /streams", "/streams", "", Some(token), Some(("{oops", false)), Value::Null))
            .await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));
    let (status, _) = invoke(&api, &event("GET", "$default", "/unknown", "", None, None, Value::Null)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The web app's refresh cookie through API Gateway: v2 events carry cookies
/// in their own `cookies` list, which lambda_http turns back into `Cookie`.
#[tokio::test]
async fn the_refresh_cookie_survives_the_lambda_path() {
    let api = api().await;
    let body =
        json!({"username": "cookiejar", "email": "c@example.com", "password": PASSWORD, "refresh_token_in": "cookie"})
            .to_string();
    let req = lambda_http::request::from_str(&event(
        "POST",
        "POST /auth/register",
        "/auth/register",
        "",
        None,
        Some((&body, false)),
        Value::Null,
    ))
    .expect("event");
    let res = api.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.contains("; Secure") && set.contains("HttpOnly"), "not loopback, so Secure: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();

    let with_cookie = |cookies: Value| {
        let mut e: Value = serde_json::from_str(&event(
            "POST",
            "POST /auth/refresh",
            "/auth/refresh",
            "",
            None,
            Some(("{}", false)),
            Value::Null,
        ))
        .unwrap();
        e["cookies"] = cookies;
        e.to_string()
    };
    let (status, pair) = invoke(&api, &with_cookie(json!(["theme=dark", cookie]))).await;
    assert_eq!(status, StatusCode::OK, "{pair:?}");
    assert!(pair["access_token"].is_string() && pair.get("refresh_token").is_none());
    // Positive control: without the cookie, nothing to refresh.
    let (status, _) = invoke(&api, &with_cookie(json!(["theme=dark"]))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
