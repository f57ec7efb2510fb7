//! Turning measurements into report rows with targets and verdicts.

use std::time::Duration;

use super::report::{Report, Verdict, at_least, at_most};
use super::stats::Summary;
use super::{env, measure, tools};

pub fn ms(us: f64) -> String {
    format!("{:.3} ms", us / 1000.0)
}

pub fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

/// 30 MB and 5 MB as the issue says them, in KiB (1 MB = 10^6 bytes).
pub const MB_KIB: f64 = 1e6 / 1024.0;

pub fn latency_rows(r: &mut Report, direct: &Summary, nginx: &Summary, gw: &Summary) {
    const G: &str = "server show latency (one pod)";
    for (name, s) in
        [("direct to the sim pod", direct), ("through nginx", nginx), ("through the gateway", gw)]
    {
        r.info(G, format!("{name}: p50 / p99"), format!("{} / {}", ms(s.p50_us), ms(s.p99_us)));
    }
    let add = |s: &Summary| (s.p50_us - direct.p50_us, s.p99_us - direct.p99_us);
    let (gw50, gw99) = add(gw);
    let (ng50, ng99) = add(nginx);
    r.info(G, "nginx's added latency: p50 / p99", format!("{} / {}", ms(ng50), ms(ng99)));
    r.row(G, "gateway's added latency p50", ms(gw50), "≤ 1 ms", at_most(gw50 / 1000.0, 1.0, "ms"));
    r.row(G, "gateway's added latency p99", ms(gw99), "≤ 3 ms", at_most(gw99 / 1000.0, 3.0, "ms"));
    for (p, g, n) in [("p50", gw50, ng50), ("p99", gw99, ng99)] {
        let ratio = g / n.max(1.0);
        r.row(
            G,
            format!("gateway's added / nginx's added, {p}"),
            format!("{ratio:.1}×"),
            "≤ 2×",
            at_most(ratio, 2.0, "×"),
        );
    }
}

pub fn throughput_rows(r: &mut Report, c: u32, got: &[tools::WrkResult]) {
    const G: &str = "server show throughput (wrk)";
    let errors: u64 = got.iter().map(|w| w.errors).sum();
    let [d, n, g, h] = [&got[0], &got[1], &got[2], &got[3]];
    r.info(
        G,
        format!("{c} connections: direct / nginx / gateway"),
        format!(
            "{:.0} / {:.0} / {:.0} req/s",
            d.requests_per_sec, n.requests_per_sec, g.requests_per_sec
        ),
    );
    r.info(
        G,
        format!("{c} connections: p50 direct / nginx / gateway"),
        format!("{} / {} / {}", ms(d.p50_us), ms(n.p50_us), ms(g.p50_us)),
    );
    r.info(
        G,
        format!("{c} connections: gateway's /healthz (its HTTP layer alone)"),
        format!("{:.0} req/s", h.requests_per_sec),
    );
    let ratio = g.requests_per_sec / d.requests_per_sec;
    let verdict = if errors > 0 {
        Verdict::Miss(format!("{errors} error answers"))
    } else {
        at_least(ratio * 100.0, 50.0, "points")
    };
    r.row(
        G,
        format!("{c} connections: gateway / direct"),
        format!("{:.0}%", ratio * 100.0),
        "≥ 50%",
        verdict,
    );
}

pub fn list_rows(r: &mut Report, l: &measure::ListResult, seed: &env::SeedReport, total: usize) {
    const G: &str = "server list over pods (first page)";
    r.info(G, "pods × servers per pod", format!("{} × {} = {total}", l.pods, l.servers_per_pod));
    let mean = |v: &[Duration]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / v.len() as f64
        }
    };
    r.info(
        G,
        "seeding: via the API / directly",
        format!(
            "{} (first in a pod {:.1} ms, then {:.1} ms each) / {} in {:.1} s",
            seed.via_api,
            mean(&seed.api_cold),
            mean(&seed.api_warm),
            seed.direct,
            seed.direct_time.as_secs_f64()
        ),
    );
    let page_ok = l.page_len == total.min(1000) && (l.has_next == (total > 1000));
    r.row(
        G,
        "page length (limit=1000), next link",
        format!("{}, {}", l.page_len, if l.has_next { "yes" } else { "no" }),
        format!("{}, {}", total.min(1000), if total > 1000 { "yes" } else { "no" }),
        if page_ok { Verdict::Pass } else { Verdict::Miss("wrong page".into()) },
    );
    r.info(G, "first list after seeding (cold cache)", ms(l.cold_first.as_secs_f64() * 1e6));
    r.info(
        G,
        "slowest pod alone (p50 / worst p99)",
        format!(
            "{} ({}) / {}",
            ms(l.per_pod_p50_max_us),
            l.per_pod_p50_max_region,
            ms(l.per_pod_p99_max_us)
        ),
    );
    r.info(
        G,
        "all pods at once from the bench: p50 / p99",
        format!("{} / {}", ms(l.fanout.p50_us), ms(l.fanout.p99_us)),
    );
    r.info(
        G,
        "through the gateway: p50 / p99",
        format!("{} / {}", ms(l.gateway.p50_us), ms(l.gateway.p99_us)),
    );
    let limit = l.per_pod_p50_max_us + 5000.0;
    r.row(
        G,
        "gateway p50 vs slowest pod's own p50 + 5 ms",
        ms(l.gateway.p50_us),
        format!("≤ {}", ms(limit)),
        at_most(l.gateway.p50_us / 1000.0, limit / 1000.0, "ms"),
    );
    let ops: Vec<String> = l.calls_by_operation.iter().map(|(k, v)| format!("{k} {v}")).collect();
    r.row(
        G,
        format!("bottom calls per pod per page (max over {} pages)", l.pages),
        l.max_calls_per_pod_per_page.to_string(),
        "≤ 1",
        at_most(l.max_calls_per_pod_per_page as f64, 1.0, "calls"),
    );
    r.info(G, "bottom calls of all pages, by operation", ops.join(", "));
}

pub fn memory_rows(r: &mut Report, m: &measure::GatewayMemory, per_pod_kib: f64, pods: usize) {
    const G: &str = "idle memory (RSS)";
    let limit = 30.0 * MB_KIB / 1024.0;
    for (what, kib) in [
        ("gateway process, started, idle", m.started_kib),
        ("gateway process after a login and a show, 1 s idle", m.after_show_kib),
        ("gateway process after the list of 1000, 1 s idle", m.after_list_kib),
    ] {
        let v = kib as f64 / 1024.0;
        r.row(G, what, mib(kib as f64), "≤ 30 MB (28.6 MiB)", at_most(v, limit, "MiB"));
    }
    r.row(
        G,
        format!("per in-process sim pod (growth over {pods} idle pods)"),
        mib(per_pod_kib),
        "≤ 5 MB (4.8 MiB)",
        at_most(per_pod_kib / 1024.0, 5.0 * MB_KIB / 1024.0, "MiB"),
    );
}
