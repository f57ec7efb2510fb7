//! Reading a cloud from clouds.yaml, where openstackclient looks for it.
//!
//! Two kinds of entry work: `auth_type: password` (the default; `auth_url`,
//! `username`, `password`, `project_name` and the domains), which logs in to
//! the gateway's Keystone and finds the admin API in the catalog (type
//! `tricircle`), and `auth_type: token_endpoint` (or `admin_token`) with
//! `auth.endpoint` and `auth.token`.

use std::path::PathBuf;

use serde::Deserialize;

use super::CliError;

#[derive(Debug)]
pub enum Cloud {
    Token { endpoint: Option<String>, token: Option<String> },
    Password { credentials: tricircle_pod_client::Credentials, region: Option<String> },
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
    region_name: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    endpoint: Option<String>,
    url: Option<String>,
    token: Option<String>,
    auth_url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    project_name: Option<String>,
    user_domain_name: Option<String>,
    project_domain_name: Option<String>,
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

/// A password cloud's credentials and region, for `pod add --from-cloud`.
pub fn load_password_cloud(
    name: &str,
    file: Option<&std::path::Path>,
) -> Result<(tricircle_pod_client::Credentials, Option<String>), CliError> {
    let paths = match file {
        Some(f) => vec![f.to_path_buf()],
        None => candidates(),
    };
    match load_from(name, &paths)? {
        Cloud::Password { credentials, region } => Ok((credentials, region)),
        Cloud::Token { .. } => Err(CliError::Usage(format!(
            "cloud {name} uses token auth; a pod needs password credentials"
        ))),
    }
}

pub fn load(name: &str) -> Result<Cloud, CliError> {
    load_from(name, &candidates())
}

fn load_from(name: &str, paths: &[PathBuf]) -> Result<Cloud, CliError> {
    for path in paths {
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        let file: CloudsFile = serde_yaml_ng::from_str(&text).map_err(|e| {
            CliError::Usage(format!("{}: not a valid clouds.yaml: {e}", path.display()))
        })?;
        let Some(entry) = file.clouds.get(name) else { continue };
        let a = &entry.auth;
        return match entry.auth_type.as_deref().unwrap_or("password") {
            "token_endpoint" | "admin_token" | "token" => Ok(Cloud::Token {
                endpoint: a.endpoint.clone().or_else(|| a.url.clone()),
                token: a.token.clone(),
            }),
            "password" | "v3password" => {
                let missing = |k: &str| {
                    CliError::Usage(format!(
                        "cloud {name} in {}: auth.{k} is missing",
                        path.display()
                    ))
                };
                Ok(Cloud::Password {
                    credentials: tricircle_pod_client::Credentials {
                        auth_url: a.auth_url.clone().ok_or_else(|| missing("auth_url"))?,
                        username: a.username.clone().ok_or_else(|| missing("username"))?,
                        password: a.password.clone().ok_or_else(|| missing("password"))?,
                        project_name: a
                            .project_name
                            .clone()
                            .ok_or_else(|| missing("project_name"))?,
                        user_domain_name: a
                            .user_domain_name
                            .clone()
                            .unwrap_or_else(|| "Default".into()),
                        project_domain_name: a
                            .project_domain_name
                            .clone()
                            .unwrap_or_else(|| "Default".into()),
                    },
                    region: entry.region_name.clone(),
                })
            }
            other => Err(CliError::Usage(format!(
                "cloud {name} in {} uses auth_type {other}; use password or token_endpoint",
                path.display()
            ))),
        };
    }
    Err(CliError::Usage(format!("cloud {name} is not in any clouds.yaml")))
}
