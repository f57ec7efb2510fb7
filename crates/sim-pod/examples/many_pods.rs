//! Measure the idle memory of sim pods in one process.
//!
//! `cargo run -p tricircle-sim-pod --release --example many_pods -- [N]` starts N pods (default
//! 100), authenticates once against each and lists flavors (so routers, listeners and token
//! maps are warm), then prints the RSS growth per pod, read from `/proc/self/status`.

use tricircle_sim_pod::{SimPodConfig, start};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let http = reqwest::Client::new();
    // Warm the runtime, the HTTP client and the allocator with one pod first.
    let warm = start(SimPodConfig::for_tests("Warm")).await.expect("start");
    touch(&http, warm.base_url()).await;
    let before = rss_kib();
    let mut pods = Vec::with_capacity(n);
    for i in 0..n {
        let pod = start(SimPodConfig::for_tests(&format!("Pod{i}"))).await.expect("start");
        touch(&http, pod.base_url()).await;
        pods.push(pod);
    }
    let after = rss_kib();
    let per_pod = (after.saturating_sub(before)) as f64 / n as f64;
    println!("pods={n} rss_before_kib={before} rss_after_kib={after} per_pod_kib={per_pod:.0}");
    for p in pods {
        p.shutdown().await;
    }
    warm.shutdown().await;
}

async fn touch(http: &reqwest::Client, base: &str) {
    let body = serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
    let r = http
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&body)
        .send()
        .await
        .expect("token");
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let r = http
        .get(format!("{base}/compute/v2.1/flavors"))
        .header("x-auth-token", token)
        .send()
        .await
        .expect("flavors");
    assert_eq!(r.status().as_u16(), 200);
}
