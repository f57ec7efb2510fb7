//! Property: paging through a filtered list with any page size returns
//! exactly the filtered rows in order, with no duplicate and no gap, on both
//! backends.

use std::collections::HashSet;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tricircle_store::testing::{Backend, TestDb};
use tricircle_store::{JobFilter, NewJob, NewPod, NewRouting, Page, RoutingFilter, Store};

/// A routing to insert: (pod index, type index, project index).
type Spec = (usize, usize, usize);

const TYPES: [&str; 3] = ["network", "port", "router"];
const PROJECTS: [&str; 2] = ["p1", "p2"];

fn case() -> impl Strategy<Value = (Vec<Spec>, u32, Option<usize>, Option<usize>)> {
    (
        prop::collection::vec((0..3usize, 0..3usize, 0..2usize), 0..40),
        1..12u32,
        prop::option::of(0..3usize),
        prop::option::of(0..2usize),
    )
}

async fn check_routings(
    store: &Store,
    pods: &[tricircle_common::PodId],
    specs: &[Spec],
    limit: u32,
    ty: Option<usize>,
    project: Option<usize>,
) {
    // Start each case from an empty table.
    for r in store
        .routing_list(&RoutingFilter::default(), &Page { limit: 10_000, marker: None })
        .await
        .unwrap()
    {
        store.routing_delete(r.id).await.unwrap();
    }
    for (i, (pod, t, p)) in specs.iter().enumerate() {
        store
            .routing_create(&NewRouting {
                top_id: format!("top-{i}"),
                bottom_id: None,
                pod_id: pods[*pod],
                project_id: PROJECTS[*p].into(),
                resource_type: TYPES[*t].into(),
            })
            .await
            .unwrap();
    }
    let filter = RoutingFilter {
        resource_type: ty.map(|t| TYPES[t].to_string()),
        project_id: project.map(|p| PROJECTS[p].to_string()),
        ..Default::default()
    };
    let expected: Vec<i64> = store
        .routing_list(&filter, &Page { limit: 10_000, marker: None })
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    let want = specs
        .iter()
        .filter(|(_, t, p)| ty.is_none_or(|x| x == *t) && project.is_none_or(|x| x == *p))
        .count();
    assert_eq!(expected.len(), want, "the unpaged list holds every matching row");
    assert!(expected.windows(2).all(|w| w[0] > w[1]), "sorted by id descending");

    let mut paged = Vec::new();
    let mut marker = None;
    loop {
        let page = store.routing_list(&filter, &Page { limit, marker }).await.unwrap();
        assert!(page.len() <= limit as usize);
        paged.extend(page.iter().map(|r| r.id));
        if page.len() < limit as usize {
            break;
        }
        marker = page.last().map(|r| r.id);
    }
    assert_eq!(paged, expected, "pages concatenate to the full list");
    assert_eq!(paged.iter().collect::<HashSet<_>>().len(), paged.len(), "no duplicates");
}

async fn check_jobs(store: &Store, n: usize, limit: u32) {
    for i in 0..n {
        store
            .job_enqueue(&NewJob {
                job_type: if i % 2 == 0 { "a".into() } else { "b".into() },
                resource_key: format!("k{i}"),
                resource: serde_json::json!({}),
                project_id: "p".into(),
            })
            .await
            .unwrap();
    }
    for ty in [None, Some("a"), Some("b")] {
        let filter = JobFilter { job_type: ty.map(str::to_string), ..Default::default() };
        let expected: Vec<_> = store
            .job_list(&filter, &Page { limit: 10_000, marker: None })
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
        let mut paged = Vec::new();
        let mut marker = None;
        loop {
            let page = store.job_list(&filter, &Page { limit, marker }).await.unwrap();
            paged.extend(page.iter().map(|j| j.id));
            if page.len() < limit as usize {
                break;
            }
            marker = page.last().map(|j| j.id);
        }
        assert_eq!(paged, expected);
        assert_eq!(paged.iter().collect::<HashSet<_>>().len(), paged.len());
    }
}

fn run_property(backend: Backend) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Some(db) = rt.block_on(TestDb::new(backend)) else {
        eprintln!("skipped: {} is not set", tricircle_store::testing::PG_ENV);
        return;
    };
    let pods: Vec<_> = rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..3 {
            let pod = db
                .store
                .pod_create(&NewPod {
                    pod_id: tricircle_common::PodId::new(),
                    region_name: format!("Pod{i}"),
                    az_name: format!("az{i}"),
                    pod_az_name: String::new(),
                    dc_name: String::new(),
                    auth_url: None,
                    identity_mode: "shared".into(),
                    endpoints: "{}".into(),
                    credentials: None,
                })
                .await
                .unwrap();
            v.push(pod.pod_id);
        }
        v
    });
    let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
    runner
        .run(&case(), |(specs, limit, ty, project)| {
            rt.block_on(check_routings(&db.store, &pods, &specs, limit, ty, project));
            Ok(())
        })
        .unwrap();
    let mut runner = TestRunner::new(Config { cases: 8, ..Config::default() });
    runner
        .run(&(0..30usize, 1..8u32), |(n, limit)| {
            let db = rt.block_on(TestDb::new(backend)).unwrap();
            rt.block_on(check_jobs(&db.store, n, limit));
            rt.block_on(db.cleanup());
            Ok(())
        })
        .unwrap();
    rt.block_on(db.cleanup());
}

#[test]
fn paging_has_no_gap_or_duplicate_sqlite() {
    run_property(Backend::Sqlite);
}

#[test]
fn paging_has_no_gap_or_duplicate_postgres() {
    run_property(Backend::Postgres);
}
