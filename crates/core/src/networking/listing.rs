//! Neutron's list contract over rendered views: filters on top-level
//! attributes (a repeated key means "any of"; `fixed_ips=ip_address=X` and
//! `subnet_id=Y` for ports), `sort_key`/`sort_dir`, `limit`/`marker` with a
//! `<collection>_links` next link only when a limit was asked for, and
//! `fields`. Views are rendered first and filtered after, so a filter can
//! never disagree with what a show returns.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};
use tricircle_common::{Error, Result};

/// A list request's query string, as pairs in their order.
#[derive(Clone, Debug, Default)]
pub struct ListQuery(pub Vec<(String, String)>);

const RESERVED: &[&str] = &[
    "fields",
    "sort_key",
    "sort_dir",
    "limit",
    "marker",
    "page_reverse",
    "fixed_ips",
    "all_tenants",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
];

impl ListQuery {
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn value_matches(v: &Value, wanted: &str) -> bool {
    match v {
        Value::String(s) => s == wanted,
        Value::Bool(b) => b.to_string().eq_ignore_ascii_case(wanted),
        Value::Number(n) => n.to_string() == wanted,
        Value::Null => wanted.is_empty() || wanted == "None",
        Value::Array(a) => a.iter().any(|x| value_matches(x, wanted)),
        Value::Object(_) => false,
    }
}

/// `fixed_ips=ip_address=10.0.0.5` / `fixed_ips=subnet_id=S`: any of them.
fn fixed_ips_match(item: &Value, q: &ListQuery) -> bool {
    let wanted = q.all("fixed_ips");
    if wanted.is_empty() {
        return true;
    }
    let ips = item["fixed_ips"].as_array().cloned().unwrap_or_default();
    wanted.iter().any(|w| {
        let Some((key, val)) = w.split_once('=') else { return false };
        ips.iter().any(|ip| ip[key].as_str() == Some(val))
    })
}

fn tags_match(item: &Value, q: &ListQuery) -> bool {
    let tags: Vec<&str> = item["tags"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let split = |k: &str| -> Vec<String> {
        q.all(k).iter().flat_map(|v| v.split(',')).map(str::to_string).collect()
    };
    let has = |t: &String| tags.contains(&t.as_str());
    let (all, any, not_all, not_any) =
        (split("tags"), split("tags-any"), split("not-tags"), split("not-tags-any"));
    (all.is_empty() || all.iter().all(has))
        && (any.is_empty() || any.iter().any(has))
        && (not_all.is_empty() || !not_all.iter().all(has))
        && (not_any.is_empty() || !not_any.iter().any(has))
}

fn matches(item: &Value, q: &ListQuery) -> bool {
    let mut keys: Vec<&str> = q.0.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys.into_iter().filter(|k| !RESERVED.contains(k)) {
        // An attribute the view does not have filters nothing out, as
        // Neutron ignores unknown filters by default.
        let Some(v) = item.get(k) else { continue };
        if !q.all(k).iter().any(|w| value_matches(v, w)) {
            return false;
        }
    }
    fixed_ips_match(item, q) && tags_match(item, q)
}

/// Keep only `fields`, when asked for.
pub fn project_fields(item: Value, q: &ListQuery) -> Value {
    let fields = q.all("fields");
    if fields.is_empty() {
        return item;
    }
    let Value::Object(m) = item else { return item };
    Value::Object(m.into_iter().filter(|(k, _)| fields.contains(&k.as_str())).collect())
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

fn invalid(msg: String) -> Error {
    Error::bad_request(msg).with_type("HTTPBadRequest")
}

/// Filters and sort keys must name attributes of the resource (Neutron's
/// filter validation); with nothing to list there is nothing to check against.
fn check_parameters(attributes: &[&str], views: &[Value], q: &ListQuery) -> Result<()> {
    let keys = q.all("sort_key");
    if keys.len() != q.all("sort_dir").len() {
        return Err(invalid("The number of sort_keys and sort_dirs must be same".into()));
    }
    if attributes.is_empty() && views.is_empty() {
        return Ok(());
    }
    let known = |k: &str| attributes.contains(&k) || views.iter().any(|v| v.get(k).is_some());
    let short = |k: &str| tricircle_common::ids::truncate_for_message(k).to_string();
    if let Some(k) = keys.iter().find(|k| !known(k)) {
        return Err(invalid(format!("[{}] is invalid attribute for sort_key", short(k))));
    }
    if let Some((k, _)) = q.0.iter().find(|(k, _)| !RESERVED.contains(&k.as_str()) && !known(k)) {
        return Err(invalid(format!("[{}] is invalid attribute for filtering", short(k))));
    }
    Ok(())
}

/// The list body `{collection: [...], collection_links: [...]}`; `views`
/// are full views in creation order, `link_base` the collection's URL.
pub fn list_body(
    collection: &str,
    views: Vec<Value>,
    q: &ListQuery,
    link_base: &str,
    max_limit: u32,
) -> Result<Value> {
    list_body_of(collection, &[], views, q, link_base, max_limit)
}

/// [`list_body`] for a resource whose `attributes` are known, so filters
/// and sort keys are checked even when nothing is listed.
pub fn list_body_of(
    collection: &str,
    attributes: &[&str],
    views: Vec<Value>,
    q: &ListQuery,
    link_base: &str,
    max_limit: u32,
) -> Result<Value> {
    check_parameters(attributes, &views, q)?;
    let mut items: Vec<Value> = views.into_iter().filter(|v| matches(v, q)).collect();
    let keys = q.all("sort_key");
    let dirs = q.all("sort_dir");
    if let Some(d) = dirs.iter().find(|d| !matches!(**d, "asc" | "desc")) {
        return Err(Error::bad_request(format!(
            "Invalid input for operation: sort_dir '{d}' is not one of asc, desc."
        ))
        .with_type("HTTPBadRequest"));
    }
    if !keys.is_empty() {
        items.sort_by(|a, b| {
            for (i, k) in keys.iter().enumerate() {
                let o = compare_values(&a[*k], &b[*k]);
                let o = if dirs.get(i) == Some(&"desc") { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            a["id"].as_str().cmp(&b["id"].as_str())
        });
    }
    if let Some(m) = q.get("marker") {
        let pos = items.iter().position(|i| i["id"].as_str() == Some(m)).ok_or_else(|| {
            Error::not_found("Marker", tricircle_common::ids::truncate_for_message(m))
                .with_type("MarkerNotFound")
        })?;
        items.drain(..=pos);
    }
    let mut links = Vec::new();
    if let Some(l) = q.get("limit") {
        let limit: usize = l.parse().map_err(|_| {
            Error::bad_request(format!(
                "Bad limit request: Limit must be an integer 0 or greater and not '{}'.",
                tricircle_common::ids::truncate_for_message(l)
            ))
            .with_type("BadRequest")
        })?;
        let limit = if limit == 0 { max_limit as usize } else { limit.min(max_limit as usize) };
        if items.len() > limit {
            items.truncate(limit);
            if let Some(last) = items.last().and_then(|i| i["id"].as_str()) {
                let mut pairs: Vec<(&str, String)> =
                    q.0.iter()
                        .filter(|(k, _)| k != "marker")
                        .map(|(k, v)| (k.as_str(), v.clone()))
                        .collect();
                pairs.push(("marker", last.to_string()));
                let href = tricircle_openstack_api::links::with_query(link_base, &pairs);
                links.push(json!({"rel": "next", "href": href}));
            }
        }
    }
    let key = collection.replace('-', "_");
    let items: Vec<Value> = items.into_iter().map(|i| project_fields(i, q)).collect();
    let mut body = Map::new();
    body.insert(key.clone(), Value::Array(items));
    if !links.is_empty() {
        body.insert(format!("{key}_links"), Value::Array(links));
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> ListQuery {
        ListQuery(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn views() -> Vec<Value> {
        ["b", "a", "c"]
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"id": format!("id{i}"), "name": n, "shared": i == 2, "fixed_ips": [{"ip_address": format!("10.0.0.{i}")}]}))
            .collect()
    }

    #[test]
    fn filters_sort_and_fields() {
        let body =
            list_body("networks", views(), &q(&[("name", "a"), ("name", "c")]), "u", 100).unwrap();
        assert_eq!(body["networks"].as_array().unwrap().len(), 2);
        let body = list_body("networks", views(), &q(&[("shared", "True")]), "u", 100).unwrap();
        assert_eq!(body["networks"][0]["name"], "c");
        let body = list_body(
            "ports",
            views(),
            &q(&[("fixed_ips", "ip_address=10.0.0.1"), ("fields", "name")]),
            "u",
            100,
        )
        .unwrap();
        assert_eq!(body["ports"], json!([{"name": "a"}]));
        let body = list_body(
            "networks",
            views(),
            &q(&[("sort_key", "name"), ("sort_dir", "desc")]),
            "u",
            100,
        )
        .unwrap();
        let names: Vec<&str> = body["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["c", "b", "a"]);
        assert!(body.get("networks_links").is_none(), "no limit, no links");
    }

    #[test]
    fn pages_link_to_the_next() {
        let body =
            list_body("networks", views(), &q(&[("limit", "2")]), "http://g/n", 100).unwrap();
        assert_eq!(body["networks"].as_array().unwrap().len(), 2);
        let href = body["networks_links"][0]["href"].as_str().unwrap();
        assert!(href.starts_with("http://g/n?") && href.contains("marker=id1"), "{href}");
        let body = list_body("networks", views(), &q(&[("marker", "id1")]), "u", 100).unwrap();
        assert_eq!(body["networks"][0]["id"], "id2");
        assert_eq!(
            list_body("n", views(), &q(&[("marker", "nope")]), "u", 9).unwrap_err().status(),
            404
        );
        assert_eq!(
            list_body("n", views(), &q(&[("limit", "x")]), "u", 9).unwrap_err().status(),
            400
        );
    }
}
