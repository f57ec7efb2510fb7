//! Security groups in pods (DESIGN §4 "Network"): a top group is copied
//! into a pod when a port that uses it is first made there, named after the
//! top ID and recorded as a `security_group` routing before the pod is
//! asked; its rules are kept equal to the top's (remote groups mapped to
//! their own copies in that pod) whenever the top's rules change, and the
//! copies go when the top group is deleted.

use serde_json::{Value, json};
use tricircle_common::Result;
use tricircle_jobs::StepError;
use tricircle_pod_client::{PodError, PodRequest, PodSession, ServiceType};
use tricircle_store::{NetFilter, Page, Pod, RoutingFilter};

use super::body_of;
use crate::App;
use crate::pod_sessions::pod_error;

const KIND: &str = "security_group";

/// What makes two rules the same, with the remote group as the pod's ID.
fn rule_key(r: &Value) -> String {
    let field = |k: &str| r[k].to_string();
    [
        "direction",
        "ethertype",
        "protocol",
        "port_range_min",
        "port_range_max",
        "remote_ip_prefix",
        "remote_group_id",
    ]
    .map(field)
    .join("|")
}

fn step_err(e: tricircle_common::Error) -> StepError {
    StepError { retryable: e.status() == 503, message: e.to_string() }
}

impl App {
    /// The pod's copies of these top groups (made on first use, rules in
    /// line with the top's); their bottom IDs in the same order.
    pub(crate) async fn ensure_security_groups_in_pod(
        &self,
        pod: &Pod,
        project_id: &str,
        groups: &[String],
    ) -> Result<Vec<String>, StepError> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let session = self.pod_project_session(pod, project_id).await.map_err(step_err)?;
        let mut out = Vec::new();
        for g in groups {
            let bottom = self.ensure_group_copy(pod, &session, project_id, g).await?;
            self.sync_group_rules(pod, &session, project_id, g, &bottom).await.map_err(step_err)?;
            out.push(bottom);
        }
        Ok(out)
    }

    async fn ensure_group_copy(
        &self,
        pod: &Pod,
        session: &PodSession,
        project_id: &str,
        group: &str,
    ) -> Result<String, StepError> {
        let top = self
            .store
            .net_object_get(KIND, group)
            .await
            .map_err(|e| StepError::retry(e.to_string()))?
            .ok_or_else(|| StepError::fatal(format!("Security group {group} was deleted.")))?;
        let description =
            body_of(&top).ok().and_then(|b| b["description"].as_str().map(str::to_string));
        let body = json!({"name": group, "description": description.unwrap_or_default()});
        self.ensure_bottom(pod, session, project_id, (KIND, "security-groups"), group, body).await
    }

    /// Make the rules of the pod's copy `bottom` those of the top group.
    async fn sync_group_rules(
        &self,
        pod: &Pod,
        session: &PodSession,
        project_id: &str,
        group: &str,
        bottom: &str,
    ) -> Result<()> {
        let filter = NetFilter { network_id: Some(group), ..Default::default() };
        let mut wanted = Vec::new();
        for rule in self.store.net_object_list("security_group_rule", &filter).await? {
            let mut r = body_of(&rule)?;
            if let Some(remote) =
                r.get("remote_group_id").and_then(Value::as_str).map(str::to_string)
            {
                let mapped = if remote == group {
                    bottom.to_string()
                } else {
                    self.ensure_group_copy(pod, session, project_id, &remote).await.map_err(
                        |e| tricircle_common::Error::unavailable(e.message.clone(), e.message),
                    )?
                };
                r.insert("remote_group_id".into(), json!(mapped));
            }
            wanted.push(Value::Object(r));
        }
        let req = PodRequest::get(ServiceType::Network, "/v2.0/security-group-rules")
            .with_query("security_group_id", bottom);
        let existing: Value = super::pod_json(session, pod, &req).await?;
        let existing = existing["security_group_rules"].as_array().cloned().unwrap_or_default();
        let have: Vec<String> = existing.iter().map(rule_key).collect();
        let want: Vec<String> = wanted.iter().map(rule_key).collect();
        for (r, key) in existing.iter().zip(&have) {
            if !want.contains(key) {
                let id = r["id"].as_str().unwrap_or_default();
                super::delete_in_pod(session, pod, format!("/v2.0/security-group-rules/{id}"))
                    .await?;
            }
        }
        for (r, key) in wanted.iter().zip(&want) {
            if have.contains(key) {
                continue;
            }
            let mut body = json!({"security_group_id": bottom});
            for k in [
                "direction",
                "ethertype",
                "protocol",
                "port_range_min",
                "port_range_max",
                "remote_ip_prefix",
                "remote_group_id",
                "description",
            ] {
                if !r[k].is_null() {
                    body[k] = r[k].clone();
                }
            }
            let req = PodRequest::new(
                ServiceType::Network,
                reqwest::Method::POST,
                "/v2.0/security-group-rules",
            )
            .with_body(json!({"security_group_rule": body}));
            match session.call(&req).await {
                // Made by an earlier attempt.
                Ok(_) | Err(PodError::Service { status: 409, .. }) => {}
                Err(e) => return Err(pod_error(pod, e)),
            }
        }
        Ok(())
    }

    async fn group_copies(&self, group: &str) -> Result<Vec<(Pod, String, i64)>> {
        let filter = RoutingFilter {
            top_id: Some(group.into()),
            resource_type: Some(KIND.into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        for r in self.store.routing_list(&filter, &Page { limit: 1000, marker: None }).await? {
            if let (Some(b), Some(pod)) = (r.bottom_id, self.store.pod_get(r.pod_id).await?) {
                out.push((pod, b, r.id));
            }
        }
        Ok(out)
    }

    /// Make the group's pod copies what the top says: rules in line with
    /// the top's while it exists, gone once it was deleted. Every copy is
    /// tried; the first failure is returned (a later sync finishes it).
    pub async fn sync_security_group(&self, group: &str) -> Result<()> {
        // Against the periodic pass's sync of the same group on any replica.
        let _turn = self.turn(&format!("security_group:{group}")).await?;
        let top = self.store.net_object_get(KIND, group).await?;
        let mut first_error = None;
        for (pod, bottom, routing) in self.group_copies(group).await? {
            let result = async {
                match &top {
                    Some(top) => {
                        let session = self.pod_project_session(&pod, &top.project_id).await?;
                        self.sync_group_rules(&pod, &session, &top.project_id, group, &bottom).await
                    }
                    None => {
                        let admin = self.pod_admin_session(&pod).await?;
                        let path = format!("/v2.0/security-groups/{bottom}");
                        super::delete_in_pod(&admin, &pod, path).await?;
                        self.store.routing_delete(routing).await?;
                        Ok(())
                    }
                }
            };
            if let Err(e) = result.await {
                tracing::warn!(region = %pod.region_name, group, error = %e, "security group copy not in sync yet");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
