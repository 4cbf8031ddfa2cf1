-- Pezzottify's catalog.db as the July-2026 server (HEAD 728d8b5d) creates it: schema v9,
-- user_version 100008 (99999 + 9), WAL (the fixtures set it, as the server does). Tables and
-- indexes verbatim from shared/reference/pezzottify-2026-07-schema.sql; the triggers, which
-- the reference gives in words, written as SQL that does what the words say. The server's
-- file: the bridge writes rows (audio_uri, track_available, the roll-ups), never the schema,
-- the journal mode or user_version. Used by the tests.
PRAGMA user_version = 100008;
CREATE TABLE artists (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL, name TEXT NOT NULL, followers_total INTEGER NOT NULL, popularity INTEGER NOT NULL, artist_available INTEGER NOT NULL DEFAULT 0, mbid TEXT, mbid_lookup_status INTEGER NOT NULL DEFAULT 0, UNIQUE (id));
CREATE INDEX idx_artists_id ON artists(id);
CREATE INDEX idx_artists_available ON artists(artist_available);
CREATE INDEX idx_artists_mbid_nonnull ON artists(mbid) WHERE mbid IS NOT NULL;
CREATE INDEX idx_artists_need_mbid ON artists(artist_available DESC, popularity DESC) WHERE mbid_lookup_status = 0;
CREATE INDEX idx_artists_need_related ON artists(artist_available DESC, popularity DESC) WHERE mbid_lookup_status = 1 AND mbid IS NOT NULL;
CREATE TABLE albums (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL, name TEXT NOT NULL, album_type TEXT NOT NULL, external_id_upc TEXT, external_id_amgid TEXT, label TEXT NOT NULL, popularity INTEGER NOT NULL, release_date TEXT NOT NULL, release_date_precision TEXT NOT NULL, album_availability TEXT NOT NULL DEFAULT 'missing', track_count INTEGER, total_duration_ms INTEGER, UNIQUE (id));
CREATE INDEX idx_albums_id ON albums(id);
CREATE INDEX idx_albums_upc ON albums(external_id_upc);
CREATE INDEX idx_albums_availability ON albums(album_availability);
CREATE INDEX idx_album_fingerprint ON albums(track_count, total_duration_ms);
CREATE TABLE tracks (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL, name TEXT NOT NULL, album_rowid INTEGER NOT NULL, track_number INTEGER NOT NULL, external_id_isrc TEXT, popularity INTEGER NOT NULL, disc_number INTEGER NOT NULL, duration_ms INTEGER NOT NULL, explicit INTEGER NOT NULL, language TEXT, audio_uri TEXT, track_available INTEGER NOT NULL DEFAULT 0, UNIQUE (id));
CREATE INDEX idx_tracks_id ON tracks(id);
CREATE INDEX idx_tracks_album ON tracks(album_rowid);
CREATE INDEX idx_tracks_isrc ON tracks(external_id_isrc);
CREATE INDEX idx_tracks_available ON tracks(track_available);
CREATE TABLE track_artists (track_rowid INTEGER NOT NULL, artist_rowid INTEGER NOT NULL REFERENCES artists(rowid) ON DELETE CASCADE, role INTEGER);
CREATE INDEX idx_track_artists_track ON track_artists(track_rowid);
CREATE INDEX idx_track_artists_artist ON track_artists(artist_rowid);
CREATE TABLE artist_albums (artist_rowid INTEGER NOT NULL, album_rowid INTEGER NOT NULL, is_appears_on INTEGER NOT NULL, is_implicit_appears_on INTEGER NOT NULL, index_in_album INTEGER, UNIQUE (artist_rowid, album_rowid, is_appears_on));
CREATE INDEX idx_artist_albums_artist ON artist_albums(artist_rowid);
CREATE INDEX idx_artist_albums_album ON artist_albums(album_rowid);
CREATE TABLE artist_genres (artist_rowid INTEGER NOT NULL, genre TEXT NOT NULL);
CREATE INDEX idx_artist_genres_artist ON artist_genres(artist_rowid);
CREATE TABLE album_images (album_rowid INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, url TEXT NOT NULL);
CREATE INDEX idx_album_images_album ON album_images(album_rowid);
CREATE TABLE artist_images (artist_rowid INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, url TEXT NOT NULL);
CREATE INDEX idx_artist_images_artist ON artist_images(artist_rowid);
CREATE TABLE related_artists (artist_rowid INTEGER NOT NULL, related_artist_rowid INTEGER NOT NULL, match_score REAL NOT NULL, UNIQUE (artist_rowid, related_artist_rowid));
CREATE INDEX idx_related_artists_artist ON related_artists(artist_rowid);
CREATE INDEX idx_related_artists_related ON related_artists(related_artist_rowid);
CREATE TABLE entity_embeddings (entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, namespace TEXT NOT NULL, dim INTEGER NOT NULL, dtype TEXT NOT NULL, vector_blob BLOB NOT NULL, vector_norm REAL NOT NULL, metadata_json TEXT NOT NULL DEFAULT '{}', model_json TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE (entity_type, entity_id, namespace));
CREATE INDEX idx_entity_embeddings_entity ON entity_embeddings(entity_type, entity_id);
CREATE INDEX idx_entity_embeddings_namespace ON entity_embeddings(namespace);
CREATE INDEX idx_entity_embeddings_lookup ON entity_embeddings(namespace, entity_type, entity_id);
CREATE TABLE artist_enrichment_queue (artist_rowid INTEGER NOT NULL, phase TEXT NOT NULL, status TEXT NOT NULL, attempt_count INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER, last_attempt_at INTEGER, last_error TEXT, priority INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE (artist_rowid, phase));
CREATE INDEX idx_artist_enrichment_queue_claim ON artist_enrichment_queue(phase, status, next_attempt_at, priority DESC, artist_rowid);
CREATE TABLE catalog_stats (id INTEGER PRIMARY KEY, artists_count INTEGER, albums_count INTEGER, tracks_count INTEGER, is_valid INTEGER NOT NULL DEFAULT 0, mutation_version INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL);

-- catalog_stats row 1 (the server inserts it when it computes the stats): every insert or
-- delete of an artist, album or track moves its count (never below 0) while the stats are
-- valid, and always bumps mutation_version and updated_at.
CREATE TRIGGER trg_catalog_stats_artists_insert AFTER INSERT ON artists BEGIN
  UPDATE catalog_stats SET artists_count = CASE WHEN is_valid = 1 THEN artists_count + 1 ELSE artists_count END,
    mutation_version = mutation_version + 1, updated_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE id = 1;
END;
CREATE TRIGGER trg_catalog_stats_artists_delete AFTER DELETE ON artists BEGIN
  UPDATE catalog_stats SET artists_count = CASE WHEN is_valid = 1 THEN MAX(artists_count - 1, 0) ELSE artists_count END,
    mutation_version = mutation_version + 1, updated_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE id = 1;
END;
CREATE TRIGGER trg_catalog_stats_albums_insert AFTER INSERT ON albums BEGIN
  UPDATE catalog_stats SET albums_count = CASE WHEN is_valid = 1 THEN albums_count + 1 ELSE albums_count END,
    mutation_version = mutation_version + 1, updated_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE id = 1;
END;
CREATE TRIGGER trg_catalog_stats_albums_delete AFTER DELETE ON albums BEGIN
  UPDATE catalog_stats SET albums_count = CASE WHEN is_valid = 1 THEN MAX(albums_count - 1, 0) ELSE albums_count END,
    mutation_version = mutation_version + 1, updated_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE id = 1;
END;
CREATE TRIGGER trg_catalog_stats_tracks_insert AFTER INSERT ON tracks BEGIN
  UPDATE catalog_stats SET tracks_count = CASE WHEN is_valid = 1 THEN tracks_count + 1 ELSE tracks_count END,
    mutation_version = mutation_version + 1, updated_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE id = 1;
END;
CREATE TRIGGER trg_catalog_stats_tracks_delete AFTER DELETE ON tracks BEGIN
  UPDATE catalog_stats SET tracks_count = CASE WHEN is_valid = 1 THEN MAX(tracks_count - 1, 0) ELSE tracks_count END,
    mutation_version = mutation_version + 1, updated_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE id = 1;
END;
-- A new artist is queued for MusicBrainz enrichment; a changed lookup status queues it again.
CREATE TRIGGER trg_artists_enqueue_mbid AFTER INSERT ON artists BEGIN
  INSERT OR IGNORE INTO artist_enrichment_queue (artist_rowid, phase, status, priority, created_at, updated_at)
  VALUES (NEW.rowid, 'mbid', 'pending', NEW.popularity, CAST(strftime('%s', 'now') AS INTEGER),
          CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER trg_artists_requeue_mbid AFTER UPDATE OF mbid_lookup_status ON artists BEGIN
  INSERT OR REPLACE INTO artist_enrichment_queue (artist_rowid, phase, status, priority, created_at, updated_at)
  VALUES (NEW.rowid, CASE WHEN NEW.mbid_lookup_status = 0 THEN 'mbid' ELSE 'related' END, 'pending',
          NEW.popularity, CAST(strftime('%s', 'now') AS INTEGER), CAST(strftime('%s', 'now') AS INTEGER));
END;
