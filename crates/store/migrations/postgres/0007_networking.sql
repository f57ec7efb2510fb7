-- The top Neutron (DESIGN §4 "Network"): the top is authoritative for
-- networks, subnets and ports. Each object keeps its view as a JSON document
-- beside the columns that ownership, filters and foreign keys need; what must
-- never collide across pods (segments, MAC addresses, IP addresses) has its
-- own table whose primary key says so, so the database settles races
-- between gateway replicas.

CREATE TABLE net_objects (
    id         TEXT PRIMARY KEY NOT NULL,
    -- network, subnet or port.
    kind       TEXT NOT NULL,
    project_id TEXT NOT NULL,
    -- Subnets and ports: their network (they go with it).
    network_id TEXT REFERENCES net_objects (id) ON DELETE CASCADE,
    -- Networks: shared or external, so every project sees them.
    shared     BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON object: the rest of the view (name, flags, pools, fixed IPs, ...).
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX net_objects_kind_project ON net_objects (kind, project_id);
CREATE INDEX net_objects_network ON net_objects (network_id);

-- VXLAN/VLAN IDs, allocated centrally: one network per segment.
CREATE TABLE net_segments (
    network_type     TEXT NOT NULL,
    physical_network TEXT NOT NULL DEFAULT '',
    segmentation_id  BIGINT NOT NULL,
    network_id       TEXT NOT NULL REFERENCES net_objects (id) ON DELETE CASCADE,
    PRIMARY KEY (network_type, physical_network, segmentation_id)
);

-- A MAC address is unique within a network (as in Neutron), whichever
-- pod the port lives in.
CREATE TABLE net_mac_addresses (
    network_id  TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    port_id     TEXT NOT NULL REFERENCES net_objects (id) ON DELETE CASCADE,
    PRIMARY KEY (network_id, mac_address)
);

-- One address of a subnet belongs to at most one port, whichever pod the
-- port lives in. A subnet with allocations cannot be deleted (RESTRICT).
CREATE TABLE net_ip_allocations (
    subnet_id  TEXT NOT NULL REFERENCES net_objects (id) ON DELETE RESTRICT,
    ip_address TEXT NOT NULL,
    port_id    TEXT NOT NULL REFERENCES net_objects (id) ON DELETE CASCADE,
    PRIMARY KEY (subnet_id, ip_address)
);

CREATE INDEX net_ip_allocations_port ON net_ip_allocations (port_id);
