//! Making a top image available in a pod: one copy per pod, even when
//! several servers boot from it at once on any replica (a turn per image and
//! pod is the lock), with the pod's checksum compared to the top's.

use serde_json::{Value, json};
use tricircle_jobs::StepError;
use tricircle_pod_client::{PodError, PodRequest, PodSession, ServiceType};
use tricircle_store::{Image, NewRouting, Pod, RoutingPatch};

use crate::App;
use crate::pod_sessions::pod_error;

fn retry(e: impl std::fmt::Display) -> StepError {
    StepError::retry(e.to_string())
}

impl App {
    /// The pod's ID of top image `image_id`, copying the image there first
    /// when needed. Public images are copied once per pod (public there);
    /// other images into the project's own pod project (private there).
    pub async fn ensure_image_in_pod(
        &self,
        pod: &Pod,
        image_id: &str,
        project_id: &str,
    ) -> Result<String, StepError> {
        let copied =
            |r: &Option<tricircle_store::Routing>| r.as_ref().and_then(|r| r.bottom_id.clone());
        let routing =
            self.store.routing_find(image_id, "image", pod.pod_id).await.map_err(retry)?;
        if let Some(bottom) = copied(&routing) {
            return Ok(bottom);
        }
        // One copy at a time per image and pod, on every replica; a holder
        // that died lets go when its lease runs out, and the next finds
        // what it left by name (see `copy_image`).
        let _turn = self
            .turn(&format!("image-copy:{image_id}:{}", pod.pod_id))
            .await
            .map_err(|e| StepError::retry(e.to_string()))?;
        let routing =
            self.store.routing_find(image_id, "image", pod.pod_id).await.map_err(retry)?;
        if let Some(bottom) = copied(&routing) {
            return Ok(bottom);
        }
        let bottom = self.copy_image(pod, image_id, project_id).await?;
        let patch = RoutingPatch { bottom_id: Some(Some(bottom.clone())), ..Default::default() };
        match routing {
            // Left without a pod ID by a copy that died (the old lock).
            Some(r) => self.store.routing_update(r.id, &patch).await.map(|_| ()),
            None => self
                .store
                .routing_create(&NewRouting {
                    top_id: image_id.into(),
                    bottom_id: Some(bottom.clone()),
                    pod_id: pod.pod_id,
                    project_id: project_id.into(),
                    resource_type: "image".into(),
                })
                .await
                .map(|_| ()),
        }
        .map_err(retry)?;
        Ok(bottom)
    }

    async fn copy_image(
        &self,
        pod: &Pod,
        image_id: &str,
        project_id: &str,
    ) -> Result<String, StepError> {
        let mut image = self.store.image_get(image_id).await.map_err(retry)?.ok_or_else(|| {
            StepError::fatal(format!("Conflict: image {image_id} was deleted while in use."))
        })?;
        self.image_refresh_from_pod(&mut image)
            .await
            .map_err(|e| StepError { retryable: e.status() == 503, message: e.to_string() })?;
        if image.status != "active" {
            return Err(StepError::fatal(format!(
                "Image {image_id} has no data yet (status {}).",
                image.status
            )));
        }
        let public = image.visibility == "public" || image.visibility == "community";
        let session = if public {
            self.pod_admin_session(pod).await
        } else {
            self.pod_project_session(pod, project_id).await
        }
        .map_err(|e| StepError { retryable: e.status() == 503, message: e.to_string() })?;
        let perr = |e: PodError| {
            let retryable = e.is_retryable();
            StepError { message: pod_error(pod, e).to_string(), retryable }
        };
        let name = format!("tc-{image_id}");
        // An earlier attempt may have left a finished copy, taken as it is,
        // or unfinished ones (it failed or died half-way), deleted: this
        // call holds the lock, so nobody is still filling them.
        let found: Value = session
            .call(
                &PodRequest::get(ServiceType::Image, "/v2/images").with_query("name", name.clone()),
            )
            .await
            .map_err(perr)?
            .json()
            .map_err(perr)?;
        let earlier = found["images"].as_array().cloned().unwrap_or_default();
        let finished = |i: &Value| {
            i["status"] == "active" && i["checksum"].as_str() == image.checksum.as_deref()
        };
        if let Some(existing) = earlier.iter().find(|i| finished(i)) {
            return Ok(existing["id"].as_str().unwrap_or_default().to_string());
        }
        for unfinished in earlier.iter().filter_map(|i| i["id"].as_str()) {
            delete_copy(&session, unfinished).await.map_err(perr)?;
        }
        let body = json!({
            "name": name,
            "disk_format": image.disk_format.clone().unwrap_or_else(|| "raw".into()),
            "container_format": image.container_format.clone().unwrap_or_else(|| "bare".into()),
            "visibility": if public { "public" } else { "private" },
            "min_disk": image.min_disk,
            "min_ram": image.min_ram,
        });
        let created: Value = session
            .call(
                &PodRequest::new(ServiceType::Image, reqwest::Method::POST, "/v2/images")
                    .with_body(body),
            )
            .await
            .map_err(perr)?
            .json()
            .map_err(perr)?;
        let bottom = created["id"].as_str().unwrap_or_default().to_string();
        let filled = self.fill_copy(pod, &session, &image, &bottom).await;
        if filled.is_err() {
            // None is left queued in the pod: the next copy starts afresh.
            if let Err(e) = delete_copy(&session, &bottom).await {
                tracing::warn!(image = image_id, region = %pod.region_name, error = %e, "an unfinished image copy stays until the next copy");
            }
        }
        filled.map(|()| bottom)
    }

    /// Upload the top image's bytes into its new copy `bottom` and check
    /// the pod's checksum.
    async fn fill_copy(
        &self,
        pod: &Pod,
        session: &PodSession,
        image: &Image,
        bottom: &str,
    ) -> Result<(), StepError> {
        let image_id = image.id.as_str();
        let perr = |e: PodError| {
            let retryable = e.is_retryable();
            StepError { message: pod_error(pod, e).to_string(), retryable }
        };
        self.image_ensure_local(image)
            .await
            .map_err(|e| StepError { retryable: e.status() == 503, message: e.to_string() })?;
        let data =
            self.content.read(image_id).await.map_err(|e| StepError::fatal(e.to_string()))?;
        session
            .call(
                &PodRequest::new(
                    ServiceType::Image,
                    reqwest::Method::PUT,
                    format!("/v2/images/{bottom}/file"),
                )
                .with_raw_body(data, "application/octet-stream"),
            )
            .await
            .map_err(perr)?;
        let shown: Value = session
            .call(&PodRequest::get(ServiceType::Image, format!("/v2/images/{bottom}")))
            .await
            .map_err(perr)?
            .json()
            .map_err(perr)?;
        if shown["checksum"].as_str() != image.checksum.as_deref() {
            return Err(StepError::fatal(format!(
                "the copy of image {image_id} in region {} has checksum {}, not {}",
                pod.region_name,
                shown["checksum"],
                image.checksum.clone().unwrap_or_default()
            )));
        }
        tracing::info!(image = image_id, region = %pod.region_name, bottom = %bottom, "image copied into pod");
        Ok(())
    }
}

/// Delete a copy of an image in a pod; already gone is fine.
async fn delete_copy(session: &PodSession, bottom: &str) -> Result<(), PodError> {
    let req = PodRequest::new(
        ServiceType::Image,
        reqwest::Method::DELETE,
        format!("/v2/images/{bottom}"),
    );
    match session.call(&req).await {
        Ok(_) | Err(PodError::Service { status: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
