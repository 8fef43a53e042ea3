-- The current schema, applied whole to an empty database. Every change goes here AND into a
-- new numbered file in migrations/; tests/test_migrations.py checks that the two agree.

-- Tenancy: organizations own projects; a project owns sources and API keys.
CREATE TABLE orgs (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs (id),
    slug TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, slug)
);

CREATE TABLE sources (
    project_id INTEGER NOT NULL REFERENCES projects (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, name)
);

CREATE TABLE api_keys (
    prefix TEXT PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    secret_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- Events: the unit of truth. Times are epoch milliseconds; objects are JSON text.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    source_id TEXT,
    event_name TEXT NOT NULL,
    event_id TEXT NOT NULL,
    line INTEGER NOT NULL,
    type TEXT,
    profile_id TEXT,
    user_id TEXT,
    account_id TEXT,
    session_id TEXT,
    page_id TEXT,
    another_user_id TEXT,
    another_account_id TEXT,
    product_id TEXT,
    timestamp INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    data TEXT,
    user_attributes TEXT,
    account_attributes TEXT,
    session_attributes TEXT,
    extra TEXT,
    key_prefix TEXT NOT NULL,
    -- the eventId of the first item of its group, when not its own (one SDK call: one order)
    group_event_id TEXT,
    -- who the event belongs to: 'user' (its userId is a real identifier), else 'profile'
    -- (its profileId is), else NULL; decided in Python at write (model/event.py owner_of)
    owner TEXT
);

-- Invariant 2: the dedup key, with no time window. eventId leads, so the same index serves
-- lookups by eventId (an index of its own cost a third of the insert rate).
CREATE UNIQUE INDEX events_dedup ON events (project_id, event_id, event_name, line);
CREATE INDEX events_time ON events (project_id, timestamp, seq);
CREATE INDEX events_user ON events (project_id, user_id, timestamp, seq) WHERE user_id IS NOT NULL;
CREATE INDEX events_profile ON events (project_id, profile_id, timestamp, seq)
    WHERE profile_id IS NOT NULL;
CREATE INDEX events_account ON events (project_id, account_id, timestamp, seq)
    WHERE account_id IS NOT NULL;
-- A person's anonymous events: a kiosk's profileId finds its own events here, not its users'.
CREATE INDEX events_profile_owned ON events (project_id, profile_id, timestamp, seq)
    WHERE owner = 'profile';

-- Invariant 3: what failed validation is kept with its raw JSON until replayed.
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    source_id TEXT,
    key_prefix TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    group_index INTEGER,
    item_index INTEGER,
    event_name TEXT,
    type TEXT,
    line INTEGER NOT NULL,
    path TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    raw TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    resolved_at INTEGER,
    kind TEXT NOT NULL DEFAULT 'event'
);

CREATE INDEX quarantine_pending ON quarantine (project_id, status, id);

-- Identity links (issue 4): per pair of identifiers, the earliest event that linked them
-- (event time, then eventId, then line). kind: profile (a = profileId, b = userId),
-- user (a < b, aliased userIds), account (a < b, aliased accountIds).
CREATE TABLE identity_links (
    project_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    line INTEGER NOT NULL,
    PRIMARY KEY (project_id, kind, a, b)
);

-- In link order (issue 11): a profile's earliest link (who owns it) and its later ones a page
-- at a time, a user's profiles in the order they were linked; identifiers by code point.
CREATE INDEX identity_links_order
    ON identity_links (project_id, kind, a, timestamp, event_id, line, b);
CREATE INDEX identity_links_b
    ON identity_links (project_id, kind, b, timestamp, event_id, line, a);

-- An operator's splits (issue 4): links involving the identifier are ignored from now on, so
-- the split holds whatever events arrive later. kind: profile or user.
CREATE TABLE identity_splits (
    project_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    identifier TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, kind, identifier)
);

-- How each user attribute folds over its observations (issue 4): latest (the default when a
-- name has no row), first or most_frequent.
CREATE TABLE attribute_strategies (
    project_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    strategy TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, name)
);

-- The product catalog (issue 5). One row per product: `document` is its canonical JSON,
-- `versions` when each field was last set (catalog/merge.py); title, brand and availability
-- are copied out for filtering (`title_search`: the title lower-cased by Python, for every
-- script). Ids order bytewise on both backends (COLLATE "C"), as cursors expect.
-- Removed products are kept and flagged, never deleted.
CREATE TABLE products (
    project_id INTEGER NOT NULL,
    id TEXT NOT NULL,
    document TEXT NOT NULL,
    versions TEXT NOT NULL,
    title TEXT,
    title_search TEXT,
    brand TEXT,
    availability TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    removed_at INTEGER,
    PRIMARY KEY (project_id, id)
);

-- A product's categories, one row each: the index behind the category filter.
CREATE TABLE product_categories (
    project_id INTEGER NOT NULL,
    category TEXT NOT NULL,
    product_id TEXT NOT NULL,
    PRIMARY KEY (project_id, product_id, category)
);

CREATE INDEX product_categories_category ON product_categories (project_id, category, product_id);

-- Every feed import and its report (catalog/imports.py).
CREATE TABLE catalog_imports (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    format TEXT NOT NULL,
    source TEXT NOT NULL,
    full_sync INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    rejections TEXT NOT NULL DEFAULT '[]'
);

CREATE INDEX catalog_imports_project ON catalog_imports (project_id, id);

-- The product ids a running --full import has seen; emptied when it ends.
CREATE TABLE catalog_import_seen (
    import_id INTEGER NOT NULL,
    product_id TEXT NOT NULL,
    PRIMARY KEY (import_id, product_id)
);

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
