-- Pezzottify's download_queue.db as the July-2026 server (HEAD 728d8b5d) creates it (facts
-- from shared/reference/pezzottify-2026-07*.md). The server's file: the bridge reads and
-- writes its rows, never its schema, journal mode or user_version. Used by the tests.
PRAGMA user_version = 100001;
CREATE TABLE download_queue (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES download_queue(id) ON DELETE CASCADE, status TEXT NOT NULL, priority INTEGER NOT NULL, content_type TEXT NOT NULL, content_id TEXT NOT NULL, content_name TEXT, artist_name TEXT, request_source TEXT NOT NULL, requested_by_user_id TEXT, created_at INTEGER NOT NULL, started_at INTEGER, completed_at INTEGER, last_attempt_at INTEGER, next_retry_at INTEGER, retry_count INTEGER DEFAULT 0, max_retries INTEGER DEFAULT 5, error_type TEXT, error_message TEXT, bytes_downloaded INTEGER, processing_duration_ms INTEGER);
CREATE INDEX idx_queue_status_priority ON download_queue(status, priority, created_at);
CREATE INDEX idx_queue_content ON download_queue(content_type, content_id);
CREATE INDEX idx_queue_user ON download_queue(requested_by_user_id);
CREATE INDEX idx_queue_parent ON download_queue(parent_id);
CREATE INDEX idx_queue_next_retry ON download_queue(next_retry_at);
CREATE TABLE download_activity_log (hour_bucket INTEGER PRIMARY KEY, albums_downloaded INTEGER DEFAULT 0, tracks_downloaded INTEGER DEFAULT 0, images_downloaded INTEGER DEFAULT 0, bytes_downloaded INTEGER DEFAULT 0, failed_count INTEGER DEFAULT 0, last_updated_at INTEGER NOT NULL);
CREATE TABLE user_request_stats (user_id TEXT PRIMARY KEY, requests_today INTEGER DEFAULT 0, requests_in_queue INTEGER DEFAULT 0, last_request_date TEXT, last_updated_at INTEGER NOT NULL);
CREATE TABLE download_audit_log (id INTEGER PRIMARY KEY UNIQUE, timestamp INTEGER NOT NULL, event_type TEXT NOT NULL, queue_item_id TEXT, content_type TEXT, content_id TEXT, user_id TEXT, request_source TEXT, details TEXT);
CREATE INDEX idx_audit_timestamp ON download_audit_log(timestamp);
CREATE INDEX idx_audit_queue_item ON download_audit_log(queue_item_id);
CREATE INDEX idx_audit_user ON download_audit_log(user_id);
CREATE INDEX idx_audit_event_type ON download_audit_log(event_type);
CREATE INDEX idx_audit_content ON download_audit_log(content_type, content_id);
