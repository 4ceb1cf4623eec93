//! Upload records: which staged file an `upload_id` names, whose it is and until when.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::{OrgId, UploadId};
use crate::domain::upload::UploadRecord;

#[async_trait]
pub trait UploadStore: Send + Sync {
    async fn put_upload(&self, record: &UploadRecord) -> Result<(), StoreError>;
    /// The org's upload with this id; another org's is `None`, like one that does not exist.
    async fn get_upload(&self, org: &OrgId, upload_id: &UploadId) -> Result<Option<UploadRecord>, StoreError>;
}
