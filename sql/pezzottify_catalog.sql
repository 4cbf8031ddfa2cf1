-- The layout real Pezzottify installs use (layout = "pezzottify", see
-- shared/reference/pezzottify-catalog.md). Integer rowid keys, text public ids, and a
-- boolean track_available instead of an availability enum. The bridge keeps the
-- transient states (fetching, fetch_error) in its own database for this layout.
-- Used by the tests; the bridge never creates or alters these tables.
CREATE TABLE artists (
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  followers_total INTEGER,
  popularity INTEGER,
  artist_available INTEGER NOT NULL DEFAULT 0,
  mbid TEXT,
  mbid_lookup_status TEXT
);

CREATE TABLE albums (
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  album_type TEXT,
  external_id_upc TEXT,
  label TEXT,
  popularity INTEGER,
  release_date TEXT,
  release_date_precision TEXT,
  album_availability TEXT NOT NULL DEFAULT 'missing',
  track_count INTEGER,
  total_duration_ms INTEGER
);

CREATE TABLE tracks (
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  album_rowid INTEGER NOT NULL REFERENCES albums(rowid),
  track_number INTEGER,
  disc_number INTEGER,
  duration_ms INTEGER,
  external_id_isrc TEXT,
  popularity INTEGER,
  explicit INTEGER,
  language TEXT,
  audio_uri TEXT,
  track_available INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE track_artists (
  track_rowid INTEGER NOT NULL REFERENCES tracks(rowid),
  artist_rowid INTEGER NOT NULL REFERENCES artists(rowid),
  role INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (track_rowid, artist_rowid, role)
);

CREATE TABLE artist_albums (
  artist_rowid INTEGER NOT NULL REFERENCES artists(rowid),
  album_rowid INTEGER NOT NULL REFERENCES albums(rowid),
  is_appears_on INTEGER NOT NULL DEFAULT 0,
  is_implicit_appears_on INTEGER NOT NULL DEFAULT 0,
  index_in_album INTEGER,
  PRIMARY KEY (artist_rowid, album_rowid)
);

CREATE INDEX tracks_album_rowid ON tracks(album_rowid);
