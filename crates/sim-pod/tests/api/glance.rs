//! Tests of the Glance API: data with digests, JSON patch, visibility.

use serde_json::json;

use crate::common::{Client, pod};

#[tokio::test]
async fn upload_download_round_trips_with_digests() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let r = c.post("/image/v2/images", json!({"name": "img", "disk_format": "qcow2", "container_format": "bare", "hw_disk_bus": "virtio"})).await;
    assert_eq!(r.status, 201);
    assert!(
        r.header("location")
            .unwrap()
            .ends_with(&format!("/image/v2/images/{}", r.body["id"].as_str().unwrap()))
    );
    assert_eq!(r.body["status"], "queued");
    assert_eq!(r.body["visibility"], "shared");
    assert_eq!(r.body["hw_disk_bus"], "virtio");
    assert!(r.body.get("stores").is_none());
    let id = r.body["id"].as_str().unwrap().to_string();
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let up = c
        .http
        .put(format!("{}/image/v2/images/{id}/file", c.base))
        .header("x-auth-token", &c.token)
        .header("content-type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status().as_u16(), 204);
    let show = c.get(&format!("/image/v2/images/{id}")).await;
    assert_eq!(show.body["status"], "active");
    assert_eq!(show.body["size"], 100_000);
    assert_eq!(show.body["os_hash_algo"], "sha512");
    assert_eq!(show.body["os_hash_value"].as_str().unwrap().len(), 128);
    assert_eq!(show.body["stores"], "file");
    let checksum = show.body["checksum"].as_str().unwrap().to_string();
    let down = c
        .http
        .get(format!("{}/image/v2/images/{id}/file", c.base))
        .header("x-auth-token", &c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(down.headers()["content-md5"].to_str().unwrap(), checksum);
    assert_eq!(down.bytes().await.unwrap().as_ref(), data.as_slice());
    // A second upload is refused.
    let again = c
        .http
        .put(format!("{}/image/v2/images/{id}/file", c.base))
        .header("x-auth-token", &c.token)
        .header("content-type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    pod.shutdown().await;
}

#[tokio::test]
async fn json_patch_updates_and_refuses_read_only() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let id = c.image("img", b"x").await;
    let patch = |ops: serde_json::Value, ctype: &'static str| {
        c.http
            .patch(format!("{}/image/v2/images/{id}", c.base))
            .header("x-auth-token", &c.token)
            .header("content-type", ctype)
            .body(ops.to_string())
            .send()
    };
    const PATCH: &str = "application/openstack-images-v2.1-json-patch";
    let r = patch(json!([{"op": "replace", "path": "/name", "value": "renamed"}, {"op": "add", "path": "/os_distro", "value": "cirros"}]), PATCH).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["name"], "renamed");
    assert_eq!(v["os_distro"], "cirros");
    let r = patch(json!([{"op": "remove", "path": "/os_distro"}]), PATCH).await.unwrap();
    assert!(r.json::<serde_json::Value>().await.unwrap().get("os_distro").is_none());
    let r =
        patch(json!([{"op": "replace", "path": "/checksum", "value": "x"}]), PATCH).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = patch(json!([{"op": "replace", "path": "/name", "value": "y"}]), "application/json")
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let r = c.get("/image/v2/images?name=renamed").await;
    assert_eq!(r.body["images"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["first"], "/v2/images");
    pod.shutdown().await;
}

#[tokio::test]
async fn private_images_are_invisible_to_other_projects() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let r = c.post("/image/v2/images", json!({"name": "secret", "visibility": "private"})).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let demo = Client::user(&pod, "demo", "demo").await;
    assert_eq!(demo.get(&format!("/image/v2/images/{id}")).await.status, 404);
    assert_eq!(demo.get("/image/v2/images").await.body["images"], json!([]));
    let r = demo.post("/image/v2/images", json!({"name": "pub", "visibility": "public"})).await;
    assert_eq!(r.status, 403);
    assert_eq!(c.delete(&format!("/image/v2/images/{id}")).await.status, 204);
    assert_eq!(c.get(&format!("/image/v2/images/{id}")).await.status, 404);
    pod.shutdown().await;
}
