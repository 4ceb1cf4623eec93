//! S3: staged media bytes, so that jobs carry references and never content; presigned links
//! for providers to fetch them and for clients to upload large files straight to the bucket.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use super::aws::LazyClient;

use crate::ports::{MediaError, MediaStore, ObjectInfo, PresignedPut};

#[derive(Clone, Debug)]
pub struct S3MediaStore {
    client: LazyClient<Client>,
    bucket: String,
}

impl S3MediaStore {
    pub fn new(client: impl Into<LazyClient<Client>>, bucket: impl Into<String>) -> S3MediaStore {
        S3MediaStore { client: client.into(), bucket: bucket.into() }
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

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, MediaError> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(head) => Ok(Some(ObjectInfo {
                size: head.content_length.and_then(|length| u64::try_from(length).ok()).unwrap_or(0),
                content_type: head.content_type,
            })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(MediaError::new("an S3 HeadObject failed", err)),
        }
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

    /// Signed locally like `presigned_url`. Content-Type and Content-Length are signed headers,
    /// so S3 refuses a PUT of another type or size; the bucket's default encryption applies.
    async fn presigned_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<PresignedPut, MediaError> {
        let config =
            PresigningConfig::expires_in(ttl).map_err(|err| MediaError::new("a presigned upload's lifetime", err))?;
        let length = i64::try_from(content_length).map_err(|err| MediaError::new("an upload's size", err))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .presigned(config)
            .await
            .map_err(|err| MediaError::new("an S3 upload link could not be signed", err))?;
        // `host` is the URL's own; every other signed header is one the client must send.
        let headers = request
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Ok(PresignedPut { url: request.uri().to_string(), headers })
    }
}
