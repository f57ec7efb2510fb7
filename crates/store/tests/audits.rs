//! The store's contract for pod audits, run on SQLite and PostgreSQL: one
//! row per pod, replaced by each run, listed by region, gone with the pod.

use chrono::Duration;
use serde_json::json;
use tricircle_common::PodId;
use tricircle_store::{AuditOutcome, NewPod, NewPodAudit, backend_tests, now};

fn new_pod(region: &str) -> NewPod {
    NewPod {
        pod_id: PodId::new(),
        region_name: region.into(),
        az_name: format!("az-{region}"),
        pod_az_name: String::new(),
        dc_name: String::new(),
        auth_url: None,
        identity_mode: "mapped".into(),
        endpoints: "{}".into(),
        credentials: None,
    }
}

fn run(pod_id: PodId, outcome: AuditOutcome, repairs: i64) -> NewPodAudit {
    let finished = now();
    NewPodAudit {
        pod_id,
        started_at: finished - Duration::milliseconds(1500),
        finished_at: finished,
        outcome,
        findings: json!({"orphans_deleted": [{"kind": "server", "id": "b-1"}], "ports_released": []}),
        repairs,
    }
}

backend_tests! {
    async fn a_run_reads_back_and_the_next_replaces_it(store: &Store) {
        let pod = store.pod_create(&new_pod("Pod1")).await.unwrap();
        assert!(store.pod_audit_get(pod.pod_id).await.unwrap().is_none(), "never audited");

        let first = run(pod.pod_id, AuditOutcome::Ok, 1);
        assert!(store.pod_audit_record(&first).await.unwrap());
        let read = store.pod_audit_get(pod.pod_id).await.unwrap().unwrap();
        assert_eq!(read.region_name, "Pod1");
        assert_eq!(read.audit, first, "what is read back equals what was written");

        let failed = NewPodAudit {
            findings: json!({}),
            ..run(pod.pod_id, AuditOutcome::Error { message: "Region Pod1 is not answering.".into() }, 0)
        };
        assert!(store.pod_audit_record(&failed).await.unwrap());
        let read = store.pod_audit_get(pod.pod_id).await.unwrap().unwrap();
        assert_eq!(read.audit, failed, "one row per pod: the last run");
        assert_eq!(store.pod_audit_list().await.unwrap().len(), 1);
    }

    async fn the_list_is_by_region_and_leaves_out_pods_never_audited(store: &Store) {
        let mut ids = Vec::new();
        for region in ["c", "a", "b"] {
            ids.push((region, store.pod_create(&new_pod(region)).await.unwrap().pod_id));
        }
        for (region, id) in &ids {
            if *region != "b" {
                store.pod_audit_record(&run(*id, AuditOutcome::Ok, 0)).await.unwrap();
            }
        }
        let regions: Vec<String> =
            store.pod_audit_list().await.unwrap().into_iter().map(|r| r.region_name).collect();
        assert_eq!(regions, ["a", "c"]);
    }

    async fn the_audit_goes_with_its_pod(store: &Store) {
        let pod = store.pod_create(&new_pod("Pod1")).await.unwrap();
        store.pod_audit_record(&run(pod.pod_id, AuditOutcome::Ok, 2)).await.unwrap();
        assert!(store.pod_delete(pod.pod_id).await.unwrap(), "an audit does not keep a pod");
        assert!(store.pod_audit_get(pod.pod_id).await.unwrap().is_none());
        assert!(store.pod_audit_list().await.unwrap().is_empty());
        // A run that ends after its pod was deleted records nothing.
        assert!(!store.pod_audit_record(&run(pod.pod_id, AuditOutcome::Ok, 0)).await.unwrap());
        assert!(store.pod_audit_list().await.unwrap().is_empty());
    }
}
