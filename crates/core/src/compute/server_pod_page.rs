//! One call of a listing to one pod: a page of the project's servers in
//! the top's order after where that pod got to, parsed only as far as the
//! merge needs (the rest stays text until the server makes the page).

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use tricircle_common::{Error, Result};
use tricircle_pod_client::{Microversion, PodError, PodRequest, ServiceType};

use super::server_merge::Source;
use crate::App;
use crate::pod_sessions::pod_error;

/// What a listing reads of a pod's server before deciding to show it.
#[derive(Deserialize)]
pub(super) struct PodServerKeys {
    pub(super) id: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) created: Option<String>,
}

#[derive(Deserialize)]
struct PodServerPage {
    servers: Vec<Box<RawValue>>,
    #[serde(default)]
    servers_links: Vec<PodLink>,
}

#[derive(Deserialize)]
struct PodLink {
    #[serde(default)]
    rel: String,
}

impl App {
    /// One call to a pod: up to `n` of the project's servers after the
    /// source's marker, in the top's order; and whether more may follow.
    pub(super) async fn pod_server_page(
        &self,
        src: &Source,
        mv: Option<Microversion>,
        n: u32,
        pod_sort: &[(String, String)],
        request_id: &tricircle_common::RequestId,
        budget: Duration,
    ) -> Result<(Vec<(PodServerKeys, Box<RawValue>)>, bool)> {
        let pod = &src.pod;
        let call = async {
            let session = self.pod_project_session(pod, &src.project_id).await?;
            let mut req = PodRequest::get(ServiceType::Compute, "/servers/detail")
                .with_request_id(request_id.as_str());
            req.query.push(("limit".into(), n.to_string()));
            req.query.extend(pod_sort.iter().cloned());
            if let Some(mv) = mv {
                req = req.with_microversion(
                    session
                        .negotiate(ServiceType::Compute, mv)
                        .await
                        .map_err(|e| pod_error(pod, e))?,
                );
            }
            let mut with_marker = req.clone();
            if let Some(after) = &src.after {
                with_marker.query.push(("marker".into(), after.clone()));
            }
            let resp = match session.call(&with_marker).await {
                // The marker's server went away since: start from the top
                // (what was seen already is not taken twice).
                Err(PodError::Service { status: 400, .. }) if src.after.is_some() => {
                    session.call(&req).await
                }
                other => other,
            }
            .map_err(|e| pod_error(pod, e))?;
            let page: PodServerPage = resp.json().map_err(|e| pod_error(pod, e))?;
            // Nova links a next page whenever a page is full, and caps
            // `limit` at its own maximum (with a link).
            let more = page.servers.len() as u32 >= n
                || page.servers_links.iter().any(|l| l.rel == "next");
            let mut out = Vec::with_capacity(page.servers.len());
            for raw in page.servers {
                let keys: PodServerKeys = serde_json::from_str(raw.get()).map_err(|e| {
                    Error::internal(format!(
                        "region {}: a server in a listing: {e}",
                        pod.region_name
                    ))
                })?;
                out.push((keys, raw));
            }
            Ok::<_, Error>((out, more))
        };
        tokio::time::timeout(budget, call).await.map_err(|_| {
            Error::unavailable(
                format!("Region {} did not answer in time.", pod.region_name),
                "listing deadline",
            )
        })?
    }
}
