use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use skycast_tests::{PASSWORD, api, api_with};

#[tokio::test]
async fn register_returns_the_user_and_a_token_pair() {
    let api = api().await;
    let r = api
        .post(
            "/auth/register",
            None,
            json!({"username": "Alice_1", "email": "Alice@Example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["user"]["username"], "alice_1", "usernames are case-insensitive, stored lowercase");
    assert_eq!(r.body["user"]["email"], "alice@example.com");
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert!(r.body["user"].get("password_hash").is_none());
    let refresh = r.body["refresh_token"].as_str().unwrap();
    assert!(refresh.len() >= 43, "≥ 256 bits");
    let me = api.get("/auth/me", r.body["access_token"].as_str()).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["username"], "alice_1");
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_hashes() {
    let api = api().await;
    let a = api.register("hashonly").await;
    let scan = api.dynamodb.scan().table_name(&api.ctx.config.tables.refresh_tokens).send().await.unwrap();
    let dump = format!("{:?}", scan.items());
    assert!(!dump.contains(&a.refresh), "the raw refresh token is stored");
    let users = api.dynamodb.scan().table_name(&api.ctx.config.tables.users).send().await.unwrap();
    assert!(format!("{:?}", users.items()).contains("$argon2id$"), "passwords are argon2id hashes");
    assert!(!format!("{:?}", users.items()).contains(PASSWORD));
}

#[tokio::test]
async fn registration_rules_name_the_field() {
    let api = api().await;
    let cases = [
        (json!({"username": "ab", "email": "a@example.com", "password": PASSWORD}), "username"),
        (json!({"username": "a".repeat(33), "email": "a@example.com", "password": PASSWORD}), "username"),
        (json!({"username": "bad name", "email": "a@example.com", "password": PASSWORD}), "username"),
        (json!({"username": "okname", "email": "not-an-email", "password": PASSWORD}), "email"),
        (json!({"username": "okname", "email": "a@example.com", "password": "short"}), "password"),
        (json!({"username": "okname", "email": "a@example.com", "password": "x".repeat(257)}), "password"),
        (json!({"username": "okname", "email": "a@example.com"}), "password"),
        (json!({"username": 7, "email": "a@example.com", "password": PASSWORD}), "username"),
        (json!({"username": "okname", "email": "a@example.com", "password": PASSWORD, "admin": true}), "admin"),
    ];
    for (body, field) in cases {
        let r = api.post("/auth/register", None, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
        assert_eq!(r.field(), field, "{body}: {:?}", r.body);
    }
    let ok = api
        .post(
            "/auth/register",
            None,
            json!({"username": "okname", "email": "a@example.com", "password": "x".repeat(256)}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "256 characters is allowed");
}

#[tokio::test]
async fn usernames_and_emails_are_unique_case_insensitively() {
    let api = api().await;
    api.register("taken").await;
    let r = api
        .post("/auth/register", None, json!({"username": "TAKEN", "email": "other@example.com", "password": PASSWORD}))
        .await;
    assert_eq!((r.status, r.code(), r.field()), (StatusCode::CONFLICT, "username_taken", "username"));
    let r = api
        .post("/auth/register", None, json!({"username": "other", "email": "Taken@Example.com", "password": PASSWORD}))
        .await;
    assert_eq!((r.status, r.code(), r.field()), (StatusCode::CONFLICT, "email_taken", "email"));
}

async fn race(api: &skycast_tests::TestApi, bodies: Vec<Value>) -> Vec<StatusCode> {
    let handles: Vec<_> = bodies
        .into_iter()
        .map(|b| {
            let api = api.clone();
            tokio::spawn(async move { api.post("/auth/register", None, b).await.status })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_registrations_of_one_name_yield_exactly_one_account() {
    let api = api().await;
    for round in 0..3 {
        let name = format!("racer{round}");
        let bodies = (0..6)
            .map(|i| json!({"username": name, "email": format!("{name}.{i}@example.com"), "password": PASSWORD}))
            .collect();
        let statuses = race(&api, bodies).await;
        let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
        let conflicts = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
        assert_eq!((created, conflicts), (1, 5), "round {round}: {statuses:?}");
    }
    // The same for one email under different names.
    let bodies = (0..6)
        .map(|i| json!({"username": format!("mail{i}"), "email": "shared@example.com", "password": PASSWORD}))
        .collect();
    let statuses = race(&api, bodies).await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
}

#[tokio::test]
async fn login_by_username_or_email() {
    let api = api().await;
    api.register("loginuser").await;
    for body in [
        json!({"username": "LoginUser", "password": PASSWORD}),
        json!({"email": "loginuser@example.com", "password": PASSWORD}),
    ] {
        let r = api.post("/auth/login", None, body).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["user"]["username"], "loginuser");
        assert!(r.body["access_token"].is_string() && r.body["refresh_token"].is_string());
    }
    let r = api.post("/auth/login", None, json!({"password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = api
        .post(
            "/auth/login",
            None,
            json!({"username": "loginuser", "email": "loginuser@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let api = api().await;
    api.register("victim").await;
    let wrong = json!({"username": "victim", "password": "not the password"});
    let unknown = json!({"username": "nobody-here", "password": "not the password"});
    let a = api.post("/auth/login", None, wrong.clone()).await;
    let b = api.post("/auth/login", None, unknown.clone()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.status, b.status);
    assert_eq!(a.body, b.body, "same message for both");

    // Both cost one argon2 verification: medians within a factor of 2.
    // Interleaved, so load from tests running alongside weighs on both alike.
    let (mut wrong_times, mut unknown_times) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        for (body, times) in [(&wrong, &mut wrong_times), (&unknown, &mut unknown_times)] {
            let t = Instant::now();
            api.post("/auth/login", None, body.clone()).await;
            times.push(t.elapsed());
        }
    }
    wrong_times.sort();
    unknown_times.sort();
    let (tw, tu) = (wrong_times[3], unknown_times[3]);
    let ratio = tw.as_secs_f64() / tu.as_secs_f64();
    assert!((0.5..2.0).contains(&ratio), "wrong password {tw:?} vs unknown user {tu:?}");
}

#[tokio::test]
async fn refresh_rotates_and_a_spent_token_revokes_the_family() {
    // No reuse grace: a second use is a replay at once (the grace has its own test).
    let api = api_with(|c| c.refresh_reuse_grace_s = 0).await;
    let a = api.register("rotator").await;
    let first = api.post("/auth/refresh", None, json!({"refresh_token": a.refresh})).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let second_token = first.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_token, a.refresh);
    assert_eq!(api.get("/auth/me", first.body["access_token"].as_str()).await.status, StatusCode::OK);

    // The spent token no longer works, and presenting it revokes the family:
    // the token issued in its place dies with it.
    let replay = api.post("/auth/refresh", None, json!({"refresh_token": a.refresh})).await;
    assert_eq!((replay.status, replay.code()), (StatusCode::UNAUTHORIZED, "invalid_refresh_token"));
    let after = api.post("/auth/refresh", None, json!({"refresh_token": second_token})).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "family must be revoked: {:?}", after.body);

    // Another login of the same user is a different family, unaffected.
    let other = api.post("/auth/login", None, json!({"username": "rotator", "password": PASSWORD})).await;
    let r = api.post("/auth/refresh", None, json!({"refresh_token": other.body["refresh_token"]})).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_reused_within_the_grace_keeps_the_login_and_after_it_revokes_it() {
    let api = api_with(|c| c.refresh_reuse_grace_s = 2).await;
    let a = api.register("reloader").await;
    let refresh = |token: String| {
        let api = &api;
        async move { api.post("/auth/refresh", None, json!({"refresh_token": token})).await }
    };
    // A page reloaded while its refresh was in flight presents the token again
    // at once, and two tabs present it together: every one is answered, and
    // every token handed out belongs to the same, unrevoked login.
    let (first, again) = tokio::join!(refresh(a.refresh.clone()), refresh(a.refresh.clone()));
    let third = refresh(a.refresh.clone()).await;
    let mut handed = Vec::new();
    for r in [&first, &again, &third] {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        handed.push(r.body["refresh_token"].as_str().unwrap().to_owned());
    }
    handed.sort();
    handed.dedup();
    assert_eq!(handed.len(), 3, "each use hands out a token of its own");
    assert_eq!(refresh(handed[0].clone()).await.status, StatusCode::OK, "the login lives");
    // Past the grace, the same token is a replay: the login is revoked,
    // the tokens it handed out with it.
    let spent_at = skycast_core::timefmt::unix_now();
    while skycast_core::timefmt::unix_now() <= spent_at + 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replay = refresh(a.refresh.clone()).await;
    assert_eq!((replay.status, replay.code()), (StatusCode::UNAUTHORIZED, "invalid_refresh_token"));
    assert_eq!(refresh(handed[1].clone()).await.status, StatusCode::UNAUTHORIZED, "revoked with its login");
}

/// The web app's way: the refresh token only ever in an HttpOnly cookie.
#[tokio::test]
async fn the_refresh_token_can_live_in_an_http_only_cookie() {
    let api = api_with(|c| c.refresh_reuse_grace_s = 0).await;
    let cookie_call = |path: &str, cookie: Option<&str>, token: Option<&str>, body: Value| {
        let mut req = http::Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(http::header::HOST, "site.example.com")
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(c) = cookie {
            req = req.header(http::header::COOKIE, format!("other=1; skycast_refresh={c}"));
        }
        if let Some(t) = token {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(axum::body::Body::from(body.to_string())).expect("request");
        let api = &api;
        async move { api.send(req).await }
    };
    let set_cookie = |r: &skycast_tests::Reply| -> (String, String) {
        let c = r.headers.get(http::header::SET_COOKIE).expect("a cookie").to_str().unwrap().to_owned();
        let value = c.split(';').next().unwrap().trim_start_matches("skycast_refresh=").to_owned();
        (c, value)
    };
    let body = json!({"username": "cookie", "email": "cookie@example.com", "password": PASSWORD, "refresh_token_in": "cookie"});
    let reg = cookie_call("/auth/register", None, None, body).await;
    assert_eq!(reg.status, StatusCode::CREATED, "{:?}", reg.body);
    assert!(reg.body.get("refresh_token").is_none(), "never in the body: {:?}", reg.body);
    assert_eq!(reg.headers["cache-control"], "no-store");
    let (header, first) = set_cookie(&reg);
    for part in ["HttpOnly", "SameSite=Strict", "Path=/api/auth", "Secure", "Max-Age="] {
        assert!(header.contains(part), "{part} in {header}");
    }

    // Refresh with the cookie alone: a new cookie, still nothing in the body.
    let r = cookie_call("/auth/refresh", Some(&first), None, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body.get("refresh_token").is_none() && r.body["access_token"].is_string(), "{:?}", r.body);
    let (_, second) = set_cookie(&r);
    assert_ne!(second, first);
    // The spent cookie is refused and cleared.
    let r = cookie_call("/auth/refresh", Some(&first), None, json!({})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&r).0.contains("Max-Age=0"));
    // No cookie, no token: 401, naming what is missing.
    let r = cookie_call("/auth/refresh", None, None, json!({})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_refresh_token"));

    // Logging in the same way, then out: the cookie's login ends, the cookie goes.
    let body = json!({"username": "cookie", "password": PASSWORD, "refresh_token_in": "cookie"});
    let login = cookie_call("/auth/login", None, None, body).await;
    assert_eq!(login.status, StatusCode::OK);
    let (_, token) = set_cookie(&login);
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    // Positive control: the cookie works before the logout.
    let r = cookie_call("/auth/refresh", Some(&token), None, json!({"refresh_token_in": "body"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let token = r.body["refresh_token"].as_str().expect("asked for in the body").to_owned();
    let out = cookie_call("/auth/logout", Some(&token), Some(&access), json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(set_cookie(&out).0.contains("Max-Age=0"));
    assert_eq!(cookie_call("/auth/refresh", Some(&token), None, json!({})).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn garbage_refresh_tokens_are_401() {
    let api = api().await;
    for token in ["", "short", &"x".repeat(43), &"!".repeat(43), &"a".repeat(5000)] {
        let r = api.post("/auth/refresh", None, json!({"refresh_token": token})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token}");
    }
    let r = api.post("/auth/refresh", None, json!({"refresh_token": 12})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn logout_ends_the_login() {
    let api = api().await;
    let a = api.register("leaver").await;
    let r = api.post("/auth/logout", None, json!({"refresh_token": a.refresh})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "logout needs an access token");
    let r = api.post("/auth/logout", Some(&a.access), json!({"refresh_token": a.refresh})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api.post("/auth/refresh", None, json!({"refresh_token": a.refresh})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Logging out twice, or with an unknown token, is still 204.
    let r = api.post("/auth/logout", Some(&a.access), json!({"refresh_token": a.refresh})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn one_user_cannot_log_out_another() {
    let api = api().await;
    let a = api.register("owner1").await;
    let b = api.register("intruder").await;
    let r = api.post("/auth/logout", Some(&b.access), json!({"refresh_token": a.refresh})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api.post("/auth/refresh", None, json!({"refresh_token": a.refresh})).await;
    assert_eq!(r.status, StatusCode::OK, "a's login survives b's attempt");
}

#[tokio::test]
async fn me_requires_a_valid_access_token() {
    let api = api().await;
    let a = api.register("meuser").await;
    for auth in [None, Some("garbage"), Some(a.refresh.as_str())] {
        let r = api.get("/auth/me", auth).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer");
        assert_eq!(r.code(), "unauthorized");
    }
    // A token from another deployment's key is refused.
    let other = api_other_key_token().await;
    assert_eq!(api.get("/auth/me", Some(&other)).await.status, StatusCode::UNAUTHORIZED);
}

async fn api_other_key_token() -> String {
    let other = api().await;
    other.register("elsewhere").await.access
}

#[tokio::test]
async fn access_tokens_expire() {
    let api = skycast_tests::api_with(|c| c.access_token_ttl = Duration::from_secs(1)).await;
    let a = api.register("shortlived").await;
    assert_eq!(api.get("/auth/me", Some(&a.access)).await.status, StatusCode::OK);
    // Validation allows 5 s of clock skew: wait past ttl + leeway.
    let expired = skycast_tests::eventually(Duration::from_secs(15), || {
        let api = api.clone();
        let token = a.access.clone();
        async move { (api.get("/auth/me", Some(&token)).await.status == StatusCode::UNAUTHORIZED).then_some(()) }
    })
    .await;
    assert!(expired.is_some(), "token still accepted after its lifetime");
}

#[tokio::test]
async fn jwks_verifies_access_tokens_independently() {
    let api = api().await;
    let a = api.register("jwksuser").await;
    let r = api.call(Method::GET, "/.well-known/jwks.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let key = &r.body["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    let decoding = DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_issuer(&["skycast"]);
    let data = jsonwebtoken::decode::<Value>(&a.access, &decoding, &v).expect("verifies with the published key");
    assert_eq!(data.claims["sub"], a.id.as_str());
    assert_eq!(data.header.kid.as_deref(), key["kid"].as_str());
    let exp = data.claims["exp"].as_i64().unwrap() - data.claims["iat"].as_i64().unwrap();
    assert_eq!(exp, 900, "15 minutes by default");
}

#[tokio::test]
async fn a_function_with_only_the_public_key_accepts_issued_tokens() {
    let api = api().await;
    let a = api.register("verifyonly").await;
    let mut config = (*api.ctx.config).clone();
    config.jwt_public_key = Some(api.ctx.jwt.jwks()["keys"][0]["x"].as_str().unwrap().to_owned());
    config.jwt_private_key_pem = None;
    let ctx = skycast_http::ApiContext::from_sdk(config, &skycast_tests::sdk_config().await).unwrap();
    assert!(!ctx.jwt.can_sign());
    assert!(ctx.clone().require_signing().is_err(), "auth must not start verify-only");
    let streams = skycast_tests::TestApi {
        router: skycast_http::app::finish(skycast_streams::routes(), ctx.clone()),
        ctx,
        dynamodb: api.dynamodb.clone(),
    };
    let r = streams.post("/streams", Some(&a.access), json!({"title": "verified elsewhere"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(streams.get("/streams?owner=me", Some("forged.token.here")).await.status, StatusCode::UNAUTHORIZED);
}
