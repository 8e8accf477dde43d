//! The auth Lambda: build clients once, then serve API Gateway events.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    skycast_http::telemetry::init();
    let ctx = skycast_http::ApiContext::from_env().await?.for_role("auth").require_signing()?;
    skycast_http::lambda::run(skycast_http::app::finish(skycast_auth::routes(), ctx)).await
}
