//! Building AWS SDK configuration once per process.

/// Loads the SDK configuration from the environment: `AWS_ENDPOINT_URL`
/// points every client at an emulator (moto, LocalStack) when set.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

/// S3 addressed as the endpoint wants: emulators (moto, LocalStack, MinIO)
/// have no per-bucket host names, so path style there; AWS itself only
/// serves virtual-hosted style to buckets made since 2020.
pub fn s3(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = sdk.endpoint_url().is_some();
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build())
}

/// Secrets a process may take from AWS Secrets Manager rather than from its
/// environment, so they never sit in a Lambda's configuration: for each,
/// `<NAME>_SECRET_ID` names the secret (Terraform sets it). Secrets Manager,
/// not SSM Parameter Store: its SDK crate builds in seconds, SSM's in minutes.
pub const SECRETS: [&str; 3] = ["SKYCAST_JWT_PRIVATE_KEY", "SKYCAST_PLAYBACK_KEY", "SKYCAST_EDGE_SECRET"];

#[derive(Debug, thiserror::Error)]
#[error("reading {name} from secret {secret}: {message}")]
pub struct SecretError {
    pub name: &'static str,
    pub secret: String,
    pub message: String,
}

/// The configuration from the environment, with [`SECRETS`] fetched where
/// only their secret's id is given.
pub async fn config_from_env(sdk: &aws_config::SdkConfig) -> Result<crate::Config, ConfigOrSecretError> {
    config_from_lookup(sdk, |k| std::env::var(k).ok()).await
}

/// [`config_from_env`] over any lookup, so tests need not touch the process environment.
pub async fn config_from_lookup(
    sdk: &aws_config::SdkConfig,
    get: impl Fn(&str) -> Option<String>,
) -> Result<crate::Config, ConfigOrSecretError> {
    let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    let mut fetched = std::collections::HashMap::new();
    let mut client = None;
    for name in SECRETS {
        let Some(secret) = get(&format!("{name}_SECRET_ID")).filter(|_| get(name).is_none()) else {
            continue;
        };
        let client = client.get_or_insert_with(|| aws_sdk_secretsmanager::Client::new(sdk));
        let failed = |message: String| SecretError { name, secret: secret.clone(), message };
        let out = client
            .get_secret_value()
            .secret_id(&secret)
            .send()
            .await
            .map_err(|e| failed(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?;
        let value = out.secret_string().ok_or_else(|| failed("it holds no string".into()))?;
        fetched.insert(name, value.to_owned());
    }
    Ok(crate::Config::from_lookup(|k| get(k).or_else(|| fetched.get(k).cloned()))?)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigOrSecretError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Secret(#[from] SecretError),
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
