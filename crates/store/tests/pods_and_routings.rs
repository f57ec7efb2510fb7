//! The store's contract for pods and routings, run on SQLite and PostgreSQL.

use tricircle_common::PodId;
use tricircle_store::{
    NewPod, NewRouting, Page, RoutingFilter, RoutingPatch, StoreError, backend_tests,
};

fn new_pod(region: &str, az: &str) -> NewPod {
    NewPod {
        pod_id: PodId::new(),
        region_name: region.into(),
        az_name: az.into(),
        pod_az_name: String::new(),
        dc_name: "dc1".into(),
        auth_url: Some(format!("http://{region}.example/identity/v3")),
        identity_mode: "shared".into(),
        endpoints: "{}".into(),
        credentials: Some(vec![1, 2, 3, 0, 255]),
    }
}

fn new_routing(top: &str, pod: PodId, ty: &str) -> NewRouting {
    NewRouting {
        top_id: top.into(),
        bottom_id: None,
        pod_id: pod,
        project_id: "p1".into(),
        resource_type: ty.into(),
    }
}

backend_tests! {
    async fn pod_round_trip(store: &Store) {
        let created = store.pod_create(&new_pod("Pod1", "az1")).await.unwrap();
        let fetched = store.pod_get(created.pod_id).await.unwrap().unwrap();
        assert_eq!(fetched, created, "what is read back equals what was written");
        assert_eq!(fetched.credentials.as_deref(), Some(&[1u8, 2, 3, 0, 255][..]));
        assert_eq!(store.pod_get_by_region("Pod1").await.unwrap().unwrap().pod_id, created.pod_id);
        assert!(store.pod_get(PodId::new()).await.unwrap().is_none());
        assert!(store.pod_get_top().await.unwrap().is_none());
        assert_eq!(fetched.health, tricircle_store::PodHealth::default());
        let health = tricircle_store::PodHealth {
            checked_at: Some(tricircle_store::now()),
            ok: Some(false),
            latency_ms: Some(12),
            error: Some("connection refused".into()),
        };
        assert!(store.pod_record_health(created.pod_id, &health).await.unwrap());
        assert_eq!(store.pod_get(created.pod_id).await.unwrap().unwrap().health, health);
        assert!(!store.pod_record_health(PodId::new(), &health).await.unwrap());
    }

    async fn pod_list_is_ordered_by_region(store: &Store) {
        for r in ["b", "c", "a"] {
            store.pod_create(&new_pod(r, "az")).await.unwrap();
        }
        let regions: Vec<_> =
            store.pod_list().await.unwrap().into_iter().map(|p| p.region_name).collect();
        assert_eq!(regions, ["a", "b", "c"]);
    }

    async fn duplicate_region_and_second_top_are_refused(store: &Store) {
        store.pod_create(&new_pod("Pod1", "az1")).await.unwrap();
        let dup = store.pod_create(&new_pod("Pod1", "az2")).await.unwrap_err();
        assert!(matches!(dup, StoreError::Duplicate(_)), "{dup:?}");
        let top = store.pod_create(&new_pod("RegionOne", "")).await.unwrap();
        assert!(top.is_top());
        assert_eq!(store.pod_get_top().await.unwrap().unwrap().pod_id, top.pod_id);
        let second = store.pod_create(&new_pod("RegionTwo", "")).await.unwrap_err();
        assert!(matches!(second, StoreError::Duplicate(_)), "{second:?}");
    }

    async fn pod_in_use_cannot_be_deleted(store: &Store) {
        let pod = store.pod_create(&new_pod("Pod1", "az1")).await.unwrap();
        let r = store.routing_create(&new_routing("t1", pod.pod_id, "network")).await.unwrap();
        let err = store.pod_delete(pod.pod_id).await.unwrap_err();
        assert!(matches!(&err, StoreError::State(m) if m == "1 resource routing(s)"), "{err:?}");
        assert!(store.routing_delete(r.id).await.unwrap());
        assert!(store.pod_delete(pod.pod_id).await.unwrap());
        assert!(!store.pod_delete(pod.pod_id).await.unwrap(), "second delete finds nothing");
    }

    async fn routing_round_trip_and_constraints(store: &Store) {
        let pod = store.pod_create(&new_pod("Pod1", "az1")).await.unwrap();
        let r = store.routing_create(&new_routing("top-1", pod.pod_id, "port")).await.unwrap();
        assert_eq!(r.bottom_id, None);
        assert_eq!(store.routing_get(r.id).await.unwrap().unwrap(), r);
        let dup = store.routing_create(&new_routing("top-1", pod.pod_id, "port")).await;
        assert!(matches!(dup, Err(StoreError::Duplicate(_))), "{dup:?}");
        // The same top ID in another type is another routing.
        store.routing_create(&new_routing("top-1", pod.pod_id, "network")).await.unwrap();
        let unknown_pod = store.routing_create(&new_routing("top-2", PodId::new(), "port")).await;
        assert!(matches!(unknown_pod, Err(StoreError::ForeignKey(_))), "{unknown_pod:?}");
        assert!(store.routing_get(i64::MAX).await.unwrap().is_none());
    }

    async fn routing_update_changes_only_given_fields(store: &Store) {
        let pod = store.pod_create(&new_pod("Pod1", "az1")).await.unwrap();
        let other = store.pod_create(&new_pod("Pod2", "az2")).await.unwrap();
        let r = store.routing_create(&new_routing("top-1", pod.pod_id, "port")).await.unwrap();
        let patch = RoutingPatch { bottom_id: Some(Some("b-1".into())), ..Default::default() };
        let u = store.routing_update(r.id, &patch).await.unwrap().unwrap();
        assert_eq!(u.bottom_id.as_deref(), Some("b-1"));
        assert_eq!((u.top_id.as_str(), u.pod_id), ("top-1", pod.pod_id));
        assert!(u.updated_at >= r.updated_at);
        let patch = RoutingPatch { pod_id: Some(other.pod_id), bottom_id: Some(None), ..Default::default() };
        let u = store.routing_update(r.id, &patch).await.unwrap().unwrap();
        assert_eq!((u.pod_id, u.bottom_id), (other.pod_id, None));
        let patch = RoutingPatch { pod_id: Some(PodId::new()), ..Default::default() };
        assert!(matches!(store.routing_update(r.id, &patch).await, Err(StoreError::ForeignKey(_))));
        assert!(store.routing_update(i64::MAX, &RoutingPatch::default()).await.unwrap().is_none());
    }

    async fn routing_filters_are_equalities(store: &Store) {
        let p1 = store.pod_create(&new_pod("Pod1", "az1")).await.unwrap();
        let p2 = store.pod_create(&new_pod("Pod2", "az2")).await.unwrap();
        let a = store.routing_create(&new_routing("a", p1.pod_id, "port")).await.unwrap();
        let b = store.routing_create(&new_routing("b", p2.pod_id, "port")).await.unwrap();
        let c = store.routing_create(&new_routing("a", p2.pod_id, "network")).await.unwrap();
        let all = &Page { limit: 100, marker: None };
        let ids = |v: Vec<tricircle_store::Routing>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let list = |f: RoutingFilter| async move { ids(store.routing_list(&f, all).await.unwrap()) };
        assert_eq!(list(RoutingFilter::default()).await, [c.id, b.id, a.id], "newest first");
        assert_eq!(list(RoutingFilter { top_id: Some("a".into()), ..Default::default() }).await, [c.id, a.id]);
        assert_eq!(list(RoutingFilter { pod_id: Some(p2.pod_id), ..Default::default() }).await, [c.id, b.id]);
        assert_eq!(
            list(RoutingFilter { pod_id: Some(p2.pod_id), resource_type: Some("port".into()), ..Default::default() }).await,
            [b.id]
        );
        assert_eq!(list(RoutingFilter { id: Some(a.id), ..Default::default() }).await, [a.id]);
        assert!(list(RoutingFilter { project_id: Some("nope".into()), ..Default::default() }).await.is_empty());
        let page = store.routing_list(&RoutingFilter::default(), &Page { limit: 2, marker: Some(c.id) }).await.unwrap();
        assert_eq!(ids(page), [b.id, a.id]);
    }

    async fn ping_and_migrate_are_idempotent(store: &Store) {
        store.ping().await.unwrap();
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
    }
}
