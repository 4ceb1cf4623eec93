//! Staged media bytes: what the API stores, what clients upload straight to it, and what a
//! provider fetches.

use std::time::Duration;

use async_trait::async_trait;

use super::MediaError;

/// What the store knows of one stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub content_type: Option<String>,
}

/// A URL a client PUTs one object to, with the headers the PUT must carry (they are signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedPut {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// Staged media bytes.
#[async_trait]
pub trait MediaStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), MediaError>;
    /// The object's size and type, or `None` when there is no object at `key`.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, MediaError>;
    /// A URL from which anyone may GET the object for `ttl`, so a provider can fetch staged media.
    async fn presigned_url(&self, key: &str, ttl: Duration) -> Result<String, MediaError>;
    /// A URL through which anyone may PUT exactly `content_length` bytes of `content_type` to
    /// `key` for `ttl`: large files reach the store without passing through the API.
    async fn presigned_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<PresignedPut, MediaError>;
}
