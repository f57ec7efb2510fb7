//! The service catalog of a Keystone token, and finding an endpoint in it.

use serde::Deserialize;

/// The services the gateway calls, with the catalog types each may be
/// registered under (Cinder under `block-storage`, `volumev3` or older names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceType {
    Identity,
    Compute,
    BlockStorage,
    Network,
    Image,
}

impl ServiceType {
    pub fn catalog_types(self) -> &'static [&'static str] {
        match self {
            ServiceType::Identity => &["identity"],
            ServiceType::Compute => &["compute"],
            ServiceType::BlockStorage => &["block-storage", "volumev3", "volume"],
            ServiceType::Network => &["network"],
            ServiceType::Image => &["image"],
        }
    }

    pub fn name(self) -> &'static str {
        self.catalog_types()[0]
    }

    /// The service name in `OpenStack-API-Version`, for microversioned services.
    pub fn microversion_name(self) -> Option<&'static str> {
        match self {
            ServiceType::Compute => Some("compute"),
            ServiceType::BlockStorage => Some("volume"),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Catalog {
    pub services: Vec<CatalogService>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CatalogService {
    #[serde(rename = "type")]
    pub service_type: String,
    #[serde(default)]
    pub endpoints: Vec<CatalogEndpoint>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CatalogEndpoint {
    pub interface: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub region_id: Option<String>,
    pub url: String,
}

impl Catalog {
    /// The URL of `service` in `region` for `interface`, trying the
    /// service's catalog types in order.
    pub fn endpoint(&self, service: ServiceType, region: &str, interface: &str) -> Option<&str> {
        service
            .catalog_types()
            .iter()
            .find_map(|ty| self.endpoint_of_type(ty, Some(region), interface))
    }

    /// The URL of a catalog type for `interface`, in `region` if given.
    pub fn endpoint_of_type(
        &self,
        ty: &str,
        region: Option<&str>,
        interface: &str,
    ) -> Option<&str> {
        self.services
            .iter()
            .filter(|s| s.service_type == ty)
            .flat_map(|s| &s.endpoints)
            .find(|e| {
                e.interface == interface
                    && region.is_none_or(|r| {
                        e.region_id.as_deref() == Some(r) || e.region.as_deref() == Some(r)
                    })
            })
            .map(|e| e.url.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_type_alias_region_and_interface() {
        let catalog: Catalog = serde_json::from_value(serde_json::json!({"services": [
            {"type": "volumev3", "endpoints": [
                {"interface": "public", "region_id": "R2", "url": "http://r2/volume/v3"},
                {"interface": "public", "region_id": "R1", "url": "http://r1/volume/v3"},
                {"interface": "internal", "region_id": "R1", "url": "http://internal/volume/v3"}]},
            {"type": "compute", "endpoints": [{"interface": "public", "region": "R1", "url": "http://r1/compute/v2.1"}]}
        ]}))
        .unwrap();
        assert_eq!(
            catalog.endpoint(ServiceType::BlockStorage, "R1", "public"),
            Some("http://r1/volume/v3")
        );
        assert_eq!(
            catalog.endpoint(ServiceType::BlockStorage, "R1", "internal"),
            Some("http://internal/volume/v3")
        );
        assert_eq!(
            catalog.endpoint(ServiceType::Compute, "R1", "public"),
            Some("http://r1/compute/v2.1")
        );
        assert_eq!(catalog.endpoint(ServiceType::Compute, "R2", "public"), None);
        assert_eq!(catalog.endpoint(ServiceType::Network, "R1", "public"), None);
    }
}
