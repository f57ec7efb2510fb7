//! The top Neutron's objects (migration 0007): networks, subnets and ports
//! as JSON documents with the columns ownership and filters need, and the
//! allocation tables (segments, MAC addresses, IP addresses) whose primary
//! keys make a collision impossible across pods and gateway replicas.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use crate::{Store, StoreError, StoreResult, now, on_pool};

/// `INSERT` one object on `$exec` (a pool or a transaction), `?` on failure.
macro_rules! insert_object {
    ($obj:expr, $exec:expr) => {
        sqlx::query(
            "INSERT INTO net_objects (id, kind, project_id, network_id, shared, body, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&$obj.id)
        .bind(&$obj.kind)
        .bind(&$obj.project_id)
        .bind(&$obj.network_id)
        .bind($obj.shared)
        .bind(&$obj.body)
        .bind($obj.created_at)
        .bind($obj.updated_at)
        .execute($exec)
        .await
        .map_err(StoreError::from)?
    };
}

/// One network, subnet or port.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct NetObject {
    pub id: String,
    /// `network`, `subnet`, `port`, `security_group` or `security_group_rule`.
    pub kind: String,
    pub project_id: String,
    /// Subnets and ports: their network. Security group rules: their group
    /// (the column's `ON DELETE CASCADE` then deletes a group's rules with it).
    pub network_id: Option<String>,
    /// Networks: shared or external (every project sees them).
    pub shared: bool,
    /// JSON object: the rest of the view.
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A segment (VXLAN or VLAN ID) of a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub network_type: String,
    /// Empty for tunnel types.
    pub physical_network: String,
    pub segmentation_id: i64,
}

/// An address of a subnet held by a port.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct IpAllocation {
    pub subnet_id: String,
    pub ip_address: String,
    pub port_id: String,
}

/// Why a port could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PortWriteError {
    #[error("MAC address {0} is in use")]
    MacInUse(String),
    #[error("address {1} of subnet {0} is in use")]
    IpInUse(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const COLUMNS: &str = "id, kind, project_id, network_id, shared, body, created_at, updated_at";

/// Which objects a listing reads.
#[derive(Clone, Debug, Default)]
pub struct NetFilter<'a> {
    /// Only this project's, plus shared ones when `with_shared`.
    pub project_id: Option<&'a str>,
    pub with_shared: bool,
    pub network_id: Option<&'a str>,
}

impl Store {
    /// Write a network and its segment (when it has one) at once.
    /// [`StoreError::Duplicate`] when the segment is taken.
    pub async fn net_network_create(
        &self,
        obj: &NetObject,
        segment: Option<&Segment>,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            insert_object!(obj, &mut *tx);
            if let Some(seg) = segment {
                sqlx::query(
                    "INSERT INTO net_segments (network_type, physical_network, segmentation_id, network_id) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&seg.network_type)
                .bind(&seg.physical_network)
                .bind(seg.segmentation_id)
                .bind(&obj.id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// The segment IDs of a type (and physical network) in use.
    pub async fn net_segments_used(
        &self,
        network_type: &str,
        physical_network: &str,
    ) -> StoreResult<Vec<i64>> {
        let rows: Vec<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT segmentation_id FROM net_segments \
                 WHERE network_type = $1 AND physical_network = $2 ORDER BY segmentation_id",
            )
            .bind(network_type)
            .bind(physical_network)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }

    /// The segment of a network, if it has one.
    pub async fn net_segment_of(&self, network_id: &str) -> StoreResult<Option<Segment>> {
        let row: Option<(String, String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT network_type, physical_network, segmentation_id FROM net_segments \
                 WHERE network_id = $1",
            )
            .bind(network_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|(network_type, physical_network, segmentation_id)| Segment {
            network_type,
            physical_network,
            segmentation_id,
        }))
    }

    /// Write a subnet (or any object without allocations).
    pub async fn net_object_create(&self, obj: &NetObject) -> StoreResult<()> {
        on_pool!(self, |pool| {
            insert_object!(obj, pool);
            Ok::<_, StoreError>(())
        })
    }

    /// Write several objects at once (all or none), in order, so a parent
    /// may precede its children: a security group with its rules, which no
    /// reader may see half-written. [`StoreError::Duplicate`] when an ID is
    /// taken (nothing is written then).
    pub async fn net_objects_create_all(&self, objs: &[NetObject]) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for obj in objs {
                insert_object!(obj, &mut *tx);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    }

    /// Write a port with its MAC address and its addresses at once.
    pub async fn net_port_create(
        &self,
        obj: &NetObject,
        mac: &str,
        addresses: &[(String, String)],
    ) -> Result<(), PortWriteError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(StoreError::from)?;
            insert_object!(obj, &mut *tx);
            let mac_row = sqlx::query(
                "INSERT INTO net_mac_addresses (network_id, mac_address, port_id) VALUES ($1, $2, $3)",
            )
            .bind(&obj.network_id)
            .bind(mac)
            .bind(&obj.id)
            .execute(&mut *tx)
            .await;
            match mac_row.map_err(StoreError::from) {
                Err(StoreError::Duplicate(_)) => return Err(PortWriteError::MacInUse(mac.into())),
                other => other?,
            };
            for (subnet, ip) in addresses {
                let row = sqlx::query(
                    "INSERT INTO net_ip_allocations (subnet_id, ip_address, port_id) VALUES ($1, $2, $3)",
                )
                .bind(subnet)
                .bind(ip)
                .bind(&obj.id)
                .execute(&mut *tx)
                .await;
                match row.map_err(StoreError::from) {
                    Err(StoreError::Duplicate(_)) => {
                        return Err(PortWriteError::IpInUse(subnet.clone(), ip.clone()));
                    }
                    other => other?,
                };
            }
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        })
    }

    /// Replace a port's addresses and view at once (a `fixed_ips` update):
    /// the old addresses are freed and the new ones taken in one
    /// transaction, so a racing create sees one or the other.
    pub async fn net_port_readdress(
        &self,
        port_id: &str,
        body: &str,
        addresses: &[(String, String)],
    ) -> Result<(), PortWriteError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(StoreError::from)?;
            sqlx::query("DELETE FROM net_ip_allocations WHERE port_id = $1")
                .bind(port_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            for (subnet, ip) in addresses {
                let row = sqlx::query(
                    "INSERT INTO net_ip_allocations (subnet_id, ip_address, port_id) VALUES ($1, $2, $3)",
                )
                .bind(subnet)
                .bind(ip)
                .bind(port_id)
                .execute(&mut *tx)
                .await;
                match row.map_err(StoreError::from) {
                    Err(StoreError::Duplicate(_)) => {
                        return Err(PortWriteError::IpInUse(subnet.clone(), ip.clone()));
                    }
                    other => other?,
                };
            }
            sqlx::query("UPDATE net_objects SET body = $1, updated_at = $2 WHERE id = $3")
                .bind(body)
                .bind(now())
                .bind(port_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        })
    }

    pub async fn net_object_get(&self, kind: &str, id: &str) -> StoreResult<Option<NetObject>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM net_objects WHERE id = $1 AND kind = $2"
        ));
        Ok(on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(id)
            .bind(kind)
            .fetch_optional(pool)
            .await)?)
    }

    /// Objects of a kind, oldest first (then by ID).
    pub async fn net_object_list(
        &self,
        kind: &str,
        filter: &NetFilter<'_>,
    ) -> StoreResult<Vec<NetObject>> {
        Ok(on_pool!(self, |pool| {
            let mut q =
                QueryBuilder::new(format!("SELECT {COLUMNS} FROM net_objects WHERE kind = "));
            q.push_bind(kind.to_string());
            if let Some(p) = filter.project_id {
                q.push(" AND (project_id = ").push_bind(p.to_string());
                if filter.with_shared {
                    q.push(" OR shared = ").push_bind(true);
                }
                q.push(")");
            }
            if let Some(n) = filter.network_id {
                q.push(" AND network_id = ").push_bind(n.to_string());
            }
            q.push(" ORDER BY created_at, id");
            q.build_query_as().fetch_all(pool).await
        })?)
    }

    /// Replace an object's view and sharing; `false` when it is gone.
    pub async fn net_object_update(&self, id: &str, shared: bool, body: &str) -> StoreResult<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE net_objects SET shared = $1, body = $2, updated_at = $3 WHERE id = $4",
            )
            .bind(shared)
            .bind(body)
            .bind(now())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Delete an object (its allocations and, for a network, its subnets
    /// and segment go with it); `false` when it was gone.
    /// [`StoreError::ForeignKey`] when addresses of a subnet are still held.
    pub async fn net_object_delete(&self, id: &str) -> StoreResult<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM net_objects WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// Addresses held in these subnets (all of them when `subnets` is empty
    /// is never meant: an empty list gives nothing).
    pub async fn net_allocations_in(&self, subnets: &[String]) -> StoreResult<Vec<IpAllocation>> {
        if subnets.is_empty() {
            return Ok(Vec::new());
        }
        Ok(on_pool!(self, |pool| {
            let mut q = QueryBuilder::new(
                "SELECT subnet_id, ip_address, port_id FROM net_ip_allocations WHERE subnet_id IN (",
            );
            let mut list = q.separated(", ");
            for s in subnets {
                list.push_bind(s.clone());
            }
            q.push(")");
            q.build_query_as().fetch_all(pool).await
        })?)
    }

    /// How many ports a network has.
    pub async fn net_port_count(&self, network_id: &str) -> StoreResult<i64> {
        let (n,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*) FROM net_objects WHERE kind = 'port' AND network_id = $1",
            )
            .bind(network_id)
            .fetch_one(pool)
            .await
        })?;
        Ok(n)
    }
}
