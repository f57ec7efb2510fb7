//! The store's contract for durable jobs, run on SQLite and PostgreSQL.

use chrono::Duration;
use serde_json::json;
use tricircle_common::JobId;
use tricircle_store::{
    JobFilter, JobOutcome, JobStatus, NewJob, Page, StoreError, backend_tests, now,
};

fn job(ty: &str, key: &str) -> NewJob {
    NewJob {
        job_type: ty.into(),
        resource_key: key.into(),
        resource: json!({ "pod_id": key }),
        project_id: "p1".into(),
    }
}

backend_tests! {
    async fn enqueue_collapses_waiting_duplicates(store: &Store) {
        let (a, created_a) = store.job_enqueue(&job("pod_check", "x")).await.unwrap();
        let (b, created_b) = store.job_enqueue(&job("pod_check", "x")).await.unwrap();
        assert!(created_a && !created_b);
        assert_eq!(a.id, b.id, "the second request joins the waiting job");
        assert_eq!(a.status, JobStatus::New);
        assert_eq!(a.resource, json!({ "pod_id": "x" }));
        let (c, created_c) = store.job_enqueue(&job("pod_check", "y")).await.unwrap();
        assert!(created_c && c.id != a.id, "another resource is another job");
    }

    async fn claim_leases_and_expired_leases_are_taken_over(store: &Store) {
        let (queued, _) = store.job_enqueue(&job("pod_check", "x")).await.unwrap();
        let t0 = now();
        let claimed = store.job_claim("r1", t0, t0 + Duration::seconds(30)).await.unwrap().unwrap();
        assert_eq!((claimed.id, claimed.status, claimed.attempts), (queued.id, JobStatus::Running, 1));
        assert_eq!(claimed.lease_owner.as_deref(), Some("r1"));
        // Leased: nobody else gets it.
        assert!(store.job_claim("r2", t0, t0 + Duration::seconds(30)).await.unwrap().is_none());
        // A second request for the same resource waits while the first runs.
        let (waiting, created) = store.job_enqueue(&job("pod_check", "x")).await.unwrap();
        assert!(created);
        assert!(store.job_claim("r2", t0, t0 + Duration::seconds(30)).await.unwrap().is_none(),
            "one running job per resource");
        // r1 dies; after its lease expires r2 takes the running job over.
        let later = t0 + Duration::seconds(31);
        let taken = store.job_claim("r2", later, later + Duration::seconds(30)).await.unwrap().unwrap();
        assert_eq!((taken.id, taken.attempts), (queued.id, 2));
        assert_eq!(taken.lease_owner.as_deref(), Some("r2"));
        // r1 comes back: it lost the lease, so it can neither renew nor finish.
        assert!(!store.job_renew_lease(queued.id, "r1", later + Duration::seconds(60)).await.unwrap());
        assert!(!store.job_finish(queued.id, "r1", JobOutcome::Success).await.unwrap());
        assert!(store.job_renew_lease(queued.id, "r2", later + Duration::seconds(60)).await.unwrap());
        assert!(store.job_finish(queued.id, "r2", JobOutcome::Success).await.unwrap());
        let done = store.job_get(queued.id).await.unwrap().unwrap();
        assert_eq!(done.status, JobStatus::Success);
        assert!(done.finished_at.is_some() && done.lease_owner.is_none());
        // Now the waiting job can run.
        let next = store.job_claim("r2", later, later + Duration::seconds(30)).await.unwrap().unwrap();
        assert_eq!(next.id, waiting.id);
    }

    async fn retry_waits_until_its_time_and_fail_is_final(store: &Store) {
        let (j, _) = store.job_enqueue(&job("pod_check", "x")).await.unwrap();
        let t0 = now();
        store.job_claim("r1", t0, t0 + Duration::seconds(30)).await.unwrap().unwrap();
        let retry_at = t0 + Duration::seconds(10);
        assert!(store.job_finish(j.id, "r1", JobOutcome::Retry { at: retry_at, error: "pod timeout".into() }).await.unwrap());
        let back = store.job_get(j.id).await.unwrap().unwrap();
        assert_eq!((back.status, back.last_error.as_deref()), (JobStatus::New, Some("pod timeout")));
        assert!(store.job_claim("r1", t0 + Duration::seconds(9), t0 + Duration::seconds(60)).await.unwrap().is_none(),
            "not before its retry time");
        let again = store.job_claim("r1", retry_at, retry_at + Duration::seconds(30)).await.unwrap().unwrap();
        assert_eq!(again.attempts, 2);
        assert!(store.job_finish(j.id, "r1", JobOutcome::Fail { error: "gave up".into() }).await.unwrap());
        let failed = store.job_get(j.id).await.unwrap().unwrap();
        assert_eq!(failed.status, JobStatus::Fail);
        assert!(failed.finished_at.is_some());
        assert!(store.job_claim("r1", retry_at + Duration::days(1), retry_at + Duration::days(2)).await.unwrap().is_none(),
            "a failed job only runs again when redone");
    }

    async fn redo_and_delete_follow_the_job_state(store: &Store) {
        let (j, _) = store.job_enqueue(&job("pod_check", "x")).await.unwrap();
        let t0 = now();
        store.job_claim("r1", t0, t0 + Duration::seconds(30)).await.unwrap().unwrap();
        assert!(matches!(store.job_redo(j.id).await, Err(StoreError::State(_))), "running");
        assert!(matches!(store.job_delete(j.id).await, Err(StoreError::State(_))), "running");
        store.job_finish(j.id, "r1", JobOutcome::Fail { error: "boom".into() }).await.unwrap();
        let redone = store.job_redo(j.id).await.unwrap().unwrap();
        assert_eq!((redone.id, redone.status, redone.attempts, redone.last_error), (j.id, JobStatus::New, 0, None));
        // A failed job whose resource already has a waiting job folds into it.
        let t1 = now();
        store.job_claim("r1", t1, t1 + Duration::seconds(30)).await.unwrap().unwrap();
        store.job_finish(j.id, "r1", JobOutcome::Fail { error: "boom".into() }).await.unwrap();
        let (waiting, _) = store.job_enqueue(&job("pod_check", "x")).await.unwrap();
        let folded = store.job_redo(j.id).await.unwrap().unwrap();
        assert_eq!(folded.id, waiting.id);
        assert!(store.job_get(j.id).await.unwrap().is_none());
        // Succeeded jobs cannot be redone but can be deleted.
        let t2 = now();
        store.job_claim("r1", t2, t2 + Duration::seconds(30)).await.unwrap().unwrap();
        store.job_finish(waiting.id, "r1", JobOutcome::Success).await.unwrap();
        assert!(matches!(store.job_redo(waiting.id).await, Err(StoreError::State(_))));
        assert!(store.job_delete(waiting.id).await.unwrap());
        assert!(!store.job_delete(waiting.id).await.unwrap());
        assert!(store.job_redo(JobId::new()).await.unwrap().is_none());
    }

    async fn list_filters_and_purge(store: &Store) {
        let (a, _) = store.job_enqueue(&job("pod_check", "a")).await.unwrap();
        let (b, _) = store.job_enqueue(&job("other", "b")).await.unwrap();
        let (c, _) = store.job_enqueue(&job("pod_check", "c")).await.unwrap();
        let all = Page { limit: 10, marker: None };
        let ids = |v: Vec<tricircle_store::Job>| v.into_iter().map(|j| j.id).collect::<Vec<_>>();
        assert_eq!(ids(store.job_list(&JobFilter::default(), &all).await.unwrap()), [c.id, b.id, a.id]);
        let f = JobFilter { job_type: Some("pod_check".into()), ..Default::default() };
        assert_eq!(ids(store.job_list(&f, &all).await.unwrap()), [c.id, a.id]);
        let t0 = now();
        let claimed = store.job_claim("r", t0, t0 + Duration::seconds(5)).await.unwrap().unwrap();
        store.job_finish(claimed.id, "r", JobOutcome::Success).await.unwrap();
        let f = JobFilter { status: Some(JobStatus::Success), ..Default::default() };
        assert_eq!(ids(store.job_list(&f, &all).await.unwrap()), [claimed.id]);
        let f = JobFilter { project_id: Some("other".into()), ..Default::default() };
        assert!(store.job_list(&f, &all).await.unwrap().is_empty());
        let page = store.job_list(&JobFilter::default(), &Page { limit: 1, marker: Some(c.id) }).await.unwrap();
        assert_eq!(ids(page), [b.id]);
        assert_eq!(store.job_purge_finished(t0 - Duration::seconds(60)).await.unwrap(), 0, "too recent");
        assert_eq!(store.job_purge_finished(now() + Duration::seconds(1)).await.unwrap(), 1);
        assert!(store.job_get(claimed.id).await.unwrap().is_none());
    }

    async fn progress_is_saved_by_the_lease_holder_only(store: &Store) {
        let (j, _) = store.job_enqueue(&job("pod_check", "x")).await.unwrap();
        let t0 = now();
        store.job_claim("r1", t0, t0 + Duration::seconds(30)).await.unwrap().unwrap();
        assert!(store.job_save_progress(j.id, "r1", &json!({"done": ["a"]})).await.unwrap());
        assert!(!store.job_save_progress(j.id, "r2", &json!({"done": []})).await.unwrap());
        assert_eq!(store.job_get(j.id).await.unwrap().unwrap().progress, json!({"done": ["a"]}));
    }

    async fn every_attempt_is_logged_and_none_overlaps(store: &Store) {
        let (j, _) = store.job_enqueue(&job("pod_check", "x")).await.unwrap();
        let t0 = now();
        store.job_claim("r1", t0, t0 + Duration::seconds(30)).await.unwrap().unwrap();
        assert!(store.job_renew_lease(j.id, "r1", t0 + Duration::seconds(40)).await.unwrap());
        // r1 dies; r2 takes over after the lease and retries; r3 finishes.
        let t1 = t0 + Duration::seconds(41);
        store.job_claim("r2", t1, t1 + Duration::seconds(30)).await.unwrap().unwrap();
        let retry = JobOutcome::Retry { at: t1, error: "pod away".into() };
        assert!(store.job_finish(j.id, "r2", retry).await.unwrap());
        let t2 = now().max(t1) + Duration::seconds(1);
        store.job_claim("r3", t2, t2 + Duration::seconds(30)).await.unwrap().unwrap();
        // r3 loses it to nobody; giving up records when it stopped.
        store.job_finish(j.id, "r3", JobOutcome::Success).await.unwrap();
        let log = store.job_attempts(j.id).await.unwrap();
        let summary: Vec<_> = log.iter().map(|a| (a.owner.as_str(), a.outcome.as_deref())).collect();
        assert_eq!(summary, [("r1", Some("LEASE_LOST")), ("r2", Some("RETRY")), ("r3", Some("SUCCESS"))]);
        assert_eq!(log[0].lease_until, t0 + Duration::seconds(40), "renewals are logged");
        assert!(log[0].finished_at.is_none(), "a dead owner never reported");
        assert_eq!(log[1].error.as_deref(), Some("pod away"));
        for pair in log.windows(2) {
            assert!(pair[1].started_at > pair[0].ended_by(), "{pair:?}");
        }
        // A holder that lost the lease records when it stopped.
        let (k, _) = store.job_enqueue(&job("pod_check", "y")).await.unwrap();
        let t3 = now();
        store.job_claim_id(k.id, "r4", t3, t3 + Duration::seconds(30)).await.unwrap().unwrap();
        store.job_give_up(k.id, "r4").await.unwrap();
        let log = store.job_attempts(k.id).await.unwrap();
        assert_eq!(log[0].outcome.as_deref(), Some("LEASE_LOST"));
        assert!(log[0].finished_at.is_some());
        // The log goes with its job.
        assert!(store.job_delete(j.id).await.unwrap());
        assert!(store.job_attempts(j.id).await.unwrap().is_empty());
    }

    async fn claiming_a_job_by_id_waits_while_its_resource_is_busy(store: &Store) {
        let (a, _) = store.job_enqueue(&job("pod_check", "x")).await.unwrap();
        let t0 = now();
        store.job_claim_id(a.id, "api", t0, t0 + Duration::seconds(30)).await.unwrap().unwrap();
        let (b, _) = store.job_enqueue(&job("pod_check", "x")).await.unwrap();
        assert!(store.job_claim_id(b.id, "api", t0, t0 + Duration::seconds(30)).await.unwrap().is_none(),
            "one running job per resource");
        assert!(store.job_claim_id(a.id, "api", t0, t0 + Duration::seconds(30)).await.unwrap().is_none(),
            "already running");
        store.job_finish(a.id, "api", JobOutcome::Success).await.unwrap();
        assert!(store.job_claim_id(b.id, "api", t0, t0 + Duration::seconds(30)).await.unwrap().is_some());
    }

    async fn locks_are_leased_to_one_owner_at_a_time(store: &Store) {
        let t0 = now();
        let until = t0 + Duration::seconds(10);
        assert!(store.lock_acquire("router:r", "a", t0, until).await.unwrap());
        assert!(!store.lock_acquire("router:r", "b", t0, until).await.unwrap(), "held by a");
        assert!(store.lock_acquire("router:other", "b", t0, until).await.unwrap(), "another name");
        assert!(store.lock_acquire("router:r", "a", t0, until + Duration::seconds(10)).await.unwrap(),
            "the holder renews");
        assert!(!store.lock_acquire("router:r", "b", until + Duration::seconds(1), until).await.unwrap(),
            "renewed past that");
        let later = until + Duration::seconds(11);
        assert!(store.lock_acquire("router:r", "b", later, later + Duration::seconds(10)).await.unwrap(),
            "expired: b takes it over");
        store.lock_release("router:r", "a").await.unwrap();
        assert!(!store.lock_acquire("router:r", "c", later, later).await.unwrap(), "a cannot release b's");
        store.lock_release("router:r", "b").await.unwrap();
        assert!(store.lock_acquire("router:r", "c", later, later).await.unwrap());
    }

    async fn inline_runs_are_recorded_and_safe_from_runners(store: &Store) {
        // A saga an API call runs at once: recorded as running, no runner can take it.
        let t0 = now();
        let lease = t0 + Duration::seconds(30);
        let started = store.job_start(&job("server_delete", "s1"), "api", t0, lease, &json!({})).await.unwrap().unwrap();
        assert_eq!((started.status, started.attempts), (JobStatus::Running, 1));
        assert!(store.job_claim("runner", t0, lease).await.unwrap().is_none());
        assert!(store.job_start(&job("server_delete", "s1"), "api2", t0, lease, &json!({})).await.unwrap().is_none(),
            "one running job per resource");
        assert!(store.job_finish(started.id, "api", JobOutcome::Success).await.unwrap());
        assert_eq!(store.job_attempts(started.id).await.unwrap()[0].outcome.as_deref(), Some("SUCCESS"));
        // A saga's starting point is recorded with the job: a process that
        // dies at once leaves something the runner can resume.
        let start = json!({"state": {"top_id": "s2"}, "done": 0, "unwinding": false});
        let with = store
            .job_start(&job("server_create", "s2"), "api", t0, lease, &start)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((with.status, &with.progress), (JobStatus::Running, &start));
        assert_eq!(store.job_get(with.id).await.unwrap().unwrap().progress, start);
        assert!(store.job_finish(with.id, "api", JobOutcome::Success).await.unwrap());

        // A sync recorded as a safety net, due later, then claimed and done inline.
        let later = now() + Duration::seconds(60);
        let (net, _) = store.job_enqueue_due(&job("network_sync", "n1"), later).await.unwrap();
        assert!(store.job_claim("runner", now(), now() + Duration::seconds(30)).await.unwrap().is_none(),
            "not due yet");
        let (same, created) = store.job_enqueue_due(&job("network_sync", "n1"), later).await.unwrap();
        assert!(!created && same.id == net.id, "a second request joins the waiting one");
        let t1 = now();
        store.job_claim_id(net.id, "api", t1, t1 + Duration::seconds(30)).await.unwrap().unwrap();
        assert!(store.job_finish(net.id, "api", JobOutcome::Success).await.unwrap());
        let done = store.job_get(net.id).await.unwrap().unwrap();
        assert_eq!((done.status, done.attempts), (JobStatus::Success, 1));
    }

    async fn counts_by_type_and_status(store: &Store) {
        store.job_enqueue(&job("pod_check", "a")).await.unwrap();
        store.job_enqueue(&job("pod_check", "b")).await.unwrap();
        let (s, _) = store.job_enqueue(&job("router_sync", "r")).await.unwrap();
        let t0 = now();
        store.job_claim_id(s.id, "r1", t0, t0 + Duration::seconds(30)).await.unwrap().unwrap();
        let counts = store.job_counts().await.unwrap();
        assert_eq!(counts, [("pod_check".to_string(), JobStatus::New, 2), ("router_sync".to_string(), JobStatus::Running, 1)]);
    }

    async fn jobs_waiting_behind_running_ones_do_not_hide_others(store: &Store) {
        let t0 = now();
        let lease = t0 + Duration::seconds(60);
        // Ten resources each with a running job and one waiting behind it.
        for i in 0..10 {
            let (j, _) = store.job_enqueue(&job("router_sync", &format!("r{i}"))).await.unwrap();
            store.job_claim_id(j.id, "busy", t0, lease).await.unwrap().unwrap();
            store.job_enqueue(&job("router_sync", &format!("r{i}"))).await.unwrap();
        }
        let (other, _) = store.job_enqueue(&job("pod_check", "p")).await.unwrap();
        let claimed = store.job_claim("runner", now(), lease).await.unwrap().expect("a due job");
        assert_eq!(claimed.id, other.id);
    }
}
