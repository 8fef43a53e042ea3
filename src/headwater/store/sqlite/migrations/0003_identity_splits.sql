-- An operator's splits (issue 4): links involving the identifier are ignored from now on, so
-- the split holds whatever events arrive later. kind: profile or user.
CREATE TABLE identity_splits (
    project_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    identifier TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, kind, identifier)
);
