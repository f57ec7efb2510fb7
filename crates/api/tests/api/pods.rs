//! `/admin/v1.0/pods`: success and error paths.

use reqwest::Method;
use serde_json::json;
use tricircle_store::NewRouting;

use crate::gateway_tests;

fn pod(region: &str, az: &str) -> serde_json::Value {
    json!({"pod": {"region_name": region, "az_name": az}})
}

gateway_tests! {
    async fn create_show_list_delete(gw: &Gateway) {
        let created = gw.call(Method::POST, "/admin/v1.0/pods", Some(json!({"pod": {
            "region_name": " Pod1 ", "az_name": "az1", "pod_az_name": "nova", "dc_name": "dc1",
            "auth_url": "http://127.0.0.1:5000/v3",
            "identity": "mapped",
            "endpoints": {"compute": "http://127.0.0.1:8774/v2.1"},
            "credentials": {"username": "svc", "password": "pw-SECRET-1", "project_name": "service"}
        }}))).await;
        let p = created.ok(201)["pod"].clone();
        assert_eq!(p["region_name"], "Pod1", "names are trimmed");
        assert_eq!((p["az_name"].as_str(), p["pod_az_name"].as_str(), p["dc_name"].as_str()), (Some("az1"), Some("nova"), Some("dc1")));
        assert_eq!(p["identity"], "mapped");
        assert_eq!(p["has_credentials"], true);
        assert_eq!(p["endpoints"]["compute"], "http://127.0.0.1:8774/v2.1");
        assert!(!created.body.to_string().contains("pw-SECRET-1"), "credentials are never echoed");
        assert!(p.get("credentials").is_none());
        let id = p["pod_id"].as_str().unwrap().to_string();

        let shown = gw.get(&format!("/admin/v1.0/pods/{id}")).await;
        assert_eq!(shown.ok(200)["pod"], p);
        assert!(!shown.body.to_string().contains("pw-SECRET-1"));

        gw.call(Method::POST, "/admin/v1.0/pods", Some(pod("RegionOne", ""))).await.ok(201);
        let list = gw.get("/admin/v1.0/pods").await;
        let regions: Vec<_> = list.ok(200)["pods"].as_array().unwrap().iter().map(|p| p["region_name"].as_str().unwrap().to_string()).collect();
        assert_eq!(regions, ["Pod1", "RegionOne"]);
        assert!(!list.body.to_string().contains("pw-SECRET-1"));

        assert_eq!(gw.call(Method::DELETE, &format!("/admin/v1.0/pods/{id}"), None).await.status, 204);
        gw.get(&format!("/admin/v1.0/pods/{id}")).await.fault(404);
        gw.call(Method::DELETE, &format!("/admin/v1.0/pods/{id}"), None).await.fault(404);
    }

    async fn credentials_are_sealed_at_rest(gw: &Gateway) {
        let created = gw.call(Method::POST, "/admin/v1.0/pods", Some(json!({"pod": {
            "region_name": "Pod1", "az_name": "az1", "auth_url": "https://k.example/v3",
            "credentials": {"username": "svc", "password": "pw-SECRET-2", "project_name": "service"}
        }}))).await;
        let id = created.ok(201)["pod"]["pod_id"].as_str().unwrap().parse().unwrap();
        let row = gw.store().pod_get(id).await.unwrap().unwrap();
        let sealed = row.credentials.expect("stored");
        assert!(!sealed.windows(11).any(|w| w == b"pw-SECRET-2"), "no plaintext password in the database");
        assert!(!sealed.windows(3).any(|w| w == b"svc"), "no plaintext user name either");
    }

    async fn validation_errors(gw: &Gateway) {
        let post = |body: serde_json::Value| gw.call(Method::POST, "/admin/v1.0/pods", Some(body));
        assert!(post(json!({"pod": {"region_name": "   "}})).await.fault(422).contains("region_name must not be empty"));
        assert!(post(json!({"pod": {"region_name": "", "az_name": "az1"}})).await.fault(422).contains("region_name"));
        assert!(post(json!({"region_name": "x"})).await.fault(400).contains("unknown field `region_name`"));
        assert!(post(json!({})).await.fault(400).contains("missing field `pod`"));
        assert!(post(json!({"pod": {"region_name": 5}})).await.fault(400).contains("pod.region_name: invalid type"));
        assert!(post(json!({"pod": {"region_name": "x", "colour": "red"}})).await.fault(400).contains("unknown field `colour`"));
        assert!(post(json!({"pod": {"region_name": "x", "identity": "borrowed"}})).await.fault(400).contains("unknown variant `borrowed`"));
        assert!(post(json!({"pod": {"region_name": "x", "az_name": "a", "auth_url": "ftp://x"}})).await.fault(400).contains("auth_url must be an http"));
        assert!(post(json!({"pod": {"region_name": "x", "az_name": "a", "identity": "mapped"}})).await.fault(400).contains("needs auth_url and credentials"));
        assert!(post(json!({"pod": {"region_name": "x", "az_name": "a", "credentials": {"username": "u", "password": "p", "project_name": "pr"}}})).await.fault(400).contains("auth_url"));
        assert!(post(json!({"pod": {"region_name": "x", "az_name": "a", "auth_url": "http://k/v3", "credentials": {"username": "u", "password": "", "project_name": "pr"}}})).await.fault(400).contains("credentials.password"));
        assert!(post(json!({"pod": {"region_name": "x", "az_name": "a", "endpoints": {"compute": "not a url"}}})).await.fault(400).contains("endpoints.compute"));
        assert!(post(json!({"pod": {"region_name": "x".repeat(300), "az_name": "a"}})).await.fault(400).contains("longer than 255"));
        // Raw bodies that are not JSON at all.
        for raw in ["", "{", "null", "[1,2]", "{\"pod\": {\"region_name\": \"x\"}} trailing"] {
            gw.raw(Method::POST, "/admin/v1.0/pods", Some(crate::common::ADMIN), Some(raw.to_string())).await.fault(400);
        }
        let big = json!({"pod": {"region_name": "x", "dc_name": "d".repeat(20_000)}}).to_string();
        gw.raw(Method::POST, "/admin/v1.0/pods", Some(crate::common::ADMIN), Some(big)).await.fault(413);
        assert!(gw.get("/admin/v1.0/pods").await.ok(200)["pods"].as_array().unwrap().is_empty(), "nothing was created");
    }

    async fn uniqueness_and_the_top_region(gw: &Gateway) {
        let post = |body: serde_json::Value| gw.call(Method::POST, "/admin/v1.0/pods", Some(body));
        post(pod("RegionOne", "")).await.ok(201);
        assert!(post(pod("RegionTwo", "")).await.fault(409).contains("Top region already exists: RegionOne"));
        assert!(post(pod("RegionOne", "az1")).await.fault(409).contains("already exists"));
        post(pod("Pod1", "az1")).await.ok(201);
        assert!(post(pod("Pod1", "az2")).await.fault(409).contains("Pod1 already exists"));
        // Two pods may serve one AZ.
        post(pod("Pod2", "az1")).await.ok(201);
        // A top region has no pod AZ.
        let top = gw.get("/admin/v1.0/pods").await.body["pods"].as_array().unwrap().iter().find(|p| p["region_name"] == "RegionOne").unwrap().clone();
        assert_eq!(top["pod_az_name"], "");
    }

    async fn delete_refuses_a_pod_in_use(gw: &Gateway) {
        let created = gw.call(Method::POST, "/admin/v1.0/pods", Some(pod("Pod1", "az1"))).await;
        let id = created.ok(201)["pod"]["pod_id"].as_str().unwrap().to_string();
        for i in 0..2 {
            gw.store().routing_create(&NewRouting {
                top_id: format!("t{i}"), bottom_id: None, pod_id: id.parse().unwrap(),
                project_id: "p".into(), resource_type: "network".into(),
            }).await.unwrap();
        }
        let msg = gw.call(Method::DELETE, &format!("/admin/v1.0/pods/{id}"), None).await.fault(409);
        assert!(msg.contains(&id) && msg.contains("2 resource routing(s)"), "{msg}");
        gw.get(&format!("/admin/v1.0/pods/{id}")).await.ok(200);
    }

    async fn bad_ids(gw: &Gateway) {
        assert_eq!(gw.get("/admin/v1.0/pods/not-a-uuid").await.fault(400), "Invalid pod ID 'not-a-uuid': it must be a UUID.");
        gw.call(Method::DELETE, "/admin/v1.0/pods/123", None).await.fault(400);
        gw.get("/admin/v1.0/pods/7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11").await.fault(404);
        // No update on pods: the method is refused in the API's body shape.
        gw.call(Method::PUT, "/admin/v1.0/pods/7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11", Some(json!({}))).await.fault(405);
    }
}
