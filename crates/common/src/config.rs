//! The typed configuration of `tricircle serve`.
//!
//! One TOML file (every key optional; `tricircle serve` with no file runs on
//! the defaults below), then environment overrides named after the key path:
//! `TRICIRCLE__DATABASE__URL` sets `database.url`, `TRICIRCLE__LISTEN` sets
//! `listen`. The double underscore keeps unrelated `TRICIRCLE_*` variables
//! (such as `TRICIRCLE_TEST_PG`) out of the configuration.
//!
//! Every error names the key (and the file or variable it came from) in one
//! line, so the binary can print it and exit with status 2.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// Prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "TRICIRCLE__";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the one listener (all APIs share it, DESIGN §4).
    pub listen: SocketAddr,
    /// Where the embedded database, the secret key and the generated
    /// bootstrap token live unless configured elsewhere.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub pods: PodsConfig,
    pub api: ApiConfig,
    pub auth: AuthConfig,
    pub identity: IdentityConfig,
    pub networking: NetworkingConfig,
    pub jobs: JobsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 19999)),
            data_dir: PathBuf::from("./.tricircle"),
            database: DatabaseConfig::default(),
            log: LogConfig::default(),
            pods: PodsConfig::default(),
            api: ApiConfig::default(),
            auth: AuthConfig::default(),
            identity: IdentityConfig::default(),
            networking: NetworkingConfig::default(),
            jobs: JobsConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`. Default: SQLite in
    /// `data_dir/tricircle.db`.
    pub url: Option<String>,
    #[serde(deserialize_with = "number_or_string")]
    pub max_connections: u32,
    /// How long a request waits for a database connection before it gets 503.
    #[serde(deserialize_with = "number_or_string")]
    pub acquire_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: None, max_connections: 8, acquire_timeout_secs: 5 }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event, for a terminal.
    #[default]
    Human,
    /// One JSON object per event, for a log collector.
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,tricircle_store=debug`;
    /// `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Human, filter: "info".into() }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PodsConfig {
    /// Deadline of one call to a pod.
    #[serde(deserialize_with = "number_or_string")]
    pub request_timeout_secs: u64,
    /// How often every cached resource summary is refreshed from its pod
    /// (0 turns the periodic refresh off; reads refresh anyway).
    #[serde(deserialize_with = "number_or_string")]
    pub sync_interval_secs: u64,
}

impl Default for PodsConfig {
    fn default() -> Self {
        PodsConfig { request_timeout_secs: 30, sync_interval_secs: 60 }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The largest page any list returns; a larger `limit` is clamped to it
    /// (Nova's `max_limit`, upstream Tricircle's `pagination_max_limit`).
    #[serde(deserialize_with = "number_or_string")]
    pub pagination_max_limit: u32,
    /// Request bodies larger than this get 413.
    #[serde(deserialize_with = "number_or_string")]
    pub max_body_bytes: usize,
    /// The URL clients reach the gateway at (behind a proxy or NAT), used in
    /// links and catalogs. Default: `http://` plus the request's Host header.
    pub public_url: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { pagination_max_limit: 1000, max_body_bytes: 1024 * 1024, public_url: None }
    }
}

/// The job engine (DESIGN §5): leases, retries and how long finished jobs
/// are kept.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// How long a claimed job is leased (renewed every third of it while it
    /// runs): a replica that dies holds its jobs at most this long before
    /// another takes them over.
    #[serde(deserialize_with = "number_or_string")]
    pub lease_secs: u64,
    /// How long finished jobs (SUCCESS, FAIL) and their attempts are kept.
    #[serde(deserialize_with = "number_or_string")]
    pub retention_secs: u64,
    /// After this many attempts a job that keeps failing is FAIL for good.
    #[serde(deserialize_with = "number_or_string")]
    pub max_attempts: i64,
    /// How often an idle runner looks for due jobs, in milliseconds.
    #[serde(deserialize_with = "number_or_string")]
    pub poll_interval_ms: u64,
    /// How many jobs one process's runner works on at a time.
    #[serde(deserialize_with = "number_or_string")]
    pub workers: usize,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            lease_secs: 60,
            retention_secs: 7 * 24 * 3600,
            max_attempts: 8,
            poll_interval_ms: 1000,
            workers: 4,
        }
    }
}

/// The top Neutron's central allocations (DESIGN §4 "Network").
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkingConfig {
    /// The VXLAN IDs tenant networks get, `FIRST:LAST` (inclusive), as
    /// Neutron's `vni_ranges`: keep it away from the ranges the pods hand
    /// out for their own networks.
    pub vni_range: String,
    /// The addresses of the per-project bridge networks that join a router's
    /// copies in several regions; router interfaces on subnets that overlap
    /// it are refused.
    pub bridge_cidr: String,
}

impl Default for NetworkingConfig {
    fn default() -> Self {
        NetworkingConfig { vni_range: "100000:199999".into(), bridge_cidr: "100.64.0.0/16".into() }
    }
}

impl NetworkingConfig {
    /// `vni_range` as (first, last).
    pub fn vni_bounds(&self) -> Result<(i64, i64), String> {
        let (a, b) = self
            .vni_range
            .split_once(':')
            .ok_or_else(|| format!("'{}' is not FIRST:LAST", self.vni_range))?;
        let parse = |s: &str| {
            s.trim()
                .parse::<i64>()
                .ok()
                .filter(|v| (1..(1 << 24)).contains(v))
                .ok_or_else(|| format!("'{s}' is not a VXLAN ID (1 to 16777215)"))
        };
        let (first, last) = (parse(a)?, parse(b)?);
        if first > last {
            return Err(format!("{first} is above {last}"));
        }
        Ok((first, last))
    }

    /// `bridge_cidr` as an IPv4 network with room for a few hundred routers.
    pub fn bridge_net(&self) -> Result<ipnet::Ipv4Net, String> {
        let net: ipnet::Ipv4Net = self
            .bridge_cidr
            .parse()
            .map_err(|_| format!("'{}' is not an IPv4 CIDR", self.bridge_cidr))?;
        if net.prefix_len() > 24 {
            return Err(format!("{net} is too small: use a /24 or larger"));
        }
        Ok(net.trunc())
    }
}

/// Who issues the tokens the gateway accepts (DESIGN §4 "Identity").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityMode {
    /// The gateway is the Keystone (`/identity`), with its own users.
    #[default]
    Embedded,
    /// An existing Keystone issues tokens; the gateway validates them there.
    External,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    pub mode: IdentityMode,
    /// The top region's name: in the catalogs of the gateway's tokens, or
    /// (external mode) the region the gateway's endpoints are registered
    /// under in the external Keystone.
    pub region: String,
    /// Lifetime of a token.
    #[serde(deserialize_with = "number_or_string")]
    pub token_ttl_secs: u64,
    /// Password of the bootstrap `admin` user, set when that user is first
    /// created. When neither this nor `admin_password_file` exists, one is
    /// generated into `data_dir/admin-password` (mode 0600).
    pub admin_password: Option<String>,
    pub admin_password_file: Option<PathBuf>,
    /// The external Keystone (used when `mode = "external"`).
    pub external: ExternalIdentityConfig,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            mode: IdentityMode::Embedded,
            region: "RegionOne".into(),
            token_ttl_secs: 3600,
            admin_password: None,
            admin_password_file: None,
            external: ExternalIdentityConfig::default(),
        }
    }
}

/// The external Keystone, and the gateway's own account there (it
/// validates callers' tokens with that account's token; the account needs
/// the `service` or `admin` role, like keystonemiddleware's).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalIdentityConfig {
    /// Keystone v3, e.g. `http://keystone:5000/v3`.
    pub auth_url: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// How long a validated token is remembered; a token revoked in
    /// Keystone keeps working here at most this long (0: ask every time).
    #[serde(deserialize_with = "number_or_string")]
    pub token_cache_secs: u64,
}

impl Default for ExternalIdentityConfig {
    fn default() -> Self {
        ExternalIdentityConfig {
            auth_url: None,
            username: None,
            password: None,
            project_name: "service".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            token_cache_secs: 10,
        }
    }
}

/// A configured secret: `Debug` never shows it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A fixed admin token for the admin API until Keystone tokens are used.
    /// When neither this nor `bootstrap_token_file` exists, `serve` generates
    /// one into `data_dir/admin-token` (mode 0600).
    pub bootstrap_token: Option<String>,
    pub bootstrap_token_file: Option<PathBuf>,
    /// The key that seals pod credentials in the database. Default:
    /// `data_dir/secret.key`, generated when missing.
    pub secret_key_file: Option<PathBuf>,
    /// Whether the admin API accepts the bootstrap token besides Keystone
    /// tokens with the admin role.
    pub accept_bootstrap_token: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            bootstrap_token: None,
            bootstrap_token_file: None,
            secret_key_file: None,
            accept_bootstrap_token: true,
        }
    }
}

impl Config {
    /// Load from an optional file and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(path, std::env::vars())
    }

    /// Load from an optional file and the given environment (for tests).
    pub fn load_from(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let source = match path {
            Some(p) => Source::File(p.to_path_buf()),
            None => Source::Defaults,
        };
        let mut table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::new(&source, None, format!("cannot read: {e}")))?;
                parse_toml(&text, &source)?
            }
            None => toml::Table::new(),
        };
        let overrides = apply_env(&mut table, env)?;
        let mut tracked = serde_path_to_error::Track::new();
        let de = serde_path_to_error::Deserializer::new(toml::Value::Table(table), &mut tracked);
        let config: Config = Config::deserialize(de).map_err(|e| {
            let key = tracked.path().to_string();
            let from = overrides
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, var)| Source::Env(var.clone()))
                .unwrap_or(source.clone());
            // toml's own deserializer appends the path; we print it first instead.
            let detail = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
            let detail =
                detail.strip_suffix(&format!(" in `{key}`")).unwrap_or(&detail).to_string();
            ConfigError::new(&from, Some(key), detail)
        })?;
        config.validate().map_err(|(key, msg)| {
            let from = overrides
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, var)| Source::Env(var.clone()))
                .unwrap_or(source.clone());
            ConfigError::new(&from, Some(key.to_string()), msg)
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.database.max_connections == 0 {
            return Err(("database.max_connections", "must be at least 1".into()));
        }
        if self.database.acquire_timeout_secs == 0 {
            return Err(("database.acquire_timeout_secs", "must be at least 1".into()));
        }
        if self.pods.request_timeout_secs == 0 {
            return Err(("pods.request_timeout_secs", "must be at least 1".into()));
        }
        if self.api.pagination_max_limit == 0 {
            return Err(("api.pagination_max_limit", "must be at least 1".into()));
        }
        if self.api.max_body_bytes < 1024 {
            return Err(("api.max_body_bytes", "must be at least 1024".into()));
        }
        if let Some(url) = &self.database.url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return Err((
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://".into(),
            ));
        }
        if let Some(url) = &self.api.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(("api.public_url", "must start with http:// or https://".into()));
        }
        if let Err(e) = self.networking.vni_bounds() {
            return Err(("networking.vni_range", e));
        }
        if let Err(e) = self.networking.bridge_net() {
            return Err(("networking.bridge_cidr", e));
        }
        if self.jobs.lease_secs < 3 {
            return Err(("jobs.lease_secs", "must be at least 3".into()));
        }
        if self.jobs.max_attempts < 1 {
            return Err(("jobs.max_attempts", "must be at least 1".into()));
        }
        if self.jobs.workers == 0 || self.jobs.workers > 256 {
            return Err(("jobs.workers", "must be between 1 and 256".into()));
        }
        if self.jobs.poll_interval_ms < 10 {
            return Err(("jobs.poll_interval_ms", "must be at least 10".into()));
        }
        if self.identity.token_ttl_secs < 60 {
            return Err(("identity.token_ttl_secs", "must be at least 60".into()));
        }
        if self.identity.region.trim().is_empty() {
            return Err(("identity.region", "must not be empty".into()));
        }
        if matches!(&self.identity.admin_password, Some(p) if p.is_empty()) {
            return Err(("identity.admin_password", "must not be empty".into()));
        }
        if matches!(&self.auth.bootstrap_token, Some(t) if t.trim().is_empty()) {
            return Err(("auth.bootstrap_token", "must not be empty".into()));
        }
        if self.identity.mode == IdentityMode::External {
            self.validate_external()?;
        }
        Ok(())
    }

    fn validate_external(&self) -> Result<(), (&'static str, String)> {
        let ext = &self.identity.external;
        let required = "is required when identity.mode is \"external\"";
        match ext.auth_url.as_deref().map(str::trim) {
            None | Some("") => return Err(("identity.external.auth_url", required.into())),
            Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                return Err((
                    "identity.external.auth_url",
                    "must start with http:// or https://".into(),
                ));
            }
            Some(_) => {}
        }
        if ext.username.as_deref().is_none_or(|u| u.trim().is_empty()) {
            return Err(("identity.external.username", required.into()));
        }
        if ext.password.as_ref().is_none_or(|p| p.0.is_empty()) {
            return Err(("identity.external.password", required.into()));
        }
        for (key, v) in [
            ("identity.external.project_name", &ext.project_name),
            ("identity.external.user_domain_name", &ext.user_domain_name),
            ("identity.external.project_domain_name", &ext.project_domain_name),
        ] {
            if v.trim().is_empty() {
                return Err((key, "must not be empty".into()));
            }
        }
        Ok(())
    }

    /// The database URL, defaulting to SQLite under `data_dir`.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("tricircle.db").display()),
        }
    }

    pub fn secret_key_file(&self) -> PathBuf {
        self.auth.secret_key_file.clone().unwrap_or_else(|| self.data_dir.join("secret.key"))
    }

    pub fn admin_password_file(&self) -> PathBuf {
        self.identity
            .admin_password_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("admin-password"))
    }

    pub fn bootstrap_token_file(&self) -> PathBuf {
        self.auth.bootstrap_token_file.clone().unwrap_or_else(|| self.data_dir.join("admin-token"))
    }
}

/// Where a configuration value came from, for error messages.
#[derive(Clone, Debug)]
enum Source {
    Defaults,
    File(PathBuf),
    Env(String),
}

/// A configuration error, rendered as one line that names the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub message: String,
}

impl ConfigError {
    fn new(source: &Source, key: Option<String>, detail: impl fmt::Display) -> Self {
        let origin = match source {
            Source::Defaults => "configuration".to_string(),
            Source::File(p) => format!("config file {}", p.display()),
            Source::Env(var) => format!("environment variable {var}"),
        };
        // Multi-line messages from parsers are folded so the error stays one line.
        let detail = detail.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        let message = match key {
            Some(k) if !k.is_empty() && k != "." => format!("{origin}: key `{k}`: {detail}"),
            _ => format!("{origin}: {detail}"),
        };
        ConfigError { message }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

fn parse_toml(text: &str, source: &Source) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| {
        let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        let detail = match line {
            Some(l) => format!("line {l}: {}", e.message()),
            None => e.message().to_string(),
        };
        ConfigError::new(source, None, detail)
    })
}

/// Apply `TRICIRCLE__A__B=value` as `a.b = "value"`; returns the keys set and
/// the variable that set each. Values are strings; numeric keys accept them.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut applied = Vec::new();
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else { continue };
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::new(
                &Source::Env(var.clone()),
                None,
                "malformed name: use TRICIRCLE__SECTION__KEY",
            ));
        }
        let mut node = &mut *table;
        for section in &path[..path.len() - 1] {
            let entry = node
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            node = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::new(
                        &Source::Env(var.clone()),
                        Some(section.clone()),
                        "is not a section",
                    ));
                }
            };
        }
        node.insert(path[path.len() - 1].clone(), toml::Value::String(value));
        applied.push((path.join("."), var));
    }
    Ok(applied)
}

/// Accept a number either natively (`limit = 5`) or as a string
/// (`TRICIRCLE__API__PAGINATION_MAX_LIMIT=5`).
fn number_or_string<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + TryFrom<i64>,
    <T as FromStr>::Err: fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Str(String),
    }
    match Raw::deserialize(de)? {
        Raw::Int(i) => {
            T::try_from(i).map_err(|_| serde::de::Error::custom(format!("{i} is out of range")))
        }
        Raw::Str(s) => s
            .trim()
            .parse::<T>()
            .map_err(|e| serde::de::Error::custom(format!("'{s}' is not a valid number: {e}"))),
    }
}

#[cfg(test)]
mod tests;
