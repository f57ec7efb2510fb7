//! Project isolation (issue 6): a member of project B can neither see nor
//! act on project A's servers, volumes, private images, keypairs or private
//! flavors, by list, show, update, action or delete; admin sees them with
//! `all_tenants`. Plain HTTP against the real `tricircle up --pods 1`.
//!
//! Every refused cell has a positive control: after B's attempts, A (or
//! admin) does the same thing successfully and finds the object unchanged,
//! so a 404 from a missing route cannot pass for isolation.

mod common;

use common::Up;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
}

/// One caller: a scoped token and its project.
#[derive(Clone, Debug)]
struct Caller {
    token: String,
    project: String,
}

const PATCH_JSON: &str = "application/openstack-images-v2.1-json-patch";

impl Http {
    async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> (u16, Value, Vec<u8>) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", token);
        if path.starts_with("/compute/") {
            req = req.header("openstack-api-version", "compute 2.96");
        }
        if let Some(b) = body {
            req = req.header("content-type", content_type).body(b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body").to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json, bytes)
    }

    async fn call(
        &self,
        who: &Caller,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let ct = if method == Method::PATCH { PATCH_JSON } else { "application/json" };
        let (s, v, _) =
            self.send(&who.token, method, path, ct, body.map(|b| b.to_string().into_bytes())).await;
        (s, v)
    }

    /// A call that must answer `want`; returns the body.
    async fn expect(
        &self,
        who: &Caller,
        method: Method,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Value {
        let (s, v) = self.call(who, method.clone(), path, body).await;
        assert_eq!(s, want, "{method} {path}: {v}");
        v
    }

    async fn login(&self, user: &str, password: &str, project: &str) -> Result<Caller, u16> {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
        let resp = self
            .client
            .post(format!("{}/identity/v3/auth/tokens", self.base))
            .json(&body)
            .send()
            .await
            .expect("login");
        if resp.status().as_u16() != 201 {
            return Err(resp.status().as_u16());
        }
        let token = resp.headers()["x-subject-token"].to_str().unwrap().to_string();
        let v: Value = resp.json().await.unwrap();
        Ok(Caller { token, project: v["token"]["project"]["id"].as_str().unwrap().to_string() })
    }
}

/// The IDs (or keypair names) in a list body under `key`.
fn listed(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} list in {body}"))
        .iter()
        .map(|x| {
            let x = if key == "keypairs" { &x["keypair"] } else { x };
            x["id"].as_str().or(x["name"].as_str()).unwrap_or_default().to_string()
        })
        .collect()
}

/// What B may get back when touching A's object.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// 404, as for an object that does not exist.
    NotFound,
    /// 403 or 404 (admin-only APIs refuse before looking).
    Refused,
    /// 400 or 404: a create that names A's object (Nova answers 400).
    BadRef,
    /// 2xx, but the list must not contain the ID.
    ListWithout(&'static str),
    /// 403, or 2xx without the ID (`all_tenants` for a member).
    RefusedOrWithout(&'static str),
}

struct Cell {
    what: String,
    method: Method,
    path: String,
    body: Option<Value>,
    want: Want,
    id: String,
}

async fn run_cell(http: &Http, who: &Caller, c: &Cell) -> Option<String> {
    let (status, body) = http.call(who, c.method.clone(), &c.path, c.body.clone()).await;
    let ok = match c.want {
        Want::NotFound => status == 404,
        Want::Refused => status == 403 || status == 404,
        Want::BadRef => status == 400 || status == 404,
        Want::ListWithout(key) => status == 200 && !listed(&body, key).contains(&c.id),
        Want::RefusedOrWithout(key) => {
            status == 403 || (status == 200 && !listed(&body, key).contains(&c.id))
        }
    };
    (!ok).then(|| {
        format!("{}: {} {} -> {status} {body} (want {:?})", c.what, c.method, c.path, c.want)
    })
}

async fn wait_status(http: &Http, who: &Caller, path: &str, key: &str, want: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let v = http.expect(who, Method::GET, path, None, 200).await;
        if v[key]["status"] == want {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "{path} never {want}: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

const KEY_A: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUm a";
const KEY_B: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywt b";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_b_can_neither_see_nor_touch_project_a() {
    let up = tokio::task::spawn_blocking(|| Up::start(1)).await.expect("up");
    let http = Http { client: reqwest::Client::new(), base: up.base.clone() };
    let admin_pw = up.cloud("tricircle")["auth"]["password"].as_str().unwrap().to_string();
    let admin = http.login("admin", &admin_pw, "admin").await.expect("admin login");

    // Admin: projects A and B, a member user in each.
    let member =
        http.expect(&admin, Method::GET, "/identity/v3/roles?name=member", None, 200).await;
    let member = member["roles"][0]["id"].as_str().expect("member role").to_string();
    let mut callers = Vec::new();
    for (p, u) in [("iso-a", "user-a"), ("iso-b", "user-b")] {
        let proj = http
            .expect(
                &admin,
                Method::POST,
                "/identity/v3/projects",
                Some(json!({"project": {"name": p}})),
                201,
            )
            .await;
        let pid = proj["project"]["id"].as_str().unwrap().to_string();
        let user = http
            .expect(
                &admin,
                Method::POST,
                "/identity/v3/users",
                Some(json!({"user": {"name": u, "password": format!("pw-{u}"), "default_project_id": pid}})),
                201,
            )
            .await;
        let uid = user["user"]["id"].as_str().unwrap();
        let grant = format!("/identity/v3/projects/{pid}/users/{uid}/roles/{member}");
        http.expect(&admin, Method::PUT, &grant, None, 204).await;
        callers.push(http.login(u, &format!("pw-{u}"), p).await.expect("member login"));
    }
    let (a, b) = (callers[0].clone(), callers[1].clone());
    assert_ne!(a.project, b.project);
    // A's password gets no token scoped to B.
    assert_eq!(http.login("user-a", "pw-user-a", "iso-b").await.unwrap_err(), 401);

    // A's objects: server, volume, private image with data, keypair; admin's
    // private flavor with access for A only. B gets a server of its own.
    let images = http.expect(&a, Method::GET, "/image/v2/images?name=cirros", None, 200).await;
    let cirros = images["images"][0]["id"].as_str().expect("cirros").to_string();
    let server_body = |name: &str, extra: Value| {
        let mut s = json!({"name": name, "imageRef": cirros, "flavorRef": "1", "networks": "none"});
        s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({"server": s})
    };
    let (sa, sb, va, ia) = tokio::join!(
        http.expect(&a, Method::POST, "/compute/v2.1/servers", Some(server_body("vm-a", json!({}))), 202),
        http.expect(&b, Method::POST, "/compute/v2.1/servers", Some(server_body("vm-b", json!({}))), 202),
        http.expect(&a, Method::POST, "/volume/v3/volumes", Some(json!({"volume": {"size": 1, "name": "vol-a"}})), 202),
        http.expect(
            &a,
            Method::POST,
            "/image/v2/images",
            Some(json!({"name": "img-a", "visibility": "private", "disk_format": "raw", "container_format": "bare"})),
            201
        ),
    );
    let sid = sa["server"]["id"].as_str().unwrap().to_string();
    let sid_b = sb["server"]["id"].as_str().unwrap().to_string();
    let vid = va["volume"]["id"].as_str().unwrap().to_string();
    let iid = ia["id"].as_str().unwrap().to_string();
    let image_bytes: Vec<u8> = (0..3000u32).map(|i| (i % 241) as u8).collect();
    let (s, _, _) = http
        .send(
            &a.token,
            Method::PUT,
            &format!("/image/v2/images/{iid}/file"),
            "application/octet-stream",
            Some(image_bytes.clone()),
        )
        .await;
    assert_eq!(s, 204, "upload");
    let ka = http
        .expect(
            &a,
            Method::POST,
            "/compute/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "ka", "public_key": KEY_A}})),
            201,
        )
        .await;
    let fingerprint_a = ka["keypair"]["fingerprint"].as_str().unwrap().to_string();
    let flavor = http
        .expect(
            &admin,
            Method::POST,
            "/compute/v2.1/flavors",
            Some(json!({"flavor": {"name": "private-a", "ram": 256, "vcpus": 1, "disk": 1, "os-flavor-access:is_public": false}})),
            200,
        )
        .await;
    let fid = flavor["flavor"]["id"].as_str().unwrap().to_string();
    http.expect(
        &admin,
        Method::POST,
        &format!("/compute/v2.1/flavors/{fid}/action"),
        Some(json!({"addTenantAccess": {"tenant": a.project}})),
        200,
    )
    .await;
    let (p1, p2, p3) = (
        format!("/compute/v2.1/servers/{sid}"),
        format!("/compute/v2.1/servers/{sid_b}"),
        format!("/volume/v3/volumes/{vid}"),
    );
    tokio::join!(
        wait_status(&http, &a, &p1, "server", "ACTIVE"),
        wait_status(&http, &b, &p2, "server", "ACTIVE"),
        wait_status(&http, &a, &p3, "volume", "available"),
    );

    // The matrix: B against each of A's objects.
    let cell =
        |what: &str, method: Method, path: String, body: Option<Value>, want: Want, id: &str| {
            Cell { what: what.into(), method, path, body, want, id: id.into() }
        };
    use Want::*;
    let srv = |p: &str| format!("/compute/v2.1/servers/{sid}{p}");
    let vol = |p: &str| format!("/volume/v3/volumes/{vid}{p}");
    let img = |p: &str| format!("/image/v2/images/{iid}{p}");
    let flv = |p: &str| format!("/compute/v2.1/flavors/{fid}{p}");
    let cells = vec![
        // Servers.
        cell(
            "server list",
            Method::GET,
            "/compute/v2.1/servers".into(),
            None,
            ListWithout("servers"),
            &sid,
        ),
        cell(
            "server detail",
            Method::GET,
            "/compute/v2.1/servers/detail".into(),
            None,
            ListWithout("servers"),
            &sid,
        ),
        cell(
            "server list by name",
            Method::GET,
            "/compute/v2.1/servers/detail?name=vm-a".into(),
            None,
            ListWithout("servers"),
            &sid,
        ),
        cell(
            "server all_tenants",
            Method::GET,
            "/compute/v2.1/servers/detail?all_tenants=1".into(),
            None,
            RefusedOrWithout("servers"),
            &sid,
        ),
        cell("server show", Method::GET, srv(""), None, NotFound, &sid),
        cell(
            "server rename",
            Method::PUT,
            srv(""),
            Some(json!({"server": {"name": "stolen"}})),
            NotFound,
            &sid,
        ),
        cell(
            "server reboot",
            Method::POST,
            srv("/action"),
            Some(json!({"reboot": {"type": "HARD"}})),
            NotFound,
            &sid,
        ),
        cell(
            "server stop",
            Method::POST,
            srv("/action"),
            Some(json!({"os-stop": null})),
            NotFound,
            &sid,
        ),
        cell(
            "server resize",
            Method::POST,
            srv("/action"),
            Some(json!({"resize": {"flavorRef": "2"}})),
            NotFound,
            &sid,
        ),
        cell(
            "server attachments",
            Method::GET,
            srv("/os-volume_attachments"),
            None,
            NotFound,
            &sid,
        ),
        cell("server delete", Method::DELETE, srv(""), None, NotFound, &sid),
        // Volumes.
        cell(
            "volume list",
            Method::GET,
            "/volume/v3/volumes".into(),
            None,
            ListWithout("volumes"),
            &vid,
        ),
        cell(
            "volume detail",
            Method::GET,
            "/volume/v3/volumes/detail".into(),
            None,
            ListWithout("volumes"),
            &vid,
        ),
        cell(
            "volume all_tenants",
            Method::GET,
            "/volume/v3/volumes/detail?all_tenants=1".into(),
            None,
            RefusedOrWithout("volumes"),
            &vid,
        ),
        cell("volume show", Method::GET, vol(""), None, NotFound, &vid),
        cell(
            "volume update",
            Method::PUT,
            vol(""),
            Some(json!({"volume": {"name": "stolen"}})),
            NotFound,
            &vid,
        ),
        cell(
            "volume extend",
            Method::POST,
            vol("/action"),
            Some(json!({"os-extend": {"new_size": 2}})),
            NotFound,
            &vid,
        ),
        cell("volume delete", Method::DELETE, vol(""), None, NotFound, &vid),
        cell(
            "attach A's volume to B's server",
            Method::POST,
            format!("/compute/v2.1/servers/{sid_b}/os-volume_attachments"),
            Some(json!({"volumeAttachment": {"volumeId": vid}})),
            BadRef,
            &vid,
        ),
        cell(
            "snapshot A's volume",
            Method::POST,
            "/volume/v3/snapshots".into(),
            Some(json!({"snapshot": {"volume_id": vid, "force": true}})),
            BadRef,
            &vid,
        ),
        // Private image.
        cell(
            "image list",
            Method::GET,
            "/image/v2/images".into(),
            None,
            ListWithout("images"),
            &iid,
        ),
        cell(
            "image list private",
            Method::GET,
            "/image/v2/images?visibility=private".into(),
            None,
            ListWithout("images"),
            &iid,
        ),
        cell("image show", Method::GET, img(""), None, NotFound, &iid),
        cell(
            "image patch",
            Method::PATCH,
            img(""),
            Some(json!([{"op": "replace", "path": "/name", "value": "stolen"}])),
            NotFound,
            &iid,
        ),
        cell("image download", Method::GET, img("/file"), None, NotFound, &iid),
        cell("image delete", Method::DELETE, img(""), None, NotFound, &iid),
        cell(
            "boot from A's image",
            Method::POST,
            "/compute/v2.1/servers".into(),
            Some(
                json!({"server": {"name": "x", "imageRef": iid, "flavorRef": "1", "networks": "none"}}),
            ),
            BadRef,
            &iid,
        ),
        // Keypair (per user).
        cell(
            "keypair list",
            Method::GET,
            "/compute/v2.1/os-keypairs".into(),
            None,
            ListWithout("keypairs"),
            "ka",
        ),
        cell(
            "keypair show",
            Method::GET,
            "/compute/v2.1/os-keypairs/ka".into(),
            None,
            NotFound,
            "ka",
        ),
        cell(
            "keypair delete",
            Method::DELETE,
            "/compute/v2.1/os-keypairs/ka".into(),
            None,
            NotFound,
            "ka",
        ),
        cell(
            "boot with A's keypair",
            Method::POST,
            "/compute/v2.1/servers".into(),
            Some(server_body("x", json!({"key_name": "ka"}))),
            BadRef,
            "ka",
        ),
        // Private flavor.
        cell(
            "flavor list",
            Method::GET,
            "/compute/v2.1/flavors".into(),
            None,
            ListWithout("flavors"),
            &fid,
        ),
        cell(
            "flavor detail",
            Method::GET,
            "/compute/v2.1/flavors/detail".into(),
            None,
            ListWithout("flavors"),
            &fid,
        ),
        cell(
            "flavor list is_public=None",
            Method::GET,
            "/compute/v2.1/flavors/detail?is_public=None".into(),
            None,
            ListWithout("flavors"),
            &fid,
        ),
        cell("flavor show", Method::GET, flv(""), None, NotFound, &fid),
        cell("flavor access list", Method::GET, flv("/os-flavor-access"), None, Refused, &fid),
        cell(
            "flavor add access for B",
            Method::POST,
            flv("/action"),
            Some(json!({"addTenantAccess": {"tenant": b.project}})),
            Refused,
            &fid,
        ),
        cell("flavor delete", Method::DELETE, flv(""), None, Refused, &fid),
        cell(
            "boot with A's flavor",
            Method::POST,
            "/compute/v2.1/servers".into(),
            Some(
                json!({"server": {"name": "x", "imageRef": cirros, "flavorRef": fid, "networks": "none"}}),
            ),
            BadRef,
            &fid,
        ),
    ];
    let failures: Vec<String> = join_all(cells.iter().map(|c| run_cell(&http, &b, c)))
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cells let B through:\n{}",
        failures.len(),
        cells.len(),
        failures.join("\n")
    );

    // B's keypair of the same name is B's own and leaves A's alone.
    let kb = http
        .expect(
            &b,
            Method::POST,
            "/compute/v2.1/os-keypairs",
            Some(json!({"keypair": {"name": "ka", "public_key": KEY_B}})),
            201,
        )
        .await;
    assert_ne!(kb["keypair"]["fingerprint"].as_str(), Some(fingerprint_a.as_str()));

    // Controls: A finds everything as it was, and can act on it.
    let s = http.expect(&a, Method::GET, &srv(""), None, 200).await;
    assert_eq!(
        (s["server"]["name"].as_str(), s["server"]["status"].as_str()),
        (Some("vm-a"), Some("ACTIVE")),
        "{s}"
    );
    assert_eq!(s["server"]["flavor"]["original_name"], "m1.tiny", "B's resize did nothing: {s}");
    let v = http.expect(&a, Method::GET, &vol(""), None, 200).await;
    assert_eq!(
        (v["volume"]["name"].as_str(), v["volume"]["size"].as_u64()),
        (Some("vol-a"), Some(1)),
        "{v}"
    );
    let i = http.expect(&a, Method::GET, &img(""), None, 200).await;
    assert_eq!((i["name"].as_str(), i["status"].as_str()), (Some("img-a"), Some("active")), "{i}");
    let (s, _, data) = http.send(&a.token, Method::GET, &img("/file"), "", None).await;
    assert_eq!((s, data), (200, image_bytes), "A downloads its image");
    let k = http.expect(&a, Method::GET, "/compute/v2.1/os-keypairs/ka", None, 200).await;
    assert_eq!(k["keypair"]["fingerprint"].as_str(), Some(fingerprint_a.as_str()));
    let fl = http.expect(&a, Method::GET, "/compute/v2.1/flavors", None, 200).await;
    assert!(listed(&fl, "flavors").contains(&fid), "A sees its private flavor: {fl}");
    http.expect(&a, Method::GET, &flv(""), None, 200).await;
    let access = http.expect(&admin, Method::GET, &flv("/os-flavor-access"), None, 200).await;
    assert_eq!(
        access["flavor_access"],
        json!([{"flavor_id": fid, "tenant_id": a.project}]),
        "{access}"
    );
    let (s, v) =
        http.call(&a, Method::GET, "/compute/v2.1/servers/detail?all_tenants=1", None).await;
    assert!(
        s == 403 || (s == 200 && !listed(&v, "servers").contains(&sid_b)),
        "A with all_tenants: {s} {v}"
    );

    // Admin: its own project's view has neither; all_tenants has both.
    let own = http.expect(&admin, Method::GET, "/compute/v2.1/servers/detail", None, 200).await;
    assert!(!listed(&own, "servers").contains(&sid), "{own}");
    let everyone = http
        .expect(&admin, Method::GET, "/compute/v2.1/servers/detail?all_tenants=1", None, 200)
        .await;
    let everyone_ids = listed(&everyone, "servers");
    assert!(everyone_ids.contains(&sid) && everyone_ids.contains(&sid_b), "{everyone}");
    let row =
        everyone["servers"].as_array().unwrap().iter().find(|s| s["id"] == sid.as_str()).unwrap();
    assert_eq!(row["tenant_id"], a.project.as_str(), "{row}");
    http.expect(&admin, Method::GET, &srv(""), None, 200).await;
    let vols = http
        .expect(&admin, Method::GET, "/volume/v3/volumes/detail?all_tenants=1", None, 200)
        .await;
    assert!(listed(&vols, "volumes").contains(&vid), "{vols}");
    let flavors =
        http.expect(&admin, Method::GET, "/compute/v2.1/flavors?is_public=None", None, 200).await;
    assert!(listed(&flavors, "flavors").contains(&fid), "{flavors}");

    // A can delete what B could not.
    http.expect(&a, Method::DELETE, &srv(""), None, 204).await;
    http.expect(&a, Method::DELETE, &img(""), None, 204).await;
    http.expect(&a, Method::DELETE, "/compute/v2.1/os-keypairs/ka", None, 204).await;
    http.expect(&a, Method::DELETE, &vol(""), None, 202).await;
}
