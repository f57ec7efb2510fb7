-- Server groups (Nova's os-server-groups): top objects of a project, pushed
-- to a pod as a bottom group (a routing of type server_group) when a member
-- first lands there. Membership is kept at the top because a group spans
-- pods: placement reads where the members are.

CREATE TABLE server_groups (
    id         TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    -- affinity, anti-affinity, soft-affinity or soft-anti-affinity.
    policy     TEXT NOT NULL,
    -- JSON object (max_server_per_host for anti-affinity).
    rules      TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);

CREATE INDEX server_groups_project ON server_groups (project_id, created_at);

-- A server is in at most one group. The row goes with the server's
-- resource row and with the group (ON DELETE CASCADE), so deleting either
-- needs no extra step.
CREATE TABLE server_group_members (
    server_id  TEXT PRIMARY KEY NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    group_id   TEXT NOT NULL REFERENCES server_groups (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);

CREATE INDEX server_group_members_group ON server_group_members (group_id);
