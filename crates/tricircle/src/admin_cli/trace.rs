//! `tricircle trace --from-port ID --to IP` (or `--from-outside --to FIP`):
//! ask the gateway whether a packet from a top port, or from the outside
//! world to a floating IP, reaches an IP, from the pods' actual state.
//!
//! Exit status: 0 when it reaches, 1 when it does not, 2 on any error (bad
//! usage, the gateway unreachable or refusing the request).

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::{AdminClient, CliError, ConnectArgs, Format};

#[derive(Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub from: Source,
    /// The destination IP address.
    #[arg(long)]
    pub to: IpAddr,
}

/// Where the packet starts: exactly one of the two.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Source {
    /// The top port the packet leaves from.
    #[arg(long)]
    pub from_port: Option<String>,
    /// The packet comes from the outside world; --to is then a floating IP.
    #[arg(long)]
    pub from_outside: bool,
}

pub async fn run(connect: ConnectArgs, args: TraceArgs) -> ExitCode {
    let result = async {
        let c = AdminClient::from_args(&connect).await?;
        let from = match &args.from.from_port {
            Some(port) => ("from_port", port.clone()),
            None => ("from_outside", "true".to_string()),
        };
        let query = [from, ("to", args.to.to_string())];
        c.get("/trace", &query).await
    }
    .await;
    let body = match result {
        Ok(b) => b,
        Err(e) => {
            report(e);
            return ExitCode::from(2);
        }
    };
    let t = &body["trace"];
    let Some(reachable) = t["reachable"].as_bool() else {
        eprintln!("error: the gateway's answer has no verdict: {body}");
        return ExitCode::from(2);
    };
    match connect.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(t).unwrap_or_default()),
        Format::Table => print_text(t, reachable, &args),
    }
    if reachable { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn print_text(t: &Value, reachable: bool, args: &TraceArgs) {
    for (i, hop) in t["hops"].as_array().into_iter().flatten().enumerate() {
        println!("{:>3}  {}", i + 1, hop.as_str().unwrap_or_default());
    }
    if reachable && t["dest_region"].is_null() {
        println!("reachable: {} is outside", args.to);
    } else if reachable {
        let port = t["dest_port"].as_str().unwrap_or("a pod's own port");
        let region = t["dest_region"].as_str().unwrap_or("?");
        println!("reachable: {} is port {port} in {region}", args.to);
    } else {
        let reason = t["reason"].as_str().unwrap_or("no reason given");
        println!("NOT reachable: {reason}");
    }
}

/// The error on one line; the status is always 2 for trace.
fn report(e: CliError) {
    match e {
        CliError::Usage(m) | CliError::Connect(m) => eprintln!("error: {m}"),
        CliError::Api { status, message } => eprintln!("error: {message} (HTTP {status})"),
    }
}
