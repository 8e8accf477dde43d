//! SDK configuration for the local stack.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Region used against emulators; any would do, this one is the SDK default.
pub const LOCAL_REGION: &str = "us-east-1";

/// Configuration pointing every client at `endpoint` with throwaway
/// credentials: emulators accept any.
pub async fn for_endpoint(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(LOCAL_REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "skycast",
            "skycast",
            None,
            None,
            "skycast-dev",
        ))
        .load()
        .await
}

/// S3 on an emulator needs path-style addressing (no per-bucket DNS names).
pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build();
    aws_sdk_s3::Client::from_conf(conf)
}
