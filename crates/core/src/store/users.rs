//! Users, with usernames and emails kept unique by uniqueness items written in
//! the same transaction as the user: `user#<id>`, `username#<name>`, `email#<addr>`.
//!
//! The uniqueness items are full copies of the user, so a login reads one item
//! whether or not the user exists: same cost, nothing learned from timing.
//! (Users are immutable today; an update must rewrite all three in one transaction.)

use async_trait::async_trait;
use aws_sdk_dynamodb::{Client, operation::transact_write_items::TransactWriteItemsError};
use serde::{Deserialize, Serialize};

use super::{
    StoreError,
    dynamo::{backend, get_consistent, put_if_absent, to_item},
};
use crate::user::User;

/// The outcome of a registration.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateUser {
    Created,
    /// The named field (`username` or `email`) is taken.
    Taken(&'static str),
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create(&self, user: &User) -> Result<CreateUser, StoreError>;
    async fn get(&self, id: &str) -> Result<Option<User>, StoreError>;
    async fn find_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
}

pub struct DynamoUserStore {
    client: Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
struct UserItem {
    pk: String,
    #[serde(flatten)]
    user: User,
}

fn user_pk(id: &str) -> String {
    format!("user#{id}")
}
fn username_pk(u: &str) -> String {
    format!("username#{u}")
}
fn email_pk(e: &str) -> String {
    format!("email#{e}")
}

impl DynamoUserStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn get_pk<T: serde::de::DeserializeOwned>(&self, pk: String) -> Result<Option<T>, StoreError> {
        get_consistent(&self.client, &self.table, "pk", pk).await
    }

    async fn find_via(&self, unique_pk: String) -> Result<Option<User>, StoreError> {
        Ok(self.get_pk::<UserItem>(unique_pk).await?.map(|i| i.user))
    }

    async fn exists(&self, pk: String) -> Result<bool, StoreError> {
        Ok(self.get_pk::<UserItem>(pk).await?.is_some())
    }
}

#[async_trait]
impl UserStore for DynamoUserStore {
    async fn create(&self, user: &User) -> Result<CreateUser, StoreError> {
        let items = [
            to_item(&UserItem { pk: user_pk(&user.id), user: user.clone() })?,
            to_item(&UserItem { pk: username_pk(&user.username), user: user.clone() })?,
            to_item(&UserItem { pk: email_pk(&user.email), user: user.clone() })?,
        ];
        let mut attempt = 0u64;
        loop {
            let mut tx = self.client.transact_write_items();
            for item in &items {
                tx = tx.transact_items(put_if_absent(&self.table, item.clone())?);
            }
            let e = match tx.send().await {
                Ok(_) => return Ok(CreateUser::Created),
                Err(e) => e,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(tc)) = e.as_service_error() else {
                return Err(backend(e));
            };
            let failed = |i: usize| {
                tc.cancellation_reasons().get(i).and_then(|r| r.code()).is_some_and(|c| c == "ConditionalCheckFailed")
            };
            if failed(1) {
                return Ok(CreateUser::Taken("username"));
            }
            if failed(2) {
                return Ok(CreateUser::Taken("email"));
            }
            // Where an emulator omits the reasons, look at what exists.
            if self.exists(username_pk(&user.username)).await? {
                return Ok(CreateUser::Taken("username"));
            }
            if self.exists(email_pk(&user.email)).await? {
                return Ok(CreateUser::Taken("email"));
            }
            // Cancelled by a conflicting in-flight transaction (a concurrent
            // registration of the same name): once it settles, trying again
            // gives a definite answer.
            attempt += 1;
            if attempt > 3 {
                return Err(backend(e));
            }
            tokio::time::sleep(std::time::Duration::from_millis(25 * attempt)).await;
        }
    }

    async fn get(&self, id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.get_pk::<UserItem>(user_pk(id)).await?.map(|i| i.user))
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.find_via(username_pk(username)).await
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.find_via(email_pk(email)).await
    }
}
