//! The committed openapi.json is generated from the code; this fails when
//! they differ. `UPDATE_OPENAPI=1 cargo test` (or `make openapi`) rewrites it.

#[test]
fn committed_openapi_matches_the_code() {
    let generated = skycast_dev::api::openapi_json();
    let path = skycast_tests::project_root().join("openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(committed == generated, "openapi.json is stale: run `make openapi` and commit it");
    assert_eq!(committed, skycast_http::openapi::OPENAPI_JSON, "the served document is the committed one");
}

#[test]
fn every_route_is_documented() {
    let doc: serde_json::Value = serde_json::from_str(&skycast_dev::api::openapi_json()).unwrap();
    for (path, method) in [
        ("/health", "get"),
        ("/ready", "get"),
        ("/openapi.json", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/auth/register", "post"),
        ("/auth/login", "post"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
        ("/auth/me", "get"),
        ("/streams", "post"),
        ("/streams", "get"),
        ("/streams/{id}", "get"),
        ("/streams/{id}", "patch"),
        ("/streams/{id}", "delete"),
        ("/streams/{id}/key", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not in the OpenAPI document");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
