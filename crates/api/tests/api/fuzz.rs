//! Property: no request a client can send makes the server answer 5xx or
//! drop the connection. Random methods, paths (real routes with mangled
//! segments), query strings and bodies (random JSON, and mutations of valid
//! bodies) against a live gateway; every error must be a JSON fault body.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};
use tricircle_store::testing::Backend;

use crate::common::{ADMIN, Gateway};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "[ -~]{0,20}".prop_map(Value::String),
        Just(json!("7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11")),
        Just(json!("")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("pod".to_string()),
                    Just("routing".to_string()),
                    Just("region_name".to_string()),
                    Just("az_name".to_string()),
                    Just("top_id".to_string()),
                    Just("pod_id".to_string()),
                    Just("bottom_id".to_string()),
                    Just("project_id".to_string()),
                    Just("resource_type".to_string()),
                    Just("credentials".to_string()),
                    Just("identity".to_string()),
                    Just("endpoints".to_string()),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn valid_bodies() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[ -~]{0,40}".prop_map(|r| json!({"pod": {"region_name": r, "az_name": "az1"}})),
        "[ -~]{0,10}".prop_map(|r| json!({"pod": {"region_name": r}})),
        ("[ -~]{0,20}", "[a-z_]{0,14}").prop_map(|(t, ty)| json!({"routing": {"top_id": t, "pod_id": "7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11", "project_id": "p", "resource_type": ty}})),
    ]
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("7f2a8c0e-2f5b-4b51-9d6e-3c3f1f0a9b11".to_string()),
        Just("1".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("%00".to_string()),
        Just("%E2%82%AC".to_string()),
        "[a-zA-Z0-9._~-]{0,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "/admin",
            "/admin/v1.0",
            "/admin/v1.0/pods",
            "/admin/v1.0/pods/{}",
            "/admin/v1.0/routings",
            "/admin/v1.0/routings/{}",
            "/admin/v1.0/jobs",
            "/admin/v1.0/jobs/detail",
            "/admin/v1.0/jobs/schemas",
            "/admin/v1.0/jobs/{}",
            "/healthz",
            "/readyz",
            "/{}",
        ]),
        segment(),
        prop::option::of(prop::collection::vec(
            (
                prop::sample::select(vec![
                    "limit", "marker", "id", "pod_id", "status", "type", "top_id", "x",
                ]),
                segment(),
            ),
            0..3,
        )),
    )
        .prop_map(|(p, seg, query)| {
            let mut p = p.replace("{}", &seg);
            if let Some(q) = query {
                let pairs: Vec<String> = q.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
                p = format!("{p}?{}", pairs.join("&"));
            }
            p
        })
}

fn request() -> impl Strategy<Value = (Method, String, Option<String>)> {
    (
        prop::sample::select(vec![
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ]),
        path(),
        prop_oneof![
            Just(None),
            json_value().prop_map(|v| Some(v.to_string())),
            valid_bodies().prop_map(|v| Some(v.to_string())),
            "[ -~]{0,30}".prop_map(Some),
        ],
    )
}

#[test]
fn random_requests_never_get_a_server_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gw = rt.block_on(Gateway::start(Backend::Sqlite)).unwrap();
    let mut runner =
        TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
    runner
        .run(&request(), |(method, path, body)| {
            let url = format!("{}{path}", gw.base);
            let status = rt.block_on(async {
                let mut req = gw.http.request(method.clone(), &url).header("X-Auth-Token", ADMIN);
                if let Some(b) = &body {
                    req = req.header("Content-Type", "application/json").body(b.clone());
                }
                let resp = req.send().await.expect("the server answers");
                let status = resp.status().as_u16();
                let ct = resp
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap_or("").to_string());
                let text = resp.text().await.unwrap();
                if status >= 400 {
                    assert_eq!(ct.as_deref(), Some("application/json"), "{method} {path}: {text}");
                    let v: Value = serde_json::from_str(&text).unwrap();
                    assert!(
                        v.as_object().unwrap().values().next().unwrap()["message"].is_string(),
                        "{text}"
                    );
                }
                status
            });
            prop_assert!(status < 500, "{} {} with {:?} answered {}", method, path, body, status);
            Ok(())
        })
        .unwrap();
    rt.block_on(gw.cleanup());
}
