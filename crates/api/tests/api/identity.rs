//! Keystone v3 at /identity with the embedded identity service: tokens,
//! catalog, resources, errors in Keystone's shape, and the admin API
//! accepting Keystone tokens with the admin role.

use reqwest::Method;
use serde_json::{Value, json};
use tricircle_store::testing::Backend;

use crate::common::{ADMIN_PASSWORD, Gateway, Reply};

fn password_body(user: &str, pw: &str, project: Option<&str>) -> Value {
    let mut body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": pw}}}}});
    if let Some(p) = project {
        body["auth"]["scope"] = json!({"project": {"name": p, "domain": {"id": "default"}}});
    }
    body
}

async fn login(gw: &Gateway, user: &str, pw: &str, project: Option<&str>) -> (String, Value) {
    let r = gw
        .raw(
            Method::POST,
            "/identity/v3/auth/tokens",
            None,
            Some(password_body(user, pw, project).to_string()),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    (r.headers["x-subject-token"].to_str().unwrap().to_string(), r.body)
}

async fn post(gw: &Gateway, path: &str, token: &str, body: Value) -> Reply {
    gw.raw(Method::POST, path, Some(token), Some(body.to_string())).await
}

#[track_caller]
fn keystone_fault(r: &Reply, status: u16) -> String {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["error"]["code"], status, "{}", r.body);
    assert!(r.body["error"]["title"].is_string());
    r.body["error"]["message"].as_str().unwrap().to_string()
}

async fn check(gw: &Gateway) {
    // Version discovery.
    let root = gw.raw(Method::GET, "/identity", None, None).await;
    assert_eq!(root.status.as_u16(), 300);
    assert_eq!(root.headers["location"], format!("{}/identity/v3/", gw.base));
    assert_eq!(root.body["versions"]["values"][0]["id"], "v3.14");
    assert_eq!(
        gw.raw(Method::GET, "/identity/v3", None, None).await.body["version"]["status"],
        "stable"
    );

    // Login, catalog, validation.
    let (admin, body) = login(gw, "admin", ADMIN_PASSWORD, Some("admin")).await;
    let token = &body["token"];
    assert_eq!(token["project"]["name"], "admin");
    let roles: Vec<_> =
        token["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(roles.contains(&"admin") && roles.contains(&"reader"));
    let compute =
        token["catalog"].as_array().unwrap().iter().find(|s| s["type"] == "compute").unwrap();
    assert_eq!(
        compute["endpoints"][0]["url"],
        format!("{}/compute/v2.1", gw.base),
        "the catalog points at the gateway"
    );
    assert_eq!(compute["endpoints"][0]["region_id"], "RegionOne");
    let unscoped = gw
        .raw(
            Method::POST,
            "/identity/v3/auth/tokens?nocatalog",
            None,
            Some(password_body("admin", ADMIN_PASSWORD, None).to_string()),
        )
        .await;
    assert!(
        unscoped.body["token"].get("catalog").is_none()
            && unscoped.body["token"].get("project").is_none()
    );

    let bad = gw
        .raw(
            Method::POST,
            "/identity/v3/auth/tokens",
            None,
            Some(password_body("admin", "wrong", None).to_string()),
        )
        .await;
    assert_eq!(keystone_fault(&bad, 401), "The request you have made requires authentication.");
    assert!(bad.headers.contains_key("www-authenticate"));
    keystone_fault(
        &gw.raw(Method::POST, "/identity/v3/auth/tokens", None, Some("{\"auth\": 1}".into())).await,
        400,
    );
    keystone_fault(
        &gw.raw(Method::POST, "/identity/v3/auth/tokens", None, Some("nope".into())).await,
        400,
    );

    // Resources.
    let admin_t = admin.as_str();
    let demo =
        post(gw, "/identity/v3/projects", admin_t, json!({"project": {"name": "demo"}})).await;
    assert_eq!(demo.status.as_u16(), 201, "{}", demo.body);
    let demo_id = demo.body["project"]["id"].as_str().unwrap().to_string();
    assert!(
        keystone_fault(
            &post(gw, "/identity/v3/projects", admin_t, json!({"project": {"name": "demo"}})).await,
            409
        )
        .contains("Duplicate entry")
    );
    let user = post(
        gw,
        "/identity/v3/users",
        admin_t,
        json!({"user": {"name": "alice", "password": "alicepw", "default_project_id": demo_id}}),
    )
    .await;
    assert_eq!(user.status.as_u16(), 201);
    assert!(!user.body.to_string().contains("alicepw"), "no password in the answer");
    let alice_id = user.body["user"]["id"].as_str().unwrap().to_string();
    let roles = gw.raw(Method::GET, "/identity/v3/roles?name=member", Some(admin_t), None).await;
    let member_id = roles.body["roles"][0]["id"].as_str().unwrap().to_string();
    let grant_path = format!("/identity/v3/projects/{demo_id}/users/{alice_id}/roles/{member_id}");
    assert_eq!(gw.raw(Method::PUT, &grant_path, Some(admin_t), None).await.status.as_u16(), 204);
    assert_eq!(gw.raw(Method::HEAD, &grant_path, Some(admin_t), None).await.status.as_u16(), 204);
    let assignments = gw
        .raw(
            Method::GET,
            &format!("/identity/v3/role_assignments?scope.project.id={demo_id}"),
            Some(admin_t),
            None,
        )
        .await;
    assert_eq!(assignments.body["role_assignments"].as_array().unwrap().len(), 1);

    // A member: its own token and project, nothing else.
    let (alice, _) = login(gw, "alice", "alicepw", Some("demo")).await;
    let alice_t = alice.as_str();
    assert_eq!(
        gw.raw(Method::GET, &format!("/identity/v3/projects/{demo_id}"), Some(alice_t), None)
            .await
            .status
            .as_u16(),
        200
    );
    keystone_fault(&gw.raw(Method::GET, "/identity/v3/projects", Some(alice_t), None).await, 403);
    keystone_fault(
        &post(gw, "/identity/v3/users", alice_t, json!({"user": {"name": "eve"}})).await,
        403,
    );
    let mine = gw
        .http
        .get(format!("{}/identity/v3/auth/tokens", gw.base))
        .header("X-Auth-Token", alice_t)
        .header("X-Subject-Token", alice_t)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status().as_u16(), 200);
    let theirs = gw
        .http
        .get(format!("{}/identity/v3/auth/tokens", gw.base))
        .header("X-Auth-Token", alice_t)
        .header("X-Subject-Token", admin_t)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status().as_u16(), 403);
    let projects = gw.raw(Method::GET, "/identity/v3/auth/projects", Some(alice_t), None).await;
    assert_eq!(projects.body["projects"][0]["name"], "demo");

    // The admin API: admin tokens in, member tokens refused.
    assert_eq!(
        gw.raw(Method::GET, "/admin/v1.0/pods", Some(admin_t), None).await.status.as_u16(),
        200
    );
    gw.raw(Method::GET, "/admin/v1.0/pods", Some(alice_t), None).await.fault(403);

    // Logout.
    let del = gw
        .http
        .delete(format!("{}/identity/v3/auth/tokens", gw.base))
        .header("X-Auth-Token", alice_t)
        .header("X-Subject-Token", alice_t)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status().as_u16(), 204);
    keystone_fault(
        &gw.raw(Method::GET, "/identity/v3/auth/projects", Some(alice_t), None).await,
        401,
    );
    gw.raw(Method::GET, "/admin/v1.0/pods", Some(alice_t), None).await.fault(401);
    // Unknown objects.
    assert!(
        keystone_fault(
            &gw.raw(Method::GET, "/identity/v3/users/nope", Some(admin_t), None).await,
            404
        )
        .contains("Could not find user")
    );
    keystone_fault(
        &gw.raw(Method::GET, "/identity/v3/nothing-here", Some(admin_t), None).await,
        404,
    );
}

#[tokio::test]
async fn keystone_api_sqlite() {
    let gw = Gateway::start_embedded(Backend::Sqlite).await.unwrap();
    check(&gw).await;
    gw.cleanup().await;
}

#[tokio::test]
async fn keystone_api_postgres() {
    let Some(gw) = Gateway::start_embedded(Backend::Postgres).await else { return };
    check(&gw).await;
    gw.cleanup().await;
}
