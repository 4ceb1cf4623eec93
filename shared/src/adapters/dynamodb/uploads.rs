//! Upload records: one item per staged file, keyed by org and upload id, expired by TTL.

use async_trait::async_trait;

use super::{DynamoStore, key, to_item, unavailable};
use crate::domain::ids::{OrgId, UploadId};
use crate::domain::upload::UploadRecord;
use crate::ports::{StoreError, UploadStore};

fn upload_key(org: &OrgId, upload_id: &UploadId) -> super::Item {
    key(format!("UPLOAD#{org}#{upload_id}"), "UPLOAD")
}

#[async_trait]
impl UploadStore for DynamoStore {
    async fn put_upload(&self, record: &UploadRecord) -> Result<(), StoreError> {
        let mut item = to_item(record)?;
        item.extend(upload_key(&record.org_id, &record.upload_id));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn get_upload(&self, org: &OrgId, upload_id: &UploadId) -> Result<Option<UploadRecord>, StoreError> {
        self.fetch(upload_key(org, upload_id)).await
    }
}
