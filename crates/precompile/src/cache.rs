//! A bounded least-recently-used cache of loaded (decoded, validated, pre-packed) models.
//!
//! It is an optimization only: the precompile prices every call as if the cache were cold, and
//! a model is the same model whether it comes from here or from a fresh load, so results and
//! gas never depend on what the cache holds. Keys are hashes that pin the model bytes: the
//! model account's code hash, which state already holds. Models passed inline are not cached:
//! hashing their bytes for a key costs more than loading them again. Eviction order depends
//! only on the order of use, never on hash-map iteration.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use aiop_engine::LoadedModel;
use alloy_primitives::B256;

/// What a cached model is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheKey {
    /// keccak256 of a model account's code (`0xFE ‖ model`).
    CodeHash(B256),
    /// keccak256 of a manifest's code hash followed by its chunks' code hashes, in order: the
    /// hashes pin every byte assembled, and the model was checked against the manifest's id
    /// before it was cached.
    Assembled(B256),
}

/// Bounds of the cache. `max_entries == 0` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most models held.
    pub max_entries: usize,
    /// Most bytes held, counted as twice each model's length (the model and its packed weights).
    pub max_bytes: usize,
}

impl CacheConfig {
    /// No caching: every call loads its model.
    pub const DISABLED: CacheConfig = CacheConfig { max_entries: 0, max_bytes: 0 };
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { max_entries: 64, max_bytes: 256 << 20 }
    }
}

#[derive(Debug)]
struct Entry {
    model: Arc<LoadedModel>,
    bytes: usize,
    last_use: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<CacheKey, Entry>, // consensus-ok: only get/insert/remove, never iterated; eviction order is the BTreeMap of ticks
    /// last-use tick -> key, oldest first.
    recency: BTreeMap<u64, CacheKey>,
    bytes: usize,
    tick: u64,
    hits: u64,
    misses: u64,
}

/// Hit and miss counters, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Models held now.
    pub entries: usize,
    /// Bytes held now, counted as in [`CacheConfig::max_bytes`].
    pub bytes: usize,
    /// Lookups that found their model, since the cache was built.
    pub hits: u64,
    /// Lookups that did not, since the cache was built (none while the cache is off).
    pub misses: u64,
}

/// The model cache. Shared between EVM instances through an `Arc`; every method takes the lock
/// briefly and never while a model runs.
#[derive(Debug, Default)]
pub struct ModelCache {
    config: CacheConfig,
    inner: Mutex<Inner>,
}

impl ModelCache {
    /// An empty cache with bounds `config`.
    pub fn new(config: CacheConfig) -> Self {
        ModelCache { config, inner: Mutex::new(Inner::default()) }
    }

    /// The bounds it was built with.
    pub fn config(&self) -> CacheConfig {
        self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the maps consistent (every update
        // below is completed before it can fail), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached model for `key`, marking it most recently used.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<LoadedModel>> {
        if self.config.max_entries == 0 {
            return None;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let Some(entry) = inner.entries.get_mut(key) else {
            inner.misses += 1;
            return None;
        };
        let previous = std::mem::replace(&mut entry.last_use, tick);
        let model = Arc::clone(&entry.model);
        inner.recency.remove(&previous);
        inner.recency.insert(tick, *key);
        inner.hits += 1;
        Some(model)
    }

    /// Adds a model, evicting the least recently used ones to stay within bounds. A model
    /// larger than the whole byte budget is not cached.
    pub fn insert(&self, key: CacheKey, model: Arc<LoadedModel>) {
        let bytes = model.model_len().saturating_mul(2);
        if self.config.max_entries == 0 || bytes > self.config.max_bytes {
            return;
        }
        let mut inner = self.lock();
        if let Some(old) = inner.entries.remove(&key) {
            inner.recency.remove(&old.last_use);
            inner.bytes -= old.bytes;
        }
        while inner.entries.len() >= self.config.max_entries || inner.bytes + bytes > self.config.max_bytes {
            let Some((_, oldest)) = inner.recency.pop_first() else { break };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.bytes -= evicted.bytes;
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.recency.insert(tick, key);
        inner.entries.insert(key, Entry { model, bytes, last_use: tick });
        inner.bytes += bytes;
    }

    /// Drops every cached model.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.recency.clear();
        inner.bytes = 0;
    }

    /// Current size and counters.
    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats { entries: inner.entries.len(), bytes: inner.bytes, hits: inner.hits, misses: inner.misses }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiop_engine::KernelPath;

    fn model() -> Arc<LoadedModel> {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/models/softmax_wide.aiop"))
            .expect("testdata model");
        Arc::new(LoadedModel::load(&bytes, KernelPath::Reference).expect("valid model"))
    }

    fn key(n: u8) -> CacheKey {
        CacheKey::CodeHash(B256::repeat_byte(n))
    }

    #[test]
    fn evicts_least_recently_used_at_the_entry_bound() {
        let cache = ModelCache::new(CacheConfig { max_entries: 2, max_bytes: 1 << 20 });
        let m = model();
        cache.insert(key(1), m.clone());
        cache.insert(key(2), m.clone());
        assert!(cache.get(&key(1)).is_some()); // 2 is now the oldest
        cache.insert(key(3), m);
        assert!(cache.get(&key(2)).is_none());
        assert!(cache.get(&key(1)).is_some());
        assert!(cache.get(&key(3)).is_some());
        assert_eq!(cache.stats().entries, 2);
    }

    #[test]
    fn respects_the_byte_bound_and_can_be_disabled() {
        let m = model();
        let one = m.model_len() * 2;
        let cache = ModelCache::new(CacheConfig { max_entries: 10, max_bytes: one * 2 });
        for n in 0..5 {
            cache.insert(key(n), m.clone());
        }
        assert_eq!(cache.stats().entries, 2);
        assert!(cache.stats().bytes <= one * 2);
        let off = ModelCache::new(CacheConfig::DISABLED);
        off.insert(key(1), m);
        assert!(off.get(&key(1)).is_none());
        assert_eq!(off.stats().entries, 0);
    }
}
