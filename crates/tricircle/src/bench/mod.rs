//! `tricircle bench`: the performance figures of `docs/benchmarks.md`, all
//! measured side by side in one run of one process.
//!
//! In this process: one sim pod for the single-pod cases ("PodL"), N sim
//! pods for the listing case, and the gateway (SQLite in a temporary data
//! dir, default configuration, request log at `info` to a file). Outside:
//! nginx (a plain reverse proxy in front of PodL), wrk (load), and at the
//! end a `tricircle serve` process on the same data dir for the gateway's
//! own memory. Run it on a release build: `cargo run --release -- bench`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

mod env;
mod figures;
mod measure;
mod report;
mod stats;
mod tools;

use env::{TempDir, get_json, login, rss_kib};
use figures::{latency_rows, list_rows, memory_rows, ms, throughput_rows};
use measure::Target;
use report::Report;
use stats::Summary;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A short run to try the bench (fewer requests, pods and seconds); not for the docs.
    #[arg(long)]
    quick: bool,
    /// Write the figures into this markdown file (between its bench markers), e.g. docs/benchmarks.md.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Sequential requests per target for the latency case [default: 2000; quick 300].
    #[arg(long)]
    requests: Option<usize>,
    /// Seconds of each wrk run [default: 10; quick 2].
    #[arg(long)]
    seconds: Option<u64>,
    /// Pods in the listing case [default: 50; quick 10].
    #[arg(long)]
    pods: Option<usize>,
    /// Servers per pod in the listing case [default: 100; quick 20].
    #[arg(long)]
    servers_per_pod: Option<usize>,
    /// Servers per pod created through the gateway's API (the rest are made in the pods directly).
    #[arg(long, default_value_t = 2)]
    api_servers_per_pod: usize,
}

struct Plan {
    requests: usize,
    warmup: usize,
    seconds: u64,
    pods: usize,
    per_pod: usize,
    list_rounds: usize,
    concurrency: &'static [u32],
}

impl BenchArgs {
    fn plan(&self) -> Plan {
        let q = self.quick;
        Plan {
            requests: self.requests.unwrap_or(if q { 300 } else { 2000 }).max(1),
            warmup: if q { 50 } else { 200 },
            seconds: self.seconds.unwrap_or(if q { 2 } else { 10 }).max(1),
            pods: self.pods.unwrap_or(if q { 10 } else { 50 }).max(1),
            per_pod: self.servers_per_pod.unwrap_or(if q { 20 } else { 100 }).max(1),
            list_rounds: if q { 10 } else { 50 },
            concurrency: &[4, 16, 64],
        }
    }

    fn command_line(&self) -> String {
        let mut c = String::from("cargo run --release -- bench");
        if self.quick {
            c.push_str(" --quick");
        }
        for (flag, v) in [
            ("--requests", self.requests.map(|v| v.to_string())),
            ("--seconds", self.seconds.map(|v| v.to_string())),
            ("--pods", self.pods.map(|v| v.to_string())),
            ("--servers-per-pod", self.servers_per_pod.map(|v| v.to_string())),
        ] {
            if let Some(v) = v {
                c.push_str(&format!(" {flag} {v}"));
            }
        }
        if self.api_servers_per_pod != 2 {
            c.push_str(&format!(" --api-servers-per-pod {}", self.api_servers_per_pod));
        }
        if let Some(o) = &self.out {
            c.push_str(&format!(" --out {}", o.display()));
        }
        c
    }
}

pub async fn run(args: BenchArgs) -> ExitCode {
    let (nginx, wrk) = match tools::require_tools() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match bench(&args, &nginx, &wrk).await {
        Ok(report) => {
            println!("{}", report.table());
            if let Some(out) = &args.out {
                if let Err(e) = report::write(out, &report) {
                    eprintln!("error: cannot write {}: {e}", out.display());
                    return ExitCode::FAILURE;
                }
                println!("wrote {}", out.display());
            }
            println!("{} target(s) missed", report.misses());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn machine_facts(started: &str) -> Vec<(String, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default().trim().to_string();
    let mem = read("/proc/meminfo").lines().next().unwrap_or_default().to_string();
    vec![
        ("date".into(), started.into()),
        (
            "nproc".into(),
            std::thread::available_parallelism().map_or("?".into(), |n| n.to_string()),
        ),
        ("CPU".into(), cpu),
        ("memory".into(), mem.trim_start_matches("MemTotal:").trim().to_string()),
        ("kernel".into(), read("/proc/sys/kernel/osrelease")),
        ("load average at start".into(), read("/proc/loadavg")),
        (
            "build".into(),
            if cfg!(debug_assertions) { "debug (figures not valid)" } else { "release" }.into(),
        ),
    ]
}

fn init_logging(dir: &std::path::Path, filter: &str) -> anyhow::Result<()> {
    let file = std::fs::File::create(dir.join("gateway.log"))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(filter)?)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init();
    Ok(())
}

async fn bench(
    args: &BenchArgs,
    nginx_bin: &std::path::Path,
    wrk_bin: &std::path::Path,
) -> anyhow::Result<Report> {
    let plan = args.plan();
    let began = Instant::now();
    let mut report = Report {
        command: args.command_line(),
        facts: machine_facts(&tricircle_store::now().format("%Y-%m-%d %H:%M UTC").to_string()),
        ..Default::default()
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; use `cargo run --release -- bench` for real figures");
    }
    let dir = TempDir::new()?;
    let config = env::config(&dir.0)?;
    init_logging(&dir.0, &config.log.filter)?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;

    // Sim pods, and their idle memory (before the gateway exists here).
    eprintln!("starting {} sim pods ...", plan.pods + 1);
    let lat_pod = env::start_pod("PodL", "nova").await?;
    touch_pod(&http, &lat_pod).await?;
    let rss_before = rss_kib(None);
    let mut pods = Vec::with_capacity(plan.pods);
    for i in 1..=plan.pods {
        let pod = env::start_pod(&format!("Pod{i:02}"), "nova").await?;
        touch_pod(&http, &pod).await?;
        pods.push(pod);
    }
    let per_pod_kib = rss_kib(None).saturating_sub(rss_before) as f64 / plan.pods as f64;

    // The gateway, the bench user, servers.
    let gw = env::start_gateway(&config, std::slice::from_ref(&lat_pod)).await?;
    for pod in &pods {
        gw.register_pod(pod).await?;
    }
    let token = login(&http, &gw.auth_url(), env::USER, env::PASSWORD, env::USER).await?;
    let lat_top =
        env::create_via_api(&http, &gw, &token, "latency", &env::pod_az(&lat_pod)).await?;
    eprintln!("seeding {} × {} servers ...", plan.pods, plan.per_pod);
    let seed = env::seed_servers(&http, &gw, &token, &pods, plan.per_pod, args.api_servers_per_pod)
        .await?;
    let bottom_project = format!("tc-{}", gw.project_id);
    let lat_pod_id = pod_id_of(&gw, lat_pod.region()).await?;
    let lat_bottom = gw
        .app
        .store()
        .routing_find(&lat_top, "server", lat_pod_id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .and_then(|r| r.bottom_id)
        .context("the latency server has no bottom ID")?;
    let pod_token =
        login(&http, &lat_pod.auth_url(), "admin", env::POD_PASSWORD, &bottom_project).await?;
    let mut nginx = tools::Nginx::start(nginx_bin, &dir.0, lat_pod.addr())?;
    report.facts.push(("nginx".into(), nginx.version.clone()));
    report.facts.push(("wrk".into(), wrk_version(wrk_bin)));

    // 1. Latency of `server show`, interleaved.
    eprintln!("latency: {} sequential requests per target ...", plan.requests);
    let show = format!("/compute/v2.1/servers/{lat_bottom}");
    let targets = [
        Target {
            label: "direct".into(),
            url: format!("{}{show}", lat_pod.base_url()),
            token: pod_token.clone(),
        },
        Target {
            label: "nginx".into(),
            url: format!("http://127.0.0.1:{}{show}", nginx.port),
            token: pod_token.clone(),
        },
        Target {
            label: "gateway".into(),
            url: format!("{}/compute/v2.1/servers/{lat_top}", gw.base),
            token: token.clone(),
        },
        // The gateway's HTTP layer alone (no token check, database or pod).
        Target {
            label: "healthz".into(),
            url: format!("{}/healthz", gw.base),
            token: String::new(),
        },
    ];
    let samples = measure::interleaved(&http, &targets, plan.warmup, plan.requests).await?;
    let [direct, via_nginx, via_gw] = [0, 1, 2].map(|i| Summary::of_durations(&samples[i]));
    latency_rows(&mut report, &direct, &via_nginx, &via_gw);
    let healthz = Summary::of_durations(&samples[3]);
    report.info(
        "server show latency (one pod)",
        "gateway's /healthz (its HTTP layer alone): p50 / p99",
        format!("{} / {}", ms(healthz.p50_us), ms(healthz.p99_us)),
    );
    let parts = measure::breakdown(&gw.app, &token, &lat_top, plan.requests / 2).await?;
    const B: &str = "where the gateway's show time goes (in process, no HTTP)";
    for (what, s) in [
        ("token validation (App::authenticate)", &parts.authenticate),
        ("App::server_show (includes the pod's answer)", &parts.server_show),
        ("one SQLite query (Store::resource_get)", &parts.one_query),
    ] {
        report.info(
            B,
            format!("{what}: p50 / p99"),
            format!("{} / {}", ms(s.p50_us), ms(s.p99_us)),
        );
    }

    // 2. Throughput of `server show` with wrk.
    eprintln!("throughput: wrk, {} s per run ...", plan.seconds);
    for &c in plan.concurrency {
        let mut got = Vec::new();
        let mut calls = 0;
        for (i, t) in targets.iter().enumerate() {
            lat_pod.control().reset_counters();
            got.push(tools::wrk(wrk_bin, &t.url, &t.token, c, plan.seconds).await?);
            if i == 2 {
                // The pod's calls during the gateway's run.
                calls = lat_pod.control().counters().values().sum::<u64>();
            }
        }
        let per_request = calls as f64 / got[2].requests.max(1) as f64;
        throughput_rows(&mut report, c, &got);
        report.info(
            "server show throughput (wrk)",
            format!("{c} connections: pod calls per gateway request"),
            format!("{per_request:.2}"),
        );
    }
    nginx.stop();
    // The latency server goes, so the listing sees exactly pods × servers.
    let r = http
        .delete(format!("{}/compute/v2.1/servers/{lat_top}", gw.base))
        .header("x-auth-token", &token)
        .send()
        .await?;
    anyhow::ensure!(r.status().as_u16() == 204, "deleting the latency server: HTTP {}", r.status());

    // 3. Listing over the pods.
    eprintln!("listing: {} pods × {} servers ...", plan.pods, plan.per_pod);
    let mut pod_targets = Vec::new();
    for pod in &pods {
        let t = login(&http, &pod.auth_url(), "admin", env::POD_PASSWORD, &bottom_project).await?;
        pod_targets.push((
            pod,
            Target {
                label: pod.region().into(),
                url: format!("{}/compute/v2.1/servers/detail", pod.base_url()),
                token: t,
            },
        ));
    }
    let list_path = "/compute/v2.1/servers/detail?limit=1000";
    let list_target = Target {
        label: "gateway list".into(),
        url: format!("{}{list_path}", gw.base),
        token: token.clone(),
    };
    let list =
        measure::list_case(&http, &list_target, &pod_targets, plan.per_pod, 5, plan.list_rounds)
            .await?;
    list_rows(&mut report, &list, &seed, plan.pods * plan.per_pod);
    let parts = measure::list_breakdown(&gw.app, &token, plan.list_rounds / 2 + 1).await?;
    const LB: &str = "where the gateway's list time goes (in process, no HTTP)";
    for (what, s) in [
        ("Store::resource_list (the project's rows)", &parts.resource_list),
        ("App::server_list (rows, fan-out, merge, page)", &parts.server_list),
    ] {
        report.info(
            LB,
            format!("{what}: p50 / p99"),
            format!("{} / {}", ms(s.p50_us), ms(s.p99_us)),
        );
    }

    // 4. Memory.
    let show_path = format!("/compute/v2.1/servers/{}", list.first_id);
    let probe = get_json(&http, &format!("{}{show_path}", gw.base), &token).await?;
    anyhow::ensure!(probe["server"]["id"] == list.first_id.as_str(), "the gateway lost a server");
    drop(http);
    gw.stop().await?;
    eprintln!("memory: a `tricircle serve` process on the same data ...");
    let mem = measure::gateway_process_memory(&dir.0, &show_path, list_path).await?;
    memory_rows(&mut report, &mem, per_pod_kib, plan.pods);

    lat_pod.shutdown().await;
    for p in pods {
        p.shutdown().await;
    }
    report.info("run", "bench duration", format!("{:.0} s", began.elapsed().as_secs_f64()));
    report.notes.push(format!(
        "Latency: {} requests per target after {} warm-up rounds, interleaved request by request \
         (direct, nginx, gateway) on one keep-alive connection each; the client is reqwest in the \
         bench process. Added latency = target − direct at the same percentile.",
        plan.requests, plan.warmup
    ));
    report.notes.push(format!(
        "Throughput: `wrk -t1 -cC -d{}s --latency` per target and concurrency, one after another, \
         on this machine with everything else (the gateway and the pods share the bench process).",
        plan.seconds
    ));
    report.notes.push(
        "The gateway runs its default configuration (SQLite, request log at `info`, here to a \
         file); nginx logs each request to its access log (Debian's default)."
            .into(),
    );
    report.notes.push(format!(
        "Listing: the first {} server(s) of each pod were created through the gateway's Nova API \
         (the saga); the rest directly in the pod through the gateway's pod session, named after a \
         fresh top ID, with the resource and routing rows written by the store API as the saga \
         writes them. {} pages of `GET /servers/detail?limit=1000` after 5 warm-up pages; between \
         two pages every pod is asked alone (its own answer time) and all pods at once by the \
         bench; the sim pods' call counters are reset before each gateway page and read after it.",
        args.api_servers_per_pod.clamp(1, plan.per_pod),
        plan.list_rounds
    ));
    report.notes.push(
        "Memory: RSS from /proc of a separate `tricircle serve` on the bench's data dir (the \
         in-process gateway stopped first); sim pods: RSS growth of the bench process over the \
         listing pods, each started, logged into and asked for its flavors, before the gateway \
         existed."
            .into(),
    );
    Ok(report)
}

async fn touch_pod(
    http: &reqwest::Client,
    pod: &tricircle_sim_pod::SimPodHandle,
) -> anyhow::Result<()> {
    let t = login(http, &pod.auth_url(), "admin", env::POD_PASSWORD, "admin").await?;
    get_json(http, &format!("{}/compute/v2.1/flavors", pod.base_url()), &t).await?;
    Ok(())
}

async fn pod_id_of(
    gw: &env::RunningGateway,
    region: &str,
) -> anyhow::Result<tricircle_common::PodId> {
    gw.app
        .store()
        .pod_list()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .find(|p| p.region_name == region)
        .map(|p| p.pod_id)
        .context("pod not registered")
}

fn wrk_version(bin: &std::path::Path) -> String {
    std::process::Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| {
            let s = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            s.lines().next().unwrap_or_default().trim().to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::{Cli, Command};

    #[test]
    fn bench_help_lists_the_options() {
        let err = Cli::try_parse_from(["tricircle", "bench", "--help"]).err().expect("help");
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        let help = err.to_string();
        for flag in ["--quick", "--out", "--requests", "--seconds", "--pods", "--servers-per-pod"] {
            assert!(help.contains(flag), "{flag} missing from:\n{help}");
        }
        Cli::command().debug_assert();
    }

    #[test]
    fn bench_arguments_and_plan() {
        let cli = Cli::try_parse_from(["tricircle", "bench", "--quick", "--out", "docs/b.md"])
            .expect("parse");
        let Command::Bench(args) = cli.command else { panic!("not bench") };
        let plan = args.plan();
        assert_eq!((plan.requests, plan.pods, plan.per_pod, plan.seconds), (300, 10, 20, 2));
        assert_eq!(args.command_line(), "cargo run --release -- bench --quick --out docs/b.md");
        let cli = Cli::try_parse_from(["tricircle", "bench"]).expect("parse");
        let Command::Bench(args) = cli.command else { panic!("not bench") };
        let plan = args.plan();
        assert_eq!((plan.requests, plan.pods, plan.per_pod, plan.seconds), (2000, 50, 100, 10));
    }
}
