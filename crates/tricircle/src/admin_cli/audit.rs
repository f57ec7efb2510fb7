//! `tricircle audit list | show POD | run POD`: the periodic audit's last
//! run per pod (what it deleted, found lost, gave back), and a run now.

use clap::Subcommand;
use serde_json::{Value, json};

use super::output::{print_fields, print_list};
use super::{AdminClient, CliError, Format, client};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// The last audit run of every pod audited.
    List,
    /// The last audit run of a pod.
    Show { pod_id: String },
    /// Audit a pod now (orphans older than the grace period are deleted) and show the run.
    Run { pod_id: String },
}

/// The findings lists, in the order they are shown.
const LISTS: &[&str] = &[
    "orphans_deleted",
    "vanished_remade",
    "vanished_marked",
    "vanished_missing",
    "ports_released",
];

fn entries(audit: &Value, list: &str) -> Vec<String> {
    audit["findings"][list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            format!("{} {}", f["kind"].as_str().unwrap_or("?"), f["id"].as_str().unwrap_or("?"))
        })
        .collect()
}

/// `orphans_deleted 2, vanished_marked 1`, or `none`.
fn summary(audit: &Value) -> String {
    let counts: Vec<String> = LISTS
        .iter()
        .filter_map(|l| {
            let n = entries(audit, l).len();
            (n > 0).then(|| format!("{l} {n}"))
        })
        .collect();
    if counts.is_empty() { "none".into() } else { counts.join(", ") }
}

fn print_audit(format: Format, audit: &Value) -> Result<(), CliError> {
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(audit).unwrap_or_default());
        return Ok(());
    }
    let text = |k: &str| match &audit[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut rows: Vec<(String, String)> =
        ["pod_id", "region_name", "started_at", "finished_at", "outcome", "message", "repairs"]
            .iter()
            .map(|k| (k.to_string(), text(k)))
            .collect();
    for l in LISTS {
        rows.push((l.to_string(), entries(audit, l).join("\n")));
    }
    print_fields(&rows);
    Ok(())
}

pub async fn run(c: &AdminClient, format: Format, command: AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::List => {
            let body = c.get("/audits", &[]).await?;
            if format == Format::Json {
                return print_list(format, &body["audits"], &[]);
            }
            let rows: Vec<Value> = body["audits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    let mut row = a.clone();
                    row["summary"] = json!(summary(a));
                    row
                })
                .collect();
            print_list(
                format,
                &Value::Array(rows),
                &[
                    ("pod_id", "Pod"),
                    ("region_name", "Region"),
                    ("finished_at", "Finished"),
                    ("outcome", "Outcome"),
                    ("repairs", "Repairs"),
                    ("summary", "Findings"),
                ],
            )
        }
        AuditCommand::Show { pod_id } => {
            let body = c.get(&format!("/pods/{}/audit", client::segment(&pod_id)), &[]).await?;
            print_audit(format, &body["audit"])
        }
        AuditCommand::Run { pod_id } => {
            let path = format!("/pods/{}/audit", client::segment(&pod_id));
            let body = c.post(&path, &json!({})).await?;
            print_audit(format, &body["audit"])
        }
    }
}
