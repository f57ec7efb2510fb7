//! The top image catalogue.

use chrono::{DateTime, Utc};

use crate::{Store, StoreResult, now, on_pool};

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    pub owner: String,
    pub visibility: String,
    pub status: String,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub size: Option<i64>,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub protected: bool,
    /// JSON array of strings.
    pub tags: String,
    /// JSON object.
    pub properties: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const IMAGE_COLUMNS: &str = "id, name, owner, visibility, status, disk_format, container_format, size, \
     checksum, os_hash_algo, os_hash_value, min_disk, min_ram, protected, tags, properties, created_at, updated_at";

impl Store {
    pub async fn image_insert(&self, i: &Image) -> StoreResult<()> {
        self.image_write(i, true).await
    }

    /// Replace every field of an existing image (read-modify-write by the caller).
    pub async fn image_update(&self, i: &Image) -> StoreResult<()> {
        self.image_write(i, false).await
    }

    async fn image_write(&self, i: &Image, insert: bool) -> StoreResult<()> {
        let sql = if insert {
            "INSERT INTO images (name, owner, visibility, status, disk_format, container_format, size, \
             checksum, os_hash_algo, os_hash_value, min_disk, min_ram, protected, tags, properties, \
             created_at, updated_at, id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        } else {
            "UPDATE images SET name = $1, owner = $2, visibility = $3, status = $4, disk_format = $5, \
             container_format = $6, size = $7, checksum = $8, os_hash_algo = $9, os_hash_value = $10, \
             min_disk = $11, min_ram = $12, protected = $13, tags = $14, properties = $15, \
             created_at = $16, updated_at = $17 WHERE id = $18"
        };
        on_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(&i.name)
                .bind(&i.owner)
                .bind(&i.visibility)
                .bind(&i.status)
                .bind(&i.disk_format)
                .bind(&i.container_format)
                .bind(i.size)
                .bind(&i.checksum)
                .bind(&i.os_hash_algo)
                .bind(&i.os_hash_value)
                .bind(i.min_disk)
                .bind(i.min_ram)
                .bind(i.protected)
                .bind(&i.tags)
                .bind(&i.properties)
                .bind(i.created_at)
                .bind(if insert { i.updated_at } else { now() })
                .bind(&i.id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn image_get(&self, id: &str) -> StoreResult<Option<Image>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = $1"));
        Ok(on_pool!(self, |pool| sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    /// Every image, oldest first (visibility is applied by the caller).
    pub async fn image_list(&self) -> StoreResult<Vec<Image>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLUMNS} FROM images ORDER BY created_at, id"
        ));
        Ok(on_pool!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?)
    }

    pub async fn image_delete(&self, id: &str) -> StoreResult<bool> {
        let n = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM images WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }
}
