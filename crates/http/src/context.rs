//! What every handler can reach: the stores, the token keys, the configuration.
//! Built once per process (per Lambda cold start), shared by reference.

use std::sync::Arc;

use skycast_core::{
    Config,
    auth::JwtKeys,
    config::ConfigError,
    store::Stores,
};
use thiserror::Error;

#[derive(Clone)]
pub struct ApiContext {
    pub config: Arc<Config>,
    pub stores: Stores,
    pub jwt: Arc<JwtKeys>,
}

#[derive(Debug, Error)]
pub enum ContextError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Jwt(#[from] skycast_core::auth::JwtError),
}

impl ApiContext {
    pub fn new(config: Config, dynamodb: aws_sdk_dynamodb::Client) -> Result<Self, ContextError> {
        let jwt = JwtKeys::from_pkcs8_pem(config.signing_key_pem()?, &config.jwt_issuer, config.access_token_ttl)?;
        let stores = Stores::dynamo(dynamodb, &config.tables);
        Ok(Self { config: Arc::new(config), stores, jwt: Arc::new(jwt) })
    }

    /// From the process environment, with SDK clients built once.
    pub async fn from_env() -> Result<Self, ContextError> {
        let config = Config::from_env()?;
        let sdk = skycast_core::aws::load_sdk_config().await;
        Self::new(config, skycast_core::aws::dynamodb(&sdk))
    }
}
