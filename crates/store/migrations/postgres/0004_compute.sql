-- Top compute objects (flavors, their project access, keypairs) and the
-- cached summary of every top resource that lives in a pod.

CREATE TABLE flavors (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL UNIQUE,
    vcpus        BIGINT NOT NULL,
    ram_mb       BIGINT NOT NULL,
    disk_gb      BIGINT NOT NULL,
    ephemeral_gb BIGINT NOT NULL DEFAULT 0,
    swap_mb      BIGINT NOT NULL DEFAULT 0,
    is_public    BOOLEAN NOT NULL,
    description  TEXT,
    extra_specs  TEXT NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE flavor_access (
    flavor_id  TEXT NOT NULL REFERENCES flavors (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (flavor_id, project_id)
);

CREATE TABLE keypairs (
    user_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    key_type    TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, name)
);

-- One row per top resource placed in a pod: where it is and what a list
-- shows of it, so listings survive a pod that does not answer and quota
-- and audits need no pod call. Refreshed from the pods on every read.
CREATE TABLE resources (
    id            TEXT PRIMARY KEY NOT NULL,
    resource_type TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL DEFAULT '',
    pod_id        TEXT REFERENCES pods (pod_id) ON DELETE RESTRICT,
    name          TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    -- JSON: the top view of the resource as last seen.
    summary       TEXT NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE INDEX resources_type_project ON resources (resource_type, project_id);
CREATE INDEX resources_pod ON resources (pod_id);
