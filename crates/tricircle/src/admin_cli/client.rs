//! A small client for the admin API: base URL, token, OpenStack error bodies.

use std::time::Duration;

use serde_json::Value;

use tricircle_pod_client::{Credentials, password_login};

use super::cloud::{self, Cloud};
use super::{CliError, ConnectArgs};

const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:19999";
const ADMIN_PREFIX: &str = "/admin/v1.0";

pub struct AdminClient {
    http: reqwest::Client,
    /// `http://host:port/admin/v1.0`
    base: String,
    token: String,
}

/// Percent-encode one path segment (IDs come from the user).
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl AdminClient {
    /// Find the gateway and a token: `--os-token`, else the cloud of
    /// `--os-cloud`, else a password login with `--os-auth-url` and friends,
    /// else the bootstrap token a local `tricircle serve` wrote.
    pub async fn from_args(args: &ConnectArgs) -> Result<Self, CliError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Connect(format!("cannot build an HTTP client: {e}")))?;
        let cloud = match (&args.os_token, &args.os_cloud, &args.os_auth_url) {
            (Some(_), _, _) => None,
            (None, Some(name), _) => Some(match cloud::load(name)? {
                // --os-region-name wins over the cloud's region_name, as in openstackclient.
                Cloud::Password { credentials, region } => {
                    Cloud::Password { credentials, region: args.os_region_name.clone().or(region) }
                }
                token => token,
            }),
            (None, None, Some(auth_url)) => {
                let need = |v: &Option<String>, flag: &str| {
                    v.clone().ok_or_else(|| CliError::Usage(format!("--os-auth-url needs {flag}")))
                };
                Some(Cloud::Password {
                    credentials: Credentials {
                        auth_url: auth_url.clone(),
                        username: need(&args.os_username, "--os-username")?,
                        password: need(&args.os_password, "--os-password")?,
                        project_name: need(&args.os_project_name, "--os-project-name")?,
                        user_domain_name: args.os_user_domain_name.clone(),
                        project_domain_name: args.os_project_domain_name.clone(),
                    },
                    region: args.os_region_name.clone(),
                })
            }
            (None, None, None) => None,
        };
        let (endpoint, token) = match cloud {
            None => (args.os_endpoint.clone(), args.os_token.clone()),
            Some(Cloud::Token { endpoint, token }) => {
                (args.os_endpoint.clone().or(endpoint), token)
            }
            Some(Cloud::Password { credentials, region }) => {
                let login = password_login(&http, &credentials).await.map_err(|e| {
                    CliError::Connect(format!("cannot log in at {}: {e}", credentials.auth_url))
                })?;
                let from_catalog = login
                    .catalog
                    .endpoint_of_type("tricircle", region.as_deref(), "public")
                    .map(str::to_string);
                let endpoint = args.os_endpoint.clone().or(from_catalog).ok_or_else(|| {
                    CliError::Usage(
                        "the catalog has no `tricircle` (admin API) endpoint; pass --os-endpoint"
                            .into(),
                    )
                })?;
                (Some(endpoint), Some(login.value))
            }
        };
        let endpoint = endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let token = match token {
            Some(t) => t,
            None => default_token()?,
        };
        let endpoint = endpoint.trim_end_matches('/');
        let base = if endpoint.ends_with(ADMIN_PREFIX) {
            endpoint.to_string()
        } else {
            format!("{endpoint}{ADMIN_PREFIX}")
        };
        Ok(AdminClient { http, base, token })
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CliError> {
        self.send(self.http.get(self.url(path)).query(query)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn put(&self, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let req = self.http.put(self.url(path));
        self.send(match body {
            Some(b) => req.json(b),
            None => req,
        })
        .await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.send(self.http.delete(self.url(path))).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, CliError> {
        let resp = req
            .header("X-Auth-Token", &self.token)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                CliError::Connect(format!(
                    "cannot reach the gateway at {}: {}",
                    self.base,
                    root_cause(&e)
                ))
            })?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| CliError::Connect(format!("the gateway's answer was cut off: {e}")))?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(CliError::Api { status, message: fault_message(&body) })
        }
    }
}

/// The message inside an OpenStack error body (`{"itemNotFound": {"message"}}`).
fn fault_message(body: &Value) -> String {
    body.as_object()
        .and_then(|o| o.values().next())
        .and_then(|f| f.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| match body {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The bootstrap token a local `tricircle serve` wrote, if any.
fn default_token() -> Result<String, CliError> {
    let dir = std::env::var("TRICIRCLE_DATA_DIR").unwrap_or_else(|_| "./.tricircle".into());
    let path = std::path::Path::new(&dir).join("admin-token");
    std::fs::read_to_string(&path).map(|t| t.trim().to_string()).map_err(|_| {
        CliError::Usage(format!(
            "no token: pass --os-token (or OS_TOKEN), --os-cloud, or run from the directory \
             where `tricircle serve` wrote {}",
            path.display()
        ))
    })
}
