//! Availability zones and the choice of a pod for a new server.
//!
//! Each bottom pod serves one availability zone (`az_name`); several pods
//! may serve the same zone, which makes the zone a group. A request naming
//! a zone lands in one of its pods; a request naming none lands anywhere.
//! Within the candidates the scheduler skips pods known to be down (their
//! last check failed) and picks the one holding the fewest servers, then by
//! region name, so placement is balanced and predictable.

use std::collections::{BTreeMap, HashMap};

use tricircle_common::{Error, Result};
use tricircle_store::Pod;

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

    /// The pod a new server goes to.
    pub async fn choose_pod(&self, az: Option<&str>) -> Result<Pod> {
        let zones = self.availability_zones().await?;
        let candidates: Vec<Pod> = match az.filter(|z| !z.is_empty() && *z != "nova") {
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
        let chosen = up
            .into_iter()
            .min_by_key(|p| {
                (load.get(&p.pod_id.to_string()).copied().unwrap_or(0), p.region_name.clone())
            })
            .cloned()
            .unwrap_or_else(|| unreachable!("up is not empty"));
        Ok(chosen)
    }
}
