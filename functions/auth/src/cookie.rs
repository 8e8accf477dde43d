//! The refresh token as a cookie, for the web app: `HttpOnly`, so no script
//! on the page (an injected one included) can read it; `SameSite=Strict` and
//! scoped to the auth routes, so no other site's page can make the browser
//! send it and no other request carries it. Scripts and apps keep the token
//! in the JSON body instead (`refresh_token_in`, body by default).

use axum::http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use utoipa::ToSchema;

pub const NAME: &str = "skycast_refresh";
/// The auth routes as a browser reaches them on the site's one origin.
const PATH: &str = "/api/auth";

/// Where the refresh token travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum RefreshTokenIn {
    /// In the response's `refresh_token` (default): for scripts and apps.
    #[default]
    Body,
    /// In an HttpOnly cookie (`skycast_refresh`, path `/api/auth`), never in
    /// the body: for browsers on the site's origin.
    Cookie,
}

/// `Secure` everywhere but a loopback host (`make dev` on plain HTTP, where
/// Safari would drop a secure cookie; Chromium and Firefox keep either).
fn secure(request: &HeaderMap) -> &'static str {
    let host = request.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    if matches!(name, "127.0.0.1" | "localhost" | "[::1]") { "" } else { "; Secure" }
}

/// The cookie holding `token` for `max_age_s` seconds.
pub fn set(request: &HeaderMap, token: &str, max_age_s: i64) -> Option<HeaderValue> {
    let max_age = max_age_s.max(0);
    HeaderValue::from_str(&format!(
        "{NAME}={token}; Path={PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        secure(request)
    ))
    .ok()
}

/// The cookie's removal (logout, or a token that no longer works).
pub fn clear(request: &HeaderMap) -> HeaderValue {
    set(request, "", 0).unwrap_or_else(|| HeaderValue::from_static("skycast_refresh=; Path=/api/auth; Max-Age=0"))
}

/// The token the browser sent, if any.
pub fn read(request: &HeaderMap) -> Option<String> {
    request
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == NAME && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
        m
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_scoped_to_auth() {
        let c = set(&host("d111.cloudfront.net"), "tok", 60).unwrap();
        assert_eq!(c, "skycast_refresh=tok; Path=/api/auth; Max-Age=60; HttpOnly; SameSite=Strict; Secure");
        // Plain HTTP on loopback (make dev) only: not Secure.
        for local in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "localhost"] {
            assert!(!set(&host(local), "tok", 60).unwrap().to_str().unwrap().contains("Secure"), "{local}");
        }
        assert!(set(&host("127.0.0.1.example.com"), "tok", 60).unwrap().to_str().unwrap().contains("Secure"));
        assert!(clear(&host("example.com")).to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn reads_its_own_cookie_among_others() {
        let mut m = HeaderMap::new();
        m.append(header::COOKIE, HeaderValue::from_static("a=1; skycast_refresh_old=x"));
        assert_eq!(read(&m), None);
        m.append(header::COOKIE, HeaderValue::from_static("b=2; skycast_refresh=the-token"));
        assert_eq!(read(&m).as_deref(), Some("the-token"));
        let mut empty = HeaderMap::new();
        empty.insert(header::COOKIE, HeaderValue::from_static("skycast_refresh="));
        assert_eq!(read(&empty), None);
    }
}
