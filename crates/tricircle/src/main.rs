//! `tricircle`: the gateway (`serve`), its database tool (`db`), and the
//! admin commands (`pod`, `routing`, `job`, `audit`) that talk to a running gateway.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin_cli;
mod bench;
mod serve;
mod sim_pod;
mod up;

use admin_cli::{ConnectArgs, JobCommand, PodCommand, RoutingCommand};

#[derive(Parser)]
#[command(name = "tricircle", version, about = "Many OpenStack regions as one cloud", long_about = None)]
struct Cli {
    /// How the admin commands reach the gateway: global, so they go before
    /// or after the command (`tricircle --os-cloud c pod list`, as with
    /// `openstack`, or `tricircle pod list --os-cloud c`).
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything on this machine: SQLite, embedded identity, N simulated regions and the gateway; writes clouds.yaml.
    Up(up::UpArgs),
    /// Run the gateway (all APIs on one listener).
    Serve {
        /// TOML configuration file; without one, defaults apply (SQLite under ./.tricircle).
        #[arg(long, env = "TRICIRCLE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Pods: the OpenStack regions behind the gateway.
    Pod {
        #[command(subcommand)]
        command: PodCommand,
    },
    /// Resource routings: where each resource lives.
    Routing {
        #[command(subcommand)]
        command: RoutingCommand,
    },
    /// Durable jobs.
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// The periodic audit of each pod: its last run and findings, or a run now.
    Audit {
        #[command(subcommand)]
        command: admin_cli::audit::AuditCommand,
    },
    /// The gateway's endpoints in an external Keystone's catalog (external identity mode).
    Endpoints {
        #[command(subcommand)]
        command: admin_cli::endpoints::EndpointsCommand,
    },
    /// Whether a packet from a top port (or from the outside to a floating IP) reaches an IP,
    /// hop by hop, from the pods' actual state (exit 0: it does, 1: it does not, 2: error).
    Trace(admin_cli::trace::TraceArgs),
    /// Run one simulated OpenStack region (Keystone, Nova, Cinder, Neutron, Glance).
    SimPod(sim_pod::SimPodArgs),
    /// Measure latency, throughput, listing and memory side by side (figures for docs/benchmarks.md).
    Bench(bench::BenchArgs),
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply the schema migrations (idempotent) and create the secret key if missing.
    Migrate {
        #[arg(long, env = "TRICIRCLE_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => up::run(args).await,
            Command::Serve { config } => serve::serve(config.as_deref()).await,
            Command::Db { command: DbCommand::Migrate { config } } => {
                serve::db_migrate(config.as_deref()).await
            }
            Command::Pod { command } => admin_cli::run_pod(cli.connect, command).await,
            Command::Routing { command } => admin_cli::run_routing(cli.connect, command).await,
            Command::Job { command } => admin_cli::run_job(cli.connect, command).await,
            Command::Audit { command } => admin_cli::run_audit(cli.connect, command).await,
            Command::Endpoints { command } => admin_cli::endpoints::run(cli.connect, command).await,
            Command::Trace(args) => admin_cli::trace::run(cli.connect, args).await,
            Command::SimPod(args) => sim_pod::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Version => {
                println!("tricircle {}", env!("CARGO_PKG_VERSION"));
                ExitCode::SUCCESS
            }
        }
    })
}
