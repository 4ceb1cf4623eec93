//! Staged media bytes.

use std::time::Duration;

use async_trait::async_trait;

use super::MediaError;

/// Staged media bytes.
#[async_trait]
pub trait MediaStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), MediaError>;
    /// A URL from which anyone may GET the object for `ttl`, so a provider can fetch staged media.
    async fn presigned_url(&self, key: &str, ttl: Duration) -> Result<String, MediaError>;
}
