//! Turns: work on one object (a router's reconcile, the periodic pass) that
//! must not run twice at once, in this process or in another replica on the
//! same database.
//!
//! A turn is an in-process lock (so local waiters queue without asking the
//! database) plus a named lock in the database with a lease, renewed every
//! third of it while the turn is held and released when it ends. A holder
//! that dies loses the lock when its lease runs out; one that cannot renew
//! (the database is away) keeps working, as the job runner does.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tricircle_common::{Error, Result};
use tricircle_store::{Store, now};

use crate::App;

/// How often a waiter asks the database again.
const POLL: Duration = Duration::from_millis(50);

/// A held turn; dropping it lets the next holder in.
pub struct Turn {
    _local: tokio::sync::OwnedMutexGuard<()>,
    name: String,
    owner: String,
    store: Store,
    renewing: CancellationToken,
    /// The renewal task: awaited before the release, so a renewal in flight
    /// cannot write the lock back after it was released.
    renewer: Option<tokio::task::JoinHandle<()>>,
    /// Released already (by [`Turn::release`]): nothing left for Drop.
    released: bool,
}

impl Turn {
    /// Let the next holder in now (dropping releases in the background).
    pub async fn release(mut self) {
        self.renewing.cancel();
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.await;
        }
        if let Err(e) = self.store.lock_release(&self.name, &self.owner).await {
            tracing::debug!(lock = %self.name, error = %e, "lock not released; its lease ends it");
        }
        self.released = true;
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.renewing.cancel();
        if self.released {
            return;
        }
        let (store, name, owner) = (self.store.clone(), self.name.clone(), self.owner.clone());
        let renewer = self.renewer.take();
        // Released in the background: a drop cannot wait; the lease bounds it anyway.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Some(renewer) = renewer {
                    let _ = renewer.await;
                }
                if let Err(e) = store.lock_release(&name, &owner).await {
                    tracing::debug!(lock = %name, error = %e, "lock not released; its lease ends it");
                }
            });
        }
    }
}

/// When a lease of `lease` taken now ends.
pub(crate) fn lease_end(lease: Duration) -> chrono::DateTime<chrono::Utc> {
    now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX)
}

impl App {
    /// Wait for the turn of `name`, at most twice the job lease (a holder
    /// that died lets go within one lease).
    pub async fn turn(&self, name: &str) -> Result<Turn> {
        let lease = self.settings.job_lease;
        let deadline = tokio::time::Instant::now() + lease * 2;
        let busy = || {
            Error::unavailable(
                "Another gateway replica has been working on this object for too long; retry later.",
                format!("lock {name} still held after {:?}", lease * 2),
            )
        };
        let local = tokio::time::timeout_at(deadline, self.reconciles.lock(name))
            .await
            .map_err(|_| busy())?;
        let holder = self.claim_holder();
        loop {
            if self.store.lock_acquire(name, &holder, now(), lease_end(lease)).await? {
                return Ok(self.held(local, name, holder));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(busy());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The turn of `name` if nobody holds it now (a periodic pass that
    /// another replica is already doing is skipped, not queued).
    pub async fn try_turn(&self, name: &str) -> Result<Option<Turn>> {
        let Ok(local) = self.reconciles.try_lock(name) else { return Ok(None) };
        let lease = self.settings.job_lease;
        let holder = self.claim_holder();
        if self.store.lock_acquire(name, &holder, now(), lease_end(lease)).await? {
            Ok(Some(self.held(local, name, holder)))
        } else {
            Ok(None)
        }
    }

    fn held(&self, local: tokio::sync::OwnedMutexGuard<()>, name: &str, holder: String) -> Turn {
        let renewing = CancellationToken::new();
        let (store, lock, owner, stop) =
            (self.store.clone(), name.to_string(), holder.clone(), renewing.clone());
        let lease = self.settings.job_lease;
        let renewer = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(lease / 3) => {}
                }
                match store.lock_acquire(&lock, &owner, now(), lease_end(lease)).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(lock = %lock, "lost a lock while holding it (its lease ran out)");
                        break;
                    }
                    Err(e) => tracing::warn!(lock = %lock, error = %e, "cannot renew a lock"),
                }
            }
        });
        Turn {
            _local: local,
            name: name.to_string(),
            owner: holder,
            store: self.store.clone(),
            renewing,
            renewer: Some(renewer),
            released: false,
        }
    }
}
