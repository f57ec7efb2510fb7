//! The differential test: the scenario against a real region and a sim pod, compared.
//!
//! Set `TRICIRCLE_REAL_CLOUDS` to the `clouds.yaml` of `scripts/real-openstack up` to compare.
//! The scenario runs twice on each side, as the admin (cloud `real`) and as a member (cloud
//! `real-demo`), because the two see different views. Without the variable the scenario still
//! runs against a sim pod and its own checks must hold; the comparison is then skipped, and
//! says so. Set `TRICIRCLE_FIDELITY_DUMP=DIR` to write every run's exchanges as JSON.

use std::time::Instant;

use tricircle_fidelity::{Allowlist, Difference, Report, Run, Target, compare, run};
use tricircle_pod_client::Credentials;
use tricircle_sim_pod::{Delays, FaultRule, SimPodConfig, SimPodHandle};

/// A sim pod's `admin` (admin of project admin) or `demo` (member of project demo).
fn sim_target(pod: &SimPodHandle, region: &str, user: &str) -> Target {
    let credentials = Credentials {
        auth_url: pod.auth_url(),
        username: user.into(),
        password: "secret".into(),
        project_name: user.into(),
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
    };
    Target::new(&format!("sim-{user}"), credentials, region).unwrap()
}

fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

fn assert_run_ok(run: &Run) {
    assert!(
        run.ok(),
        "the scenario failed against {} (aborted: {:?}):\n  {}",
        run.label,
        run.aborted,
        run.failures.join("\n  ")
    );
    // Every flow of the scenario ran to its end.
    assert!(run.exchanges.len() >= 60, "only {} steps ran", run.exchanges.len());
    assert_eq!(run.exchanges.last().map(|e| e.step.as_str()), Some("image delete"));
}

fn dump(runs: &[&Run]) {
    let Ok(dir) = std::env::var("TRICIRCLE_FIDELITY_DUMP") else { return };
    std::fs::create_dir_all(&dir).unwrap();
    for r in runs {
        let path = format!("{dir}/{}.json", r.label);
        std::fs::write(&path, serde_json::to_vec_pretty(&r.exchanges).unwrap()).unwrap();
        println!("wrote {path}");
    }
}

/// One pass's pairs, its steps named `<pass>: <step>` so both passes fit in one report.
fn pass(name: &str, real: &Run, sim: &Run) -> Vec<(String, Vec<Difference>)> {
    compare(&real.exchanges, &sim.exchanges)
        .into_iter()
        .map(|(step, diffs)| {
            let diffs = diffs
                .into_iter()
                .map(|d| Difference { step: format!("{name}: {}", d.step), ..d })
                .collect();
            (format!("{name}: {step}"), diffs)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_region_and_sim_pod_answer_alike() {
    let pod = tricircle_sim_pod::start(SimPodConfig::for_tests("SimOne")).await.unwrap();
    let (sim_admin, sim_member) =
        (sim_target(&pod, "SimOne", "admin"), sim_target(&pod, "SimOne", "demo"));
    let (admin_tag, member_tag) = (tag(), tag());
    let Ok(clouds) = std::env::var("TRICIRCLE_REAL_CLOUDS") else {
        let (a, m) = tokio::join!(run(&sim_admin, &admin_tag), run(&sim_member, &member_tag));
        dump(&[&a, &m]);
        assert_run_ok(&a);
        assert_run_ok(&m);
        println!(
            "sim pod: {} requests as admin and {} as member, scenario checks passed in {:.1} s; \
             real region not configured, comparison skipped \
             (set TRICIRCLE_REAL_CLOUDS to the clouds.yaml of scripts/real-openstack up)",
            a.exchanges.len(),
            m.exchanges.len(),
            a.elapsed.max(m.elapsed).as_secs_f64()
        );
        pod.shutdown().await;
        return;
    };
    let real_admin = Target::from_clouds_yaml("real-admin", &clouds, "real").unwrap();
    let real_member = Target::from_clouds_yaml("real-demo", &clouds, "real-demo").unwrap();
    let started = Instant::now();
    let (ra, sa, rm, sm) = tokio::join!(
        run(&real_admin, &admin_tag),
        run(&sim_admin, &admin_tag),
        run(&real_member, &member_tag),
        run(&sim_member, &member_tag),
    );
    dump(&[&ra, &sa, &rm, &sm]);
    let mut pairs = pass("admin", &ra, &sa);
    pairs.extend(pass("member", &rm, &sm));
    let report = Report::new(&pairs, &Allowlist::builtin());
    println!("{}", report.render());
    println!(
        "real region: {:.1} s as admin, {:.1} s as member; sim pod: {:.1} s; together {:.1} s",
        ra.elapsed.as_secs_f64(),
        rm.elapsed.as_secs_f64(),
        sa.elapsed.max(sm.elapsed).as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for r in [&ra, &sa, &rm, &sm] {
        assert_run_ok(r);
    }
    assert!(
        report.unexplained.is_empty(),
        "{} unexplained differences between the real region and the sim pod:\n{}",
        report.unexplained.len(),
        report.render()
    );
    pod.shutdown().await;
}

/// The comparison itself must be stable: two sim pods, one with zero delays and one with the
/// default ones (so polls see BUILD and creating first), differ in nothing. A difference here
/// means a shape depends on timing or on values, which would make the real comparison flaky.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sim_pods_answer_identically() {
    let fast = tricircle_sim_pod::start(SimPodConfig::for_tests("SimOne")).await.unwrap();
    let mut cfg = SimPodConfig::for_tests("SimTwo");
    cfg.delays = Delays::default();
    let slow = tricircle_sim_pod::start(cfg).await.unwrap();
    let tag = tag();
    let (a, b) = (sim_target(&fast, "SimOne", "admin"), sim_target(&slow, "SimTwo", "admin"));
    let (ra, rb) = tokio::join!(run(&a, &tag), run(&b, &tag));
    assert_run_ok(&ra);
    assert_run_ok(&rb);
    let report = Report::new(&compare(&ra.exchanges, &rb.exchanges), &Allowlist::default());
    assert_eq!(report.compared, ra.exchanges.len());
    assert!(report.unexplained.is_empty(), "{}", report.render());
    fast.shutdown().await;
    slow.shutdown().await;
}

/// A run that aborts half-way (the sim pod refuses the snapshot while a server with an attached
/// volume, networks, a router and an image exist) reports why and leaves nothing behind, so a
/// failed run against a long-lived real region does not litter it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_run_cleans_up_after_itself() {
    let mut cfg = SimPodConfig::for_tests("SimOne");
    cfg.delays = Delays::default();
    let pod = tricircle_sim_pod::start(cfg).await.unwrap();
    pod.control().add_fault(FaultRule::error("volume.snapshot_create", 500));
    let tag = tag();
    let r = run(&sim_target(&pod, "SimOne", "admin"), &tag).await;
    let why = r.aborted.clone().expect("the run aborts");
    assert!(why.contains("snapshot create"), "{why}");
    assert!(r.failures.iter().any(|f| f.contains("expected 202, got 500")), "{:?}", r.failures);
    let state = pod.control().state_json().to_string();
    // There was something to clean: a server with an attached volume, among others.
    assert!(r.exchanges.iter().any(|e| e.step == "volume show (in-use)"));
    assert!(!state.contains(&tag), "resources of the aborted run are left: {state}");
    pod.shutdown().await;
}
