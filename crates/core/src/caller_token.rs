//! The caller's own token, for the length of one API request, so that calls
//! to a pod with `shared` identity can forward it (see [`crate::shared_identity`]).
//!
//! Why a task-local rather than a parameter: the token is needed where a pod
//! session is picked (`App::pod_project_session`), which dozens of domain
//! functions call without the request context, and which the job runner and
//! the periodic sync call with no request at all. The API layer opens a
//! scope around each request ([`scope`]) and its authenticator records the
//! validated token there ([`record`]); work outside a request (or in a task
//! spawned from one) finds none and uses the gateway's own account instead.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

/// A caller's token as the gateway validated it.
#[derive(Clone)]
pub struct CallerToken {
    pub token: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub expires_at: DateTime<Utc>,
}

// Never print the token itself.
impl std::fmt::Debug for CallerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerToken")
            .field("user_id", &self.user_id)
            .field("project_id", &self.project_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

tokio::task_local! {
    static CALLER: OnceLock<Arc<CallerToken>>;
}

/// Run `f` with room for one caller token (one API request).
pub async fn scope<F: Future>(f: F) -> F::Output {
    CALLER.scope(OnceLock::new(), f).await
}

/// Record the request's caller; ignored outside a [`scope`] and after the
/// first record of the scope.
pub fn record(token: CallerToken) {
    let _ = CALLER.try_with(|slot| slot.set(Arc::new(token)));
}

/// The caller of the current request, when there is one.
pub fn current() -> Option<Arc<CallerToken>> {
    CALLER.try_with(|slot| slot.get().cloned()).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(p: &str) -> CallerToken {
        CallerToken {
            token: "secret-token".into(),
            user_id: "u".into(),
            project_id: Some(p.into()),
            expires_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn only_inside_a_scope_and_only_the_first() {
        record(caller("outside"));
        assert!(current().is_none(), "no scope: nothing kept");
        scope(async {
            assert!(current().is_none());
            record(caller("p1"));
            record(caller("p2"));
            assert_eq!(current().unwrap().project_id.as_deref(), Some("p1"));
            // A task spawned from the request does not inherit it.
            let inner = tokio::spawn(async { current().is_none() }).await.unwrap();
            assert!(inner);
        })
        .await;
        assert!(current().is_none());
        assert!(!format!("{:?}", caller("p")).contains("secret-token"));
    }
}
