//! Stored media, as the API functions see it: tagging a video's objects for
//! the CDN and deleting them, behind a trait so handlers are testable
//! without S3.

use async_trait::async_trait;
use aws_sdk_s3::{
    Client,
    error::DisplayErrorContext,
    types::{Delete, ObjectIdentifier, Tag, Tagging},
};

use super::StoreError;

#[async_trait]
pub trait ObjectStorage: Send + Sync {
    /// Deletes every object below `prefix`, every version of each: on a
    /// versioned bucket a plain delete would only hide them.
    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64, StoreError>;
    /// Marks `key` public or private for the CDN (see [`VISIBILITY_TAG`]); a
    /// missing object is not an error.
    async fn tag_visibility(&self, bucket: &str, key: &str, public: bool) -> Result<(), StoreError>;
    /// A small text object (a playlist), at most `limit` bytes of it; `None`
    /// when there is no such object.
    async fn read_text(&self, bucket: &str, key: &str, limit: usize) -> Result<Option<String>, StoreError>;
}

/// The object tag of a catalogued recording (`public` or `private`, as its
/// video): in AWS the recordings bucket lets CloudFront read only tagged
/// objects (infra/storage.tf), so an MP4 not yet catalogued is never served.
/// Who may play a tagged one is the edge's decision (`playback`).
pub const VISIBILITY_TAG: &str = "skycast-visibility";

/// Sets [`VISIBILITY_TAG`] on one object; shared with the catalog function.
pub async fn put_visibility_tag(client: &Client, bucket: &str, key: &str, public: bool) -> Result<(), StoreError> {
    let tag = Tag::builder()
        .key(VISIBILITY_TAG)
        .value(if public { "public" } else { "private" })
        .build()
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    let tagging = Tagging::builder().tag_set(tag).build().map_err(|e| StoreError::Backend(e.to_string()))?;
    match client.put_object_tagging().bucket(bucket).key(key).tagging(tagging).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|se| se.meta().code() == Some("NoSuchKey")) => Ok(()),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(()),
        Err(e) => Err(s3_err(e)),
    }
}

pub struct S3Objects {
    client: Client,
}

impl S3Objects {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn s3_err(e: impl std::error::Error + 'static) -> StoreError {
    StoreError::Backend(DisplayErrorContext(e).to_string())
}

#[async_trait]
impl ObjectStorage for S3Objects {
    async fn tag_visibility(&self, bucket: &str, key: &str, public: bool) -> Result<(), StoreError> {
        put_visibility_tag(&self.client, bucket, key, public).await
    }

    async fn read_text(&self, bucket: &str, key: &str, limit: usize) -> Result<Option<String>, StoreError> {
        let out = match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes=0-{}", limit.saturating_sub(1)))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(s3_err(e)),
        };
        let bytes = out.body.collect().await.map_err(|e| StoreError::Backend(e.to_string()))?.into_bytes();
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        loop {
            // Each round lists what is left; a round deletes up to 1000.
            let out = self.client.list_object_versions().bucket(bucket).prefix(prefix).send().await.map_err(s3_err)?;
            let mut ids = Vec::new();
            for v in out.versions() {
                if let Some(key) = v.key() {
                    ids.push((key.to_owned(), v.version_id().map(str::to_owned)));
                }
            }
            for m in out.delete_markers() {
                if let Some(key) = m.key() {
                    ids.push((key.to_owned(), m.version_id().map(str::to_owned)));
                }
            }
            if ids.is_empty() {
                return Ok(deleted);
            }
            let objects = ids
                .iter()
                .map(|(key, version)| {
                    ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(version.clone().filter(|v| v != "null"))
                        .build()
                        .map_err(|e| StoreError::Backend(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            let out = self.client.delete_objects().bucket(bucket).delete(delete).send().await.map_err(s3_err)?;
            if let Some(e) = out.errors().first() {
                return Err(StoreError::Backend(format!(
                    "deleting {}: {}",
                    e.key().unwrap_or(""),
                    e.message().unwrap_or("")
                )));
            }
            deleted += ids.len() as u64;
        }
    }
}
