//! `tricircle sim-pod`: one simulated region in the foreground, for demos
//! and for tests that need a pod in another process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tricircle_common::random;
use tricircle_sim_pod::{Delays, SimPodConfig};

#[derive(Args, Debug)]
pub struct SimPodArgs {
    /// The region name in the pod's catalog.
    #[arg(long, default_value = "RegionOne")]
    region: String,
    /// The availability zone its servers and volumes report.
    #[arg(long, default_value = "nova")]
    az: String,
    /// Where the OpenStack APIs listen (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:5000")]
    listen: SocketAddr,
    /// Password of users admin and demo (default: generated and printed).
    #[arg(long, env = "TRICIRCLE_SIM_POD_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Keep the pod's state in this file across restarts.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// A second listener serving only the /sim control API (stays up while the pod is "down").
    #[arg(long)]
    control_listen: Option<SocketAddr>,
    /// Finish BUILD, creating, attaching and deleting at once instead of after realistic delays.
    #[arg(long)]
    zero_delays: bool,
}

pub async fn run(args: SimPodArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let password = args.password.clone().unwrap_or_else(|| random::token_hex()[..24].to_string());
    let mut config = SimPodConfig::new(&args.region, &args.az, &password, args.listen);
    config.state_file = args.state_file;
    config.control_listen = args.control_listen;
    if args.zero_delays {
        config.delays = Delays::zero();
    }
    let pod = match tricircle_sim_pod::start(config).await {
        Ok(pod) => pod,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("sim pod {} listening; auth URL {}", pod.region(), pod.auth_url());
    println!("credentials: user admin, project admin, domain Default, password {password}");
    if let Some(c) = pod.control_addr() {
        println!("control API: http://{c}/sim");
    }
    let _ = tokio::signal::ctrl_c().await;
    pod.shutdown().await;
    ExitCode::SUCCESS
}
