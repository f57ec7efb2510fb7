-- The job engine's log and its locks.
--
-- job_attempts: one row per claim of a job (by the runner or by an API call
-- running a saga inline), so admins can see who ran what when, and a check
-- can prove that no job ran twice at once: an attempt ends when it records
-- its outcome, or at the latest when its lease ran out (a replica that died
-- mid-run); the next attempt starts only after that.
CREATE TABLE job_attempts (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    owner       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    -- Renewed with the job's lease while the attempt runs.
    lease_until TEXT NOT NULL,
    finished_at TEXT,
    -- SUCCESS, RETRY, FAIL, or LEASE_LOST (the owner stopped: it died, or
    -- could not renew and gave the job up).
    outcome     TEXT,
    error       TEXT
);

CREATE INDEX job_attempts_job ON job_attempts (job_id, seq);

-- Named locks with a lease, shared by every replica on the database: the
-- periodic passes and the reconciles of one object take turns through them.
-- A holder that dies loses the lock when its lease runs out.
CREATE TABLE locks (
    name        TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    lease_until TEXT NOT NULL
);
