//! The harness behind `make soak` and `make bench`: starting moto and the `outbox-local`
//! processes on loopback, provisioning and seeding the stack they run, reading its records and
//! queues directly, a counting proxy in front of the emulator, and a Lambda Runtime API emulator
//! for cold starts; and the cost model (`cost`).

pub mod cost;
pub mod processes;
pub mod proxy;
pub mod records;
pub mod runtime_api;
pub mod stack;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// The workspace root (this package's parent folder).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// A binary built next to the running one (`target/<profile>/<name>`).
pub fn sibling_binary(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|err| format!("cannot find this binary's path: {err}"))?;
    let path = exe.parent().map(|dir| dir.join(name)).unwrap_or_default();
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build it first (`cargo build -p ... --bin {name}` with this profile)",
            path.display()
        ))
    }
}

/// A fresh resource prefix, so that every run gets its own table, queues and bucket.
pub fn fresh_prefix(kind: &str) -> String {
    format!("{kind}{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// An HTTP client for the stack on loopback: a proxy from the caller's environment must not sit in between.
pub fn loopback_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder().no_proxy().build().map_err(|err| format!("cannot build an HTTP client: {err}"))
}

/// The guarded value, also after a panic elsewhere poisoned the lock (counts and process handles stay usable).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The value at quantile `q` (0..=1) of `sorted`, nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median of unsorted values.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!((quantile(&values, 0.5), quantile(&values, 0.99), quantile(&values, 1.0)), (50.0, 99.0, 100.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
