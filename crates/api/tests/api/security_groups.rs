//! Security groups and rules of the top Neutron over HTTP, written from the
//! real Neutron's behaviour: the per-project `default` group (created once
//! on first use, even under concurrent first uses, with its four rules and
//! protected from removal), group create/show/update/delete, rule validation
//! with Neutron's error types, duplicate rules, cascading deletes, `in use`
//! refusals and project isolation. No pods are involved.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{ADMIN, Gateway, MEMBER, OTHER, Reply, neutron_call as call, neutron_str as s};
use crate::gateway_tests;

/// An ID nothing has.
const UNKNOWN: &str = "4d3c6f8a-1b2e-4c5d-9e8f-0a1b2c3d4e5f";

/// Assert the status and Neutron's error body of this type; returns the message.
#[track_caller]
fn error_type(r: &Reply, status: u16, ty: &str) -> String {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.body);
    let e = &r.body["NeutronError"];
    assert_eq!(r.body.as_object().map(|o| o.len()), Some(1), "only NeutronError: {}", r.body);
    assert_eq!(e["type"], ty, "error type: {}", r.body);
    assert_eq!(e["detail"], "", "{}", r.body);
    let message = e["message"].as_str().unwrap_or_else(|| panic!("no message: {}", r.body));
    assert!(!message.is_empty());
    for leak in ["sqlx", "panicked", "src/", "::"] {
        assert!(!message.contains(leak), "internal detail in message: {message}");
    }
    message.to_string()
}

#[track_caller]
fn items<'a>(r: &'a Reply, collection: &str) -> &'a Vec<Value> {
    r.ok(200)[collection].as_array().unwrap_or_else(|| panic!("no {collection} array: {}", r.body))
}

#[track_caller]
fn ids(r: &Reply, collection: &str) -> Vec<String> {
    items(r, collection).iter().map(|x| s(&x["id"])).collect()
}

async fn create_group(gw: &Gateway, token: &str, name: &str) -> Value {
    let body = json!({"security_group": {"name": name, "description": format!("{name} group")}});
    let r = call(gw, token, Method::POST, "/security-groups", Some(body)).await;
    r.ok(201)["security_group"].clone()
}

async fn post_rule(gw: &Gateway, token: &str, rule: Value) -> Reply {
    call(
        gw,
        token,
        Method::POST,
        "/security-group-rules",
        Some(json!({"security_group_rule": rule})),
    )
    .await
}

/// The `default` groups a listing holds for a project.
fn defaults_of(r: &Reply, project: &str) -> Vec<Value> {
    items(r, "security_groups")
        .iter()
        .filter(|g| g["name"] == "default" && g["project_id"] == project)
        .cloned()
        .collect()
}

/// (direction, ethertype, remote_group_id is the group, remote_ip_prefix) of
/// each rule, sorted.
fn rule_shapes(group: &Value) -> Vec<(String, String, bool, Value)> {
    let id = &group["id"];
    let mut v: Vec<_> = group["security_group_rules"]
        .as_array()
        .unwrap_or_else(|| panic!("no rules: {group}"))
        .iter()
        .map(|r| {
            assert_eq!(&r["security_group_id"], id, "{r}");
            assert_eq!(r["protocol"], Value::Null, "{r}");
            (
                s(&r["direction"]),
                s(&r["ethertype"]),
                &r["remote_group_id"] == id,
                r["remote_ip_prefix"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    v
}

gateway_tests! {
    async fn default_group_on_first_list_with_four_rules(gw: &Gateway) {
        let r = call(gw, MEMBER, Method::GET, "/security-groups", None).await;
        let defaults = defaults_of(&r, "p1");
        assert_eq!(defaults.len(), 1, "{}", r.body);
        let d = &defaults[0];
        assert_eq!(d["description"], "Default security group");
        assert_eq!(d["stateful"], true);
        assert_eq!(d["shared"], false);
        assert_eq!(d["tenant_id"], "p1");
        assert_eq!(
            rule_shapes(d),
            vec![
                ("egress".into(), "IPv4".into(), false, Value::Null),
                ("egress".into(), "IPv6".into(), false, Value::Null),
                ("ingress".into(), "IPv4".into(), true, Value::Null),
                ("ingress".into(), "IPv6".into(), true, Value::Null),
            ]
        );
        for rule in d["security_group_rules"].as_array().unwrap() {
            assert_eq!(rule["belongs_to_default_sg"], true, "{rule}");
            assert_eq!(rule["project_id"], "p1", "{rule}");
        }
        // The same group the next time, and on show; its rules are listed on their own too.
        let again = call(gw, MEMBER, Method::GET, "/security-groups", None).await;
        assert_eq!(ids(&again, "security_groups"), vec![s(&d["id"])]);
        let shown = call(gw, MEMBER, Method::GET, &format!("/security-groups/{}", s(&d["id"])), None).await;
        assert_eq!(shown.ok(200)["security_group"]["security_group_rules"], d["security_group_rules"]);
        let rules = call(gw, MEMBER, Method::GET, "/security-group-rules", None).await;
        let mut listed = ids(&rules, "security_group_rules");
        let mut embedded: Vec<String> =
            d["security_group_rules"].as_array().unwrap().iter().map(|r| s(&r["id"])).collect();
        listed.sort();
        embedded.sort();
        assert_eq!(listed, embedded);
        // The extension is advertised.
        let ext = call(gw, MEMBER, Method::GET, "/extensions/security-group", None).await;
        assert_eq!(ext.ok(200)["extension"]["name"], "security-group");
    }

    async fn concurrent_first_lists_create_one_default_group(gw: &Gateway) {
        let replies = join_all(
            (0..10).map(|_| call(gw, MEMBER, Method::GET, "/security-groups", None)),
        )
        .await;
        let mut seen = Vec::new();
        for r in &replies {
            let d = defaults_of(r, "p1");
            assert_eq!(d.len(), 1, "{}", r.body);
            // Nobody sees the group before its rules.
            assert_eq!(d[0]["security_group_rules"].as_array().map(Vec::len), Some(4), "{}", r.body);
            seen.push(s(&d[0]["id"]));
        }
        seen.dedup();
        assert_eq!(seen.len(), 1, "one default group: {seen:?}");
        let all = call(gw, ADMIN, Method::GET, "/security-groups", None).await;
        assert_eq!(defaults_of(&all, "p1").len(), 1, "{}", all.body);
        let rules = call(gw, ADMIN, Method::GET, &format!("/security-group-rules?security_group_id={}", seen[0]), None).await;
        assert_eq!(items(&rules, "security_group_rules").len(), 4, "{}", rules.body);
    }

    async fn group_create_show_update_delete(gw: &Gateway) {
        let g = create_group(gw, MEMBER, "web").await;
        let id = s(&g["id"]);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        for key in ["name", "description", "project_id", "tenant_id", "security_group_rules", "stateful", "shared", "tags", "created_at", "updated_at", "revision_number"] {
            assert!(g.get(key).is_some(), "missing {key}: {g}");
        }
        assert_eq!(g["name"], "web");
        assert_eq!(g["description"], "web group");
        assert_eq!(g["project_id"], "p1");
        assert_eq!(g["stateful"], true);
        assert_eq!(g["shared"], false);
        assert_eq!(g["tags"], json!([]));
        // A new group may only go out.
        assert_eq!(
            rule_shapes(&g),
            vec![
                ("egress".into(), "IPv4".into(), false, Value::Null),
                ("egress".into(), "IPv6".into(), false, Value::Null),
            ]
        );
        let shown = call(gw, MEMBER, Method::GET, &format!("/security-groups/{id}"), None).await;
        assert_eq!(shown.ok(200)["security_group"]["security_group_rules"], g["security_group_rules"]);
        let fields = call(gw, MEMBER, Method::GET, &format!("/security-groups/{id}?fields=name"), None).await;
        assert_eq!(fields.ok(200)["security_group"], json!({"name": "web"}));
        // Creating it made the project's default group too.
        let listed = call(gw, MEMBER, Method::GET, "/security-groups?name=web", None).await;
        assert_eq!(ids(&listed, "security_groups"), vec![id.clone()]);

        let r = call(gw, MEMBER, Method::PUT, &format!("/security-groups/{id}"),
            Some(json!({"security_group": {"name": "www", "description": "changed"}}))).await;
        let u = &r.ok(200)["security_group"];
        assert_eq!(u["name"], "www");
        assert_eq!(u["description"], "changed");
        assert!(u["revision_number"].as_i64() > g["revision_number"].as_i64(), "{u}");
        let r = call(gw, MEMBER, Method::PUT, &format!("/security-groups/{id}"),
            Some(json!({"security_group": {"id": "x"}}))).await;
        error_type(&r, 400, "HTTPBadRequest");
        let r = call(gw, MEMBER, Method::POST, "/security-groups",
            Some(json!({"security_group": {"name": "default"}}))).await;
        error_type(&r, 409, "SecurityGroupDefaultAlreadyExists");

        let r = call(gw, MEMBER, Method::DELETE, &format!("/security-groups/{id}"), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let r = call(gw, MEMBER, Method::GET, &format!("/security-groups/{id}"), None).await;
        let msg = error_type(&r, 404, "SecurityGroupNotFound");
        assert!(msg.contains(&id), "{msg}");
        let r = call(gw, MEMBER, Method::DELETE, &format!("/security-groups/{id}"), None).await;
        error_type(&r, 404, "SecurityGroupNotFound");
    }

    async fn default_group_cannot_be_removed_or_renamed(gw: &Gateway) {
        let r = call(gw, MEMBER, Method::GET, "/security-groups", None).await;
        let id = s(&defaults_of(&r, "p1")[0]["id"]);
        let r = call(gw, MEMBER, Method::DELETE, &format!("/security-groups/{id}"), None).await;
        error_type(&r, 409, "SecurityGroupCannotRemoveDefault");
        let r = call(gw, MEMBER, Method::PUT, &format!("/security-groups/{id}"),
            Some(json!({"security_group": {"name": "not-default"}}))).await;
        error_type(&r, 409, "SecurityGroupCannotUpdateDefault");
        // Its description may change.
        let r = call(gw, MEMBER, Method::PUT, &format!("/security-groups/{id}"),
            Some(json!({"security_group": {"description": "ours"}}))).await;
        assert_eq!(r.ok(200)["security_group"]["description"], "ours");
        let r = call(gw, MEMBER, Method::GET, "/security-groups", None).await;
        assert_eq!(defaults_of(&r, "p1").len(), 1);
    }

    async fn rule_create_and_validation(gw: &Gateway) {
        let g = create_group(gw, MEMBER, "rules").await;
        let id = s(&g["id"]);
        let r = post_rule(gw, MEMBER, json!({"security_group_id": id, "direction": "ingress",
            "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
            "remote_ip_prefix": "10.0.0.0/8", "description": "ssh"})).await;
        let rule = r.ok(201)["security_group_rule"].clone();
        assert_eq!(rule["ethertype"], "IPv4", "IPv4 by default: {rule}");
        assert_eq!(rule["security_group_id"], id.as_str());
        assert_eq!(rule["protocol"], "tcp");
        assert_eq!(rule["port_range_min"], 22);
        assert_eq!(rule["port_range_max"], 22);
        assert_eq!(rule["remote_ip_prefix"], "10.0.0.0/8");
        assert_eq!(rule["remote_group_id"], Value::Null);
        assert_eq!(rule["description"], "ssh");
        assert_eq!(rule["project_id"], "p1");
        assert_eq!(rule["belongs_to_default_sg"], false);
        let rule_id = s(&rule["id"]);
        let shown = call(gw, MEMBER, Method::GET, &format!("/security-group-rules/{rule_id}"), None).await;
        assert_eq!(shown.ok(200)["security_group_rule"], rule);
        // The group lists it beside its two egress rules.
        let group = call(gw, MEMBER, Method::GET, &format!("/security-groups/{id}"), None).await;
        let embedded: Vec<String> = group.ok(200)["security_group"]["security_group_rules"]
            .as_array().unwrap().iter().map(|r| s(&r["id"])).collect();
        assert_eq!(embedded.len(), 3);
        assert!(embedded.contains(&rule_id));

        // Other valid shapes: protocol as a number, ICMP type/code, IPv6, a remote group.
        for ok in [
            json!({"direction": "ingress", "protocol": "17", "port_range_min": 53, "port_range_max": 53}),
            json!({"direction": "ingress", "protocol": 6, "port_range_min": 80, "port_range_max": 90}),
            json!({"direction": "ingress", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0}),
            json!({"direction": "ingress", "ethertype": "IPv6", "protocol": "icmpv6", "remote_ip_prefix": "2001:db8::/32"}),
            json!({"direction": "ingress", "protocol": "udp", "remote_group_id": id}),
        ] {
            let mut body = ok.clone();
            body["security_group_id"] = json!(id);
            let r = post_rule(gw, MEMBER, body).await;
            assert_eq!(r.status.as_u16(), 201, "{ok}: {}", r.body);
        }

        let bad: [(Value, u16, &str); 12] = [
            (json!({"protocol": "tcp"}), 400, "HTTPBadRequest"), // no direction
            (json!({"direction": "sideways"}), 400, "HTTPBadRequest"),
            (json!({"direction": "ingress", "ethertype": "IPv5"}), 400, "HTTPBadRequest"),
            (json!({"direction": "ingress", "protocol": "smoke"}), 400, "SecurityGroupRuleInvalidProtocol"),
            (json!({"direction": "ingress", "protocol": 256}), 400, "SecurityGroupRuleInvalidProtocol"),
            (json!({"direction": "ingress", "port_range_min": 1, "port_range_max": 2}), 400, "SecurityGroupProtocolRequiredWithPorts"),
            (json!({"direction": "ingress", "protocol": "gre", "port_range_min": 1, "port_range_max": 2}), 400, "SecurityGroupInvalidProtocolForPortRange"),
            (json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 90, "port_range_max": 80}), 400, "SecurityGroupInvalidPortRange"),
            (json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 1, "port_range_max": 70000}), 400, "SecurityGroupInvalidPortValue"),
            // Written out in full: `::` in a message would pass for a leaked Rust path.
            (json!({"direction": "ingress", "remote_ip_prefix": "2001:db8:0:0:0:0:0:0/32"}), 400, "SecurityGroupRuleParameterConflict"),
            (json!({"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}), 400, "SecurityGroupRuleParameterConflict"),
            (json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": id}), 400, "SecurityGroupRemoteGroupAndRemoteIpPrefix"),
        ];
        for (body, status, ty) in bad {
            let mut full = body.clone();
            full["security_group_id"] = json!(id);
            let r = post_rule(gw, MEMBER, full).await;
            error_type(&r, status, ty);
        }
        let r = post_rule(gw, MEMBER, json!({"security_group_id": id, "direction": "ingress", "remote_ip_prefix": "not-a-cidr"})).await;
        error_type(&r, 400, "HTTPBadRequest");
        let r = post_rule(gw, MEMBER, json!({"security_group_id": id, "direction": "ingress", "color": "red"})).await;
        error_type(&r, 400, "HTTPBadRequest");
        // Unknown groups, own or remote.
        let r = post_rule(gw, MEMBER, json!({"security_group_id": UNKNOWN, "direction": "ingress"})).await;
        let msg = error_type(&r, 404, "SecurityGroupNotFound");
        assert!(msg.contains(UNKNOWN), "{msg}");
        let r = post_rule(gw, MEMBER, json!({"security_group_id": id, "direction": "ingress", "remote_group_id": UNKNOWN})).await;
        error_type(&r, 404, "SecurityGroupNotFound");
        // Nothing was written by the refusals: 3 rules + 5 valid ones.
        let group = call(gw, MEMBER, Method::GET, &format!("/security-groups/{id}"), None).await;
        assert_eq!(group.ok(200)["security_group"]["security_group_rules"].as_array().map(Vec::len), Some(8));
        let r = call(gw, MEMBER, Method::GET, &format!("/security-group-rules/{UNKNOWN}"), None).await;
        error_type(&r, 404, "SecurityGroupRuleNotFound");
    }

    async fn duplicate_rule_is_a_conflict_naming_the_rule(gw: &Gateway) {
        let g = create_group(gw, MEMBER, "dup").await;
        let id = s(&g["id"]);
        let rule = json!({"security_group_id": id, "direction": "ingress", "protocol": "tcp",
            "port_range_min": 443, "port_range_max": 443, "remote_ip_prefix": "192.0.2.0/24"});
        let first = s(&post_rule(gw, MEMBER, rule.clone()).await.ok(201)["security_group_rule"]["id"]);
        let r = post_rule(gw, MEMBER, rule.clone()).await;
        let msg = error_type(&r, 409, "SecurityGroupRuleExists");
        assert!(msg.contains(&first), "names the existing rule {first}: {msg}");
        // The same rule spelt differently: protocol by number, a lone port.
        let r = post_rule(gw, MEMBER, json!({"security_group_id": id, "direction": "ingress", "protocol": "6",
            "port_range_min": 443, "remote_ip_prefix": "192.0.2.0/24", "description": "again"})).await;
        assert!(error_type(&r, 409, "SecurityGroupRuleExists").contains(&first));
        // The default egress rules exist already too.
        let r = post_rule(gw, MEMBER, json!({"security_group_id": id, "direction": "egress"})).await;
        error_type(&r, 409, "SecurityGroupRuleExists");
        // A different direction is another rule.
        let mut egress = rule.clone();
        egress["direction"] = json!("egress");
        assert_eq!(post_rule(gw, MEMBER, egress).await.status.as_u16(), 201);
        // Once deleted, it may be created again.
        let r = call(gw, MEMBER, Method::DELETE, &format!("/security-group-rules/{first}"), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let r = call(gw, MEMBER, Method::DELETE, &format!("/security-group-rules/{first}"), None).await;
        error_type(&r, 404, "SecurityGroupRuleNotFound");
        assert_eq!(post_rule(gw, MEMBER, rule).await.status.as_u16(), 201);
    }

    async fn deleting_a_group_deletes_its_rules_and_ports_keep_it(gw: &Gateway) {
        let g = create_group(gw, MEMBER, "gone").await;
        let id = s(&g["id"]);
        let rule = post_rule(gw, MEMBER, json!({"security_group_id": id, "direction": "ingress", "protocol": "udp"})).await;
        let rule_id = s(&rule.ok(201)["security_group_rule"]["id"]);
        let q = format!("/security-group-rules?security_group_id={id}");
        assert_eq!(items(&call(gw, MEMBER, Method::GET, &q, None).await, "security_group_rules").len(), 3);

        // A port using the group keeps it.
        let net = call(gw, MEMBER, Method::POST, "/networks", Some(json!({"network": {"name": "n"}}))).await;
        let net = s(&net.ok(201)["network"]["id"]);
        let port = call(gw, MEMBER, Method::POST, "/ports",
            Some(json!({"port": {"network_id": net, "security_groups": [id]}}))).await;
        let port = s(&port.ok(201)["port"]["id"]);
        let r = call(gw, MEMBER, Method::DELETE, &format!("/security-groups/{id}"), None).await;
        let msg = error_type(&r, 409, "SecurityGroupInUse");
        assert!(msg.contains(&id), "{msg}");
        let r = call(gw, MEMBER, Method::DELETE, &format!("/ports/{port}"), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);

        let r = call(gw, MEMBER, Method::DELETE, &format!("/security-groups/{id}"), None).await;
        assert_eq!(r.status.as_u16(), 204, "{}", r.body);
        let r = call(gw, MEMBER, Method::GET, &format!("/security-group-rules/{rule_id}"), None).await;
        error_type(&r, 404, "SecurityGroupRuleNotFound");
        assert!(items(&call(gw, ADMIN, Method::GET, &q, None).await, "security_group_rules").is_empty());
    }

    async fn projects_are_isolated(gw: &Gateway) {
        let mine = create_group(gw, MEMBER, "mine").await;
        let theirs = create_group(gw, OTHER, "theirs").await;
        let (mine_id, theirs_id) = (s(&mine["id"]), s(&theirs["id"]));
        assert_eq!(theirs["project_id"], "p2");
        let mine_rule = s(&mine["security_group_rules"][0]["id"]);
        let theirs_rule = s(&theirs["security_group_rules"][0]["id"]);

        for (token, own, own_rule, other, other_rule) in [
            (MEMBER, &mine_id, &mine_rule, &theirs_id, &theirs_rule),
            (OTHER, &theirs_id, &theirs_rule, &mine_id, &mine_rule),
        ] {
            let list = call(gw, token, Method::GET, "/security-groups", None).await;
            let listed = ids(&list, "security_groups");
            assert!(listed.contains(own) && !listed.contains(other), "{listed:?}");
            assert_eq!(listed.len(), 2, "its own group and its default: {listed:?}");
            let rules = ids(&call(gw, token, Method::GET, "/security-group-rules", None).await, "security_group_rules");
            assert!(rules.contains(own_rule) && !rules.contains(other_rule), "{rules:?}");
            let r = call(gw, token, Method::GET, &format!("/security-groups/{other}"), None).await;
            error_type(&r, 404, "SecurityGroupNotFound");
            let r = call(gw, token, Method::PUT, &format!("/security-groups/{other}"),
                Some(json!({"security_group": {"name": "stolen"}}))).await;
            error_type(&r, 404, "SecurityGroupNotFound");
            let r = call(gw, token, Method::DELETE, &format!("/security-groups/{other}"), None).await;
            error_type(&r, 404, "SecurityGroupNotFound");
            let r = call(gw, token, Method::GET, &format!("/security-group-rules/{other_rule}"), None).await;
            error_type(&r, 404, "SecurityGroupRuleNotFound");
            let r = call(gw, token, Method::DELETE, &format!("/security-group-rules/{other_rule}"), None).await;
            error_type(&r, 404, "SecurityGroupRuleNotFound");
            // No rule in another project's group, nor from it as a remote group.
            let r = post_rule(gw, token, json!({"security_group_id": other, "direction": "ingress"})).await;
            error_type(&r, 404, "SecurityGroupNotFound");
            let r = post_rule(gw, token, json!({"security_group_id": own, "direction": "ingress", "remote_group_id": other})).await;
            error_type(&r, 404, "SecurityGroupNotFound");
        }

        // The admin sees both projects' groups and rules, and may add a rule to either.
        let all = ids(&call(gw, ADMIN, Method::GET, "/security-groups", None).await, "security_groups");
        assert!(all.contains(&mine_id) && all.contains(&theirs_id), "{all:?}");
        let all_rules = ids(&call(gw, ADMIN, Method::GET, "/security-group-rules", None).await, "security_group_rules");
        assert!(all_rules.contains(&mine_rule) && all_rules.contains(&theirs_rule));
        let r = call(gw, ADMIN, Method::GET, &format!("/security-groups/{theirs_id}"), None).await;
        assert_eq!(r.ok(200)["security_group"]["name"], "theirs");
        let r = post_rule(gw, ADMIN, json!({"security_group_id": theirs_id, "direction": "ingress", "protocol": "icmp"})).await;
        // A rule belongs to its group's project, whoever created it.
        assert_eq!(r.ok(201)["security_group_rule"]["project_id"], "p2");
        // The untouched groups are intact.
        let r = call(gw, MEMBER, Method::GET, &format!("/security-groups/{mine_id}"), None).await;
        assert_eq!(r.ok(200)["security_group"]["name"], "mine");
    }

    async fn listing_pages_and_sorts(gw: &Gateway) {
        for name in ["c", "a", "b"] {
            create_group(gw, MEMBER, name).await;
        }
        let r = call(gw, MEMBER, Method::GET, "/security-groups?sort_key=name&sort_dir=asc&fields=name", None).await;
        let names: Vec<String> = items(&r, "security_groups").iter().map(|g| s(&g["name"])).collect();
        assert_eq!(names, ["a", "b", "c", "default"]);
        let r = call(gw, MEMBER, Method::GET, "/security-groups?sort_key=name&sort_dir=asc&limit=2", None).await;
        assert_eq!(items(&r, "security_groups").len(), 2);
        assert!(r.body["security_groups_links"].is_array(), "{}", r.body);
        let r = call(gw, MEMBER, Method::GET, "/security-group-rules?direction=ingress", None).await;
        // Only the default group's two ingress rules.
        assert_eq!(items(&r, "security_group_rules").len(), 2, "{}", r.body);
    }
}
