//! Availability zones and the choice of a pod for a new server.
//!
//! Each bottom pod serves one availability zone (`az_name`); several pods
//! may serve the same zone, which makes the zone a group. A request naming
//! a zone lands in one of its pods; a request naming none lands anywhere.
//! Within the candidates the scheduler skips pods known to be down (their
//! last check failed) and picks the one holding the fewest servers, then by
//! region name, so placement is balanced and predictable. A server booted
//! from a volume goes to the volume's pod, and a server group's policy
//! holds across pods (see [`App::choose_pod_for`]).

use std::collections::{BTreeMap, HashMap};

use tricircle_common::{Error, Result};
use tricircle_store::Pod;

use super::server_groups::{AFFINITY, ANTI_AFFINITY, SOFT_AFFINITY, SOFT_ANTI_AFFINITY};
use crate::App;

/// One availability zone and its pods.
#[derive(Clone, Debug)]
pub struct Zone {
    pub name: String,
    /// Whether any of its pods is not known to be down.
    pub available: bool,
    pub pods: Vec<Pod>,
}

fn known_down(p: &Pod) -> bool {
    p.health.ok == Some(false)
}

impl App {
    /// Every zone served by a bottom pod, by name.
    pub async fn availability_zones(&self) -> Result<Vec<Zone>> {
        let mut zones: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
        for p in self.store.pod_list().await? {
            if !p.az_name.is_empty() {
                zones.entry(p.az_name.clone()).or_default().push(p);
            }
        }
        Ok(zones
            .into_iter()
            .map(|(name, pods)| Zone { available: pods.iter().any(|p| !known_down(p)), name, pods })
            .collect())
    }

    /// The pod a new server (or volume) goes to, given only a zone.
    pub async fn choose_pod(&self, az: Option<&str>) -> Result<Pod> {
        self.choose_pod_for(&PlacementNeeds { az, ..Default::default() }).await
    }

    /// The pod a new server goes to. Hard needs first: the pod of its
    /// volumes (boot from volume), then an affinity group's pod; each must
    /// agree with the zone asked for and with the other. Otherwise the
    /// candidates are the zone's pods that are not known to be down, ranked
    /// by the group's wish (soft affinity: most members; anti-affinity,
    /// hard or soft: fewest, so members spread over pods, which are
    /// different hosts), then by load, then by region name.
    pub async fn choose_pod_for(&self, needs: &PlacementNeeds<'_>) -> Result<Pod> {
        let az = needs.az.filter(|z| !z.is_empty() && *z != "nova");
        let zones = self.availability_zones().await?;
        let candidates: Vec<Pod> = match az {
            Some(name) => {
                zones
                    .into_iter()
                    .find(|z| z.name == name)
                    .ok_or_else(|| {
                        Error::bad_request(format!(
                            "The requested availability zone is not available: {}.",
                            tricircle_common::ids::truncate_for_message(name)
                        ))
                    })?
                    .pods
            }
            None => zones.into_iter().flat_map(|z| z.pods).collect(),
        };
        if candidates.is_empty() {
            return Err(Error::unavailable(
                "No region is registered to run servers.",
                "no bottom pods",
            ));
        }
        let in_zone = |p: &Pod| candidates.iter().any(|c| c.pod_id == p.pod_id);
        let group_pod = match &needs.group {
            Some(g) if g.policy == AFFINITY => self.affinity_pod(g).await?,
            _ => None,
        };
        if let Some((pod, what)) = &needs.data_pod {
            if let (Some(az), false) = (az, in_zone(pod)) {
                return Err(Error::bad_request(format!(
                    "{what} is in availability zone {} (region {}), not in the requested availability zone {az}; boot the server in {} or leave the zone out.",
                    pod.az_name, pod.region_name, pod.az_name
                )));
            }
            if let (Some(gpod), Some(g)) = (&group_pod, &needs.group)
                && gpod.pod_id != pod.pod_id
            {
                return Err(Error::conflict(format!(
                    "Server group {} (affinity) has its servers in region {} (availability zone {}) but {what} is in region {} (availability zone {}); a server cannot be in both.",
                    g.id, gpod.region_name, gpod.az_name, pod.region_name, pod.az_name
                )));
            }
            return usable(pod.clone(), az);
        }
        if let (Some(gpod), Some(g)) = (group_pod, &needs.group) {
            if let (Some(az), false) = (az, in_zone(&gpod)) {
                return Err(Error::bad_request(format!(
                    "Server group {} (affinity) has its servers in availability zone {} (region {}); the requested availability zone {az} conflicts with it: ask for {} or leave the zone out.",
                    g.id, gpod.az_name, gpod.region_name, gpod.az_name
                )));
            }
            return usable(gpod, az);
        }
        let up: Vec<&Pod> =
            candidates.iter().filter(|p| !known_down(p) && p.credentials.is_some()).collect();
        if up.is_empty() {
            let zone = az.unwrap_or("any zone");
            return Err(Error::unavailable(
                format!("Availability zone {zone} is unavailable: its regions are not answering."),
                "every candidate pod is down",
            ));
        }
        let load: HashMap<String, i64> =
            self.store.resource_count_by_pod("server").await?.into_iter().collect();
        let mut in_pod: HashMap<String, i64> = HashMap::new();
        for m in needs.group.as_ref().map(|g| g.members.as_slice()).unwrap_or_default() {
            *in_pod.entry(m.pod_id.clone().unwrap_or_default()).or_default() += 1;
        }
        let wish = |p: &Pod| -> i64 {
            let n = in_pod.get(&p.pod_id.to_string()).copied().unwrap_or(0);
            match needs.group.as_ref().map(|g| g.policy.as_str()) {
                Some(SOFT_AFFINITY) => -n,
                Some(ANTI_AFFINITY | SOFT_ANTI_AFFINITY) => n,
                _ => 0,
            }
        };
        let chosen = up
            .into_iter()
            .min_by_key(|p| {
                let load = load.get(&p.pod_id.to_string()).copied().unwrap_or(0);
                (wish(p), load, p.region_name.clone())
            })
            .cloned()
            .unwrap_or_else(|| unreachable!("up is not empty"));
        Ok(chosen)
    }

    /// The pod of an affinity group's earliest placed member, if any: the
    /// one every later member must join (concurrent first members agree on
    /// it, see the late check in the create saga).
    async fn affinity_pod(&self, group: &GroupNeeds) -> Result<Option<Pod>> {
        let Some(first) = group.members.iter().find_map(|m| m.pod_id.as_deref()) else {
            return Ok(None);
        };
        match first.parse::<tricircle_common::PodId>() {
            Ok(id) => self.pod_cached(id).await,
            Err(_) => Ok(None),
        }
    }
}

/// A pod a hard need chose, if it can take a server now.
fn usable(pod: Pod, az: Option<&str>) -> Result<Pod> {
    if known_down(&pod) || pod.credentials.is_none() {
        return Err(Error::unavailable(
            format!(
                "Availability zone {} is unavailable: region {} is not answering.",
                az.unwrap_or(&pod.az_name),
                pod.region_name
            ),
            "the pod a hard placement need chose is down",
        ));
    }
    Ok(pod)
}

/// What a new server's placement must respect besides its zone.
#[derive(Clone, Debug, Default)]
pub struct PlacementNeeds<'a> {
    pub az: Option<&'a str>,
    /// The pod holding the server's volumes, and how to name them in an error.
    pub data_pod: Option<(Pod, String)>,
    pub group: Option<GroupNeeds>,
}

/// A server group as placement sees it.
#[derive(Clone, Debug)]
pub struct GroupNeeds {
    pub id: String,
    pub policy: String,
    /// Its live members, oldest first.
    pub members: Vec<tricircle_store::GroupMember>,
}
