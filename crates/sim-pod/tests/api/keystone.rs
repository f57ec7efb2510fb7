use serde_json::json;

use crate::common::{Client, pod, token};

#[tokio::test]
async fn token_has_catalog_for_every_service_on_the_pod_address() {
    let pod = pod().await;
    let (status, tok, body) = token(pod.base_url(), "admin", "admin").await;
    assert_eq!(status, 201);
    assert!(!tok.is_empty());
    let t = &body["token"];
    assert_eq!(t["project"]["name"], "admin");
    assert!(t["roles"].as_array().unwrap().iter().any(|r| r["name"] == "admin"));
    let catalog = t["catalog"].as_array().unwrap();
    for ty in ["identity", "compute", "volumev3", "block-storage", "network", "image"] {
        let entry =
            catalog.iter().find(|c| c["type"] == ty).unwrap_or_else(|| panic!("{ty} missing"));
        let eps = entry["endpoints"].as_array().unwrap();
        assert_eq!(eps.len(), 3);
        for e in eps {
            assert_eq!(e["region_id"], "RegionOne");
            assert!(e["url"].as_str().unwrap().starts_with(pod.base_url()), "{e}");
        }
    }
    let compute = catalog.iter().find(|c| c["type"] == "compute").unwrap();
    assert_eq!(compute["endpoints"][0]["url"], format!("{}/compute/v2.1", pod.base_url()));
    assert_eq!(pod.auth_url(), format!("{}/identity/v3", pod.base_url()));
    pod.shutdown().await;
}

#[tokio::test]
async fn token_validation_and_revocation() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (_, other, _) = token(pod.base_url(), "demo", "demo").await;
    let r = c
        .send("GET", "/identity/v3/auth/tokens", None, &[("x-subject-token", other.as_str())])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["token"]["project"]["name"], "demo");
    assert_eq!(r.header("x-subject-token"), Some(other.as_str()));
    let r = c
        .send("DELETE", "/identity/v3/auth/tokens", None, &[("x-subject-token", other.as_str())])
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .send("GET", "/identity/v3/auth/tokens", None, &[("x-subject-token", other.as_str())])
        .await;
    assert_eq!(r.status, 404);
    // The revoked token no longer works on a service.
    let r = reqwest::Client::new()
        .get(format!("{}/compute/v2.1/servers", pod.base_url()))
        .header("x-auth-token", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    pod.shutdown().await;
}

#[tokio::test]
async fn wrong_password_is_401_in_keystone_shape() {
    let pod = pod().await;
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "wrong"}}}}});
    let r = reqwest::Client::new()
        .post(format!("{}/identity/v3/auth/tokens", pod.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], 401);
    assert_eq!(v["error"]["title"], "Unauthorized");
    pod.shutdown().await;
}

#[tokio::test]
async fn token_auth_rescopes_and_unscoped_request_uses_default_project() {
    let pod = pod().await;
    let (_, tok, _) = token(pod.base_url(), "admin", "admin").await;
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": tok}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let r = reqwest::Client::new()
        .post(format!("{}/identity/v3/auth/tokens", pod.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["token"]["methods"], json!(["password", "token"]));
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "domain": {"name": "Default"}, "password": "secret"}}}}});
    let r = reqwest::Client::new()
        .post(format!("{}/identity/v3/auth/tokens", pod.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["token"]["project"]["name"], "demo");
    pod.shutdown().await;
}

#[tokio::test]
async fn version_documents_match_the_real_services() {
    let pod = pod().await;
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let get = |p: &str| http.get(format!("{}{p}", pod.base_url())).send();
    let r = get("/identity").await.unwrap();
    assert_eq!(r.status().as_u16(), 300);
    assert!(r.headers().get("location").unwrap().to_str().unwrap().ends_with("/identity/v3/"));
    assert!(
        r.headers().get("x-openstack-request-id").unwrap().to_str().unwrap().starts_with("req-")
    );
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["versions"]["values"][0]["id"], "v3.14");

    let r = get("/compute/").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("x-openstack-request-id").is_none());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["versions"][0]["version"], "2.96");

    let r = get("/compute/v2.1").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["version"]["min_version"], "2.1");

    let r = get("/volume").await.unwrap();
    assert_eq!(r.status().as_u16(), 300);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["versions"][0]["version"], "3.71");

    let r = get("/networking").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("x-openstack-request-id").is_none());
    let r = get("/image").await.unwrap();
    assert_eq!(r.status().as_u16(), 300);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["versions"][0]["id"], "v2.17");
    pod.shutdown().await;
}

#[tokio::test]
async fn admin_can_create_a_project_and_grant_a_role() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let r = c
        .post(
            "/identity/v3/projects",
            json!({"project": {"name": "tenant-x", "domain_id": "default"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let pid = r.body["project"]["id"].as_str().unwrap().to_string();
    let r = c.post("/identity/v3/projects", json!({"project": {"name": "tenant-x"}})).await;
    assert_eq!(r.status, 409);
    let users = c.get("/identity/v3/users?name=demo").await;
    let uid = users.body["users"][0]["id"].as_str().unwrap().to_string();
    let roles = c.get("/identity/v3/roles?name=member").await;
    let rid = roles.body["roles"][0]["id"].as_str().unwrap().to_string();
    let r = c
        .send("PUT", &format!("/identity/v3/projects/{pid}/users/{uid}/roles/{rid}"), None, &[])
        .await;
    assert_eq!(r.status, 204);
    let (status, _, body) = token(pod.base_url(), "demo", "tenant-x").await;
    assert_eq!(status, 201, "{body}");
    // The demo user is not admin: listing projects is forbidden.
    let demo = Client::user(&pod, "demo", "demo").await;
    assert_eq!(demo.get("/identity/v3/projects").await.status, 403);
    pod.shutdown().await;
}
