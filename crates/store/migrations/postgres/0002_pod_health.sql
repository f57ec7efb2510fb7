-- The outcome of the last check of each pod's identity endpoint.
ALTER TABLE pods ADD COLUMN last_check_at TIMESTAMPTZ;
ALTER TABLE pods ADD COLUMN last_check_ok BOOLEAN;
ALTER TABLE pods ADD COLUMN last_check_latency_ms BIGINT;
ALTER TABLE pods ADD COLUMN last_check_error TEXT;
