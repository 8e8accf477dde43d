//! Building AWS SDK configuration once per process.

/// Loads the SDK configuration from the environment: `AWS_ENDPOINT_URL`
/// points every client at an emulator (moto, LocalStack) when set.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

/// A queue's URL: from `env_var` when set (Terraform sets it), else looked
/// up by its physical name (`<prefix>-<logical>`).
pub async fn queue_url(
    sqs: &aws_sdk_sqs::Client,
    env_var: &str,
    prefix: &str,
    logical: &str,
) -> Result<String, aws_sdk_sqs::Error> {
    if let Some(url) = std::env::var(env_var).ok().filter(|u| !u.is_empty()) {
        return Ok(url);
    }
    let out = sqs.get_queue_url().queue_name(crate::config::physical_name(prefix, logical)).send().await?;
    Ok(out.queue_url.unwrap_or_default())
}
