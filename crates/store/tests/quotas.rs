//! Per-project quota limits and the top Neutron's usage counts, on both
//! backends.

use tricircle_store::{NetObject, QuotaLimit, backend_tests, now};

fn limit(project: &str, resource: &str, hard_limit: i64) -> QuotaLimit {
    QuotaLimit { project_id: project.into(), resource: resource.into(), hard_limit }
}

fn network(id: &str, project: &str) -> NetObject {
    let t = now();
    NetObject {
        id: id.into(),
        kind: "network".into(),
        project_id: project.into(),
        network_id: None,
        shared: false,
        body: "{}".into(),
        created_at: t,
        updated_at: t,
    }
}

backend_tests! {
    async fn limits_are_set_replaced_listed_and_reset(store: &Store) {
        assert!(store.quota_get("network", "p1").await.unwrap().is_empty());
        let set = [("network".to_string(), 5), ("port".to_string(), -1)];
        store.quota_set("network", "p1", &set).await.unwrap();
        // Setting again replaces only what is named.
        store.quota_set("network", "p1", &[("network".to_string(), 7)]).await.unwrap();
        store.quota_set("network", "p2", &[("router".to_string(), 0)]).await.unwrap();
        // Another service's limits are its own.
        store.quota_set("compute", "p1", &[("network".to_string(), 1)]).await.unwrap();
        assert_eq!(
            store.quota_get("network", "p1").await.unwrap(),
            [limit("p1", "network", 7), limit("p1", "port", -1)]
        );
        assert_eq!(
            store.quota_list("network").await.unwrap(),
            [limit("p1", "network", 7), limit("p1", "port", -1), limit("p2", "router", 0)]
        );
        assert_eq!(store.quota_delete("network", "p1").await.unwrap(), 2);
        assert!(store.quota_get("network", "p1").await.unwrap().is_empty());
        assert_eq!(store.quota_get("compute", "p1").await.unwrap(), [limit("p1", "network", 1)]);
        assert_eq!(store.quota_delete("network", "p1").await.unwrap(), 0);
    }

    async fn usage_counts_a_projects_objects_by_kind(store: &Store) {
        for (id, project) in [("n1", "p1"), ("n2", "p1"), ("n3", "p2"), ("gw", "")] {
            store.net_object_create(&network(id, project)).await.unwrap();
        }
        let mut sg = network("g1", "p1");
        sg.kind = "security_group".into();
        store.net_object_create(&sg).await.unwrap();
        assert_eq!(store.net_count("network", "p1").await.unwrap(), 2);
        assert_eq!(store.net_count("port", "p1").await.unwrap(), 0);
        assert_eq!(
            store.net_usage("p1").await.unwrap(),
            [("network".to_string(), 2), ("security_group".to_string(), 1)]
        );
        assert_eq!(store.net_usage("p3").await.unwrap(), []);
    }
}
