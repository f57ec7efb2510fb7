//! A short-lived cache of validated tokens, so that a request with a token
//! already validated costs no database round trip (validating one reads the
//! token, the user, the domains, the project and the roles: seven queries),
//! or, in external-Keystone mode, no call to that Keystone.
//!
//! Keyed by the token's SHA-256 (the form the database keeps). An entry
//! lives at most `ttl` and never past the token's own expiry. Whatever this
//! process changes in identity (revocation, users, projects, roles) drops
//! entries at once; a change made by another gateway replica on the same
//! database is seen within `ttl`, like keystonemiddleware's token cache.
//! A generation counter keeps a validation that raced with such a change
//! from caching what it read before it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tricircle_common::AuthContext;

pub struct TokenCache {
    ttl: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    entries: HashMap<String, Entry>,
}

struct Entry {
    auth: AuthContext,
    token_expires_at: DateTime<Utc>,
    until: Instant,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache keeping entries for `ttl` (zero disables it), at most
    /// `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize) -> TokenCache {
        TokenCache { ttl, capacity: capacity.max(1), inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Take before validating; hand to [`TokenCache::insert`] after.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The caller behind a token hash, when validated recently and not
    /// expired at `now`.
    pub fn get(&self, hash: &str, now: DateTime<Utc>) -> Option<AuthContext> {
        self.get_with_expiry(hash, now).map(|(auth, _)| auth)
    }

    /// Like [`TokenCache::get`], with the token's own expiry.
    pub fn get_with_expiry(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Option<(AuthContext, DateTime<Utc>)> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut inner = self.lock();
        match inner.entries.get(hash) {
            Some(e) if e.until > Instant::now() && e.token_expires_at > now => {
                Some((e.auth.clone(), e.token_expires_at))
            }
            Some(_) => {
                inner.entries.remove(hash);
                None
            }
            None => None,
        }
    }

    /// Remember a validation that started at `generation`; ignored when
    /// anything was invalidated since.
    pub fn insert(
        &self,
        hash: String,
        auth: AuthContext,
        token_expires_at: DateTime<Utc>,
        generation: u64,
    ) {
        if self.ttl.is_zero() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= self.capacity {
            let now = Instant::now();
            inner.entries.retain(|_, e| e.until > now);
            if inner.entries.len() >= self.capacity {
                inner.entries.clear();
            }
        }
        let until = Instant::now() + self.ttl;
        inner.entries.insert(hash, Entry { auth, token_expires_at, until });
    }

    /// Forget one token (it was revoked here).
    pub fn remove(&self, hash: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.remove(hash);
    }

    /// Forget every token (users, projects or roles changed here).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(user: &str) -> AuthContext {
        AuthContext {
            user_id: user.into(),
            user_name: user.into(),
            project_id: Some("p".into()),
            roles: vec!["member".into()],
        }
    }

    fn later(secs: i64) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(secs)
    }

    #[test]
    fn hit_until_ttl_or_token_expiry() {
        let c = TokenCache::new(Duration::from_millis(80), 10);
        let g = c.generation();
        c.insert("h1".into(), auth("u1"), later(3600), g);
        c.insert("h2".into(), auth("u2"), later(3600), g);
        assert_eq!(c.get("h1", Utc::now()).unwrap().user_id, "u1");
        assert!(c.get("h3", Utc::now()).is_none());
        // The token itself expires: no hit, and the entry goes.
        assert!(c.get("h2", later(7200)).is_none());
        assert_eq!(c.len(), 1);
        std::thread::sleep(Duration::from_millis(120));
        assert!(c.get("h1", Utc::now()).is_none(), "past the ttl");
        assert!(c.is_empty());
    }

    #[test]
    fn invalidation_wins_over_a_racing_validation() {
        let c = TokenCache::new(Duration::from_secs(60), 10);
        let g = c.generation();
        c.insert("h".into(), auth("u"), later(3600), g);
        c.remove("h");
        assert!(c.get("h", Utc::now()).is_none());
        // A validation that began before the removal must not re-add it.
        c.insert("h".into(), auth("u"), later(3600), g);
        assert!(c.get("h", Utc::now()).is_none());
        let g = c.generation();
        c.insert("h".into(), auth("u"), later(3600), g);
        c.insert("k".into(), auth("k"), later(3600), g);
        c.clear();
        assert!(c.is_empty());
        c.insert("h".into(), auth("u"), later(3600), g);
        assert!(c.is_empty(), "stale generation after clear");
    }

    #[test]
    fn disabled_and_bounded() {
        let off = TokenCache::new(Duration::ZERO, 10);
        off.insert("h".into(), auth("u"), later(3600), off.generation());
        assert!(off.get("h", Utc::now()).is_none() && off.is_empty());
        let c = TokenCache::new(Duration::from_secs(60), 2);
        for h in ["a", "b", "c"] {
            c.insert(h.into(), auth(h), later(3600), c.generation());
        }
        assert!(c.len() <= 2);
        assert!(c.get("c", Utc::now()).is_some(), "the newest entry is kept");
    }
}
