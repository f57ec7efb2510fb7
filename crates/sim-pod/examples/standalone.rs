//! Run one sim pod in the foreground (what `tricircle sim-pod` does, without the CLI crate).
//!
//! `cargo run -p tricircle-sim-pod --example standalone -- [--region R] [--az A]
//!  [--listen ADDR] [--password PW] [--state-file F] [--zero-delays]`

use std::net::SocketAddr;

use tricircle_sim_pod::{Delays, SimPodConfig, start};

#[tokio::main]
async fn main() {
    let mut cfg =
        SimPodConfig::new("RegionOne", "nova", "secret", SocketAddr::from(([127, 0, 0, 1], 0)));
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--region" => cfg.region = val(),
            "--az" => cfg.az = val(),
            "--listen" => cfg.listen = val().parse().expect("address"),
            "--password" => cfg.password = val(),
            "--state-file" => cfg.state_file = Some(val().into()),
            "--zero-delays" => cfg.delays = Delays::zero(),
            other => panic!("unknown argument {other}"),
        }
    }
    let pod = start(cfg.clone()).await.expect("start");
    println!("auth_url {}", pod.auth_url());
    println!("user admin / project admin / domain Default / password {}", cfg.password);
    tokio::signal::ctrl_c().await.expect("signal");
    pod.shutdown().await;
}
