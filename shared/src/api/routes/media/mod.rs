//! `/v1/media/…`: large files for any dialect, uploaded straight to storage.

pub mod uploads;
