-- Foundation schema: pods, resource routings and durable jobs.
-- Timestamps are written by the application (UTC, microsecond precision) so
-- that both backends store and compare the same values.

CREATE TABLE pods (
    pod_id        TEXT PRIMARY KEY NOT NULL,
    region_name   TEXT NOT NULL UNIQUE,
    -- Empty az_name marks the top region (upstream Tricircle's convention).
    az_name       TEXT NOT NULL DEFAULT '',
    pod_az_name   TEXT NOT NULL DEFAULT '',
    dc_name       TEXT NOT NULL DEFAULT '',
    auth_url      TEXT,
    identity_mode TEXT NOT NULL DEFAULT 'shared',
    -- JSON object: service type -> endpoint URL overriding the pod's catalog.
    endpoints     TEXT NOT NULL DEFAULT '{}',
    -- AEAD-sealed JSON credentials; the key lives outside the database.
    credentials   BLOB,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- At most one top region.
CREATE UNIQUE INDEX pods_single_top ON pods (az_name) WHERE az_name = '';

CREATE TABLE resource_routings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    top_id        TEXT NOT NULL,
    -- NULL while the bottom resource is being created: the row is the lock.
    bottom_id     TEXT,
    pod_id        TEXT NOT NULL REFERENCES pods (pod_id) ON DELETE RESTRICT,
    project_id    TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (top_id, resource_type, pod_id)
);

CREATE INDEX resource_routings_bottom_id ON resource_routings (bottom_id);
CREATE INDEX resource_routings_pod_id ON resource_routings (pod_id);
CREATE INDEX resource_routings_project_id ON resource_routings (project_id);

CREATE TABLE jobs (
    -- Insertion order: the stable sort key of job listings.
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    job_type        TEXT NOT NULL,
    -- The resource fields joined by '#', in the job type's field order: the
    -- key that collapses duplicate jobs.
    resource_key    TEXT NOT NULL,
    resource        TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('NEW', 'RUNNING', 'SUCCESS', 'FAIL')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT,
    last_error      TEXT,
    -- Saga progress (steps done), kept so a restart resumes or unwinds.
    progress        TEXT NOT NULL DEFAULT '{}',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT
);

-- One waiting and one running job per (type, resource) at a time.
CREATE UNIQUE INDEX jobs_single_new ON jobs (job_type, resource_key) WHERE status = 'NEW';
CREATE UNIQUE INDEX jobs_single_running ON jobs (job_type, resource_key) WHERE status = 'RUNNING';
CREATE INDEX jobs_claimable ON jobs (status, next_attempt_at);
