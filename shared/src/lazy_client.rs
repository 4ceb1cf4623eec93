//! `LazyClient`: a client built by its first use, once per process.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

/// A client that is built the first time a request needs it (or one given built). Building an SDK
/// client parses its service's endpoint rules and partition table, and an HTTPS client its trust
/// store: done at start for every client a Lambda could use, that was most of what the API's and
/// delivery's cold starts had over a hello-world binary's. The adapters (and the webhook sender)
/// hold these and reach the client through `Deref`, so a function pays only for the clients its
/// requests use, when they first use them.
pub struct LazyClient<C>(Arc<Lazy<C>>);

struct Lazy<C> {
    client: OnceLock<C>,
    build: std::sync::Mutex<Option<Box<dyn FnOnce() -> C + Send>>>,
}

impl<C> LazyClient<C> {
    pub fn new(build: impl FnOnce() -> C + Send + 'static) -> LazyClient<C> {
        LazyClient(Arc::new(Lazy { client: OnceLock::new(), build: std::sync::Mutex::new(Some(Box::new(build))) }))
    }

    /// Whether the client has been built (by a request, or because it was given built).
    pub fn is_built(&self) -> bool {
        self.0.client.get().is_some()
    }
}

impl<C> From<C> for LazyClient<C> {
    fn from(client: C) -> LazyClient<C> {
        LazyClient(Arc::new(Lazy { client: OnceLock::from(client), build: std::sync::Mutex::new(None) }))
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> LazyClient<C> {
        LazyClient(Arc::clone(&self.0))
    }
}

impl<C> Deref for LazyClient<C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.0.client.get_or_init(|| {
            let build = self.0.build.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            build.expect("a client is built once: OnceLock runs one initialiser")()
        })
    }
}

impl<C> std::fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyClient").field("built", &self.is_built()).finish()
    }
}
