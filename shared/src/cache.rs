//! The one TTL cache of a warm instance (API keys, phone lists, provider credentials): bounded,
//! entries live for a fixed time, and concurrent misses for the same key make one load.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

/// A `moka` cache, or none at all when the TTL is zero (every lookup then loads afresh).
pub struct TtlCache<K, V> {
    entries: Option<moka::future::Cache<K, V>>,
}

impl<K, V> TtlCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        let entries =
            (!ttl.is_zero()).then(|| moka::future::Cache::builder().max_capacity(capacity).time_to_live(ttl).build());
        TtlCache { entries }
    }

    /// The cached value, or the one `load` produces, which is then cached. Callers that miss
    /// the same key at once share one `load`; an error is not cached, and each of them gets it.
    pub async fn get_or_load<E, F>(&self, key: K, load: F) -> Result<V, E>
    where
        E: Clone + Send + Sync + 'static,
        F: Future<Output = Result<V, E>>,
    {
        match &self.entries {
            None => load.await,
            Some(entries) => entries.try_get_with(key, load).await.map_err(|err: Arc<E>| (*err).clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A store that counts its reads and takes its time, so that callers overlap.
    #[derive(Default)]
    struct CountingStore {
        reads: AtomicU32,
    }

    impl CountingStore {
        async fn read(&self, key: &str) -> Result<String, String> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            if key == "missing" { Err(format!("{key} not found")) } else { Ok(format!("value of {key}")) }
        }
    }

    #[tokio::test]
    async fn concurrent_misses_for_one_key_make_one_store_call() {
        let (cache, store) = (TtlCache::new(Duration::from_secs(60), 100), CountingStore::default());
        let lookups = (0..20).map(|_| cache.get_or_load("a".to_string(), store.read("a")));
        let values = futures_util::future::join_all(lookups).await;
        assert!(values.iter().all(|v| v.as_deref() == Ok("value of a")), "{values:?}");
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.get_or_load("a".to_string(), store.read("a")).await.unwrap(), "value of a");
        assert_eq!(store.reads.load(Ordering::SeqCst), 1, "served from the cache");
    }

    #[tokio::test]
    async fn errors_are_shared_but_not_cached() {
        let (cache, store) = (TtlCache::new(Duration::from_secs(60), 100), CountingStore::default());
        let lookups = (0..5).map(|_| cache.get_or_load("missing".to_string(), store.read("missing")));
        for result in futures_util::future::join_all(lookups).await {
            assert_eq!(result, Err("missing not found".to_string()));
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
        let _ = cache.get_or_load("missing".to_string(), store.read("missing")).await;
        assert_eq!(store.reads.load(Ordering::SeqCst), 2, "an error is looked up again");
    }

    #[tokio::test]
    async fn a_zero_ttl_caches_nothing() {
        let (cache, store) = (TtlCache::new(Duration::ZERO, 100), CountingStore::default());
        for _ in 0..3 {
            cache.get_or_load("a".to_string(), store.read("a")).await.unwrap();
        }
        assert_eq!(store.reads.load(Ordering::SeqCst), 3);
    }
}
