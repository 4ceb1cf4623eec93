//! Uploads: staging a file before a send names it, by a presigned PUT straight to the bucket
//! (large files) or through the API (`/v1/assets/upload`), and resolving an `upload_id` at send
//! time into staged media, after checking that the object is there, is the caller's, and fits the
//! kind it is sent as.

use std::sync::Arc;

use crate::domain::ids::{OrgId, UploadId};
use crate::domain::limits::PRESIGNED_PUT_LIFETIME;
use crate::domain::media::{MediaKind, UploadRef, too_large_for};
use crate::domain::message::StoredMedia;
use crate::domain::time::Timestamp;
use crate::domain::upload::{FileFacts, UploadRecord, ValidatedPresign, check_kind_takes};
use crate::domain::validation::ValidationError;
use crate::ports::{Clock, MediaError, MediaStore, PresignedPut, StoreError, UploadStore};

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// No such upload in the caller's org (or it expired): the same answer for all three.
    #[error(
        "no upload with id {upload_id:?}: give an upload_id from POST /v1/media/uploads or /v1/assets/upload of the last 24 hours"
    )]
    NotFound { upload_id: UploadId },
    /// The upload exists but cannot be sent as asked.
    #[error(transparent)]
    Invalid(ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Media(#[from] MediaError),
}

/// A presigned upload the client can now make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedUpload {
    pub upload: UploadRecord,
    pub put: PresignedPut,
    /// When the PUT URL stops working.
    pub put_expires_at: Timestamp,
}

#[derive(Clone)]
pub struct Uploads {
    pub store: Arc<dyn UploadStore>,
    pub media: Arc<dyn MediaStore>,
    pub clock: Arc<dyn Clock>,
}

impl Uploads {
    /// Records the upload, then signs a PUT bound to its declared type and size: the id is
    /// never handed out without its record.
    pub async fn presign(&self, org: &OrgId, presign: ValidatedPresign) -> Result<PresignedUpload, UploadError> {
        let now = self.clock.now();
        let upload = UploadRecord::new(org, presign.file, Some(presign.kind), now);
        self.store.put_upload(&upload).await?;
        let put =
            self.media.presigned_put(&upload.s3_key, &upload.mimetype, upload.size, PRESIGNED_PUT_LIFETIME).await?;
        Ok(PresignedUpload { upload, put, put_expires_at: now.plus(PRESIGNED_PUT_LIFETIME) })
    }

    /// Stores a file that came through the API, then its record.
    pub async fn store_file(&self, org: &OrgId, file: FileFacts, bytes: Vec<u8>) -> Result<UploadRecord, UploadError> {
        let upload = UploadRecord::new(org, file, None, self.clock.now());
        self.media.put(&upload.s3_key, bytes, &upload.mimetype).await?;
        self.store.put_upload(&upload).await?;
        Ok(upload)
    }

    /// The staged media an upload reference stands for. Its kind is the one asked for, else the
    /// one declared at upload, else the MIME type's; file name and MIME type default to the
    /// upload's. The object must exist (HeadObject), be of the declared type and fit the kind's
    /// limit by its real size: a client may PUT something other than it declared.
    pub async fn resolve(&self, org: &OrgId, reference: UploadRef) -> Result<StoredMedia, UploadError> {
        let UploadRef { upload_id, kind, filename, mimetype, field } = reference;
        let upload = match self.store.get_upload(org, &upload_id).await? {
            Some(upload) if !upload.is_expired(self.clock.now()) => upload,
            _ => return Err(UploadError::NotFound { upload_id }),
        };
        let mimetype = mimetype.unwrap_or_else(|| upload.mimetype.clone());
        let kind = kind.or(upload.kind).unwrap_or_else(|| MediaKind::infer(&mimetype));
        check_kind_takes(kind, &mimetype, field).map_err(UploadError::Invalid)?;
        let Some(object) = self.media.head(&upload.s3_key).await? else {
            return Err(UploadError::Invalid(ValidationError::bad_request(
                "upload_incomplete",
                Some(field),
                format!("upload {upload_id} has no file yet: PUT the file to the upload's url first, then send"),
            )));
        };
        if object.size > kind.max_bytes() as u64 {
            let what = format!("the file of upload {upload_id}");
            return Err(UploadError::Invalid(too_large_for(kind, object.size, field, &what)));
        }
        if object.content_type.as_deref().is_some_and(|stored| !same_mimetype(stored, &upload.mimetype)) {
            return Err(UploadError::Invalid(ValidationError::bad_request(
                "upload_mismatch",
                Some(field),
                format!(
                    "the file of upload {upload_id} was stored as {:?}, not as the {:?} it was declared as; \
                     upload it again with the declared Content-Type",
                    object.content_type.unwrap_or_default(),
                    upload.mimetype
                ),
            )));
        }
        Ok(StoredMedia {
            kind,
            filename: filename.unwrap_or(upload.filename),
            mimetype,
            url: None,
            s3_key: Some(upload.s3_key),
            size: Some(object.size),
        })
    }
}

/// The same MIME type, compared by `type/subtype` and case-insensitively; parameters do not count.
fn same_mimetype(a: &str, b: &str) -> bool {
    let essence = |m: &str| m.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence(a) == essence(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{ManualClock, MemoryMedia, MemoryStore};
    use crate::domain::limits::UPLOAD_LIFETIME;
    use crate::domain::validation::ValidationErrorKind;

    fn uploads() -> (Uploads, Arc<MemoryMedia>, Arc<ManualClock>) {
        let media = Arc::new(MemoryMedia::default());
        let clock = Arc::new(ManualClock::starting_now());
        let uploads = Uploads { store: Arc::new(MemoryStore::default()), media: media.clone(), clock: clock.clone() };
        (uploads, media, clock)
    }

    fn reference(upload: &UploadRecord, kind: Option<MediaKind>) -> UploadRef {
        UploadRef {
            upload_id: upload.upload_id.clone(),
            kind,
            filename: None,
            mimetype: None,
            field: "media.upload_id",
        }
    }

    fn facts(mimetype: &str, size: u64) -> FileFacts {
        FileFacts { filename: "clip.mp4".into(), mimetype: mimetype.into(), size }
    }

    fn invalid(err: UploadError) -> ValidationError {
        match err {
            UploadError::Invalid(err) => err,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_presigned_upload_is_recorded_and_bound_to_its_type_and_size() {
        let (uploads, media, clock) = uploads();
        let org = OrgId::from("org-1");
        let presign = ValidatedPresign { file: facts("video/mp4", 7_000_000), kind: MediaKind::Video };
        let made = uploads.presign(&org, presign).await.unwrap();
        assert_eq!(made.put_expires_at, clock.now().plus(PRESIGNED_PUT_LIFETIME));
        assert_eq!(
            media.presigned_puts.lock().unwrap().as_slice(),
            &[(made.upload.s3_key.clone(), "video/mp4".to_string(), 7_000_000)]
        );
        assert_eq!(uploads.store.get_upload(&org, &made.upload.upload_id).await.unwrap(), Some(made.upload.clone()));
        assert_eq!(uploads.store.get_upload(&OrgId::from("org-2"), &made.upload.upload_id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn resolving_checks_the_object_that_is_really_there() {
        let (uploads, media, _) = uploads();
        let org = OrgId::from("org-1");
        let presign = ValidatedPresign { file: facts("video/mp4", 7_000_000), kind: MediaKind::Video };
        let upload = uploads.presign(&org, presign).await.unwrap().upload;

        let err = invalid(uploads.resolve(&org, reference(&upload, None)).await.unwrap_err());
        assert_eq!((err.code, err.field.as_deref()), ("upload_incomplete", Some("media.upload_id")));

        media.put(&upload.s3_key, vec![0; 7_000_000], "video/mp4").await.unwrap();
        let staged = uploads.resolve(&org, reference(&upload, None)).await.unwrap();
        assert_eq!(
            (staged.kind, staged.size, staged.s3_key.as_deref(), staged.filename.as_str()),
            (MediaKind::Video, Some(7_000_000), Some(upload.s3_key.as_str()), "clip.mp4")
        );
        // Sent as an image, the same file is over the image limit.
        let image = UploadRef { mimetype: Some("image/jpeg".into()), ..reference(&upload, Some(MediaKind::Image)) };
        let err = invalid(uploads.resolve(&org, image).await.unwrap_err());
        assert_eq!((err.code, err.kind), ("media_too_large", ValidationErrorKind::PayloadTooLarge));
        // A kind that cannot carry the file's type.
        let err = invalid(uploads.resolve(&org, reference(&upload, Some(MediaKind::Sticker))).await.unwrap_err());
        assert_eq!(err.code, "mimetype_mismatch");

        // A client that PUT more than the video limit, whatever it declared.
        media.put(&upload.s3_key, vec![0; 17 * 1024 * 1024], "video/mp4").await.unwrap();
        let err = invalid(uploads.resolve(&org, reference(&upload, None)).await.unwrap_err());
        assert_eq!((err.code, err.kind), ("media_too_large", ValidationErrorKind::PayloadTooLarge));
        // Or another type than it declared.
        media.put(&upload.s3_key, vec![0; 10], "text/html").await.unwrap();
        let err = invalid(uploads.resolve(&org, reference(&upload, None)).await.unwrap_err());
        assert_eq!(err.code, "upload_mismatch");
    }

    #[tokio::test]
    async fn another_orgs_or_an_expired_upload_is_not_found() {
        let (uploads, _, clock) = uploads();
        let org = OrgId::from("org-1");
        let upload = uploads.store_file(&org, facts("image/png", 3), b"png".to_vec()).await.unwrap();
        let staged = uploads.resolve(&org, reference(&upload, None)).await.unwrap();
        assert_eq!((staged.kind, staged.mimetype.as_str()), (MediaKind::Image, "image/png"));
        let theirs = uploads.resolve(&OrgId::from("org-2"), reference(&upload, None)).await.unwrap_err();
        assert!(matches!(theirs, UploadError::NotFound { .. }), "{theirs:?}");
        clock.advance(UPLOAD_LIFETIME);
        let expired = uploads.resolve(&org, reference(&upload, None)).await.unwrap_err();
        assert!(matches!(expired, UploadError::NotFound { .. }), "{expired:?}");
    }
}
