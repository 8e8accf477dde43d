//! The webhooks Lambda: build clients once, then serve API Gateway events.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    skycast_http::telemetry::init();
    let ctx = skycast_http::ApiContext::from_env().await?.for_role("webhooks");
    skycast_http::lambda::run(skycast_http::app::finish(skycast_webhooks::routes(), ctx)).await
}
