-- The last run of the periodic audit of each pod (the durable-jobs issue):
-- when it ran, whether it could finish, and what it found and repaired.
-- One row per pod, replaced by each run; it goes with its pod.

CREATE TABLE pod_audits (
    pod_id      TEXT PRIMARY KEY NOT NULL REFERENCES pods (pod_id) ON DELETE CASCADE,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'error')),
    -- Why the run could not finish (outcome 'error'): a message for admins,
    -- never a credential or a database detail.
    message     TEXT,
    -- JSON object: lists of {kind, id} per finding (orphans deleted, ...).
    findings    TEXT NOT NULL DEFAULT '{}',
    -- How many changes the run made.
    repairs     BIGINT NOT NULL DEFAULT 0
);
