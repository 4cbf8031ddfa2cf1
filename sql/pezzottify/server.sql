-- Pezzottify's server.db as the July-2026 server creates it (user_version 100005): only the two
-- tables an importer writes (shared/reference/pezzottify-2026-07*.md, section 3). The server
-- validates this file's exact columns when it opens it, so nothing is ever added to it.
-- Used by the tests.
PRAGMA user_version = 100005;
CREATE TABLE catalog_events (seq INTEGER PRIMARY KEY, event_type TEXT NOT NULL, content_type TEXT NOT NULL, content_id TEXT NOT NULL, timestamp INTEGER NOT NULL, triggered_by TEXT);
CREATE INDEX idx_catalog_events_timestamp ON catalog_events(timestamp DESC);
CREATE INDEX idx_catalog_events_content ON catalog_events(content_type, content_id);
CREATE TABLE whatsnew_pending_albums (album_id TEXT PRIMARY KEY, added_at INTEGER NOT NULL);
