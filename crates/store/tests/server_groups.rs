//! Server groups and their members, on both backends.

use tricircle_common::PodId;
use tricircle_store::{NewPod, ResourceRow, ServerGroup, StoreError, backend_tests, now};

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

fn group(id: &str, project: &str) -> ServerGroup {
    ServerGroup {
        id: id.into(),
        project_id: project.into(),
        user_id: "u".into(),
        name: format!("g-{id}"),
        policy: "affinity".into(),
        rules: "{}".into(),
        created_at: now(),
    }
}

fn server(id: &str, pod: PodId) -> ResourceRow {
    let t = now();
    ResourceRow {
        id: id.into(),
        resource_type: "server".into(),
        project_id: "p1".into(),
        user_id: "u".into(),
        pod_id: Some(pod.to_string()),
        name: id.into(),
        status: "BUILD".into(),
        summary: "{}".into(),
        created_at: t,
        updated_at: t,
    }
}

backend_tests! {
    async fn groups_page_by_offset_per_project(store: &Store) {
        for (i, p) in ["p1", "p2", "p1", "p1"].iter().enumerate() {
            store.server_group_create(&group(&format!("g{i}"), p)).await.unwrap();
        }
        assert!(matches!(store.server_group_create(&group("g0", "p1")).await, Err(StoreError::Duplicate(_))));
        let ids = |v: Vec<ServerGroup>| v.into_iter().map(|g| g.id).collect::<Vec<_>>();
        assert_eq!(ids(store.server_group_list(Some("p1"), 10, 0).await.unwrap()), ["g0", "g2", "g3"]);
        assert_eq!(ids(store.server_group_list(Some("p1"), 1, 1).await.unwrap()), ["g2"]);
        assert_eq!(ids(store.server_group_list(Some("p1"), 10, 5).await.unwrap()), Vec::<String>::new());
        assert_eq!(store.server_group_list(None, 10, 0).await.unwrap().len(), 4);
        assert_eq!(store.server_group_count("p1").await.unwrap(), 3);
        assert_eq!(store.server_group_get("g1").await.unwrap().unwrap().project_id, "p2");
        assert!(store.server_group_delete("g1").await.unwrap());
        assert!(!store.server_group_delete("g1").await.unwrap());
        assert!(store.server_group_get("g1").await.unwrap().is_none());
    }

    async fn members_follow_their_server_and_group(store: &Store) {
        let (p1, p2) = (pod(store, "R1").await, pod(store, "R2").await);
        store.server_group_create(&group("g", "p1")).await.unwrap();
        store.server_group_create(&group("h", "p1")).await.unwrap();
        for (s, p) in [("s1", p1), ("s2", p2), ("s3", p1)] {
            store.resource_insert(&server(s, p)).await.unwrap();
        }
        store.server_group_member_add("g", "s1").await.unwrap();
        store.server_group_member_add("g", "s2").await.unwrap();
        store.server_group_member_add("g", "s2").await.unwrap();
        store.server_group_member_add("h", "s3").await.unwrap();
        let members = store.server_group_members(&["g".into()]).await.unwrap();
        let got: Vec<_> = members.iter().map(|m| (m.server_id.as_str(), m.pod_id.clone())).collect();
        assert_eq!(got, [("s1", Some(p1.to_string())), ("s2", Some(p2.to_string()))]);
        assert_eq!(store.server_group_members(&["g".into(), "h".into()]).await.unwrap().len(), 3);
        assert_eq!(store.server_group_of("s3").await.unwrap().as_deref(), Some("h"));
        // A deleted server leaves its group; a deleted group frees its members.
        store.resource_delete("s1").await.unwrap();
        assert_eq!(store.server_group_members(&["g".into()]).await.unwrap().len(), 1);
        assert!(store.server_group_member_remove("s2").await.unwrap());
        assert!(!store.server_group_member_remove("s2").await.unwrap());
        store.server_group_delete("h").await.unwrap();
        assert_eq!(store.server_group_of("s3").await.unwrap(), None);
        assert!(store.resource_get("s3").await.unwrap().is_some(), "the server stays");
    }
}
