//! Resource routings as the admin API manages them.
//!
//! Operators use this to inspect and repair where resources live. Editing a
//! routing the gateway made can break dispatch, as upstream warned; the API
//! allows it because repair is exactly what it is for.

use tricircle_common::{Error, PodId, RequestContext, Result};
use tricircle_store::{NewRouting, Page, Routing, RoutingFilter, RoutingPatch, StoreError};

use crate::paging::PageRequest;
use crate::resource_types::{RESOURCE_TYPES, is_known};
use crate::{App, require_admin};

const MAX_TOP_ID: usize = 127;
const MAX_ID: usize = 255;

/// A page of routings and the marker of the next page, if the page is full.
#[derive(Clone, Debug)]
pub struct RoutingPage {
    pub items: Vec<Routing>,
    pub next_marker: Option<i64>,
}

fn required(field: &str, value: &str, max: usize) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::bad_request(format!("{field} must not be empty.")));
    }
    if v.chars().count() > max {
        return Err(Error::bad_request(format!("{field} is longer than {max} characters.")));
    }
    Ok(v.to_string())
}

fn check_type(resource_type: &str) -> Result<()> {
    if is_known(resource_type) {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "Unknown resource_type '{}'; valid types: {}.",
            tricircle_common::ids::truncate_for_message(resource_type),
            RESOURCE_TYPES.join(", ")
        )))
    }
}

impl App {
    pub async fn routing_create(&self, ctx: &RequestContext, new: NewRouting) -> Result<Routing> {
        require_admin(ctx)?;
        let new = NewRouting {
            top_id: required("top_id", &new.top_id, MAX_TOP_ID)?,
            bottom_id: new.bottom_id.map(|b| required("bottom_id", &b, MAX_ID)).transpose()?,
            pod_id: new.pod_id,
            project_id: required("project_id", &new.project_id, MAX_ID)?,
            resource_type: required("resource_type", &new.resource_type, 64)?,
        };
        check_type(&new.resource_type)?;
        self.pod_must_exist(new.pod_id).await?;
        self.store.routing_create(&new).await.map_err(|e| self.routing_write_error(e, &new.pod_id))
    }

    pub async fn routing_get(&self, ctx: &RequestContext, id: i64) -> Result<Routing> {
        require_admin(ctx)?;
        self.store.routing_get(id).await?.ok_or_else(|| Error::not_found("Routing", id))
    }

    pub async fn routing_list(
        &self,
        ctx: &RequestContext,
        filter: RoutingFilter,
        page: PageRequest<i64>,
    ) -> Result<RoutingPage> {
        require_admin(ctx)?;
        if let Some(marker) = page.marker
            && self.store.routing_get(marker).await?.is_none()
        {
            return Err(Error::bad_request(format!("Marker routing {marker} could not be found.")));
        }
        let items = self
            .store
            .routing_list(&filter, &Page { limit: page.limit, marker: page.marker })
            .await?;
        let next_marker =
            if items.len() == page.limit as usize { items.last().map(|r| r.id) } else { None };
        Ok(RoutingPage { items, next_marker })
    }

    pub async fn routing_update(
        &self,
        ctx: &RequestContext,
        id: i64,
        patch: RoutingPatch,
    ) -> Result<Routing> {
        require_admin(ctx)?;
        let patch = RoutingPatch {
            top_id: patch.top_id.map(|v| required("top_id", &v, MAX_TOP_ID)).transpose()?,
            bottom_id: patch
                .bottom_id
                .map(|b| b.map(|v| required("bottom_id", &v, MAX_ID)).transpose())
                .transpose()?,
            pod_id: patch.pod_id,
            project_id: patch.project_id.map(|v| required("project_id", &v, MAX_ID)).transpose()?,
            resource_type: patch
                .resource_type
                .map(|v| required("resource_type", &v, 64))
                .transpose()?,
        };
        if patch.top_id.is_none()
            && patch.bottom_id.is_none()
            && patch.pod_id.is_none()
            && patch.project_id.is_none()
            && patch.resource_type.is_none()
        {
            return Err(Error::bad_request(
                "Nothing to update: give at least one of top_id, bottom_id, pod_id, project_id, \
                 resource_type.",
            ));
        }
        if let Some(t) = &patch.resource_type {
            check_type(t)?;
        }
        if let Some(pod_id) = patch.pod_id {
            self.pod_must_exist(pod_id).await?;
        }
        let pod_id = patch.pod_id.unwrap_or_default();
        self.lookups.server_bottoms.clear();
        self.store
            .routing_update(id, &patch)
            .await
            .map_err(|e| self.routing_write_error(e, &pod_id))?
            .ok_or_else(|| Error::not_found("Routing", id))
    }

    pub async fn routing_delete(&self, ctx: &RequestContext, id: i64) -> Result<()> {
        require_admin(ctx)?;
        let deleted = self.store.routing_delete(id).await?;
        self.lookups.server_bottoms.clear();
        if deleted { Ok(()) } else { Err(Error::not_found("Routing", id)) }
    }

    async fn pod_must_exist(&self, pod_id: PodId) -> Result<()> {
        match self.store.pod_get(pod_id).await? {
            Some(_) => Ok(()),
            None => Err(Error::bad_request(format!("Pod {pod_id} does not exist."))),
        }
    }

    fn routing_write_error(&self, e: StoreError, pod_id: &PodId) -> Error {
        match e {
            StoreError::Duplicate(_) => Error::conflict(
                "A routing with this (top_id, resource_type, pod_id) already exists.",
            ),
            // The pod was deleted between our check and the write.
            StoreError::ForeignKey(_) => {
                Error::bad_request(format!("Pod {pod_id} does not exist."))
            }
            other => other.into(),
        }
    }
}
