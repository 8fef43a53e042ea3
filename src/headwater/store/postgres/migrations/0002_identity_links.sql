-- Identity links (issue 4): per pair of identifiers, the earliest event that linked them
-- (event time, then eventId, then line). kind: profile (a = profileId, b = userId),
-- user (a < b, aliased userIds), account (a < b, aliased accountIds).
CREATE TABLE identity_links (
    project_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    timestamp BIGINT NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    line INTEGER NOT NULL,
    PRIMARY KEY (project_id, kind, a, b)
);

CREATE INDEX identity_links_b ON identity_links (project_id, kind, b);
