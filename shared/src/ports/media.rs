//! Staged media bytes.

use async_trait::async_trait;

use super::MediaError;

/// Staged media bytes.
#[async_trait]
pub trait MediaStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), MediaError>;
}
