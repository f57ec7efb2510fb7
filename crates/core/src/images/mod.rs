//! The top image catalogue (Glance v2, DESIGN §4 "Image"): images are top
//! objects whose bytes live in the gateway's content store; a pod gets a
//! copy the first time a server boots there from the image.

use serde_json::{Map, Value, json};
use tricircle_common::{Error, ErrorKind, RequestContext, Result};
use tricircle_store::{Image, now};

use crate::App;

mod content;
mod copy;
pub mod from_pods;
mod patch;

pub use content::ContentStore;

/// Fields a client may set at creation.
#[derive(Clone, Debug, Default)]
pub struct ImageSpec {
    pub id: Option<String>,
    pub name: Option<String>,
    pub visibility: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: Option<i64>,
    pub min_ram: Option<i64>,
    pub protected: Option<bool>,
    pub tags: Vec<String>,
    pub properties: Map<String, Value>,
}

const VISIBILITIES: &[&str] = &["public", "private", "shared", "community"];
const DISK_FORMATS: &[&str] =
    &["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"];
const CONTAINER_FORMATS: &[&str] =
    &["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"];

/// Glance answers "No image found with ID x".
pub fn image_not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("No image found with ID {}", tricircle_common::ids::truncate_for_message(id)),
    )
}

fn check_choice(field: &str, value: &Option<String>, allowed: &[&str]) -> Result<()> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => Err(Error::bad_request(format!(
            "Invalid value '{}' for {field}: use one of {}.",
            tricircle_common::ids::truncate_for_message(v),
            allowed.join(", ")
        ))),
        _ => Ok(()),
    }
}

impl App {
    fn image_visible(&self, ctx: &RequestContext, i: &Image) -> bool {
        ctx.auth.is_admin()
            || i.visibility == "public"
            || i.visibility == "community"
            || ctx.auth.project_id.as_deref() == Some(i.owner.as_str())
    }

    pub async fn image_list(&self, ctx: &RequestContext) -> Result<Vec<Image>> {
        Ok(self
            .store
            .image_list()
            .await?
            .into_iter()
            .filter(|i| self.image_visible(ctx, i))
            .collect())
    }

    pub async fn image_get(&self, ctx: &RequestContext, id: &str) -> Result<Image> {
        match self.store.image_get(id).await? {
            Some(mut i) if self.image_visible(ctx, &i) => {
                self.image_refresh_from_pod(&mut i).await?;
                Ok(i)
            }
            _ => Err(image_not_found(id)),
        }
    }

    /// An image the caller owns (or any image, for an admin).
    async fn image_owned(&self, ctx: &RequestContext, id: &str) -> Result<Image> {
        let image = self.image_get(ctx, id).await?;
        if !ctx.auth.is_admin() && ctx.auth.project_id.as_deref() != Some(image.owner.as_str()) {
            return Err(Error::forbidden("You are not permitted to modify this image."));
        }
        Ok(image)
    }

    pub async fn image_create(&self, ctx: &RequestContext, spec: ImageSpec) -> Result<Image> {
        let owner = super::compute::project_of_pub(ctx)?.to_string();
        check_choice("visibility", &spec.visibility, VISIBILITIES)?;
        check_choice("disk_format", &spec.disk_format, DISK_FORMATS)?;
        check_choice("container_format", &spec.container_format, CONTAINER_FORMATS)?;
        let visibility = spec.visibility.unwrap_or_else(|| "shared".into());
        if visibility == "public" && !ctx.auth.is_admin() {
            return Err(Error::forbidden("Only admins can publicize images."));
        }
        let id = match spec.id {
            Some(id) => uuid::Uuid::parse_str(&id)
                .map_err(|_| Error::bad_request("Invalid id: it must be a UUID."))?
                .to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let t = now();
        let image = Image {
            id: id.clone(),
            name: spec.name,
            owner,
            visibility,
            status: "queued".into(),
            disk_format: spec.disk_format,
            container_format: spec.container_format,
            size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            min_disk: spec.min_disk.unwrap_or(0).max(0),
            min_ram: spec.min_ram.unwrap_or(0).max(0),
            protected: spec.protected.unwrap_or(false),
            tags: json!(spec.tags).to_string(),
            properties: Value::Object(spec.properties).to_string(),
            created_at: t,
            updated_at: t,
        };
        self.store.image_insert(&image).await.map_err(|e| match e {
            tricircle_store::StoreError::Duplicate(_) => {
                Error::conflict(format!("Image with identifier {id} already exists!"))
            }
            other => other.into(),
        })?;
        Ok(image)
    }

    /// Store the image's bytes (once: Glance refuses a second upload).
    pub async fn image_upload(
        &self,
        ctx: &RequestContext,
        id: &str,
        data: impl futures::Stream<Item = std::result::Result<bytes::Bytes, std::io::Error>> + Unpin,
    ) -> Result<Image> {
        let mut image = self.image_owned(ctx, id).await?;
        if image.status != "queued" {
            return Err(Error::conflict(format!(
                "Image status transition from {} to saving is not allowed",
                image.status
            )));
        }
        let (size, md5, sha512) = self.content.write(id, data).await?;
        image.status = "active".into();
        image.size = Some(size);
        image.checksum = Some(md5);
        image.os_hash_algo = Some("sha512".into());
        image.os_hash_value = Some(sha512);
        self.store.image_update(&image).await?;
        Ok(image)
    }

    /// The image and a reader of its bytes (`None` before an upload).
    pub async fn image_download(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<(Image, Option<tokio::fs::File>)> {
        let image = self.image_get(ctx, id).await?;
        if image.status != "active" {
            return Ok((image, None));
        }
        self.image_ensure_local(&image).await?;
        let file = self.content.open(id).await?;
        Ok((image, Some(file)))
    }

    pub async fn image_update_patch(
        &self,
        ctx: &RequestContext,
        id: &str,
        ops: &Value,
    ) -> Result<Image> {
        let mut image = self.image_owned(ctx, id).await?;
        patch::apply(&mut image, ops, ctx.auth.is_admin())?;
        self.store.image_update(&image).await?;
        self.store.image_get(id).await?.ok_or_else(|| image_not_found(id))
    }

    pub async fn image_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let image = self.image_owned(ctx, id).await?;
        if image.protected {
            return Err(Error::forbidden(format!(
                "Image {id} is protected and cannot be deleted."
            )));
        }
        self.store.image_delete(id).await?;
        self.content.remove(id).await;
        Ok(())
    }
}
