-- The catalog layout the bridge expects by default (layout = "plan", from integration-plan.md).
-- The catalog server owns this database; the bridge never alters it. Tests and the demo
-- create catalogs from this file.
CREATE TABLE artists (
  id   TEXT PRIMARY KEY,
  name TEXT NOT NULL
);

CREATE TABLE albums (
  id        TEXT PRIMARY KEY,
  name      TEXT NOT NULL,
  artist_id TEXT REFERENCES artists(id),
  year      INTEGER
);

CREATE TABLE tracks (
  id           TEXT PRIMARY KEY,
  album_id     TEXT NOT NULL REFERENCES albums(id),
  name         TEXT NOT NULL,
  disc_number  INTEGER NOT NULL DEFAULT 1,
  track_number INTEGER NOT NULL,
  duration_ms  INTEGER,
  audio_uri    TEXT,
  availability TEXT NOT NULL DEFAULT 'available'
    CHECK (availability IN ('available', 'unavailable', 'fetching', 'fetch_error'))
);

CREATE INDEX tracks_album ON tracks(album_id, disc_number, track_number);
CREATE INDEX tracks_availability ON tracks(availability);
