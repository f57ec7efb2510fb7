//! The client for one bottom region ("pod"). It never sees top IDs: the
//! domain translates before calling it.
//!
//! Today it knows one thing, checking that a pod's identity endpoint
//! answers; authentication, catalog discovery, microversions and typed
//! service errors grow here with the gateway (DESIGN §3).

use std::time::{Duration, Instant};

/// Why a call to a pod failed. Messages describe the failure in our words
/// (status, timeout, refused) and never carry credentials.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("the pod did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot connect to the pod: {0}")]
    Connect(String),
    #[error("the pod answered HTTP {status}")]
    Status { status: u16 },
    #[error("the pod's answer is not an identity version document")]
    NotIdentity,
}

/// A client with a per-call deadline.
#[derive(Clone, Debug)]
pub struct PodClient {
    http: reqwest::Client,
    timeout: Duration,
}

impl PodClient {
    pub fn new(timeout: Duration) -> Result<Self, PodError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| PodError::Connect(e.to_string()))?;
        Ok(PodClient { http, timeout })
    }

    /// GET the identity endpoint (`.../v3` or its root) and check that it
    /// is a Keystone version document; returns the round-trip time.
    pub async fn probe_identity(&self, auth_url: &str) -> Result<Duration, PodError> {
        let started = Instant::now();
        let resp =
            self.http.get(auth_url).header("Accept", "application/json").send().await.map_err(
                |e| {
                    if e.is_timeout() {
                        PodError::Timeout(self.timeout)
                    } else {
                        PodError::Connect(root_cause(&e))
                    }
                },
            )?;
        let status = resp.status().as_u16();
        // Keystone answers 200 at /v3 and 300 (multiple choices) at its root.
        if !(status == 200 || status == 300) {
            return Err(PodError::Status { status });
        }
        let body: serde_json::Value = resp.json().await.map_err(|_| PodError::NotIdentity)?;
        if body.get("version").is_none() && body.get("versions").is_none() {
            return Err(PodError::NotIdentity);
        }
        Ok(started.elapsed())
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;

    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn probe_tells_identity_from_other_answers() {
        let base = serve(
            Router::new()
                .route(
                    "/v3",
                    get(|| async { axum::Json(serde_json::json!({"version": {"id": "v3.14"}})) }),
                )
                .route("/other", get(|| async { axum::Json(serde_json::json!({"hello": 1})) }))
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        "late"
                    }),
                ),
        )
        .await;
        let client = PodClient::new(Duration::from_millis(300)).unwrap();
        assert!(client.probe_identity(&format!("{base}/v3")).await.is_ok());
        assert!(matches!(
            client.probe_identity(&format!("{base}/other")).await,
            Err(PodError::NotIdentity)
        ));
        assert!(matches!(
            client.probe_identity(&format!("{base}/missing")).await,
            Err(PodError::Status { status: 404 })
        ));
        assert!(matches!(
            client.probe_identity(&format!("{base}/slow")).await,
            Err(PodError::Timeout(_))
        ));
        // A port nobody listens on.
        let closed =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        assert!(matches!(
            client.probe_identity(&format!("http://{closed}/v3")).await,
            Err(PodError::Connect(_))
        ));
    }
}
