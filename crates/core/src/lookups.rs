//! Short-lived memory of lookups that every request to a server repeats and
//! that almost never change: pod rows, a server's bottom ID in its pod, and
//! the top flavor names. Each costs a database round trip otherwise (about
//! 60 us with SQLite on a small machine, most of it thread hand-offs).
//!
//! Entries live at most `ttl` (so a change made by another gateway replica
//! is seen within it); what this process changes (pod delete, routing
//! update or delete, server delete, flavor create or delete) is dropped at
//! once. A zero `ttl` turns the memory off.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tricircle_common::PodId;
use tricircle_store::Pod;

/// A map whose entries expire.
pub struct TtlMap<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        TtlMap { ttl, capacity: capacity.max(1), entries: Mutex::new(HashMap::new()) }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut m = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match m.get(key) {
            Some((until, v)) if *until > Instant::now() => Some(v.clone()),
            Some(_) => {
                m.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut m = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if m.len() >= self.capacity {
            let now = Instant::now();
            m.retain(|_, (until, _)| *until > now);
            if m.len() >= self.capacity {
                m.clear();
            }
        }
        m.insert(key, (Instant::now() + self.ttl, value));
    }

    pub fn remove(&self, key: &K) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }

    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// The lookups the gateway remembers.
pub struct Lookups {
    pub pods: TtlMap<PodId, Pod>,
    /// (top server ID, pod) → bottom server ID.
    pub server_bottoms: TtlMap<(String, PodId), String>,
    pub flavor_names: TtlMap<(), Arc<HashMap<String, String>>>,
}

impl Lookups {
    pub fn new(ttl: Duration) -> Lookups {
        Lookups {
            pods: TtlMap::new(ttl, 10_000),
            server_bottoms: TtlMap::new(ttl, 100_000),
            flavor_names: TtlMap::new(ttl, 1),
        }
    }
}

impl std::fmt::Debug for Lookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lookups")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_dropped() {
        let m: TtlMap<&str, u32> = TtlMap::new(Duration::from_millis(60), 10);
        m.insert("a", 1);
        m.insert("b", 2);
        assert_eq!((m.get(&"a"), m.get(&"c")), (Some(1), None));
        m.remove(&"a");
        assert_eq!(m.get(&"a"), None);
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(m.get(&"b"), None, "expired");
        m.insert("c", 3);
        m.clear();
        assert_eq!(m.get(&"c"), None);
    }

    #[test]
    fn off_and_bounded() {
        let off: TtlMap<u8, u8> = TtlMap::new(Duration::ZERO, 10);
        off.insert(1, 1);
        assert_eq!(off.get(&1), None);
        let m: TtlMap<u8, u8> = TtlMap::new(Duration::from_secs(60), 2);
        for k in 0..5 {
            m.insert(k, k);
        }
        assert_eq!(m.get(&4), Some(4));
        assert!(m.entries.lock().unwrap().len() <= 2);
    }
}
