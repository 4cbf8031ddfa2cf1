-- Pezzottify's user.db as the July-2026 server creates it (schema v15: user_version 100014 =
-- 99999 + 15), cut down to what a notification touches: `user` (the table both reference),
-- user_notifications (v11) and user_events (v9, operation columns v14). Columns, defaults
-- and indexes as pezzottify-server/src/user/sqlite_user_store.rs declares them.
-- Used by the tests.
PRAGMA user_version = 100014;
CREATE TABLE user (id INTEGER PRIMARY KEY UNIQUE, handle TEXT NOT NULL UNIQUE, created INTEGER DEFAULT (cast(strftime('%s','now') as int)), oidc_subject TEXT UNIQUE);
CREATE INDEX idx_user_handle ON user(handle);
CREATE UNIQUE INDEX idx_user_oidc_subject ON user(oidc_subject);
CREATE TABLE user_events (seq INTEGER PRIMARY KEY UNIQUE, user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE, event_type TEXT NOT NULL, payload TEXT NOT NULL, server_timestamp INTEGER NOT NULL DEFAULT (cast(strftime('%s','now') as int)), operation_id TEXT, operation_index INTEGER NOT NULL DEFAULT 0, UNIQUE (user_id, operation_id, operation_index));
CREATE INDEX idx_user_events_user_seq ON user_events(user_id, seq);
CREATE UNIQUE INDEX idx_user_events_operation ON user_events(user_id, operation_id, operation_index);
CREATE TABLE user_notifications (id TEXT PRIMARY KEY UNIQUE, user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE, notification_type TEXT NOT NULL, title TEXT NOT NULL, body TEXT, data TEXT NOT NULL, read_at INTEGER, created_at INTEGER NOT NULL DEFAULT (cast(strftime('%s','now') as int)));
CREATE INDEX idx_notifications_user_created ON user_notifications(user_id, created_at DESC);
