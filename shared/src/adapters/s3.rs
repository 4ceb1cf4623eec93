//! S3: staged media bytes, so that jobs carry references and never content.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::ports::{MediaError, MediaStore};

#[derive(Clone, Debug)]
pub struct S3MediaStore {
    client: Client,
    bucket: String,
}

impl S3MediaStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> S3MediaStore {
        S3MediaStore { client, bucket: bucket.into() }
    }
}

#[async_trait]
impl MediaStore for S3MediaStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), MediaError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|err| MediaError::new("an S3 PutObject failed", err))?;
        Ok(())
    }

    /// Signed locally with the process's credentials: no request to S3, valid until `ttl` or
    /// until those credentials expire, whichever comes first.
    async fn presigned_url(&self, key: &str, ttl: Duration) -> Result<String, MediaError> {
        let config =
            PresigningConfig::expires_in(ttl).map_err(|err| MediaError::new("a presigned link's lifetime", err))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|err| MediaError::new("an S3 link could not be signed", err))?;
        Ok(request.uri().to_string())
    }
}
