//! Listing servers by asking each pod for no more than the page can use
//! (DESIGN §4), as Nova cells v2 does with its cell databases, but through
//! the pods' APIs.
//!
//! The pods sort the way the top does: a server's `created` is the pod's,
//! and its top ID is the pod's display name, so the top's order (sort keys,
//! then the top ID) is `sort_key=created_at…&sort_key=display_name` at the
//! pod. Each pod is asked for `limit` (plus a little) servers after a
//! marker of its own, and the answers are merged. A pod may order servers
//! within one second differently from the top (the view shows seconds, the
//! pod sorts on what it stores), so a pod whose answer was cut vouches only
//! for the servers sorting strictly before the group (same sort values) of
//! the last one it returned; the page stops there, and when that is short
//! of the limit, the pods that hold it back are asked for more.
//!
//! The marker is a top ID. On the next page each pod starts after the last
//! of its servers that the cache puts strictly before the marker's group
//! (cached `created` values never change), and what it returns at or before
//! the marker is dropped; a pod whose servers the cache cannot place starts
//! from its beginning and is read on until it passes the marker.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

use futures::future::join_all;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tricircle_common::{Error, PodId, RequestContext, Result};
use tricircle_store::{Pod, ResourcePlace, ResourceRow};

use super::page_shares::expected_shares;
use super::project_of;
use super::server_create::UNWINDING;
use super::server_list::{ServerListQuery, ServerPage, compare, compare_keys};
use super::servers::LOST;
use super::servers::unknown_or_building;
use super::translate::{ServerFacts, server_to_top, unknown_view};
use crate::App;

/// How many servers a pod is asked for beyond what the page still needs:
/// a little room for servers that are not the caller's to list (left in
/// the pod by hand, or being deleted) and for ties cut at the end.
const SLACK: u32 = 8;

/// The pod's sort key for a top sort field the pod orders the same way.
fn pod_sort_key(field: &str) -> Option<&'static str> {
    match field {
        "created" => Some("created_at"),
        "id" => Some("display_name"),
        _ => None,
    }
}

/// Whether the pods can order this listing for the top: sort keys they sort
/// on the same values, and no filter on what only the top knows (the name)
/// or what the top would have to read every server for (the status).
pub(super) fn pods_can_sort(q: &ServerListQuery) -> bool {
    q.name.is_none()
        && q.status.is_none()
        && q.sort.iter().all(|(field, _)| pod_sort_key(field).is_some())
}

/// Sort fields of the top's views, each ascending or not.
type Sort = Vec<(String, bool)>;
/// Query parameters for a pod.
type Params = Vec<(String, String)>;

/// The sort and the pod's query parameters for it.
fn sort_of(q: &ServerListQuery) -> (Sort, Params) {
    let sort =
        if q.sort.is_empty() { vec![("created".to_string(), false)] } else { q.sort.clone() };
    let mut params = Vec::new();
    let mut push = |field: &str, asc: bool| {
        let key = pod_sort_key(field).unwrap_or("display_name");
        params.push(("sort_key".to_string(), key.to_string()));
        params.push(("sort_dir".to_string(), if asc { "asc" } else { "desc" }.to_string()));
    };
    for (field, asc) in &sort {
        push(field, *asc);
    }
    if !sort.iter().any(|(f, _)| f == "id") {
        // The top's tie-break.
        push("id", true);
    }
    (sort, params)
}

/// The sort keys that group servers the pods may order differently from
/// the top: the keys a pod orders exactly as the top (the top ID), up to and
/// including the first it may order more finely than the top shows
/// (`created`: seconds in the view, the pod's own clock within a second).
fn group_sort(sort: &[(String, bool)]) -> Sort {
    let mut out = Vec::new();
    for (field, asc) in sort {
        out.push((field.clone(), *asc));
        if field != "id" {
            break;
        }
    }
    out
}

/// The sort values of a server: what `compare` reads.
fn sort_values(top_id: &str, created: Option<&str>) -> Value {
    json!({"id": top_id, "created": created})
}

/// Where a candidate for the page came from.
enum Origin {
    /// A pod's answer, kept as text until the server makes the page.
    Pod(Box<RawValue>),
    /// The cache: its pod did not answer, or it is still being created.
    Cache,
}

struct Candidate {
    top_id: String,
    keys: Value,
    source: usize,
    origin: Origin,
}

/// One (pod, project) pair the listing reads, and how far.
pub(super) struct Source {
    pub(super) pod: Pod,
    pub(super) project_id: String,
    /// The top IDs this source may contribute.
    ids: Vec<String>,
    /// The pod's ID of the last server it returned: where to go on.
    pub(super) after: Option<String>,
    /// The sort values of that server. Everything of this pod that sorts
    /// strictly before their group has been seen.
    last: Option<Value>,
    exhausted: bool,
}

impl App {
    /// The page, or `None` when the cache cannot place the marker (its
    /// server was never read from its pod) and the caller should read all.
    pub(super) async fn server_list_merged(
        &self,
        ctx: &RequestContext,
        q: &ServerListQuery,
    ) -> Result<Option<ServerPage>> {
        let project = if q.all_tenants {
            crate::require_admin(ctx)?;
            None
        } else {
            Some(project_of(ctx)?)
        };
        let (sort, pod_sort) = sort_of(q);
        let tie_groups = group_sort(&sort);
        let places: Vec<ResourcePlace> = self
            .store
            .resource_places("server", project)
            .await?
            .into_iter()
            .filter(|p| p.status != UNWINDING)
            .collect();
        let place_of: HashMap<&str, &ResourcePlace> =
            places.iter().map(|p| (p.id.as_str(), p)).collect();
        // Rows with their cached views, read only when needed: to place a
        // marker, for servers still being created, for a pod that fails.
        let mut rows: HashMap<String, ResourceRow> = HashMap::new();
        // Listed from the cache: servers still being created, and servers in
        // ERROR, which may be ones the audit found gone from their pod (the
        // pod no longer lists them; users must still see them to delete them).
        let building: Vec<String> = places
            .iter()
            .filter(|p| p.pod_id.is_some() && (p.bottom_id.is_none() || p.status == LOST))
            .map(|p| p.id.clone())
            .collect();
        let marker = match &q.marker {
            Some(m) => {
                if !place_of.contains_key(m.as_str()) {
                    return Err(Error::bad_request(format!(
                        "marker [{}] not found",
                        tricircle_common::ids::truncate_for_message(m)
                    )));
                }
                let needs_cache = sort.iter().any(|(f, _)| f == "created");
                if needs_cache {
                    let project_rows = self.store.resource_list("server", project).await?;
                    rows.extend(project_rows.into_iter().map(|r| (r.id.clone(), r)));
                }
                match cached_sort_values(rows.get(m.as_str()), m, needs_cache) {
                    Some(keys) => Some(keys),
                    None => return Ok(None),
                }
            }
            None => None,
        };
        if !building.is_empty() {
            let missing: Vec<String> =
                building.iter().filter(|id| !rows.contains_key(*id)).cloned().collect();
            for r in self.store.resource_get_many(&missing).await? {
                rows.insert(r.id.clone(), r);
            }
        }

        // One source per (pod, project) holding servers.
        let mut groups: HashMap<(String, String), Vec<String>> = HashMap::new();
        for p in places.iter().filter(|p| p.bottom_id.is_some()) {
            if let Some(pod) = &p.pod_id {
                groups.entry((pod.clone(), p.project_id.clone())).or_default().push(p.id.clone());
            }
        }
        let mut sources = Vec::new();
        for ((pod_id, project_id), ids) in groups {
            let Some(pod) = pod_id.parse::<PodId>().ok() else { continue };
            let Some(pod) = self.pod_cached(pod).await? else { continue };
            let after = match &marker {
                Some(m) => start_after(&ids, &rows, &place_of, m, &sort, &tie_groups),
                None => None,
            };
            sources.push(Source { pod, project_id, ids, after, last: None, exhausted: false });
        }

        let mut candidates: Vec<Candidate> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut partial = false;
        // Servers still being created are listed from the cache.
        for id in &building {
            if let Some(row) = rows.get(id) {
                let keys = cached_keys(row);
                if marker.as_ref().is_none_or(|m| compare(&keys, m, &sort) == Ordering::Greater) {
                    seen.insert(id.clone());
                    candidates.push(Candidate {
                        top_id: id.clone(),
                        keys,
                        source: usize::MAX,
                        origin: Origin::Cache,
                    });
                }
            }
        }

        let started = Instant::now();
        let deadline = self.settings.list_deadline;
        let limit = q.limit as usize;
        let mut want: Vec<usize> = (0..sources.len()).collect();
        // First, each pod is asked for its expected share of the page;
        // then the pods that hold the page back, for what is still missing.
        let source_of: HashMap<&str, usize> = sources
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.ids.iter().map(move |id| (id.as_str(), i)))
            .collect();
        let marker_place = q.marker.as_deref().and_then(|m| place_of.get(m).copied());
        let mut needs: Vec<u32> = expected_shares(
            &places,
            &source_of,
            sources.len(),
            &sort,
            &tie_groups,
            marker_place,
            limit,
        )
        .into_iter()
        .map(|share| (share as u32).min(q.limit).saturating_add(SLACK))
        .collect();
        let mut certain;
        loop {
            let budget = deadline.saturating_sub(started.elapsed());
            let fetches = want.iter().map(|&i| {
                let src = &sources[i];
                self.pod_server_page(
                    src,
                    q.microversion,
                    needs[i],
                    &pod_sort,
                    &ctx.request_id,
                    budget,
                )
            });
            let answers = join_all(fetches).await;
            for (i, answer) in want.iter().copied().zip(answers) {
                let src = &mut sources[i];
                match answer {
                    Ok((page, more)) => {
                        if let Some((last_id, last_keys)) = page.last().map(|(k, _)| {
                            (k.id.clone(), sort_values(&k.name, k.created.as_deref()))
                        }) {
                            src.after = Some(last_id);
                            src.last = Some(last_keys);
                        }
                        src.exhausted = !more || page.is_empty();
                        for (k, raw) in page {
                            let keys = sort_values(&k.name, k.created.as_deref());
                            let mine = place_of
                                .get(k.name.as_str())
                                .is_some_and(|p| p.project_id == src.project_id);
                            let after_marker = marker
                                .as_ref()
                                .is_none_or(|m| compare(&keys, m, &sort) == Ordering::Greater);
                            let fresh = Candidate {
                                top_id: k.name,
                                keys,
                                source: i,
                                origin: Origin::Pod(raw),
                            };
                            if !(mine && after_marker) {
                                continue;
                            }
                            if seen.insert(fresh.top_id.clone()) {
                                candidates.push(fresh);
                            } else if let Some(c) = candidates.iter_mut().find(|c| {
                                c.top_id == fresh.top_id
                                    && c.source == usize::MAX
                                    && place_of
                                        .get(c.top_id.as_str())
                                        .is_some_and(|p| p.status == LOST)
                            }) {
                                // In ERROR but its pod still has it: the pod's view wins.
                                *c = fresh;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(region = %src.pod.region_name, error = %e, "listing servers: pod failed or missed the deadline; using the cache");
                        partial = true;
                        src.exhausted = true;
                        let missing: Vec<String> =
                            src.ids.iter().filter(|id| !rows.contains_key(*id)).cloned().collect();
                        for r in self.store.resource_get_many(&missing).await? {
                            rows.insert(r.id.clone(), r);
                        }
                        for id in &src.ids {
                            let Some(row) = rows.get(id) else { continue };
                            let keys = cached_keys(row);
                            let after_marker = marker
                                .as_ref()
                                .is_none_or(|m| compare(&keys, m, &sort) == Ordering::Greater);
                            if after_marker && seen.insert(id.clone()) {
                                candidates.push(Candidate {
                                    top_id: id.clone(),
                                    keys,
                                    source: i,
                                    origin: Origin::Cache,
                                });
                            }
                        }
                    }
                }
            }
            candidates.sort_by(|a, b| compare(&a.keys, &b.keys, &sort));
            let bound = lowest_bound(open_lasts(&sources), &tie_groups);
            certain =
                certain_count(candidates.iter().map(|c| &c.keys), bound.as_ref(), &tie_groups);
            if certain >= limit || bound.is_none() {
                break;
            }
            needs.fill(((limit - certain) as u32).saturating_add(SLACK));
            // The pods whose last server is the bound hold the page back.
            want = (0..sources.len())
                .filter(|&i| {
                    let s = &sources[i];
                    !s.exhausted
                        && s.last.as_ref().zip(bound.as_ref()).is_some_and(|(l, b)| {
                            compare_keys(l, b, &tie_groups) == Ordering::Equal
                        })
                })
                .collect();
        }
        candidates.truncate(certain.min(limit));
        let servers = self.render_page(candidates, &sources, &mut rows).await?;
        let next_marker = if servers.len() == limit && limit > 0 {
            servers.last().and_then(|v| v["id"].as_str()).map(str::to_string)
        } else {
            None
        };
        Ok(Some(ServerPage { servers, next_marker, partial }))
    }

    /// Top views of the page's servers, in order; fresh ones refresh the cache.
    async fn render_page(
        &self,
        page: Vec<Candidate>,
        sources: &[Source],
        rows: &mut HashMap<String, ResourceRow>,
    ) -> Result<Vec<Value>> {
        let missing: Vec<String> = page
            .iter()
            .filter(|c| !rows.contains_key(&c.top_id))
            .map(|c| c.top_id.clone())
            .collect();
        for r in self.store.resource_get_many(&missing).await? {
            rows.insert(r.id.clone(), r);
        }
        // The pods' views, parsed now that they make the page.
        let mut parsed: Vec<Option<Value>> = Vec::with_capacity(page.len());
        for c in &page {
            parsed.push(match &c.origin {
                Origin::Pod(raw) => Some(serde_json::from_str(raw.get()).map_err(Error::internal)?),
                Origin::Cache => None,
            });
        }
        let mut names = HashMap::new();
        for (i, src) in sources.iter().enumerate() {
            let bottoms = page.iter().zip(&parsed).filter(|(c, _)| c.source == i);
            let bottoms: Vec<&Value> = bottoms.filter_map(|(_, v)| v.as_ref()).collect();
            if !bottoms.is_empty() {
                names.insert(i, self.top_names(&src.pod, bottoms).await?);
            }
        }
        let mut views = Vec::with_capacity(page.len());
        for (c, bottom) in page.iter().zip(parsed) {
            let Some(row) = rows.get(&c.top_id) else { continue };
            let facts = ServerFacts::of(row);
            let pod = sources.get(c.source).map(|s| &s.pod);
            match (bottom, pod) {
                (Some(bottom), Some(pod)) => {
                    let view = server_to_top(&bottom, row, &facts, pod, &names[&c.source]);
                    self.remember_view(row, &facts, &view).await?;
                    views.push(view);
                }
                (None, Some(pod)) => views.push(unknown_view(row, &facts, &pod.az_name)),
                // Still being created: its pod is the row's.
                _ => {
                    let pod = match row.pod_id.as_deref().and_then(|p| p.parse::<PodId>().ok()) {
                        Some(id) => self.pod_cached(id).await?,
                        None => None,
                    };
                    if let Some(pod) = pod {
                        views.push(unknown_or_building(row, &facts, &pod));
                    }
                }
            }
        }
        Ok(views)
    }
}

/// How many of the (sorted) candidates sort strictly before the bound, so
/// no pod can still hold a server that goes between them; all of them when
/// there is no bound.
fn certain_count<'a>(
    keys: impl Iterator<Item = &'a Value>,
    bound: Option<&Value>,
    sort: &[(String, bool)],
) -> usize {
    match bound {
        None => keys.count(),
        Some(b) => keys.take_while(|k| compare_keys(k, b, sort) == Ordering::Less).count(),
    }
}

/// The lowest of the last-returned sort values of the pods that may hold
/// more (a pod that may hold more has returned something: an empty answer
/// ends it); `None` when every pod has been read to its end.
fn lowest_bound<'a>(
    lasts: impl Iterator<Item = &'a Value>,
    sort: &[(String, bool)],
) -> Option<Value> {
    lasts.min_by(|a, b| compare_keys(a, b, sort)).cloned()
}

/// The last-returned sort values of the pods that may hold more.
fn open_lasts(sources: &[Source]) -> impl Iterator<Item = &Value> {
    sources.iter().filter(|s| !s.exhausted).filter_map(|s| s.last.as_ref())
}

/// A row's sort values from its cached view (the pod's `created`, or the
/// top's when the pod's was never seen).
fn cached_keys(row: &ResourceRow) -> Value {
    let facts = ServerFacts::of(row);
    let created = facts.view["created"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| row.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    sort_values(&row.id, Some(&created))
}

/// The marker's sort values, when the cache knows them.
fn cached_sort_values(row: Option<&ResourceRow>, id: &str, needs_cache: bool) -> Option<Value> {
    if !needs_cache {
        return Some(sort_values(id, None));
    }
    let facts = ServerFacts::of(row?);
    facts.view["created"].as_str().map(|c| sort_values(id, Some(c)))
}

/// Where a pod starts on a later page: after the last of its servers that
/// the cache puts strictly before the marker's group.
fn start_after(
    ids: &[String],
    rows: &HashMap<String, ResourceRow>,
    place_of: &HashMap<&str, &ResourcePlace>,
    marker: &Value,
    sort: &[(String, bool)],
    groups: &[(String, bool)],
) -> Option<String> {
    let needs_cache = sort.iter().any(|(f, _)| f == "created");
    let mut best: Option<(Value, &str)> = None;
    for id in ids {
        let keys = cached_sort_values(rows.get(id), id, needs_cache)?;
        if compare_keys(&keys, marker, groups) != Ordering::Less {
            continue;
        }
        if best.as_ref().is_none_or(|(b, _)| compare(&keys, b, sort) == Ordering::Greater) {
            best = Some((keys, id.as_str()));
        }
    }
    let (_, id) = best?;
    place_of.get(id).and_then(|p| p.bottom_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc_created() -> Sort {
        vec![("created".into(), false)]
    }

    #[test]
    fn the_pods_sort_as_the_top_does() {
        let q = ServerListQuery::default();
        let (sort, params) = sort_of(&q);
        assert_eq!(sort, desc_created());
        let params: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            params,
            ["sort_key=created_at", "sort_dir=desc", "sort_key=display_name", "sort_dir=asc"]
        );
        let q = ServerListQuery { sort: vec![("id".into(), false)], ..Default::default() };
        assert_eq!(sort_of(&q).1.len(), 2, "the top ID sort is its own tie-break");
        assert!(pods_can_sort(&ServerListQuery::default()));
        let both = |a: &str, b: &str| vec![(a.to_string(), false), (b.to_string(), true)];
        assert_eq!(
            group_sort(&both("created", "id")),
            desc_created(),
            "id within a second is the pod's"
        );
        assert_eq!(group_sort(&both("id", "created")), both("id", "created"));
        for blocked in [
            ServerListQuery { sort: vec![("name".into(), true)], ..Default::default() },
            ServerListQuery { name: Some("web".into()), ..Default::default() },
            ServerListQuery { status: Some("ACTIVE".into()), ..Default::default() },
        ] {
            assert!(!pods_can_sort(&blocked), "{blocked:?}");
        }
    }

    #[test]
    fn only_what_sorts_before_every_open_pods_last_group_is_certain() {
        let sort = desc_created();
        let k = |id: &str, t: &str| sort_values(id, Some(t));
        // Newest first. Pod A was cut at a server of second :05, pod B at
        // :07: B may still hold servers of :07 and :06, so nothing from :07
        // on is certain yet.
        let lasts = [k("a9", "2026-01-01T00:00:05Z"), k("b9", "2026-01-01T00:00:07Z")];
        let bound = lowest_bound(lasts.iter(), &sort).unwrap();
        assert_eq!(bound["created"], "2026-01-01T00:00:07Z", "the pod cut first in the order");
        let candidates = [
            k("x", "2026-01-01T00:00:09Z"),
            k("y", "2026-01-01T00:00:08Z"),
            // Same second as B's last: B may hold more of that second.
            k("b1", "2026-01-01T00:00:07Z"),
            k("y", "2026-01-01T00:00:06Z"),
        ];
        assert_eq!(certain_count(candidates.iter(), Some(&bound), &sort), 2);
        assert_eq!(certain_count(candidates.iter(), None, &sort), 4, "every pod read to its end");
        assert!(lowest_bound(std::iter::empty(), &sort).is_none());
    }

    fn row(id: &str, created: Option<&str>) -> ResourceRow {
        let view = created.map_or(Value::Null, |c| json!({"created": c}));
        let t = chrono::Utc::now();
        ResourceRow {
            id: id.into(),
            resource_type: "server".into(),
            project_id: "p".into(),
            user_id: "u".into(),
            pod_id: Some("pod".into()),
            name: id.into(),
            status: "ACTIVE".into(),
            summary: json!({"flavor_id": "1", "flavor_name": "f", "view": view}).to_string(),
            created_at: t,
            updated_at: t,
        }
    }

    fn place(id: &str) -> ResourcePlace {
        ResourcePlace {
            id: id.into(),
            project_id: "p".into(),
            pod_id: Some("pod".into()),
            status: "ACTIVE".into(),
            bottom_id: Some(format!("bottom-{id}")),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_later_page_starts_each_pod_before_the_markers_group() {
        let sort = desc_created();
        let rows: HashMap<String, ResourceRow> = [
            row("s1", Some("2026-01-01T00:00:09Z")),
            row("s2", Some("2026-01-01T00:00:08Z")),
            row("s3", Some("2026-01-01T00:00:07Z")),
            row("s4", Some("2026-01-01T00:00:07Z")),
            row("s5", Some("2026-01-01T00:00:06Z")),
        ]
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
        let places: Vec<ResourcePlace> = ["s1", "s2", "s3", "s4", "s5"].map(place).into();
        let place_of: HashMap<&str, &ResourcePlace> =
            places.iter().map(|p| (p.id.as_str(), p)).collect();
        let ids: Vec<String> = rows.keys().cloned().collect();
        // The marker is in second :07; the pod may order that second its own
        // way, so it starts after s2 (the last of :08), not after s3 or s4.
        let marker = sort_values("m", Some("2026-01-01T00:00:07Z"));
        assert_eq!(
            start_after(&ids, &rows, &place_of, &marker, &sort, &sort).as_deref(),
            Some("bottom-s2")
        );
        // Nothing of the pod before the marker's group: from its start.
        let marker = sort_values("m", Some("2026-01-01T00:00:10Z"));
        assert_eq!(start_after(&ids, &rows, &place_of, &marker, &sort, &sort), None);
        // A server the cache cannot place: from the pod's start, to be safe.
        let mut rows = rows;
        rows.insert("s6".into(), row("s6", None));
        let ids: Vec<String> = rows.keys().cloned().collect();
        let marker = sort_values("m", Some("2026-01-01T00:00:07Z"));
        assert_eq!(start_after(&ids, &rows, &place_of, &marker, &sort, &sort), None);
    }
}
