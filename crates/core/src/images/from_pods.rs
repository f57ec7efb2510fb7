//! Images a pod made (a server snapshot, `createImage`): registered at the
//! top at once, their state read from the pod until active, their bytes
//! fetched into the content store the first time another pod or a download
//! needs them, so a snapshot made in pod A boots in pod B.

use serde_json::{Value, json};
use tricircle_common::{Error, RequestContext, Result};
use tricircle_pod_client::{PodRequest, ServiceType};
use tricircle_store::{Image, NewRouting, Pod, now};

use crate::App;
use crate::pod_sessions::pod_error;

/// Image properties the gateway keeps for itself (never shown).
pub const SOURCE_POD: &str = "tricircle_source_pod";

impl App {
    /// Register the pod's image `bottom_id` (made for `ctx`'s project) as a
    /// new private top image named `name`.
    pub(crate) async fn image_from_pod(
        &self,
        ctx: &RequestContext,
        pod: &Pod,
        bottom_id: &str,
        name: &str,
    ) -> Result<String> {
        let project = crate::compute::project_of_pub(ctx)?.to_string();
        let id = uuid::Uuid::new_v4().to_string();
        let t = now();
        let image = Image {
            id: id.clone(),
            name: Some(name.to_string()),
            owner: project.clone(),
            visibility: "private".into(),
            status: "queued".into(),
            disk_format: None,
            container_format: None,
            size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            min_disk: 0,
            min_ram: 0,
            protected: false,
            tags: "[]".into(),
            properties: json!({ SOURCE_POD: pod.pod_id.to_string() }).to_string(),
            created_at: t,
            updated_at: t,
        };
        self.store.image_insert(&image).await?;
        self.store
            .routing_create(&NewRouting {
                top_id: id.clone(),
                bottom_id: Some(bottom_id.to_string()),
                pod_id: pod.pod_id,
                project_id: project,
                resource_type: "image".into(),
            })
            .await?;
        Ok(id)
    }

    /// The pod and the pod's ID of an image a pod made.
    async fn image_source(&self, image: &Image) -> Result<Option<(Pod, String)>> {
        let props: Value = serde_json::from_str(&image.properties).unwrap_or_default();
        let Some(pod_id) = props[SOURCE_POD].as_str().and_then(|p| p.parse().ok()) else {
            return Ok(None);
        };
        let Some(pod) = self.store.pod_get(pod_id).await? else { return Ok(None) };
        let bottom = self
            .store
            .routing_find(&image.id, "image", pod.pod_id)
            .await?
            .and_then(|r| r.bottom_id);
        Ok(bottom.map(|b| (pod, b)))
    }

    /// Bring a pod-made image's status, size and checksums up to date.
    pub(crate) async fn image_refresh_from_pod(&self, image: &mut Image) -> Result<()> {
        if image.status == "active" {
            return Ok(());
        }
        let Some((pod, bottom)) = self.image_source(image).await? else { return Ok(()) };
        let session = self.pod_project_session(&pod, &image.owner).await?;
        let shown: Value = match session
            .call(&PodRequest::get(ServiceType::Image, format!("/v2/images/{bottom}")))
            .await
        {
            Ok(r) => r.json().map_err(|e| pod_error(&pod, e))?,
            // A pod that does not answer: the image stays as it was.
            Err(e) if e.is_retryable() => return Ok(()),
            Err(e) => return Err(pod_error(&pod, e)),
        };
        let status = shown["status"].as_str().unwrap_or("queued");
        if status != image.status {
            image.status = if status == "active" { "active".into() } else { status.to_string() };
            image.size = shown["size"].as_i64();
            image.checksum = shown["checksum"].as_str().map(str::to_string);
            image.os_hash_algo = shown["os_hash_algo"].as_str().map(str::to_string);
            image.os_hash_value = shown["os_hash_value"].as_str().map(str::to_string);
            image.disk_format = shown["disk_format"].as_str().map(str::to_string);
            image.container_format = shown["container_format"].as_str().map(str::to_string);
            self.store.image_update(image).await?;
        }
        Ok(())
    }

    /// Make sure the content store holds the image's bytes, fetching them
    /// from the pod that made the image when needed.
    pub(crate) async fn image_ensure_local(&self, image: &Image) -> Result<()> {
        if self.content.exists(&image.id).await {
            return Ok(());
        }
        let Some((pod, bottom)) = self.image_source(image).await? else {
            return Err(Error::internal(format!("image {} has no data anywhere", image.id)));
        };
        let session = self.pod_project_session(&pod, &image.owner).await?;
        let data = session
            .call(&PodRequest::get(ServiceType::Image, format!("/v2/images/{bottom}/file")))
            .await
            .map_err(|e| pod_error(&pod, e))?
            .body;
        let stream = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(data))]);
        let (_, md5, _) = self.content.write(&image.id, stream).await?;
        if image.checksum.as_deref().is_some_and(|c| c != md5) {
            self.content.remove(&image.id).await;
            return Err(Error::internal(format!(
                "image {} fetched from region {} has checksum {md5}, not {:?}",
                image.id, pod.region_name, image.checksum
            )));
        }
        Ok(())
    }
}
