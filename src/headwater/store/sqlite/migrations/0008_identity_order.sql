-- The links that decide persons, read in link order (issue 11): a profile's earliest link
-- (who owns it) and its later ones a page at a time, and a user's profiles in the order they
-- were linked, each from the index, however many links a shared device has.
CREATE INDEX identity_links_order
    ON identity_links (project_id, kind, a, timestamp, event_id, line, b);

DROP INDEX identity_links_b;

CREATE INDEX identity_links_b
    ON identity_links (project_id, kind, b, timestamp, event_id, line, a);
