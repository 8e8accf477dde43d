//! Who is calling, as far as limits care: the client's network address.
//!
//! In Lambda it is API Gateway's `sourceIp` (the connection's peer as the
//! gateway saw it); locally, the TCP peer of the connection (`make dev` serves
//! with connect info). Never a header the client writes (`X-Forwarded-For`),
//! which anyone can set to dodge a limit.
//!
//! Behind CloudFront (the one origin in AWS) the gateway's peer is an edge
//! server, shared by thousands of viewers. There the edge writes the viewer's
//! address into [`VIEWER_ADDRESS`] and the distribution adds the origin secret
//! ([`EDGE_SECRET`], `Config::edge_secret`); [`trust_edge`] takes the address
//! only from a request that carries that secret, compared in constant time.
//! A client calling the gateway directly cannot forge it: without the secret
//! its header is ignored and its own address counts.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request},
    http::{HeaderName, request::Parts},
    middleware::Next,
    response::Response,
};
use lambda_http::request::RequestContext;
use skycast_core::ids::secrets_equal;

/// Written by the edge's viewer-request function (infra/edge/site-routes.js).
pub const VIEWER_ADDRESS: HeaderName = HeaderName::from_static("x-skycast-viewer-address");
/// Added by CloudFront to every request it forwards to the API (infra/cdn.tf).
pub const EDGE_SECRET: HeaderName = HeaderName::from_static("x-skycast-edge-secret");

/// The client's address, or `unknown` where nothing says (all such clients
/// then share one budget, which fails safe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

/// The viewer's address as the edge vouched for it (see [`trust_edge`]).
#[derive(Debug, Clone)]
struct EdgeViewer(IpAddr);

/// The address a request with these headers came from, if it came through
/// the edge: the secret must match `secret`, and the address must be one.
fn edge_viewer(secret: Option<&str>, headers: &axum::http::HeaderMap) -> Option<IpAddr> {
    let secret = secret?;
    let presented = headers.get(&EDGE_SECRET)?.to_str().ok()?;
    if !secrets_equal(presented, secret) {
        return None;
    }
    headers.get(&VIEWER_ADDRESS)?.to_str().ok()?.trim().parse().ok()
}

/// Middleware (app::finish): records the edge's viewer address on requests
/// that carry the origin secret, and drops both headers from every request
/// so no handler reads them raw.
pub async fn trust_edge(secret: Option<std::sync::Arc<str>>, mut req: Request, next: Next) -> Response {
    if let Some(ip) = edge_viewer(secret.as_deref(), req.headers()) {
        req.extensions_mut().insert(EdgeViewer(ip));
    }
    req.headers_mut().remove(&EDGE_SECRET);
    req.headers_mut().remove(&VIEWER_ADDRESS);
    next.run(req).await
}

fn from_lambda(parts: &Parts) -> Option<String> {
    match parts.extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.clone(),
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.clone(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<EdgeViewer>()
            .map(|v| v.0.to_string())
            .or_else(|| from_lambda(parts))
            .or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()))
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(Self(addr))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;

    fn headers(secret: Option<&str>, viewer: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(s) = secret {
            h.insert(EDGE_SECRET, s.parse().unwrap());
        }
        if let Some(v) = viewer {
            h.insert(VIEWER_ADDRESS, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_edge_is_believed_only_with_its_secret() {
        let trusted = Some("s3cret-from-terraform");
        // Positive control: the edge's own request.
        assert_eq!(edge_viewer(trusted, &headers(trusted, Some("203.0.113.7"))), "203.0.113.7".parse().ok());
        assert_eq!(edge_viewer(trusted, &headers(trusted, Some("2001:db8::1"))), "2001:db8::1".parse().ok());
        // A client forging the address: no secret, a wrong one, a prefix of it.
        assert_eq!(edge_viewer(trusted, &headers(None, Some("203.0.113.7"))), None);
        assert_eq!(edge_viewer(trusted, &headers(Some("guess"), Some("203.0.113.7"))), None);
        assert_eq!(edge_viewer(trusted, &headers(Some("s3cret"), Some("203.0.113.7"))), None);
        // No secret configured (locally): nothing is the edge's.
        assert_eq!(edge_viewer(None, &headers(trusted, Some("203.0.113.7"))), None);
        // The secret but no usable address: the gateway's peer counts instead.
        assert_eq!(edge_viewer(trusted, &headers(trusted, None)), None);
        assert_eq!(edge_viewer(trusted, &headers(trusted, Some("not-an-address"))), None);
    }
}
