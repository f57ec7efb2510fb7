-- The top image catalogue (Glance v2). Image data lives in the gateway's
-- content store (files under data_dir/images), not in the database.
CREATE TABLE images (
    id               TEXT PRIMARY KEY NOT NULL,
    name             TEXT,
    owner            TEXT NOT NULL,
    visibility       TEXT NOT NULL,
    status           TEXT NOT NULL,
    disk_format      TEXT,
    container_format TEXT,
    size             BIGINT,
    checksum         TEXT,
    os_hash_algo     TEXT,
    os_hash_value    TEXT,
    min_disk         BIGINT NOT NULL DEFAULT 0,
    min_ram          BIGINT NOT NULL DEFAULT 0,
    protected        BOOLEAN NOT NULL DEFAULT FALSE,
    tags             TEXT NOT NULL DEFAULT '[]',
    -- JSON object of extra properties.
    properties       TEXT NOT NULL DEFAULT '{}',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE INDEX images_owner ON images (owner);
