//! Measurements: sequential latency of several targets interleaved request
//! by request (so background noise hits them alike), the listing case, and
//! the memory of a gateway process.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::future::join_all;
use tokio::io::AsyncBufReadExt;

use super::env::{get_json, login, rss_kib};
use super::stats::Summary;

/// One URL with the token it needs.
#[derive(Clone, Debug)]
pub struct Target {
    pub label: String,
    pub url: String,
    pub token: String,
}

async fn timed_get(http: &reqwest::Client, t: &Target) -> anyhow::Result<(Duration, usize)> {
    let start = Instant::now();
    let r = http.get(&t.url).header("x-auth-token", &t.token).send().await?;
    let status = r.status().as_u16();
    let body = r.bytes().await?;
    let took = start.elapsed();
    if status != 200 {
        bail!("{}: GET {}: HTTP {status}: {}", t.label, t.url, String::from_utf8_lossy(&body));
    }
    Ok((took, body.len()))
}

/// `n` rounds (after `warmup` unrecorded ones); in each round every target
/// gets one request, in turn, on a warm keep-alive connection.
pub async fn interleaved(
    http: &reqwest::Client,
    targets: &[Target],
    warmup: usize,
    n: usize,
) -> anyhow::Result<Vec<Vec<Duration>>> {
    let mut samples = vec![Vec::with_capacity(n); targets.len()];
    for round in 0..warmup + n {
        for (i, t) in targets.iter().enumerate() {
            let (took, _) = timed_get(http, t).await?;
            if round >= warmup {
                samples[i].push(took);
            }
        }
    }
    Ok(samples)
}

/// What the listing case measured.
#[derive(Debug)]
pub struct ListResult {
    pub pods: usize,
    pub servers_per_pod: usize,
    pub page_len: usize,
    /// The first server of the page.
    pub first_id: String,
    pub has_next: bool,
    pub cold_first: Duration,
    pub gateway: Summary,
    /// Each pod alone, sequentially: its own answer time.
    pub per_pod_p50_max_us: f64,
    pub per_pod_p50_max_region: String,
    pub per_pod_p99_max_us: f64,
    /// All pods asked at once by the bench (what any fan-out must wait for
    /// on this machine).
    pub fanout: Summary,
    /// Bottom calls of one pod for one page, the largest over pods and pages.
    pub max_calls_per_pod_per_page: u64,
    /// All bottom calls of all pages, by operation.
    pub calls_by_operation: BTreeMap<String, u64>,
    pub pages: usize,
}

/// The listing case: `GET /servers/detail?limit=1000` through the gateway,
/// each pod's own `GET /servers/detail` alone, and all pods at once.
pub async fn list_case(
    http: &reqwest::Client,
    gateway: &Target,
    pods: &[(&tricircle_sim_pod::SimPodHandle, Target)],
    servers_per_pod: usize,
    warmup: usize,
    rounds: usize,
) -> anyhow::Result<ListResult> {
    let t = Instant::now();
    let first = get_json(http, &gateway.url, &gateway.token).await?;
    let cold_first = t.elapsed();
    let page_len = first["servers"].as_array().map_or(0, Vec::len);
    let has_next = first.get("servers_links").is_some();
    let first_id = first["servers"][0]["id"].as_str().unwrap_or_default().to_string();
    for _ in 0..warmup {
        timed_get(http, gateway).await?;
        for (_, p) in pods {
            timed_get(http, p).await?;
        }
    }
    let mut gw = Vec::with_capacity(rounds);
    let mut fan = Vec::with_capacity(rounds);
    let mut own: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); pods.len()];
    let mut calls_by_operation = BTreeMap::new();
    let mut max_calls = 0u64;
    for _ in 0..rounds {
        // The counters see only the gateway's calls for this one page.
        for (pod, _) in pods {
            pod.control().reset_counters();
        }
        gw.push(timed_get(http, gateway).await?.0);
        for (pod, _) in pods {
            let mut total = 0;
            for (op, n) in pod.control().counters() {
                *calls_by_operation.entry(op).or_insert(0) += n;
                total += n;
            }
            max_calls = max_calls.max(total);
        }
        let start = Instant::now();
        let all = join_all(pods.iter().map(|(_, p)| timed_get(http, p))).await;
        fan.push(start.elapsed());
        for r in all {
            r?;
        }
        for (i, (_, p)) in pods.iter().enumerate() {
            own[i].push(timed_get(http, p).await?.0);
        }
    }
    calls_by_operation.retain(|_, n| *n > 0);
    let (mut worst, mut worst_region, mut worst99) = (0.0, String::new(), 0.0f64);
    for (i, (pod, _)) in pods.iter().enumerate() {
        let s = Summary::of_durations(&own[i]);
        if s.p50_us > worst {
            worst = s.p50_us;
            worst_region = pod.region().to_string();
        }
        worst99 = worst99.max(s.p99_us);
    }
    Ok(ListResult {
        pods: pods.len(),
        servers_per_pod,
        page_len,
        first_id,
        has_next,
        cold_first,
        gateway: Summary::of_durations(&gw),
        per_pod_p50_max_us: worst,
        per_pod_p50_max_region: worst_region,
        per_pod_p99_max_us: worst99,
        fanout: Summary::of_durations(&fan),
        max_calls_per_pod_per_page: max_calls,
        calls_by_operation,
        pages: rounds,
    })
}

/// The memory of a gateway in its own process (`tricircle serve` on the
/// bench's data dir): RSS after start, after a login and a show, and after a
/// list, each followed by a second of idleness.
#[derive(Debug)]
pub struct GatewayMemory {
    pub started_kib: u64,
    pub after_show_kib: u64,
    pub after_list_kib: u64,
}

pub async fn gateway_process_memory(
    data_dir: &std::path::Path,
    show_path: &str,
    list_path: &str,
) -> anyhow::Result<GatewayMemory> {
    let config = data_dir.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[log]\nfilter = \"warn\"\n",
            data_dir.display()
        ),
    )?;
    let exe = std::env::current_exe().context("cannot find the tricircle binary")?;
    let mut child = tokio::process::Command::new(exe)
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .env_remove("TRICIRCLE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start `tricircle serve`")?;
    let pid = child.id().context("no pid")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix("tricircle gateway listening on ") {
                return Ok(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
        }
        anyhow::Ok(String::new())
    })
    .await
    .context("the gateway process did not start in 30 s")??;
    if base.is_empty() {
        bail!("the gateway process exited before listening");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started_kib = rss_kib(Some(pid));
    let http = reqwest::Client::new();
    let token = login(
        &http,
        &format!("{base}/identity/v3"),
        super::env::USER,
        super::env::PASSWORD,
        super::env::USER,
    )
    .await?;
    get_json(&http, &format!("{base}{show_path}"), &token).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_show_kib = rss_kib(Some(pid));
    get_json(&http, &format!("{base}{list_path}"), &token).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_list_kib = rss_kib(Some(pid));
    // SIGTERM via the shell's kill: a graceful stop of the child we started.
    let _ = tokio::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    Ok(GatewayMemory { started_kib, after_show_kib, after_list_kib })
}

/// Where a gateway `server show` spends its time, measured in this process
/// without HTTP: token validation, the core call (which includes the pod's
/// answer over HTTP), and one SQLite query.
#[derive(Debug)]
pub struct Breakdown {
    pub authenticate: Summary,
    pub server_show: Summary,
    pub one_query: Summary,
}

pub async fn breakdown(
    app: &tricircle_core::App,
    token: &str,
    server_id: &str,
    n: usize,
) -> anyhow::Result<Breakdown> {
    let err = |e: tricircle_common::Error| anyhow::anyhow!("{e}");
    let auth = app.authenticate(token).await.map_err(err)?;
    let ctx = tricircle_common::RequestContext {
        request_id: tricircle_common::RequestId::new(),
        auth: auth.clone(),
    };
    let mv = Some(tricircle_pod_client::Microversion::new(2, 1));
    let (mut a, mut s, mut q) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        app.authenticate(token).await.map_err(err)?;
        a.push(t.elapsed());
        let t = Instant::now();
        app.server_show(&ctx, server_id, mv).await.map_err(err)?;
        s.push(t.elapsed());
        let t = Instant::now();
        app.store().resource_get(server_id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        q.push(t.elapsed());
    }
    Ok(Breakdown {
        authenticate: Summary::of_durations(&a),
        server_show: Summary::of_durations(&s),
        one_query: Summary::of_durations(&q),
    })
}

/// Where a gateway listing spends its time, in this process without HTTP:
/// reading the project's resource rows, and the whole core call (rows, the
/// fan-out to the pods, translation, merge and cut).
#[derive(Debug)]
pub struct ListBreakdown {
    pub resource_list: Summary,
    pub server_list: Summary,
}

pub async fn list_breakdown(
    app: &tricircle_core::App,
    token: &str,
    rounds: usize,
) -> anyhow::Result<ListBreakdown> {
    let err = |e: tricircle_common::Error| anyhow::anyhow!("{e}");
    let auth = app.authenticate(token).await.map_err(err)?;
    let project = auth.project_id.clone().unwrap_or_default();
    let ctx =
        tricircle_common::RequestContext { request_id: tricircle_common::RequestId::new(), auth };
    let (mut rows, mut list) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        app.store()
            .resource_list("server", Some(&project))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        rows.push(t.elapsed());
        let q = tricircle_core::compute::ServerListQuery {
            limit: 1000,
            microversion: Some(tricircle_pod_client::Microversion::new(2, 1)),
            ..Default::default()
        };
        let t = Instant::now();
        app.server_list(&ctx, q).await.map_err(err)?;
        list.push(t.elapsed());
    }
    Ok(ListBreakdown {
        resource_list: Summary::of_durations(&rows),
        server_list: Summary::of_durations(&list),
    })
}
