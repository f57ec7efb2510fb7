-- Embedded identity (a Keystone v3 subset): domains, projects, users, roles,
-- role assignments on projects, and issued tokens (stored hashed).

CREATE TABLE domains (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled     BOOLEAN NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE projects (
    id          TEXT PRIMARY KEY NOT NULL,
    domain_id   TEXT NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled     BOOLEAN NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY NOT NULL,
    domain_id          TEXT NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
    name               TEXT NOT NULL,
    -- PHC string (argon2id); NULL means password login is disabled.
    password_hash      TEXT,
    enabled            BOOLEAN NOT NULL,
    default_project_id TEXT,
    email              TEXT,
    description        TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE roles (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE role_assignments (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role_id    TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, project_id, role_id)
);

CREATE INDEX role_assignments_project ON role_assignments (project_id);

CREATE TABLE tokens (
    -- SHA-256 of the token: a copy of the database holds no usable token.
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id TEXT REFERENCES projects (id) ON DELETE CASCADE,
    methods    TEXT NOT NULL,
    audit_id   TEXT NOT NULL,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_user ON tokens (user_id);
