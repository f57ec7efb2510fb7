-- The outcome of the last check of each pod's identity endpoint.
ALTER TABLE pods ADD COLUMN last_check_at TEXT;
ALTER TABLE pods ADD COLUMN last_check_ok BOOLEAN;
ALTER TABLE pods ADD COLUMN last_check_latency_ms INTEGER;
ALTER TABLE pods ADD COLUMN last_check_error TEXT;
