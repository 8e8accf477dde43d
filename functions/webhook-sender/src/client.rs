//! Outbound requests to receivers: HTTPS (plain HTTP only where loopback
//! is allowed), no redirects, a deadline on the whole exchange, at most
//! `RESPONSE_EXCERPT_BYTES` of the answer read, and a resolver that refuses
//! any address the policy does not admit, so what was checked is what is
//! connected to.

use std::{future::Future, net::SocketAddr, pin::Pin, task::Poll, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{
        Client,
        connect::{HttpConnector, dns::Name},
    },
    rt::TokioExecutor,
};
use skycast_core::webhook::{RESPONSE_EXCERPT_BYTES, UrlPolicy, UrlRefusal};

/// Resolves like the system does, then refuses the whole name if any of its
/// addresses is one a receiver may not have.
#[derive(Clone)]
pub struct GuardedResolver {
    policy: UrlPolicy,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            for a in &addrs {
                policy.check_ip(a.ip()).map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e))?;
            }
            Ok(addrs.into_iter())
        })
    }
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>;

/// Why a receiver gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum NoAnswer {
    /// Its name resolved to an address receivers may not have: final.
    Refused(UrlRefusal),
    /// No connection, no answer in time, a broken exchange, a name that does
    /// not resolve (yet): worth another try.
    Failed(String),
}

/// What a receiver said.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// The start of its body, lossily as text.
    pub excerpt: String,
}

#[derive(Clone)]
pub struct ReceiverClient {
    client: Client<Connector, Full<Bytes>>,
    policy: UrlPolicy,
    timeout: Duration,
}

impl ReceiverClient {
    pub fn new(policy: UrlPolicy, timeout: Duration) -> Result<Self, std::io::Error> {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver { policy });
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout.min(Duration::from_secs(3))));
        http.set_nodelay(true);
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            // A receiver's connection is not kept for the next delivery:
            // each one resolves (and is checked) afresh.
            .pool_max_idle_per_host(0)
            .build(https);
        Ok(Self { client, policy, timeout })
    }

    /// The addresses it connects to (a URL's form is the caller's to check).
    pub fn policy(&self) -> UrlPolicy {
        self.policy
    }

    /// POSTs `body` with `headers`; `Err` says why there is no answer.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Result<Answer, NoAnswer> {
        let mut request = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, concat!("Skycast-Webhooks/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request =
            request.body(Full::new(Bytes::from(body))).map_err(|e| NoAnswer::Failed(format!("bad request: {e}")))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| describe(&e))?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut excerpt = Vec::new();
            // Read no more than the log keeps; the rest is dropped with the connection.
            while excerpt.len() < RESPONSE_EXCERPT_BYTES {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            let room = RESPONSE_EXCERPT_BYTES - excerpt.len();
                            excerpt.extend_from_slice(&data[..data.len().min(room)]);
                        }
                    }
                    Some(Err(_)) | None => break,
                }
            }
            Ok(Answer { status, excerpt: String::from_utf8_lossy(&excerpt).into_owned() })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(NoAnswer::Failed(format!("no answer within {} ms", self.timeout.as_millis()))))
    }
}

/// The cause a user can act on, not the client's layers of wrapping: the
/// resolver's refusal, or the deepest error.
fn describe(e: &hyper_util::client::legacy::Error) -> NoAnswer {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut deepest = e.to_string();
    while let Some(s) = source {
        // The resolver's io::Error carries the refusal as its payload.
        let refusal = s.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()?.downcast_ref::<UrlRefusal>());
        if let Some(refusal) = refusal {
            return NoAnswer::Refused(refusal.clone());
        }
        deepest = s.to_string();
        source = s.source();
    }
    NoAnswer::Failed(if e.is_connect() { format!("cannot connect: {deepest}") } else { deepest })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receiver on this machine answering 204 to every request.
    async fn answering() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = vec![0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
                });
            }
        });
        port
    }

    fn client(allow_loopback: bool) -> ReceiverClient {
        ReceiverClient::new(UrlPolicy { allow_loopback }, Duration::from_secs(2)).unwrap()
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_refused_address_is_refused_before_connecting() {
        let port = answering().await;
        let url = format!("http://localhost:{port}/hook");
        // Positive control: where loopback is allowed, the same URL answers.
        assert_eq!(client(true).post(&url, &[], b"{}".to_vec()).await.map(|a| a.status), Ok(204));
        match client(false).post(&url, &[], b"{}".to_vec()).await {
            Err(NoAnswer::Refused(r)) => assert!(r.to_string().contains("loopback"), "{r}"),
            other => panic!("refused, not {other:?}"),
        }
        // A name that does not resolve is worth a retry, not refused.
        let unresolved = client(false).post("https://no-such-receiver.invalid/", &[], Vec::new()).await;
        assert!(matches!(unresolved, Err(NoAnswer::Failed(_))), "{unresolved:?}");
    }
}
