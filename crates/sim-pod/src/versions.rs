//! Version discovery documents at every service root.
//!
//! keystoneauth and openstacksdk fetch the catalog URL and, failing a version document there,
//! the unversioned root, then pick an endpoint from what they find. Each service answers in its
//! own format and status: Keystone, Cinder and Glance list versions with 300 Multiple Choices,
//! Nova and Neutron with 200; Keystone wraps its list in `{"versions": {"values": [...]}}`. Nova's root,
//! Neutron's and Glance's documents carry no request id (Nova's `/v2.1` does).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::http::{NoRequestId, json_resp};
use crate::microversion::{CINDER_MAX, CINDER_MIN, NOVA_MAX, NOVA_MIN};
use crate::pod::Pod;

fn no_rid(mut r: Response) -> Response {
    r.extensions_mut().insert(NoRequestId);
    r
}

fn keystone_v3(pod: &Pod) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/identity/v3/", pod.base_url)}],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.identity-v3+json"
        }]
    })
}

/// `GET /identity`: 300 with a Location to v3.
pub async fn identity_root(State(pod): State<Pod>) -> Response {
    let mut r = json_resp(300, json!({"versions": {"values": [keystone_v3(&pod)]}}));
    if let Ok(v) = HeaderValue::from_str(&format!("{}/identity/v3/", pod.base_url)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET /identity/v3`.
pub async fn identity_v3(State(pod): State<Pod>) -> Response {
    json_resp(200, json!({"version": keystone_v3(&pod)}))
}

fn nova_v21(pod: &Pod, full: bool) -> Value {
    let mut v = json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": NOVA_MAX.to_string(),
        "min_version": NOVA_MIN.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{}/compute/v2.1/", pod.base_url)}],
    });
    if full {
        v["links"].as_array_mut().expect("links").push(json!({
            "rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"
        }));
        v["media-types"] = json!([{
            "base": "application/json",
            "type": "application/vnd.openstack.compute+json;version=2.1"
        }]);
    }
    v
}

/// `GET /compute`: 200.
pub async fn compute_root(State(pod): State<Pod>) -> Response {
    no_rid(json_resp(200, json!({"versions": [nova_v21(&pod, false)]})))
}

/// `GET /compute/v2.1`: 200, with a request id (unlike the root document).
pub async fn compute_v21(State(pod): State<Pod>) -> Response {
    json_resp(200, json!({"version": nova_v21(&pod, true)}))
}

fn cinder_v3(pod: &Pod) -> Value {
    json!({
        "id": "v3.0",
        "status": "CURRENT",
        "version": CINDER_MAX.to_string(),
        "min_version": CINDER_MIN.to_string(),
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": format!("{}/volume/v3/", pod.base_url)}
        ],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.volume+json;version=3"
        }]
    })
}

/// `GET /volume`: 300, labelled with the base microversion as Cinder does.
pub async fn volume_root(State(pod): State<Pod>) -> Response {
    let mut r = json_resp(300, json!({"versions": [cinder_v3(&pod)]}));
    let h = r.headers_mut();
    h.insert("openstack-api-version", HeaderValue::from_static("volume 3.0"));
    h.insert(header::VARY, HeaderValue::from_static("OpenStack-API-Version"));
    r
}

/// `GET /volume/v3`: 200 with the same list.
pub async fn volume_v3(State(pod): State<Pod>) -> Response {
    json_resp(200, json!({"versions": [cinder_v3(&pod)]}))
}

/// `GET /networking`: 200.
pub async fn network_root(State(pod): State<Pod>) -> Response {
    no_rid(json_resp(
        200,
        json!({"versions": [{
            "id": "v2.0",
            "status": "CURRENT",
            "links": [{"rel": "self", "href": format!("{}/networking/v2.0/", pod.base_url)}]
        }]}),
    ))
}

/// `GET /networking/v2.0`: the resource list.
pub async fn network_v20(State(pod): State<Pod>) -> Response {
    let resources: Vec<Value> = [
        ("network", "networks"),
        ("subnet", "subnets"),
        ("port", "ports"),
        ("router", "routers"),
        ("floatingip", "floatingips"),
        ("security_group", "security-groups"),
        ("security_group_rule", "security-group-rules"),
        ("extension", "extensions"),
    ]
    .iter()
    .map(|(name, coll)| {
        json!({
            "name": name,
            "collection": coll,
            "links": [{"rel": "self", "href": format!("{}/networking/v2.0/{coll}", pod.base_url)}]
        })
    })
    .collect();
    json_resp(200, json!({"resources": resources}))
}

fn glance_versions(pod: &Pod) -> Value {
    let href = format!("{}/image/v2/", pod.base_url);
    let versions: Vec<Value> = (0..=17)
        .rev()
        .map(|minor| {
            json!({
                "id": format!("v2.{minor}"),
                "status": if minor == 17 { "CURRENT" } else { "SUPPORTED" },
                "links": [{"rel": "self", "href": href}]
            })
        })
        .collect();
    json!({ "versions": versions })
}

/// `GET /image` and `GET /image/v2`: 300.
pub async fn image_root(State(pod): State<Pod>) -> Response {
    no_rid(json_resp(300, glance_versions(&pod)))
}
