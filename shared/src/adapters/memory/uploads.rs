//! Upload records in memory.

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::domain::ids::{OrgId, UploadId};
use crate::domain::upload::UploadRecord;
use crate::ports::{StoreError, UploadStore};

#[async_trait]
impl UploadStore for MemoryStore {
    async fn put_upload(&self, record: &UploadRecord) -> Result<(), StoreError> {
        lock(&self.uploads).insert((record.org_id.clone(), record.upload_id.clone()), record.clone());
        Ok(())
    }

    async fn get_upload(&self, org: &OrgId, upload_id: &UploadId) -> Result<Option<UploadRecord>, StoreError> {
        Ok(lock(&self.uploads).get(&(org.clone(), upload_id.clone())).cloned())
    }
}
