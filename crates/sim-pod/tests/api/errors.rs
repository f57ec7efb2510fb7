//! Bad requests get the real service's 4xx body shape, never a 500.

use serde_json::json;

use crate::common::{Client, pod};

#[tokio::test]
async fn malformed_bodies_are_400_in_each_services_shape() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let raw = |path: &str| {
        c.http
            .post(format!("{}{path}", c.base))
            .header("x-auth-token", &c.token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
    };
    let r = raw("/compute/v2.1/servers").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["badRequest"]["code"], 400);
    let r = raw("/volume/v3/volumes").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["badRequest"]["code"], 400);
    let r = raw("/networking/v2.0/networks").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["NeutronError"]["type"],
        "HTTPBadRequest"
    );
    let r = raw("/image/v2/images").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "400 Bad Request");
    let r = raw("/identity/v3/auth/tokens").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], 400);
    pod.shutdown().await;
}

#[tokio::test]
async fn wrong_types_and_missing_fields_are_400_not_500() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let cases = [
        ("/compute/v2.1/servers", json!({"server": {"name": 5}})),
        ("/compute/v2.1/servers", json!({"nope": {}})),
        (
            "/compute/v2.1/flavors",
            json!({"flavor": {"name": "x", "ram": "lots", "vcpus": 1, "disk": 1}}),
        ),
        ("/compute/v2.1/os-keypairs", json!({"keypair": {"name": "bad/name"}})),
        ("/volume/v3/volumes", json!({"volume": {"size": -1}})),
        ("/volume/v3/volumes", json!({"volume": {"size": "big"}})),
        ("/networking/v2.0/subnets", json!({"subnet": {"network_id": "x"}})),
        ("/networking/v2.0/subnets", json!({"subnet": {"network_id": "x", "cidr": "10.0.0.1/24"}})),
        ("/networking/v2.0/networks", json!({"network": {"admin_state_up": "maybe"}})),
        (
            "/networking/v2.0/security-group-rules",
            json!({"security_group_rule": {"security_group_id": "x", "direction": "sideways"}}),
        ),
        ("/image/v2/images", json!({"name": "x", "disk_format": "floppy"})),
    ];
    for (path, body) in cases {
        let r = c.post(path, body.clone()).await;
        assert!((400..500).contains(&r.status), "{path} {body} -> {} {:?}", r.status, r.body);
    }
    pod.shutdown().await;
}

#[tokio::test]
async fn missing_token_unknown_path_and_wrong_method() {
    let pod = pod().await;
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/compute/v2.1/servers", pod.base_url())).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], 401);
    let c = Client::admin(&pod).await;
    let r = c.get("/compute/v2.1/no-such-thing").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["itemNotFound"]["code"], 404);
    let r = c.get("/networking/v2.0/no-such-thing").await;
    assert_eq!(r.status, 404);
    assert!(r.body["NeutronError"].is_object());
    let r = c.send("PATCH", "/compute/v2.1/servers", Some(json!({})), &[]).await;
    assert_eq!(r.status, 405);
    assert!(r.body["computeFault"].is_object() || r.body["badMethod"].is_object(), "{:?}", r.body);
    let r = c.get("/networking/v2.0/networks/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["NeutronError"]["type"], "NetworkNotFound");
    let r = c.get("/image/v2/images/nope").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["code"], "404 Not Found");
    pod.shutdown().await;
}
