//! Booting from volumes across sim pods through the domain layer: the
//! server lands in its volume's pod whatever the scheduler would pick, the
//! pod gets its own volume ID, the volume shows in-use and goes with the
//! server when so marked; volumes made for the boot (from an image, a
//! snapshot, or blank) are top volumes; a zone of another pod is a 400,
//! volumes in two pods a 409; a pod failing mid-boot leaves nothing.

mod common;

use common::{World, objects, world};
use serde_json::{Value, json};
use tricircle_core::compute::server_create::ServerSpec;
use tricircle_core::volumes::create::VolumeSpec;
use tricircle_sim_pod::FaultRule;

impl World {
    /// A bootable volume (made from the image) in zone `az`.
    async fn volume(&self, az: &str) -> String {
        let spec = VolumeSpec {
            name: Some(format!("boot-{az}")),
            size: 1,
            availability_zone: Some(az.into()),
            image_ref: Some(self.image.clone()),
            ..Default::default()
        };
        self.app.volume_create(&self.demo, spec).await.unwrap()["id"].as_str().unwrap().to_string()
    }

    fn boot_spec(&self, name: &str, mappings: Value) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            flavor_ref: "1".into(),
            block_devices: mappings.as_array().unwrap().clone(),
            ..Default::default()
        }
    }

    async fn volume_view(&self, id: &str) -> Value {
        self.app.volume_show(&self.demo, id, None).await.unwrap()
    }

    /// The bottom volume routed for top volume `id`.
    async fn bottom_volume(&self, id: &str) -> String {
        let r = self.routings("volume").await.into_iter().find(|r| r.top_id == id).unwrap();
        r.bottom_id.unwrap()
    }

    /// Pod `i`'s server named after top server `id`.
    fn pod_server(&self, i: usize, id: &str) -> Value {
        objects(&self.pod_state(i), "compute", "servers")
            .into_iter()
            .find(|s| s["name"] == id)
            .unwrap_or_else(|| panic!("no server {id} in pod {i}"))
    }
}

fn from_volume(id: &str, delete: bool) -> Value {
    json!([{"boot_index": 0, "uuid": id, "source_type": "volume", "destination_type": "volume",
            "delete_on_termination": delete}])
}

#[tokio::test]
async fn a_server_boots_in_its_volumes_pod_and_takes_the_volume_with_it() {
    let w = world(3).await;
    // Pod3 is the emptiest: the scheduler alone would pick it.
    w.create(w.spec("load-1")).await.unwrap();
    w.create(w.spec("load-2")).await.unwrap();
    let vol = w.volume("az2").await;
    let keep = w.volume("az2").await;
    let mut mappings = from_volume(&vol, true);
    mappings.as_array_mut().unwrap().push(json!({"boot_index": -1, "uuid": keep,
        "source_type": "volume", "destination_type": "volume"}));
    let s = w.create(w.boot_spec("bfv", mappings)).await.unwrap();
    assert_eq!(w.pod_of(&s).await, 1, "in the volume's pod, az2");
    // The pod booted from its own volume IDs.
    let bottom = w.pod_server(1, &s);
    let attached: Vec<&str> = bottom["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["volume_id"].as_str().unwrap())
        .collect();
    assert_eq!(attached, [w.bottom_volume(&vol).await, w.bottom_volume(&keep).await]);
    assert_eq!(bottom["image_id"], Value::Null, "volume-backed: no image");
    // The top shows its own IDs, the volumes in-use.
    let v = w.app.server_show(&w.demo, &s, "2.96".parse().ok()).await.unwrap();
    let ids: Vec<&str> = v["os-extended-volumes:volumes_attached"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [vol.as_str(), keep.as_str()], "{v}");
    assert_eq!(v["image"], "", "{v}");
    let cached = w.app.store().resource_get(&vol).await.unwrap().unwrap();
    assert_eq!(cached.status, "in-use", "the cache knows at once");
    let shown = w.volume_view(&vol).await;
    assert_eq!(shown["status"], "in-use");
    assert_eq!(shown["attachments"][0]["server_id"], s.as_str(), "{shown}");
    // Deleting the server deletes the volume marked so, and only it.
    let bottom_vol = w.bottom_volume(&vol).await;
    w.app.server_delete(&w.demo, &s).await.unwrap();
    assert!(w.app.store().resource_get(&vol).await.unwrap().is_none(), "its top row is gone");
    assert!(w.routings("volume").await.iter().all(|r| r.top_id != vol));
    assert!(
        objects(&w.pod_state(1), "volume", "volumes")
            .iter()
            .all(|v| v["id"] != bottom_vol.as_str())
    );
    assert_eq!(w.volume_view(&keep).await["status"], "available");
}

#[tokio::test]
async fn the_zone_and_the_volumes_must_agree() {
    let w = world(2).await;
    let (a, b) = (w.volume("az1").await, w.volume("az2").await);
    // A zone of another pod: 400 naming the volume's zone.
    let mut spec = w.boot_spec("wrong-az", from_volume(&a, false));
    spec.availability_zone = Some("az2".into());
    let err = w.create(spec).await.unwrap_err();
    assert_eq!(err.status(), 400, "{err:?}");
    assert!(
        err.external_message().contains("az1") && err.external_message().contains(&a),
        "{}",
        err.external_message()
    );
    // Volumes in two pods: 409 naming both regions.
    let mut two = from_volume(&a, false);
    two.as_array_mut().unwrap().push(json!({"uuid": b, "source_type": "volume", "boot_index": 1}));
    let err = w.create(w.boot_spec("split", two)).await.unwrap_err();
    assert_eq!(err.status(), 409, "{err:?}");
    let msg = err.external_message();
    assert!(msg.contains("Pod1") && msg.contains("Pod2"), "{msg}");
    // Another project's volume cannot be found.
    let other = common::ctx("u2", "other-project", &["member"]);
    let err = w
        .app
        .server_create(&other, w.boot_spec("theirs", from_volume(&a, false)))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    // No imageRef and nothing to boot from.
    let err = w.create(w.boot_spec("nothing", json!([]))).await.unwrap_err();
    assert_eq!((err.status(), err.external_message()), (400, "Missing imageRef attribute"));
    // Nothing of these was made.
    assert!(w.app.store().resource_list("server", None).await.unwrap().is_empty());
    assert!(objects(&w.pod_state(0), "compute", "servers").is_empty());
    for v in [&a, &b] {
        assert_eq!(w.volume_view(v).await["status"], "available");
    }
}

#[tokio::test]
async fn volumes_made_for_a_boot_are_top_volumes() {
    let w = world(2).await;
    let mappings = json!([
        {"boot_index": 0, "uuid": w.image, "source_type": "image", "destination_type": "volume",
         "volume_size": 1, "delete_on_termination": false},
        {"boot_index": -1, "source_type": "blank", "destination_type": "volume", "volume_size": 2,
         "delete_on_termination": true},
    ]);
    let mut spec = w.boot_spec("from-image", mappings);
    spec.availability_zone = Some("az2".into());
    let s = w.create(spec).await.unwrap();
    let v = w.app.server_show(&w.demo, &s, "2.96".parse().ok()).await.unwrap();
    let made: Vec<String> = v["os-extended-volumes:volumes_attached"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(made.len(), 2, "{v}");
    let (root, scratch) = (&made[0], &made[1]);
    // Each is a top volume in the server's pod, named after its top ID there.
    let listed = w.app.volume_list(&w.demo, false, None).await.unwrap();
    for id in &made {
        let row = listed
            .iter()
            .find(|x| x["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not listed"));
        assert_eq!(
            (row["availability_zone"].as_str(), row["status"].as_str()),
            (Some("az2"), Some("in-use"))
        );
        let bottom = w.bottom_volume(id).await;
        let in_pod = objects(&w.pod_state(1), "volume", "volumes");
        let b = in_pod.iter().find(|x| x["id"] == bottom.as_str()).unwrap();
        assert_eq!(b["name"], id.as_str());
    }
    assert_eq!(w.volume_view(root).await["bootable"], "true");
    assert_eq!(w.volume_view(scratch).await["size"], 2);
    // The image was copied into the pod once, for the volume.
    assert_eq!(w.routings("image").await.len(), 1);
    // Deleting the server: the scratch volume goes, the root stays.
    w.app.server_delete(&w.demo, &s).await.unwrap();
    assert!(w.app.store().resource_get(scratch).await.unwrap().is_none());
    assert_eq!(w.volume_view(root).await["status"], "available");
    // A snapshot of it boots a new volume in the same pod.
    let (_, snap) =
        w.app.snapshot_create(&w.demo, root, Some("snap".into()), None, false, None).await.unwrap();
    let snap = snap["snapshot"]["id"].as_str().or(snap["id"].as_str()).unwrap().to_string();
    let from_snap = json!([{"boot_index": 0, "uuid": snap, "source_type": "snapshot",
        "destination_type": "volume", "volume_size": 1, "delete_on_termination": true}]);
    let t = w.create(w.boot_spec("from-snap", from_snap)).await.unwrap();
    assert_eq!(w.pod_of(&t).await, 1, "next to its snapshot");
}

#[tokio::test]
async fn a_pod_failing_mid_boot_leaves_nothing() {
    let w = world(1).await;
    let vol = w.volume("az1").await;
    for status in [500, 400] {
        w.pods[0].control().add_fault(FaultRule {
            count: Some(1),
            ..FaultRule::error("compute.server_create", status)
        });
        let mappings = json!([
            {"boot_index": 0, "uuid": vol, "source_type": "volume"},
            {"boot_index": -1, "uuid": w.image, "source_type": "image", "destination_type": "volume", "volume_size": 1},
        ]);
        let err = w.create(w.boot_spec("doomed", mappings)).await.unwrap_err();
        assert!(matches!(err.status(), 503 | 400), "{status}: {err:?}");
        assert!(w.app.store().resource_list("server", None).await.unwrap().is_empty());
        let volumes = w.app.store().resource_list("volume", None).await.unwrap();
        assert_eq!(volumes.len(), 1, "{status}: the volume made for the boot is gone");
        assert_eq!(volumes[0].status, "available", "the boot volume is free again");
        assert_eq!(objects(&w.pod_state(0), "volume", "volumes").len(), 1, "in the pod too");
        assert!(objects(&w.pod_state(0), "compute", "servers").is_empty());
    }
    // A volume the pod cannot boot from: the pod's refusal, with top IDs.
    let blank = w
        .app
        .volume_create(&w.demo, VolumeSpec { size: 1, ..Default::default() })
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let err = w.create(w.boot_spec("unbootable", from_volume(&blank, false))).await.unwrap_err();
    assert_eq!(err.status(), 400, "{err:?}");
    let msg = err.external_message();
    assert!(msg.contains(&blank) && msg.contains("not bootable"), "{msg}");
    assert!(!msg.contains(&w.bottom_volume(&blank).await), "no pod ID: {msg}");
}
