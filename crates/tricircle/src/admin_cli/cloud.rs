//! Reading a cloud from clouds.yaml, where openstackclient looks for it.
//!
//! Until the identity service lands, the admin commands use token auth:
//! `auth_type: token_endpoint` (or `admin_token`) with `auth.endpoint` and
//! `auth.token`, as openstackclient's token-endpoint plugin does.

use std::path::PathBuf;

use serde::Deserialize;

use super::CliError;

#[derive(Debug, Default)]
pub struct Cloud {
    pub endpoint: Option<String>,
    pub token: Option<String>,
}

#[derive(Deserialize)]
struct CloudsFile {
    clouds: std::collections::BTreeMap<String, CloudEntry>,
}

#[derive(Deserialize)]
struct CloudEntry {
    auth_type: Option<String>,
    #[serde(default)]
    auth: AuthEntry,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    endpoint: Option<String>,
    url: Option<String>,
    token: Option<String>,
}

fn candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(p) = std::env::var("OS_CLIENT_CONFIG_FILE") {
        v.push(PathBuf::from(p));
    }
    v.push(PathBuf::from("clouds.yaml"));
    if let Ok(home) = std::env::var("HOME") {
        v.push(PathBuf::from(home).join(".config/openstack/clouds.yaml"));
    }
    v.push(PathBuf::from("/etc/openstack/clouds.yaml"));
    v
}

pub fn load(name: &str) -> Result<Cloud, CliError> {
    for path in candidates() {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let file: CloudsFile = serde_yaml_ng::from_str(&text).map_err(|e| {
            CliError::Usage(format!("{}: not a valid clouds.yaml: {e}", path.display()))
        })?;
        let Some(entry) = file.clouds.get(name) else { continue };
        let auth_type = entry.auth_type.as_deref().unwrap_or("password");
        if !matches!(auth_type, "token_endpoint" | "admin_token" | "token") {
            return Err(CliError::Usage(format!(
                "cloud {name} in {} uses auth_type {auth_type}; the admin commands accept \
                 token_endpoint (auth.endpoint and auth.token) until Keystone auth lands",
                path.display()
            )));
        }
        return Ok(Cloud {
            endpoint: entry.auth.endpoint.clone().or_else(|| entry.auth.url.clone()),
            token: entry.auth.token.clone(),
        });
    }
    Err(CliError::Usage(format!("cloud {name} is not in any clouds.yaml")))
}
