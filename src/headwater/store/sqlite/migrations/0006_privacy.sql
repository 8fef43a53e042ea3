-- Consent (issue 6): every decision a client sent, one row each. `digest` (SHA-256 of the
-- normalized record) stores a re-sent record once. category NULL: a general decision, for
-- every category. valid_until NULL: unlimited. details: the record's other fields as JSON.
CREATE TABLE consents (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    digest TEXT NOT NULL,
    user_id TEXT,
    profile_id TEXT,
    source_id TEXT,
    category TEXT,
    action TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    valid_until INTEGER,
    received_at INTEGER NOT NULL,
    details TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    UNIQUE (project_id, digest)
);

CREATE INDEX consents_user ON consents (project_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX consents_profile ON consents (project_id, profile_id) WHERE profile_id IS NOT NULL;

-- What the ingest gate reads once per commit, per project (consent/gate.py): the consent
-- categories events require, and how many identifiers are suppressed (0: no lookup). `salt`
-- keys the suppression digests.
CREATE TABLE privacy_policies (
    project_id INTEGER PRIMARY KEY,
    required_categories TEXT NOT NULL DEFAULT '[]',
    suppressed INTEGER NOT NULL DEFAULT 0,
    salt TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Identifiers of erased persons whose later events are refused: a keyed SHA-256 of
-- (kind, identifier), never the identifier itself.
CREATE TABLE suppressions (
    project_id INTEGER NOT NULL,
    digest TEXT NOT NULL,
    erasure_id INTEGER NOT NULL,
    PRIMARY KEY (project_id, digest)
);

-- That an erasure happened, when, and how much it removed; nothing that names the person.
CREATE TABLE erasures (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    erased_at INTEGER NOT NULL,
    requested_by TEXT NOT NULL,
    report TEXT NOT NULL
);

CREATE INDEX erasures_project ON erasures (project_id, id);

-- Alias events are rare, so this index is small: it finds every event that names an erased
-- userId as `anotherUserId` without reading the project's events.
CREATE INDEX events_another_user ON events (project_id, another_user_id)
    WHERE another_user_id IS NOT NULL;
