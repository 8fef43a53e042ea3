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

-- Quarantined products (rejected by a feed) beside quarantined events.
ALTER TABLE quarantine ADD COLUMN kind TEXT NOT NULL DEFAULT 'event';
