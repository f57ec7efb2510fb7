//! One async lock per key (a router's ID, say), so that reconciles of the
//! same object in this process take turns instead of racing each other to
//! make the same pod objects twice. Other replicas are kept out by the
//! database's locks layered on top (see `turns`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    /// Wait for the key's turn; the guard holds it.
    pub async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.entry(key).lock_owned().await
    }

    /// The key's turn if nobody in this process holds it now.
    pub fn try_lock(
        &self,
        key: &str,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>, tokio::sync::TryLockError> {
        self.entry(key).try_lock_owned()
    }

    /// Whether the key is held and someone waits behind its holder. Every
    /// holder (its guard) and waiter keeps a clone of the key's lock, as
    /// does the map and this call: four or more means a waiter.
    pub fn queued(&self, key: &str) -> bool {
        let lock = self.entry(key);
        Arc::strong_count(&lock) >= 4
    }

    fn entry(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // Drop the locks nobody holds or waits for, so the map stays small.
        if map.len() > 1024 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(key.to_string()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_behind_the_holder_is_seen() {
        let locks = Arc::new(KeyedLocks::default());
        assert!(!locks.queued("n1"), "free");
        let held = locks.lock("n1").await;
        assert!(!locks.queued("n1"), "held, nobody waits");
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move { drop(l2.lock("n1").await) });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(locks.queued("n1"), "a waiter");
        assert!(!locks.queued("n2"), "another key");
        drop(held);
        waiter.await.unwrap();
        assert!(!locks.queued("n1"), "free again");
    }

    #[tokio::test]
    async fn one_key_takes_turns_other_keys_do_not_wait() {
        let locks = Arc::new(KeyedLocks::default());
        let held = locks.lock("r1").await;
        // Another key is free.
        let _other = locks.lock("r2").await;
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move { l2.lock("r1").await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "r1 is held");
        drop(held);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("r1 is free again")
            .unwrap();
    }
}
