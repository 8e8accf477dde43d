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

/// S3 addressed as the endpoint wants (path style on an emulator); one rule
/// for the local stack and the functions.
pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    skycast_core::aws::s3(sdk)
}
