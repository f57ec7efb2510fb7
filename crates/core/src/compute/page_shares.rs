//! How many servers of a page each pod is expected to hold, from the top's
//! own rows, so that each pod is asked for about its share of the page
//! rather than for the whole page (DESIGN §4: "each pod asked only for what
//! the page can still use").
//!
//! The estimate orders the rows by what the top knows cheaply: its own
//! `created_at` (the moment the create began, a few milliseconds before the
//! pod's `created`), to the second as the view shows it, and the top ID. It is only an estimate: the merge stays
//! exact because a pod whose answer was cut bounds what the page may show,
//! and the pods that hold the page back are asked again. A good estimate
//! keeps that to one call per pod; the slack added to each share absorbs
//! creates that raced each other across pods.

use std::cmp::Ordering;
use std::collections::HashMap;

use tricircle_store::ResourcePlace;

/// The order of two rows by these sort keys alone, as far as the top's
/// columns tell it.
fn order_by(a: &ResourcePlace, b: &ResourcePlace, keys: &[(String, bool)]) -> Ordering {
    for (field, asc) in keys {
        let ord = match field.as_str() {
            // Seconds, as the view shows `created`: within one second the
            // listing orders by the next key, then the top ID.
            "created" => a.created_at.timestamp().cmp(&b.created_at.timestamp()),
            "id" => a.id.cmp(&b.id),
            // Keys the pods cannot order never reach the merge.
            _ => Ordering::Equal,
        };
        let ord = if *asc { ord } else { ord.reverse() };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// For each source, how many servers it should return so that the next
/// `limit` after `marker` (in the estimated order) are among them: its
/// servers up to the page's last one and the rest of that one's group
/// (`groups`: the sort keys a pod may order more finely than the top, see
/// `server_merge`), since a pod cut inside the page's last group holds the
/// page back. `source_of` maps a top ID to its source; rows of no source
/// are not counted.
pub(super) fn expected_shares(
    places: &[ResourcePlace],
    source_of: &HashMap<&str, usize>,
    sources: usize,
    sort: &[(String, bool)],
    groups: &[(String, bool)],
    marker: Option<&ResourcePlace>,
    limit: usize,
) -> Vec<usize> {
    let order = |a: &ResourcePlace, b: &ResourcePlace| order_by(a, b, sort).then(a.id.cmp(&b.id));
    let mut listed: Vec<&ResourcePlace> = places
        .iter()
        .filter(|p| source_of.contains_key(p.id.as_str()))
        .filter(|p| marker.is_none_or(|m| order(p, m) == Ordering::Greater))
        .collect();
    let mut shares = vec![0; sources];
    if limit == 0 {
        return shares;
    }
    if listed.len() > limit {
        let (_, last, _) = listed.select_nth_unstable_by(limit - 1, |a, b| order(a, b));
        let last: &ResourcePlace = last;
        listed.retain(|p| order_by(p, last, groups) != Ordering::Greater);
    }
    for p in listed {
        shares[source_of[p.id.as_str()]] += 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::*;

    fn place(id: &str, created: DateTime<Utc>) -> ResourcePlace {
        ResourcePlace {
            id: id.into(),
            project_id: "p".into(),
            pod_id: Some("pod".into()),
            status: "ACTIVE".into(),
            bottom_id: Some(format!("b-{id}")),
            created_at: created,
        }
    }

    /// Servers a0..a4 in source 0 made first, b0..b4 in source 1 after.
    fn two_pods() -> (Vec<ResourcePlace>, HashMap<&'static str, usize>) {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        let ids = ["a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "b4"];
        let places =
            ids.iter().enumerate().map(|(i, id)| place(id, t0 + Duration::seconds(i as i64)));
        let source_of = ids.iter().map(|id| (*id, usize::from(id.starts_with('b')))).collect();
        (places.collect(), source_of)
    }

    #[test]
    fn the_newest_page_is_the_later_pods() {
        let (places, source_of) = two_pods();
        let newest = vec![("created".to_string(), false)];
        assert_eq!(expected_shares(&places, &source_of, 2, &newest, &newest, None, 4), [0, 4]);
        assert_eq!(expected_shares(&places, &source_of, 2, &newest, &newest, None, 7), [2, 5]);
        let oldest = vec![("created".to_string(), true)];
        assert_eq!(expected_shares(&places, &source_of, 2, &oldest, &oldest, None, 4), [4, 0]);
        // More asked for than there is: everything, once.
        assert_eq!(expected_shares(&places, &source_of, 2, &newest, &newest, None, 100), [5, 5]);
    }

    #[test]
    fn a_marker_moves_the_window() {
        let (places, source_of) = two_pods();
        let newest = vec![("created".to_string(), false)];
        let b1 = places.iter().find(|p| p.id == "b1").unwrap();
        // After b1 (newest first): b0, a4, a3, a2, …
        assert_eq!(expected_shares(&places, &source_of, 2, &newest, &newest, Some(b1), 3), [2, 1]);
        // By ID: after a3 come a4, b0, b1.
        let by_id = vec![("id".to_string(), true)];
        let a3 = places.iter().find(|p| p.id == "a3").unwrap();
        assert_eq!(expected_shares(&places, &source_of, 2, &by_id, &by_id, Some(a3), 3), [1, 2]);
    }

    #[test]
    fn the_pages_last_second_is_asked_for_whole() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        // z made first, a made last, both in the same second.
        let places = vec![place("z", t0), place("a", t0 + Duration::milliseconds(900))];
        let source_of = [("z", 0), ("a", 1)].into_iter().collect();
        let newest = vec![("created".to_string(), false)];
        // The page is "a", but a pod may order that second its own way:
        // each pod is asked for the whole second.
        assert_eq!(expected_shares(&places, &source_of, 2, &newest, &newest, None, 1), [1, 1]);
        // By ID, groups are single servers: only the page.
        let by_id = vec![("id".to_string(), true)];
        assert_eq!(expected_shares(&places, &source_of, 2, &by_id, &by_id, None, 1), [0, 1]);
        // An older second is not asked for.
        let places = vec![place("z", t0 - Duration::seconds(1)), place("a", t0)];
        assert_eq!(expected_shares(&places, &source_of, 2, &newest, &newest, None, 1), [0, 1]);
    }

    #[test]
    fn rows_of_no_source_are_not_counted() {
        let (places, mut source_of) = two_pods();
        source_of.remove("b4");
        source_of.remove("b3");
        let newest = vec![("created".to_string(), false)];
        assert_eq!(expected_shares(&places, &source_of, 2, &newest, &newest, None, 4), [1, 3]);
    }
}
