-- How each user attribute folds over its observations (issue 4): latest (the default when a
-- name has no row), first or most_frequent.
CREATE TABLE attribute_strategies (
    project_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    strategy TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, name)
);
