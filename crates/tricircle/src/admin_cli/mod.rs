//! The admin commands: `pod`, `routing`, `job` and `audit` against a running gateway's
//! admin API, and `endpoints` against an external Keystone, printing a table
//! by default or JSON with `-f json`.
//!
//! Exit status: 0 on success, 1 when the gateway refuses the request or
//! cannot be reached (its message is printed), 2 for bad usage or
//! configuration.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

pub mod audit;
mod client;
mod cloud;
pub mod endpoints;
mod output;
pub mod trace;

pub use client::AdminClient;
use output::{print_list, print_object};

/// How to reach the gateway, the way openstackclient finds a cloud.
#[derive(Args, Clone, Debug)]
#[command(next_help_heading = "Reaching the gateway (pod, routing, job, audit, endpoints, trace)")]
pub struct ConnectArgs {
    /// A cloud in clouds.yaml (OS_CLIENT_CONFIG_FILE, ./clouds.yaml,
    /// ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml).
    #[arg(long, env = "OS_CLOUD", global = true)]
    pub os_cloud: Option<String>,
    /// The gateway's URL (default http://127.0.0.1:19999).
    #[arg(long, env = "OS_ENDPOINT", global = true)]
    pub os_endpoint: Option<String>,
    /// An admin token (default: the bootstrap token in ./.tricircle/admin-token).
    #[arg(long, env = "OS_TOKEN", global = true, hide_env_values = true)]
    pub os_token: Option<String>,
    /// Log in with a password at this Keystone v3 URL (the gateway's
    /// /identity/v3) instead of using a token.
    #[arg(long, env = "OS_AUTH_URL", global = true)]
    pub os_auth_url: Option<String>,
    #[arg(long, env = "OS_USERNAME", global = true)]
    pub os_username: Option<String>,
    #[arg(long, env = "OS_PASSWORD", global = true, hide_env_values = true)]
    pub os_password: Option<String>,
    #[arg(long, env = "OS_PROJECT_NAME", global = true)]
    pub os_project_name: Option<String>,
    #[arg(long, env = "OS_USER_DOMAIN_NAME", global = true, default_value = "Default")]
    pub os_user_domain_name: String,
    #[arg(long, env = "OS_PROJECT_DOMAIN_NAME", global = true, default_value = "Default")]
    pub os_project_domain_name: String,
    #[arg(long, env = "OS_REGION_NAME", global = true)]
    pub os_region_name: Option<String>,
    /// Output format.
    #[arg(short = 'f', long = "format", value_enum, default_value_t = Format::Table, global = true)]
    pub format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
pub enum PodCommand {
    /// Register a pod (a region); without --az it is the top region.
    Add(Box<PodAddArgs>),
    /// List pods.
    List,
    /// Show a pod.
    Show { pod_id: String },
    /// Delete a pod (refused while resources are routed to it).
    Delete { pod_id: String },
}

#[derive(Args)]
pub struct PodAddArgs {
    /// The pod's region name (default with --from-cloud: the cloud's region_name).
    #[arg(long, required_unless_present = "from_cloud")]
    region: Option<String>,
    /// Take auth URL, credentials and region from this cloud of a clouds.yaml
    /// (such as `real` from scripts/real-openstack).
    #[arg(long)]
    from_cloud: Option<String>,
    /// The clouds.yaml to read --from-cloud from (default: where openstackclient looks).
    #[arg(long, requires = "from_cloud")]
    clouds_file: Option<std::path::PathBuf>,
    /// The availability zone this pod serves.
    #[arg(long)]
    az: Option<String>,
    /// The AZ to use inside the pod when creating there.
    #[arg(long)]
    pod_az: Option<String>,
    #[arg(long)]
    dc: Option<String>,
    /// The pod's Keystone v3 URL.
    #[arg(long)]
    auth_url: Option<String>,
    #[arg(long)]
    username: Option<String>,
    #[arg(long, env = "TRICIRCLE_POD_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[arg(long)]
    project_name: Option<String>,
    #[arg(long, default_value = "Default")]
    user_domain_name: String,
    #[arg(long, default_value = "Default")]
    project_domain_name: String,
    /// `shared` (forward user tokens) or `mapped` (gateway credentials).
    #[arg(long, value_parser = ["shared", "mapped"])]
    identity: Option<String>,
    /// Override one catalog endpoint, as TYPE=URL (repeatable).
    #[arg(long = "endpoint", value_name = "TYPE=URL")]
    endpoints: Vec<String>,
}

#[derive(Subcommand)]
pub enum RoutingCommand {
    /// List routings, newest first.
    List {
        #[arg(long)]
        resource_type: Option<String>,
        /// Only routings in this pod.
        #[arg(long)]
        pod: Option<String>,
        #[arg(long)]
        top_id: Option<String>,
        #[arg(long)]
        bottom_id: Option<String>,
        #[arg(long)]
        project_id: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
        #[arg(long)]
        marker: Option<i64>,
    },
    /// Show a routing.
    Show { id: String },
    /// Delete a routing (the bottom resource is left alone).
    Delete { id: String },
}

#[derive(Subcommand)]
pub enum JobCommand {
    /// List jobs, newest first.
    List {
        /// new, running, success or fail.
        #[arg(long)]
        status: Option<String>,
        #[arg(long = "type")]
        job_type: Option<String>,
        #[arg(long)]
        project_id: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
        #[arg(long)]
        marker: Option<String>,
    },
    /// Show a job.
    Show { id: String },
    /// Run a new or failed job again now.
    Redo { id: String },
    /// Delete a job that is not running.
    Delete { id: String },
    /// Who ran a job when: every attempt, oldest first.
    Attempts { id: String },
    /// The job types and their resource fields.
    Schemas,
}

const POD_COLUMNS: &[(&str, &str)] = &[
    ("pod_id", "ID"),
    ("region_name", "Region"),
    ("az_name", "AZ"),
    ("pod_az_name", "Pod AZ"),
    ("dc_name", "DC"),
    ("identity", "Identity"),
    ("auth_url", "Auth URL"),
    ("health.status", "Health"),
    ("health.error_rate", "Error rate"),
];
const ROUTING_COLUMNS: &[(&str, &str)] = &[
    ("id", "ID"),
    ("top_id", "Top ID"),
    ("bottom_id", "Bottom ID"),
    ("pod_id", "Pod"),
    ("project_id", "Project"),
    ("resource_type", "Type"),
];
const JOB_COLUMNS: &[(&str, &str)] = &[
    ("id", "ID"),
    ("project_id", "Project"),
    ("status", "Status"),
    ("timestamp", "Timestamp"),
    ("type", "Type"),
];

/// Run one admin command; errors print one line and map to exit status.
async fn run(
    connect: ConnectArgs,
    f: impl AsyncFnOnce(&AdminClient, Format) -> Result<(), CliError>,
) -> ExitCode {
    let client = match AdminClient::from_args(&connect).await {
        Ok(c) => c,
        Err(e) => return e.report(),
    };
    match f(&client, connect.format).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}

pub async fn run_pod(connect: ConnectArgs, command: PodCommand) -> ExitCode {
    run(connect, async |c, format| match command {
        PodCommand::Add(args) => {
            let PodAddArgs {
                region,
                from_cloud,
                clouds_file,
                az,
                pod_az,
                dc,
                auth_url,
                username,
                password,
                project_name,
                user_domain_name,
                project_domain_name,
                identity,
                endpoints,
            } = *args;
            let (region, auth_url, username, password, project_name, user_domain_name, project_domain_name) =
                match from_cloud {
                    Some(name) => {
                        let (c, cloud_region) = cloud::load_password_cloud(&name, clouds_file.as_deref())?;
                        let region = region.or(cloud_region).ok_or_else(|| {
                            CliError::Usage(format!("cloud {name} has no region_name; pass --region"))
                        })?;
                        (region, Some(c.auth_url), Some(c.username), Some(c.password), Some(c.project_name), c.user_domain_name, c.project_domain_name)
                    }
                    None => (
                        region.unwrap_or_default(),
                        auth_url,
                        username,
                        password,
                        project_name,
                        user_domain_name,
                        project_domain_name,
                    ),
                };
            let mut pod = json!({ "region_name": region });
            for (k, v) in [("az_name", az), ("pod_az_name", pod_az), ("dc_name", dc), ("auth_url", auth_url), ("identity", identity)] {
                if let Some(v) = v {
                    pod[k] = json!(v);
                }
            }
            if !endpoints.is_empty() {
                let mut map = serde_json::Map::new();
                for e in &endpoints {
                    let (ty, url) = e.split_once('=').ok_or_else(|| {
                        CliError::Usage(format!("--endpoint {e}: expected TYPE=URL"))
                    })?;
                    map.insert(ty.to_string(), json!(url));
                }
                pod["endpoints"] = Value::Object(map);
            }
            match (username, password, project_name) {
                (None, None, None) => {}
                (Some(u), Some(p), Some(pr)) => {
                    pod["credentials"] = json!({
                        "username": u, "password": p, "project_name": pr,
                        "user_domain_name": user_domain_name, "project_domain_name": project_domain_name,
                    });
                }
                _ => {
                    return Err(CliError::Usage(
                        "--username, --password and --project-name go together".into(),
                    ));
                }
            }
            let body = c.post("/pods", &json!({ "pod": pod })).await?;
            print_object(format, &body["pod"])
        }
        PodCommand::List => {
            let body = c.get("/pods", &[]).await?;
            print_list(format, &body["pods"], POD_COLUMNS)
        }
        PodCommand::Show { pod_id } => {
            let body = c.get(&format!("/pods/{}", client::segment(&pod_id)), &[]).await?;
            print_object(format, &body["pod"])
        }
        PodCommand::Delete { pod_id } => {
            c.delete(&format!("/pods/{}", client::segment(&pod_id))).await?;
            Ok(())
        }
    })
    .await
}

pub async fn run_routing(connect: ConnectArgs, command: RoutingCommand) -> ExitCode {
    run(connect, async |c, format| match command {
        RoutingCommand::List {
            resource_type,
            pod,
            top_id,
            bottom_id,
            project_id,
            limit,
            marker,
        } => {
            let query: Vec<(&str, String)> = [
                ("resource_type", resource_type),
                ("pod_id", pod),
                ("top_id", top_id),
                ("bottom_id", bottom_id),
                ("project_id", project_id),
                ("limit", limit.map(|l| l.to_string())),
                ("marker", marker.map(|m| m.to_string())),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            let body = c.get("/routings", &query).await?;
            print_list(format, &body["routings"], ROUTING_COLUMNS)
        }
        RoutingCommand::Show { id } => {
            let body = c.get(&format!("/routings/{}", client::segment(&id)), &[]).await?;
            print_object(format, &body["routing"])
        }
        RoutingCommand::Delete { id } => {
            c.delete(&format!("/routings/{}", client::segment(&id))).await?;
            Ok(())
        }
    })
    .await
}

pub async fn run_job(connect: ConnectArgs, command: JobCommand) -> ExitCode {
    run(connect, async |c, format| match command {
        JobCommand::List { status, job_type, project_id, limit, marker } => {
            let query: Vec<(&str, String)> = [
                ("status", status),
                ("type", job_type),
                ("project_id", project_id),
                ("limit", limit.map(|l| l.to_string())),
                ("marker", marker),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            let body = c.get("/jobs", &query).await?;
            print_list(format, &body["jobs"], JOB_COLUMNS)
        }
        JobCommand::Show { id } => {
            let body = c.get(&format!("/jobs/{}", client::segment(&id)), &[]).await?;
            print_object(format, &body["job"])
        }
        JobCommand::Redo { id } => {
            let body = c.put(&format!("/jobs/{}", client::segment(&id)), None).await?;
            print_object(format, &body["job"])
        }
        JobCommand::Delete { id } => {
            c.delete(&format!("/jobs/{}", client::segment(&id))).await?;
            Ok(())
        }
        JobCommand::Attempts { id } => {
            let body = c.get(&format!("/jobs/{}/attempts", client::segment(&id)), &[]).await?;
            print_list(
                format,
                &body["attempts"],
                &[
                    ("owner", "Owner"),
                    ("started_at", "Started"),
                    ("lease_until", "Lease until"),
                    ("finished_at", "Finished"),
                    ("outcome", "Outcome"),
                    ("error", "Error"),
                ],
            )
        }
        JobCommand::Schemas => {
            let body = c.get("/jobs/schemas", &[]).await?;
            print_list(
                format,
                &body["schemas"],
                &[("type", "Type"), ("resource", "Resource"), ("description", "Description")],
            )
        }
    })
    .await
}

pub async fn run_audit(connect: ConnectArgs, command: audit::AuditCommand) -> ExitCode {
    run(connect, async |c, format| audit::run(c, format, command).await).await
}

/// Why an admin command failed.
#[derive(Debug)]
pub enum CliError {
    /// Bad flags or configuration (exit 2).
    Usage(String),
    /// The gateway answered with an error (exit 1); the message is its own.
    Api { status: u16, message: String },
    /// The gateway could not be reached (exit 1).
    Connect(String),
}

impl CliError {
    fn report(self) -> ExitCode {
        match self {
            CliError::Usage(m) => {
                eprintln!("error: {m}");
                ExitCode::from(2)
            }
            CliError::Api { status, message } => {
                eprintln!("error: {message} (HTTP {status})");
                ExitCode::FAILURE
            }
            CliError::Connect(m) => {
                eprintln!("error: {m}");
                ExitCode::FAILURE
            }
        }
    }
}
