//! Idle memory per sim pod stays under the 5 MB budget (50–100 pods must fit in one process).
//!
//! Its own test binary, so no other test allocates while RSS is measured. The figure
//! documented in the README comes from `examples/many_pods.rs`.

use tricircle_sim_pod::{SimPodConfig, start};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

async fn touch(http: &reqwest::Client, base: &str) {
    let body = serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
    let r = http.post(format!("{base}/identity/v3/auth/tokens")).json(&body).send().await.unwrap();
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let r = http
        .get(format!("{base}/compute/v2.1/servers"))
        .header("x-auth-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_pods_cost_less_than_five_megabytes_each() {
    const N: usize = 50;
    let http = reqwest::Client::new();
    let warm = start(SimPodConfig::for_tests("Warm")).await.unwrap();
    touch(&http, warm.base_url()).await;
    let before = rss_kib();
    let mut pods = Vec::new();
    for i in 0..N {
        let p = start(SimPodConfig::for_tests(&format!("Pod{i}"))).await.unwrap();
        touch(&http, p.base_url()).await;
        pods.push(p);
    }
    let per_pod = rss_kib().saturating_sub(before) / N as u64;
    eprintln!("idle RSS per pod: {per_pod} KiB");
    assert!(per_pod < 5 * 1024, "{per_pod} KiB per pod");
    for p in pods {
        p.shutdown().await;
    }
    warm.shutdown().await;
}
