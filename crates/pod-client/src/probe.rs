//! An unauthenticated check that a pod's identity endpoint answers.

use std::time::{Duration, Instant};

use crate::error::{PodError, root_cause};

/// A client with a per-call deadline, for probes that need no token.
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

    pub fn timeout(&self) -> Duration {
        self.timeout
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
