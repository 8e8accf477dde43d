//! The videos Lambda: build clients once, then serve API Gateway events.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    skycast_http::telemetry::init();
    let ctx = skycast_http::ApiContext::from_env().await?.for_role("vod");
    if ctx.playback.is_none() {
        return Err("set SKYCAST_PLAYBACK_KEY: it signs private videos' playback tokens and listing cursors".into());
    }
    skycast_http::lambda::run(skycast_http::app::finish(skycast_vod::routes(), ctx)).await
}
