//! Building AWS SDK configuration once per process.

/// Loads the SDK configuration from the environment: `AWS_ENDPOINT_URL`
/// points every client at an emulator (moto, LocalStack) when set.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}
