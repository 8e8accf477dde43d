//! What every handler can reach: the stores, the token keys, the configuration.
//! Built once per process (per Lambda cold start), shared by reference.

use std::sync::Arc;

use skycast_core::{
    Config,
    auth::JwtKeys,
    config::ConfigError,
    playback::PlaybackSigner,
    store::{
        Stores,
        objects::{ObjectStorage, S3Objects},
        queue::{MessageSender, SqsSender, WebhookOutbox},
    },
};
use thiserror::Error;

#[derive(Clone)]
pub struct ApiContext {
    pub config: Arc<Config>,
    pub stores: Stores,
    pub jwt: Arc<JwtKeys>,
    /// Commands to ingest nodes travel on SQS.
    pub messages: Arc<dyn MessageSender>,
    /// Stored media: visibility tags and deletes.
    pub objects: Arc<dyn ObjectStorage>,
    /// Signs media tokens and seals cursors; `None` where no secret is configured.
    pub playback: Option<Arc<PlaybackSigner>>,
    /// Events for users' webhooks (`SKYCAST_WEBHOOK_EVENTS_QUEUE_URL`).
    pub webhooks: WebhookOutbox,
    dynamodb: aws_sdk_dynamodb::Client,
}

#[derive(Debug, Error)]
pub enum ContextError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Setup(#[from] skycast_core::aws::ConfigOrSecretError),
    #[error("this function signs tokens and needs SKYCAST_JWT_PRIVATE_KEY (or _FILE), not only the public key")]
    CannotSign,
}

impl ApiContext {
    pub fn new(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        s3: aws_sdk_s3::Client,
    ) -> Result<Self, ContextError> {
        let jwt = config.jwt_keys()?;
        let stores = Stores::dynamo(dynamodb.clone(), &config.tables);
        let playback = config.playback_signer().map(Arc::new);
        let messages: Arc<dyn MessageSender> = Arc::new(SqsSender::new(sqs));
        Ok(Self {
            config: Arc::new(config),
            stores,
            jwt: Arc::new(jwt),
            // A function's comes from its environment (`from_env`); `make dev` sets its own.
            webhooks: WebhookOutbox::off(),
            messages,
            objects: Arc::new(S3Objects::new(s3)),
            playback,
            dynamodb,
        })
    }

    /// For the function of `role` (in `infra/permissions.json`): `/ready`
    /// describes only the tables that role may describe, as its IAM policy
    /// allows in AWS.
    pub fn for_role(mut self, role: &str) -> Self {
        let permissions = skycast_core::permissions::Permissions::embedded();
        let tables = permissions
            .role(role)
            .map(|r| {
                r.dynamodb
                    .iter()
                    .filter(|(_, actions)| actions.iter().any(|a| a == "DescribeTable"))
                    .filter_map(|(logical, _)| self.config.tables.physical(logical).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        self.stores = self.stores.ready_for(self.dynamodb.clone(), tables);
        self
    }

    /// From one SDK configuration.
    pub fn from_sdk(config: Config, sdk: &aws_config::SdkConfig) -> Result<Self, ContextError> {
        let s3 = skycast_core::aws::s3(sdk);
        Self::new(config, aws_sdk_dynamodb::Client::new(sdk), aws_sdk_sqs::Client::new(sdk), s3)
    }

    /// For functions that issue tokens: refuses to start without the signing key,
    /// rather than failing each login later.
    pub fn require_signing(self) -> Result<Self, ContextError> {
        if self.jwt.can_sign() { Ok(self) } else { Err(ContextError::CannotSign) }
    }

    /// From the process environment, with SDK clients built once.
    pub async fn from_env() -> Result<Self, ContextError> {
        let sdk = skycast_core::aws::load_sdk_config().await;
        let config = skycast_core::aws::config_from_env(&sdk).await?;
        let mut ctx = Self::from_sdk(config, &sdk)?;
        ctx.webhooks = WebhookOutbox::from_env(ctx.messages.clone());
        Ok(ctx)
    }
}
