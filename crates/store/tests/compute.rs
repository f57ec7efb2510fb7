//! Flavors, keypairs, resource summaries and routing lookups, on both backends.

use tricircle_common::PodId;
use tricircle_store::{
    Flavor, Keypair, NewPod, NewRouting, ResourceRow, StoreError, backend_tests, now,
};

fn flavor(id: &str, name: &str) -> Flavor {
    Flavor {
        id: id.into(),
        name: name.into(),
        vcpus: 1,
        ram_mb: 512,
        disk_gb: 1,
        ephemeral_gb: 0,
        swap_mb: 0,
        is_public: true,
        description: None,
        extra_specs: "{}".into(),
        created_at: now(),
    }
}

async fn pod(store: &tricircle_store::Store, region: &str) -> PodId {
    let p = NewPod {
        pod_id: PodId::new(),
        region_name: region.into(),
        az_name: "az".into(),
        pod_az_name: String::new(),
        dc_name: String::new(),
        auth_url: None,
        identity_mode: "mapped".into(),
        endpoints: "{}".into(),
        credentials: None,
    };
    store.pod_create(&p).await.unwrap().pod_id
}

fn server(id: &str, project: &str, pod: PodId) -> ResourceRow {
    let t = now();
    ResourceRow {
        id: id.into(),
        resource_type: "server".into(),
        project_id: project.into(),
        user_id: "u".into(),
        pod_id: Some(pod.to_string()),
        name: format!("vm-{id}"),
        status: "BUILD".into(),
        summary: "{}".into(),
        created_at: t,
        updated_at: t,
    }
}

backend_tests! {
    async fn flavors_and_access(store: &Store) {
        store.flavor_create(&flavor("1", "m1.tiny")).await.unwrap();
        assert!(matches!(store.flavor_create(&flavor("2", "m1.tiny")).await, Err(StoreError::Duplicate(_))));
        store.flavor_create(&Flavor { is_public: false, ..flavor("p", "private") }).await.unwrap();
        store.flavor_access_add("p", "proj-a").await.unwrap();
        store.flavor_access_add("p", "proj-a").await.unwrap();
        assert_eq!(store.flavor_access_list("p").await.unwrap(), ["proj-a"]);
        assert_eq!(store.flavor_list().await.unwrap().len(), 2);
        assert!(store.flavor_delete("p").await.unwrap());
        assert!(store.flavor_access_list("p").await.unwrap().is_empty(), "access goes with the flavor");
        assert!(!store.flavor_access_remove("p", "proj-a").await.unwrap());
    }

    async fn keypairs_are_per_user(store: &Store) {
        let k = Keypair { user_id: "u1".into(), name: "k".into(), public_key: "ssh-ed25519 AAA".into(), fingerprint: "f".into(), key_type: "ssh".into(), created_at: now() };
        store.keypair_create(&k).await.unwrap();
        assert!(matches!(store.keypair_create(&k).await, Err(StoreError::Duplicate(_))));
        store.keypair_create(&Keypair { user_id: "u2".into(), ..k.clone() }).await.unwrap();
        assert_eq!(store.keypair_list("u1").await.unwrap(), vec![k.clone()]);
        assert!(store.keypair_delete("u1", "k").await.unwrap());
        assert!(store.keypair_get("u1", "k").await.unwrap().is_none());
        assert!(store.keypair_get("u2", "k").await.unwrap().is_some());
    }

    async fn resources_and_routing_lookups(store: &Store) {
        let p1 = pod(store, "Pod1").await;
        let p2 = pod(store, "Pod2").await;
        store.resource_insert(&server("a", "proj", p1)).await.unwrap();
        store.resource_insert(&server("b", "proj", p2)).await.unwrap();
        store.resource_insert(&server("c", "other", p2)).await.unwrap();
        assert_eq!(store.resource_list("server", Some("proj")).await.unwrap().len(), 2);
        assert_eq!(store.resource_list("server", None).await.unwrap().len(), 3);
        assert!(store.resource_refresh("a", "renamed", "ACTIVE", "{\"x\":1}").await.unwrap());
        let a = store.resource_get("a").await.unwrap().unwrap();
        assert_eq!((a.name.as_str(), a.status.as_str(), a.summary.as_str()), ("renamed", "ACTIVE", "{\"x\":1}"));
        let mut counts = store.resource_count_by_pod("server").await.unwrap();
        counts.sort();
        let mut want = vec![(p1.to_string(), 1), (p2.to_string(), 2)];
        want.sort();
        assert_eq!(counts, want);
        // A pod holding resources cannot go.
        assert!(store.pod_delete(p1).await.is_err());
        assert!(store.resource_delete("a").await.unwrap());
        assert!(!store.resource_delete("a").await.unwrap());

        let r = store.routing_create(&NewRouting { top_id: "b".into(), bottom_id: Some("bb".into()), pod_id: p2, project_id: "proj".into(), resource_type: "server".into() }).await.unwrap();
        assert_eq!(store.routing_find("b", "server", p2).await.unwrap(), Some(r.clone()));
        assert_eq!(store.routing_find("b", "server", p1).await.unwrap(), None);
        assert_eq!(store.routing_list_for_top("b", "server").await.unwrap(), vec![r.clone()]);
        assert_eq!(store.routing_list_in_pod("server", p2).await.unwrap(), vec![r]);
    }

    async fn places_join_the_pods_ids(store: &Store) {
        let p1 = pod(store, "Pod1").await;
        let p2 = pod(store, "Pod2").await;
        for (id, project, pod) in [("a", "proj", p1), ("b", "proj", p2), ("c", "other", p2)] {
            store.resource_insert(&server(id, project, pod)).await.unwrap();
        }
        let route = |top: &str, bottom: Option<&str>, pod| NewRouting { top_id: top.into(), bottom_id: bottom.map(Into::into), pod_id: pod, project_id: "proj".into(), resource_type: "server".into() };
        store.routing_create(&route("a", Some("a-in-p1"), p1)).await.unwrap();
        // A routing of the same top ID in another pod (an image copy, say) is not its place.
        store.routing_create(&route("a", Some("elsewhere"), p2)).await.unwrap();
        // Still being created: no bottom ID yet.
        store.routing_create(&route("b", None, p2)).await.unwrap();
        let mut places = store.resource_places("server", Some("proj")).await.unwrap();
        places.sort_by(|x, y| x.id.cmp(&y.id));
        let got: Vec<(&str, Option<&str>, Option<&str>)> = places.iter().map(|p| (p.id.as_str(), p.pod_id.as_deref(), p.bottom_id.as_deref())).collect();
        let (s1, s2) = (p1.to_string(), p2.to_string());
        assert_eq!(got, vec![("a", Some(s1.as_str()), Some("a-in-p1")), ("b", Some(s2.as_str()), None)]);
        assert_eq!(store.resource_places("server", None).await.unwrap().len(), 3);
        assert!(store.resource_places("volume", None).await.unwrap().is_empty());

        let ids: Vec<String> = (0..1203).map(|i| format!("id-{i}")).chain(["a".into(), "c".into()]).collect();
        let mut rows = store.resource_get_many(&ids).await.unwrap();
        rows.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a", "c"], "across chunks, only existing rows");
        assert!(store.resource_get_many(&[]).await.unwrap().is_empty());
    }
}
