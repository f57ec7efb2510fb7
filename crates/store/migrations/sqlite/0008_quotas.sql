-- Per-project quota limits an admin set (Neutron's PUT /quotas/{project}).
-- Only what differs from the service's defaults is stored: a project
-- without rows has the defaults, and deleting its rows resets it. The
-- service column lets compute and volume quotas share the table.

CREATE TABLE quotas (
    -- network (Neutron); compute and volume may follow.
    service     TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    resource    TEXT NOT NULL,
    -- -1 is unlimited.
    hard_limit  BIGINT NOT NULL,
    PRIMARY KEY (service, project_id, resource)
);
