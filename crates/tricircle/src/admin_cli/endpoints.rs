//! `tricircle endpoints register|unregister|list`: the gateway's services in
//! an external Keystone's catalog, under the gateway's own region (external
//! identity mode, DESIGN §4). Clients authenticate at that Keystone and pick
//! the gateway with `--os-region-name REGION`, as in upstream Tricircle,
//! where the central region's endpoints are the gateway's.
//!
//! Talks to Keystone only (not to the gateway), with admin credentials from
//! `--os-cloud` or `--os-auth-url` and friends. Registering is idempotent:
//! an endpoint already there with another URL is updated. The identity
//! service in the gateway's region is Keystone itself (the gateway issues no
//! tokens in this mode), so `openstack --os-region-name REGION project list`
//! works too.

use std::time::Duration;

use clap::Subcommand;
use serde_json::{Value, json};
use tricircle_api::identity::GATEWAY_SERVICES;
use tricircle_pod_client::{Credentials, password_login};

use super::client::segment;
use super::output::print_list;
use super::{CliError, ConnectArgs, Format, cloud};

#[derive(Subcommand)]
pub enum EndpointsCommand {
    /// Register the gateway's endpoints (compute, volume, image, network,
    /// admin; identity pointing at Keystone itself) in REGION.
    Register {
        /// The gateway's region in Keystone (its `identity.region`).
        #[arg(long)]
        region: String,
        /// The URL clients reach the gateway at, e.g. http://gateway:19999.
        #[arg(long)]
        url: String,
        /// The identity URL to list in REGION (default: Keystone's public
        /// identity endpoint, else the auth URL logged in at).
        #[arg(long)]
        identity_url: Option<String>,
    },
    /// Remove every endpoint in REGION, the region, and the `tricircle`
    /// service when no endpoint is left to it.
    Unregister {
        #[arg(long)]
        region: String,
    },
    /// The endpoints in REGION.
    List {
        #[arg(long)]
        region: String,
    },
}

const INTERFACES: [&str; 3] = ["public", "internal", "admin"];
const COLUMNS: &[(&str, &str)] = &[
    ("service_type", "Service Type"),
    ("interface", "Interface"),
    ("url", "URL"),
    ("action", "Action"),
];

/// A logged-in admin at one Keystone.
struct Keystone {
    http: reqwest::Client,
    /// `.../v3`
    base: String,
    token: String,
    catalog: tricircle_pod_client::Catalog,
}

fn credentials(args: &ConnectArgs) -> Result<Credentials, CliError> {
    if let Some(name) = &args.os_cloud {
        return match cloud::load(name)? {
            cloud::Cloud::Password { credentials, .. } => Ok(credentials),
            cloud::Cloud::Token { .. } => Err(CliError::Usage(format!(
                "cloud {name} uses token auth; registering endpoints needs a password login at Keystone"
            ))),
        };
    }
    let auth_url = args.os_auth_url.clone().ok_or_else(|| {
        CliError::Usage("pass --os-cloud or --os-auth-url (an admin of the Keystone)".into())
    })?;
    let need = |v: &Option<String>, flag: &str| {
        v.clone().ok_or_else(|| CliError::Usage(format!("--os-auth-url needs {flag}")))
    };
    Ok(Credentials {
        auth_url,
        username: need(&args.os_username, "--os-username")?,
        password: need(&args.os_password, "--os-password")?,
        project_name: need(&args.os_project_name, "--os-project-name")?,
        user_domain_name: args.os_user_domain_name.clone(),
        project_domain_name: args.os_project_domain_name.clone(),
    })
}

impl Keystone {
    async fn login(args: &ConnectArgs) -> Result<Keystone, CliError> {
        let creds = credentials(args)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Connect(format!("cannot build an HTTP client: {e}")))?;
        let login = password_login(&http, &creds)
            .await
            .map_err(|e| CliError::Connect(format!("cannot log in at {}: {e}", creds.auth_url)))?;
        let base = creds.auth_url.trim_end_matches('/').to_string();
        let base = if base.ends_with("/v3") { base } else { format!("{base}/v3") };
        Ok(Keystone { http, base, token: login.value, catalog: login.catalog })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), CliError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Auth-Token", &self.token)
            .header("Accept", "application/json");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| {
            CliError::Connect(format!("cannot reach Keystone at {}: {e}", self.base))
        })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// Like `send`, but any status but 2xx is an error with Keystone's message.
    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let (status, value) = self.send(method, path, body).await?;
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let message = value["error"]["message"].as_str().unwrap_or("no message").to_string();
        Err(CliError::Api { status, message: format!("Keystone: {message}") })
    }

    async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.ok(reqwest::Method::GET, path, None).await
    }

    /// The ID of the service of `ty`, created (named `name`) when missing.
    async fn service_id(&self, ty: &str, name: &str) -> Result<String, CliError> {
        let found = self.get(&format!("/services?type={}", segment(ty))).await?;
        if let Some(id) = found["services"][0]["id"].as_str() {
            return Ok(id.to_string());
        }
        let body = json!({"service": {"type": ty, "name": name, "enabled": true}});
        let created = self.ok(reqwest::Method::POST, "/services", Some(body)).await?;
        created["service"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| CliError::Connect("Keystone created a service without an ID".into()))
    }

    async fn ensure_region(&self, region: &str) -> Result<(), CliError> {
        let (status, _) =
            self.send(reqwest::Method::GET, &format!("/regions/{}", segment(region)), None).await?;
        if status == 200 {
            return Ok(());
        }
        let body = json!({"region": {"id": region, "description": "Tricircle gateway"}});
        self.ok(reqwest::Method::POST, "/regions", Some(body)).await.map(|_| ())
    }

    /// Make the endpoints of `service_id` in `region` point at `url`.
    async fn put_endpoints(
        &self,
        service_id: &str,
        region: &str,
        url: &str,
    ) -> Result<Vec<(&'static str, &'static str)>, CliError> {
        let existing = self
            .get(&format!(
                "/endpoints?service_id={}&region_id={}",
                segment(service_id),
                segment(region)
            ))
            .await?;
        let existing = existing["endpoints"].as_array().cloned().unwrap_or_default();
        let mut done = Vec::new();
        for iface in INTERFACES {
            let found = existing.iter().find(|e| e["interface"] == iface);
            let action = match found {
                Some(e) if e["url"] == url => "unchanged",
                Some(e) => {
                    let id = e["id"].as_str().unwrap_or_default();
                    let body = json!({"endpoint": {"url": url}});
                    self.ok(
                        reqwest::Method::PATCH,
                        &format!("/endpoints/{}", segment(id)),
                        Some(body),
                    )
                    .await?;
                    "updated"
                }
                None => {
                    let body = json!({"endpoint": {
                        "service_id": service_id, "interface": iface, "region_id": region, "url": url, "enabled": true
                    }});
                    self.ok(reqwest::Method::POST, "/endpoints", Some(body)).await?;
                    "created"
                }
            };
            done.push((iface, action));
        }
        Ok(done)
    }

    /// Keystone's own public identity URL, as its catalog lists it.
    fn identity_url(&self) -> String {
        self.catalog
            .endpoint_of_type("identity", None, "public")
            .map(str::to_string)
            .unwrap_or_else(|| self.base.clone())
    }
}

fn row(ty: &str, iface: &str, url: &str, action: &str) -> Value {
    json!({"service_type": ty, "interface": iface, "url": url, "action": action})
}

pub async fn run(connect: ConnectArgs, command: EndpointsCommand) -> std::process::ExitCode {
    let format = connect.format;
    let result = async {
        let ks = Keystone::login(&connect).await?;
        match command {
            EndpointsCommand::Register { region, url, identity_url } => {
                register(&ks, format, &region, &url, identity_url).await
            }
            EndpointsCommand::Unregister { region } => unregister(&ks, format, &region).await,
            EndpointsCommand::List { region } => list(&ks, format, &region).await,
        }
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}

async fn register(
    ks: &Keystone,
    format: Format,
    region: &str,
    url: &str,
    identity_url: Option<String>,
) -> Result<(), CliError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(CliError::Usage(format!("--url {url}: must start with http:// or https://")));
    }
    let base = url.trim_end_matches('/');
    ks.ensure_region(region).await?;
    let mut rows = Vec::new();
    for (ty, name, path) in GATEWAY_SERVICES {
        let target = if *ty == "identity" {
            identity_url.clone().unwrap_or_else(|| ks.identity_url())
        } else {
            format!("{base}{path}")
        };
        let service_id = ks.service_id(ty, name).await?;
        for (iface, action) in ks.put_endpoints(&service_id, region, &target).await? {
            rows.push(row(ty, iface, &target, action));
        }
    }
    print_list(format, &Value::Array(rows), COLUMNS)
}

async fn unregister(ks: &Keystone, format: Format, region: &str) -> Result<(), CliError> {
    let endpoints = ks.get(&format!("/endpoints?region_id={}", segment(region))).await?;
    let types = service_types(ks).await?;
    let mut rows = Vec::new();
    for e in endpoints["endpoints"].as_array().cloned().unwrap_or_default() {
        let id = e["id"].as_str().unwrap_or_default();
        ks.ok(reqwest::Method::DELETE, &format!("/endpoints/{}", segment(id)), None).await?;
        let ty =
            types.get(e["service_id"].as_str().unwrap_or_default()).cloned().unwrap_or_default();
        rows.push(row(
            &ty,
            e["interface"].as_str().unwrap_or_default(),
            e["url"].as_str().unwrap_or_default(),
            "deleted",
        ));
    }
    let (status, _) =
        ks.send(reqwest::Method::DELETE, &format!("/regions/{}", segment(region)), None).await?;
    if !(status == 204 || status == 404) {
        return Err(CliError::Api {
            status,
            message: format!("Keystone did not delete region {region}"),
        });
    }
    // The admin service type exists only because of the gateway.
    let services = ks.get("/services?type=tricircle").await?;
    for s in services["services"].as_array().cloned().unwrap_or_default() {
        let id = s["id"].as_str().unwrap_or_default();
        let left = ks.get(&format!("/endpoints?service_id={}", segment(id))).await?;
        if left["endpoints"].as_array().is_none_or(Vec::is_empty) {
            ks.ok(reqwest::Method::DELETE, &format!("/services/{}", segment(id)), None).await?;
        }
    }
    print_list(format, &Value::Array(rows), COLUMNS)
}

async fn list(ks: &Keystone, format: Format, region: &str) -> Result<(), CliError> {
    let endpoints = ks.get(&format!("/endpoints?region_id={}", segment(region))).await?;
    let types = service_types(ks).await?;
    let rows: Vec<Value> = endpoints["endpoints"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let ty = types
                .get(e["service_id"].as_str().unwrap_or_default())
                .cloned()
                .unwrap_or_default();
            row(
                &ty,
                e["interface"].as_str().unwrap_or_default(),
                e["url"].as_str().unwrap_or_default(),
                "",
            )
        })
        .collect();
    print_list(format, &Value::Array(rows), COLUMNS)
}

/// Service ID → type.
async fn service_types(
    ks: &Keystone,
) -> Result<std::collections::HashMap<String, String>, CliError> {
    let services = ks.get("/services").await?;
    Ok(services["services"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| Some((s["id"].as_str()?.to_string(), s["type"].as_str()?.to_string())))
        .collect())
}
