//! Tests of the Cinder API: data sharing across image/volume/snapshot/backup, and the
//! status rules real Cinder enforces.

use serde_json::json;

use crate::common::{Client, pod};

async fn volume(c: &Client, body: serde_json::Value) -> String {
    let r = c.cinder("POST", "/volumes", Some(json!({"volume": body})), "3.71").await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["volume"]["status"], "creating");
    r.body["volume"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn bytes_flow_image_volume_snapshot_backup_restore() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let ctl = pod.control();
    let image = c.image("img", b"image payload").await;
    let v1 = volume(&c, json!({"size": 1, "imageRef": image, "name": "from-image"})).await;
    let r = c.cinder("GET", &format!("/volumes/{v1}"), None, "3.71").await;
    assert_eq!(r.body["volume"]["status"], "available");
    assert_eq!(r.body["volume"]["bootable"], "true");
    assert_eq!(r.body["volume"]["volume_image_metadata"]["image_id"], image.as_str());
    assert_eq!(r.body["volume"]["volume_type"], "__DEFAULT__");
    assert_eq!(ctl.volume_data(&v1).unwrap().as_ref(), b"image payload");

    let s = c
        .cinder(
            "POST",
            "/snapshots",
            Some(json!({"snapshot": {"volume_id": v1, "name": "s1"}})),
            "3.71",
        )
        .await;
    assert_eq!(s.status, 202);
    let sid = s.body["snapshot"]["id"].as_str().unwrap().to_string();
    // Writing the volume afterwards does not change the snapshot.
    assert!(ctl.set_volume_data(&v1, bytes::Bytes::from_static(b"changed")));
    let v2 = volume(&c, json!({"snapshot_id": sid})).await;
    assert_eq!(ctl.volume_data(&v2).unwrap().as_ref(), b"image payload");

    let b = c
        .cinder(
            "POST",
            "/backups",
            Some(json!({"backup": {"volume_id": v1, "name": "b1"}})),
            "3.71",
        )
        .await;
    assert_eq!(b.status, 202);
    let bid = b.body["backup"]["id"].as_str().unwrap().to_string();
    let show = c.cinder("GET", &format!("/backups/{bid}"), None, "3.71").await;
    assert_eq!(show.body["backup"]["status"], "available");
    let r = c
        .cinder(
            "POST",
            &format!("/backups/{bid}/restore"),
            Some(json!({"restore": {"name": "restored"}})),
            "3.71",
        )
        .await;
    assert_eq!(r.status, 202);
    let restored = r.body["restore"]["volume_id"].as_str().unwrap().to_string();
    assert_eq!(ctl.volume_data(&restored).unwrap().as_ref(), b"changed");
    // Upload to image: a new Glance image with the volume's bytes.
    let up = c
        .cinder(
            "POST",
            &format!("/volumes/{restored}/action"),
            Some(json!({"os-volume_upload_image": {"image_name": "from-vol"}})),
            "3.71",
        )
        .await;
    assert_eq!(up.status, 202);
    let new_image = up.body["os-volume_upload_image"]["image_id"].as_str().unwrap();
    let data = c
        .http
        .get(format!("{}/image/v2/images/{new_image}/file", c.base))
        .header("x-auth-token", &c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(data.bytes().await.unwrap().as_ref(), b"changed");
    pod.shutdown().await;
}

#[tokio::test]
async fn in_use_snapshot_needs_force_below_3_66_and_backup_needs_force() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let (net, _) = c.net_with_subnet("n", "10.40.0.0/24").await;
    let image = c.image("img", b"x").await;
    let server = c.server("vm", &image, &net).await;
    let v = volume(&c, json!({"size": 1})).await;
    let r = c
        .nova(
            "POST",
            &format!("/servers/{server}/os-volume_attachments"),
            Some(json!({"volumeAttachment": {"volumeId": v}})),
            "2.79",
        )
        .await;
    assert_eq!(r.status, 200);
    let snap = |mv: &'static str, force: Option<bool>| {
        let mut body = json!({"snapshot": {"volume_id": v, "name": "s"}});
        if let Some(f) = force {
            body["snapshot"]["force"] = json!(f);
        }
        c.cinder("POST", "/snapshots", Some(body), mv)
    };
    let r = snap("3.65", None).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["badRequest"]["message"].as_str().unwrap().contains("current status is: in-use")
    );
    assert_eq!(snap("3.65", Some(true)).await.status, 202);
    assert_eq!(snap("3.66", None).await.status, 202);
    let b = c.cinder("POST", "/backups", Some(json!({"backup": {"volume_id": v}})), "3.71").await;
    assert_eq!(b.status, 400);
    let b = c
        .cinder(
            "POST",
            "/backups",
            Some(json!({"backup": {"volume_id": v, "force": true}})),
            "3.71",
        )
        .await;
    assert_eq!(b.status, 202);
    // An attached volume cannot be deleted.
    let d = c.cinder("DELETE", &format!("/volumes/{v}"), None, "3.71").await;
    assert_eq!(d.status, 400);
    pod.shutdown().await;
}

#[tokio::test]
async fn sizes_types_zones_and_paging() {
    let pod = pod().await;
    let c = Client::admin(&pod).await;
    let r = c
        .cinder(
            "POST",
            "/volumes",
            Some(json!({"volume": {"size": 1, "availability_zone": "elsewhere"}})),
            "3.0",
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .cinder(
            "POST",
            "/volumes",
            Some(json!({"volume": {"size": 1, "volume_type": "gold"}})),
            "3.0",
        )
        .await;
    assert_eq!(r.status, 404);
    let t = c.cinder("POST", "/types", Some(json!({"volume_type": {"name": "gold"}})), "3.0").await;
    assert_eq!(t.status, 200);
    let v = volume(&c, json!({"size": 2, "volume_type": "gold"})).await;
    let r = c.cinder("GET", &format!("/volumes/{v}"), None, "3.71").await;
    assert_eq!(r.body["volume"]["volume_type"], "gold");
    assert!(r.body["volume"]["volume_type_id"].is_string());
    let r = c.cinder("GET", &format!("/volumes/{v}"), None, "3.0").await;
    assert!(r.body["volume"].get("volume_type_id").is_none());
    for _ in 0..2 {
        volume(&c, json!({"size": 1})).await;
    }
    let l = c.cinder("GET", "/volumes/detail?limit=2", None, "3.0").await;
    assert_eq!(l.body["volumes"].as_array().unwrap().len(), 2);
    assert!(l.body["volumes_links"][0]["href"].as_str().unwrap().contains("marker="));
    let e = c
        .cinder(
            "POST",
            &format!("/volumes/{v}/action"),
            Some(json!({"os-extend": {"new_size": 1}})),
            "3.0",
        )
        .await;
    assert_eq!(e.status, 400);
    let e = c
        .cinder(
            "POST",
            &format!("/volumes/{v}/action"),
            Some(json!({"os-extend": {"new_size": 5}})),
            "3.0",
        )
        .await;
    assert_eq!(e.status, 202);
    assert_eq!(
        c.cinder("GET", &format!("/volumes/{v}"), None, "3.0").await.body["volume"]["size"],
        5
    );
    assert_eq!(c.cinder("DELETE", &format!("/volumes/{v}"), None, "3.0").await.status, 202);
    assert_eq!(c.cinder("GET", &format!("/volumes/{v}"), None, "3.0").await.status, 404);
    let lim = c.cinder("GET", "/limits", None, "3.0").await;
    assert_eq!(lim.body["limits"]["absolute"]["totalVolumesUsed"], 2);
    pod.shutdown().await;
}
