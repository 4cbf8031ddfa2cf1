-- Pezzottify's search.db: the table the bridge upserts (no version pragma; the server
-- creates its tables IF NOT EXISTS). Used by the tests.
CREATE TABLE IF NOT EXISTS item_availability (item_id TEXT NOT NULL, item_type TEXT NOT NULL, is_available INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (item_id, item_type));
CREATE INDEX IF NOT EXISTS idx_availability_lookup ON item_availability(item_id, item_type, is_available);
