//! The salted-password cache for SCRAM.

use std::{
    collections::HashMap,
    fmt,
    sync::{Mutex, MutexGuard},
};

use super::ScramVersion;

/// The cache of salted passwords the auth spec requires, so that every new connection
/// does not pay for thousands of PBKDF2 iterations again.
///
/// Keyed by mechanism, a SHA-256 digest of the prepared password, salt and iteration count.
/// Share one (in an `Arc`) per client. Holds at most 256 entries, dropping them all when
/// full. `Debug` shows only the entry count.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use greenmongo::auth::{Password, ScramCache, ScramConversation, ScramVersion};
///
/// let cache = Arc::new(ScramCache::new());
/// let conv = ScramConversation::new(ScramVersion::Sha256, "user", &Password::new("pw"), "admin")?
///     .with_cache(cache.clone());
/// assert!(cache.is_empty());
/// assert_eq!(format!("{cache:?}"), "ScramCache { entries: 0 }");
/// # Ok::<(), greenmongo::Error>(())
/// ```
#[derive(Default)]
pub struct ScramCache {
    /// Salted passwords by key; the lock is never held while computing one.
    entries: Mutex<HashMap<CacheKey, Vec<u8>>>,
}

/// What a salted password depends on.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct CacheKey {
    pub(super) version: ScramVersion,
    /// SHA-256 of the prepared password, so the cache never holds the password itself.
    pub(super) password_digest: Vec<u8>,
    pub(super) salt: Vec<u8>,
    pub(super) iterations: u32,
}

const CACHE_CAPACITY: usize = 256;

impl ScramCache {
    /// An empty cache.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::auth::ScramCache;
    ///
    /// assert!(ScramCache::new().is_empty());
    /// ```
    pub fn new() -> ScramCache {
        ScramCache::default()
    }

    /// Number of cached salted passwords.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(greenmongo::auth::ScramCache::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(greenmongo::auth::ScramCache::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, Vec<u8>>> {
        // A panic elsewhere cannot leave a half-written entry: inserts are single calls.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached salted password for `key`, computing (outside the lock) and storing it
    /// on a miss.
    pub(super) fn get_or_compute(
        &self,
        key: CacheKey,
        compute: impl FnOnce() -> Vec<u8>,
    ) -> Vec<u8> {
        if let Some(hit) = self.lock().get(&key) {
            return hit.clone();
        }
        let value = compute();
        let mut entries = self.lock();
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(key, value.clone());
        value
    }
}

impl fmt::Debug for ScramCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCache")
            .field("entries", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(iterations: u32) -> CacheKey {
        CacheKey {
            version: ScramVersion::Sha256,
            password_digest: vec![1],
            salt: vec![2],
            iterations,
        }
    }

    #[test]
    fn computes_once_per_key_and_clears_when_full() {
        let cache = ScramCache::new();
        let mut calls = 0;
        for _ in 0..3 {
            let v = cache.get_or_compute(key(4096), || {
                calls += 1;
                vec![9]
            });
            assert_eq!(v, [9]);
        }
        assert_eq!(calls, 1);
        for i in 1..CACHE_CAPACITY as u32 {
            cache.get_or_compute(key(5000 + i), Vec::new);
        }
        assert_eq!(cache.len(), CACHE_CAPACITY);
        cache.get_or_compute(key(1), Vec::new);
        assert_eq!(cache.len(), 1);
    }
}
