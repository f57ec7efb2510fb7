//! A region the scenario runs against: a real one from the harness's `clouds.yaml`, or a sim pod.
//!
//! Both are reached the same way (password login, catalog by region and interface) so that the
//! only thing that differs between the two runs is the region itself.

use std::time::Duration;

use tricircle_pod_client::{Credentials, PodSession, SessionConfig};

pub struct Target {
    /// `real` or `sim`, for messages.
    pub label: String,
    pub credentials: Credentials,
    pub region: String,
    /// All service calls except raw Keystone ones.
    pub session: PodSession,
    /// Raw Keystone calls (token issue, catalog), which must not go through a session.
    pub http: reqwest::Client,
    /// How long a poll may wait for a state (ACTIVE, available, gone).
    pub poll_timeout: Duration,
    /// Pause between two polls.
    pub poll_interval: Duration,
}

impl Target {
    pub fn new(label: &str, credentials: Credentials, region: &str) -> Result<Self, String> {
        let mut config = SessionConfig::new(credentials.clone(), region);
        config.timeout = Duration::from_secs(60);
        let session = PodSession::new(config).map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Target {
            label: label.into(),
            credentials,
            region: region.into(),
            session,
            http,
            poll_timeout: Duration::from_secs(90),
            poll_interval: Duration::from_millis(250),
        })
    }

    /// The cloud `cloud` of a `clouds.yaml` as written by `scripts/real-openstack up`.
    pub fn from_clouds_yaml(label: &str, path: &str, cloud: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        let c = &doc["clouds"][cloud];
        if c.is_null() {
            return Err(format!("{path} has no cloud {cloud:?}"));
        }
        let auth = &c["auth"];
        let field = |k: &str, default: Option<&str>| {
            auth[k]
                .as_str()
                .or(default)
                .map(str::to_string)
                .ok_or_else(|| format!("{path}: cloud {cloud} has no auth.{k}"))
        };
        let credentials = Credentials {
            auth_url: field("auth_url", None)?,
            username: field("username", None)?,
            password: field("password", None)?,
            project_name: field("project_name", None)?,
            user_domain_name: field("user_domain_name", Some("Default"))?,
            project_domain_name: field("project_domain_name", Some("Default"))?,
        };
        let region = c["region_name"].as_str().unwrap_or("RegionOne");
        Self::new(label, credentials, region)
    }

    /// Keystone's v3 URL without a trailing slash.
    pub fn identity_url(&self) -> String {
        self.credentials.auth_url.trim_end_matches('/').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_harness_clouds_yaml() {
        let dir = std::env::temp_dir().join(format!("fidelity-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("clouds.yaml");
        std::fs::write(
            &path,
            "clouds:\n  real:\n    auth:\n      auth_url: http://127.0.0.1:5000/v3\n      \
             username: admin\n      password: pw\n      project_name: admin\n    \
             region_name: RegionTwo\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let t = Target::from_clouds_yaml("real", p, "real").unwrap();
        assert_eq!(t.region, "RegionTwo");
        assert_eq!(t.credentials.user_domain_name, "Default");
        assert_eq!(t.identity_url(), "http://127.0.0.1:5000/v3");
        let err = Target::from_clouds_yaml("real", p, "nope").err().unwrap();
        assert!(err.contains("no cloud"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
