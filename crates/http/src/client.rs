//! Who is calling, as far as limits care: the client's network address.
//!
//! In Lambda it is API Gateway's `sourceIp` (the connection's peer as the
//! gateway saw it); locally, the TCP peer of the connection (`make dev` serves
//! with connect info). Never a header the client writes (`X-Forwarded-For`),
//! which anyone can set to dodge a limit.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};
use lambda_http::request::RequestContext;

/// The client's address, or `unknown` where nothing says (all such clients
/// then share one budget, which fails safe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

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
        let addr = from_lambda(parts)
            .or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()))
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(Self(addr))
    }
}
