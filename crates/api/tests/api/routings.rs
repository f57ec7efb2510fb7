//! `/admin/v1.0/routings`: success and error paths, and paging by links.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Gateway, PAGE_MAX};
use crate::gateway_tests;

async fn make_pod(gw: &Gateway, region: &str) -> String {
    let r = gw
        .call(
            Method::POST,
            "/admin/v1.0/pods",
            Some(json!({"pod": {"region_name": region, "az_name": "az"}})),
        )
        .await;
    r.ok(201)["pod"]["pod_id"].as_str().unwrap().to_string()
}

fn routing(top: &str, pod: &str, ty: &str) -> Value {
    json!({"routing": {"top_id": top, "bottom_id": null, "pod_id": pod, "project_id": "p1", "resource_type": ty}})
}

/// Follow `routings_links` from `first`, returning every id in order.
async fn follow(gw: &Gateway, first: &str) -> (Vec<i64>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut next = Some(first.to_string());
    while let Some(url) = next.take() {
        let page = gw.get(&url).await;
        let body = page.ok(200);
        pages += 1;
        ids.extend(body["routings"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()));
        next = body["routings_links"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["rel"] == "next"))
            .map(|l| l["href"].as_str().unwrap().to_string());
        assert!(pages < 100, "paging does not end");
    }
    (ids, pages)
}

gateway_tests! {
    async fn create_show_update_delete(gw: &Gateway) {
        let pod = make_pod(gw, "Pod1").await;
        let pod2 = make_pod(gw, "Pod2").await;
        let r = gw.call(Method::POST, "/admin/v1.0/routings", Some(routing("net-1", &pod, "network"))).await;
        let created = r.ok(201)["routing"].clone();
        assert_eq!((created["top_id"].as_str(), created["bottom_id"].is_null(), created["pod_id"].as_str()), (Some("net-1"), true, Some(pod.as_str())));
        let id = created["id"].as_i64().unwrap();
        assert_eq!(gw.get(&format!("/admin/v1.0/routings/{id}")).await.ok(200)["routing"], created);

        let path = format!("/admin/v1.0/routings/{id}");
        let put = |body: Value| gw.call(Method::PUT, &path, Some(body));
        let u = put(json!({"routing": {"bottom_id": "b-1"}})).await.ok(200)["routing"].clone();
        assert_eq!((u["bottom_id"].as_str(), u["top_id"].as_str()), (Some("b-1"), Some("net-1")), "only the given field changes");
        let u = put(json!({"routing": {"bottom_id": null, "pod_id": pod2}})).await.ok(200)["routing"].clone();
        assert!(u["bottom_id"].is_null(), "null clears bottom_id");
        assert_eq!(u["pod_id"], pod2.as_str());
        assert!(put(json!({"routing": {}})).await.fault(400).starts_with("Nothing to update"));
        put(json!({"routing": {"top_id": "  "}})).await.fault(400);
        put(json!({"routing": {"resource_type": "spaceship"}})).await.fault(400);
        put(json!({"routing": {"pod_id": "7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11"}})).await.fault(400);
        put(json!({"routing": {"pod_id": "nope"}})).await.fault(400);
        put(json!({"routing": {"id": 5}})).await.fault(400);
        gw.call(Method::POST, "/admin/v1.0/routings", Some(routing("net-2", &pod2, "network"))).await.ok(201);
        assert!(put(json!({"routing": {"top_id": "net-2"}})).await.fault(409).contains("already exists"), "would duplicate net-2");
        gw.call(Method::PUT, "/admin/v1.0/routings/999999", Some(json!({"routing": {"top_id": "x"}}))).await.fault(404);

        assert_eq!(gw.call(Method::DELETE, &format!("/admin/v1.0/routings/{id}"), None).await.status, 204);
        gw.get(&format!("/admin/v1.0/routings/{id}")).await.fault(404);
        gw.call(Method::DELETE, &format!("/admin/v1.0/routings/{id}"), None).await.fault(404);
    }

    async fn create_errors(gw: &Gateway) {
        let pod = make_pod(gw, "Pod1").await;
        let post = |body: Value| gw.call(Method::POST, "/admin/v1.0/routings", Some(body));
        post(routing("a", &pod, "port")).await.ok(201);
        assert!(post(routing("a", &pod, "port")).await.fault(409).contains("already exists"));
        assert!(post(routing("a", "7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11", "port")).await.fault(400).contains("does not exist"));
        assert!(post(routing("a", "x", "port")).await.fault(400).contains("must be a UUID"));
        assert!(post(routing("b", &pod, "spaceship")).await.fault(400).contains("Unknown resource_type 'spaceship'"));
        assert!(post(routing(" ", &pod, "port")).await.fault(400).contains("top_id must not be empty"));
        assert!(post(routing(&"t".repeat(128), &pod, "port")).await.fault(400).contains("longer than 127"));
        assert!(post(json!({"routing": {"top_id": "c", "pod_id": pod}})).await.fault(400).contains("missing field"));
        assert!(post(json!({"routing": {"top_id": 1, "pod_id": pod, "project_id": "p", "resource_type": "port"}})).await.fault(400).contains("routing.top_id"));
    }

    async fn show_and_delete_errors(gw: &Gateway) {
        assert!(gw.get("/admin/v1.0/routings/abc").await.fault(400).contains("must be an integer"));
        gw.get("/admin/v1.0/routings/12345").await.fault(404);
        gw.call(Method::DELETE, "/admin/v1.0/routings/1.5", None).await.fault(400);
    }

    async fn list_filters_and_query_errors(gw: &Gateway) {
        let p1 = make_pod(gw, "Pod1").await;
        let p2 = make_pod(gw, "Pod2").await;
        for (top, pod, ty) in [("a", &p1, "port"), ("b", &p2, "port"), ("a", &p2, "network")] {
            gw.call(Method::POST, "/admin/v1.0/routings", Some(routing(top, pod, ty))).await.ok(201);
        }
        let count = |q: String| async move {
            gw.get(&format!("/admin/v1.0/routings{q}")).await.ok(200)["routings"].as_array().unwrap().len()
        };
        assert_eq!(count(String::new()).await, 3);
        assert_eq!(count("?top_id=a".into()).await, 2);
        assert_eq!(count(format!("?pod_id={p2}&resource_type=port")).await, 1);
        assert_eq!(count("?project_id=other".into()).await, 0);
        let list = gw.get("/admin/v1.0/routings").await;
        assert!(list.body.get("routings_links").is_none(), "no next link on a partial page");
        assert!(gw.get("/admin/v1.0/routings?colour=red").await.fault(400).contains("unknown field `colour`"));
        assert!(gw.get("/admin/v1.0/routings?limit=-1").await.fault(400).contains("non-negative"));
        assert!(gw.get("/admin/v1.0/routings?limit=ten").await.fault(400).contains("Invalid limit 'ten'"));
        assert!(gw.get("/admin/v1.0/routings?marker=x").await.fault(400).contains("Invalid marker"));
        assert!(gw.get("/admin/v1.0/routings?marker=999999").await.fault(400).contains("could not be found"));
        assert!(gw.get("/admin/v1.0/routings?id=x").await.fault(400).contains("Invalid id"));
        assert!(gw.get("/admin/v1.0/routings?pod_id=x").await.fault(400).contains("must be a UUID"));
        assert!(gw.get("/admin/v1.0/routings?limit=1&limit=2").await.fault(400).contains("duplicate field"));
    }

    async fn paging_by_links_has_no_gap_or_duplicate(gw: &Gateway) {
        let p1 = make_pod(gw, "Pod1").await;
        let p2 = make_pod(gw, "Pod2").await;
        for i in 0..23 {
            let pod = if i % 3 == 0 { &p2 } else { &p1 };
            gw.call(Method::POST, "/admin/v1.0/routings", Some(routing(&format!("t{i}"), pod, "port"))).await.ok(201);
        }
        let (all, _) = follow(gw, "/admin/v1.0/routings").await;
        assert_eq!(all.len(), 23);
        for limit in [1, 5, 7, 23, 24] {
            let (ids, pages) = follow(gw, &format!("/admin/v1.0/routings?limit={limit}")).await;
            assert_eq!(ids, all, "limit {limit}: same rows, same order");
            assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
            // A full last page gets a link to an empty page, as upstream.
            assert_eq!(pages, 23 / limit + 1, "limit {limit}");
        }
        // Filters survive in the next link.
        let (ids, _) = follow(gw, &format!("/admin/v1.0/routings?limit=2&pod_id={p2}")).await;
        assert_eq!(ids.len(), 8);
        let first = gw.get(&format!("/admin/v1.0/routings?limit=2&pod_id={p2}")).await;
        let href = first.body["routings_links"][0]["href"].as_str().unwrap();
        assert!(href.starts_with(&gw.base) && href.contains(&format!("pod_id={p2}")) && href.contains("limit=2"), "{href}");
    }

    async fn limit_is_clamped_to_the_maximum(gw: &Gateway) {
        let pod = make_pod(gw, "Pod1").await;
        for i in 0..(PAGE_MAX + 3) {
            gw.call(Method::POST, "/admin/v1.0/routings", Some(routing(&format!("t{i}"), &pod, "port"))).await.ok(201);
        }
        for q in ["", "?limit=0", "?limit=100000"] {
            let page = gw.get(&format!("/admin/v1.0/routings{q}")).await;
            assert_eq!(page.ok(200)["routings"].as_array().unwrap().len(), PAGE_MAX as usize, "{q}");
            assert!(page.body["routings_links"].is_array());
        }
    }
}
