-- The import journal. An import records every planned move BEFORE it touches a file, so
-- an import killed at any point is finished by running it again with the same key; a
-- finished import keeps its outcome, so asking again returns it and moves nothing.
CREATE TABLE import_jobs (
  key         TEXT PRIMARY KEY,          -- submission id, or "manual-<uuid>" from the CLI
  album_id    TEXT NOT NULL,
  source_dir  TEXT NOT NULL,             -- real path of the imported directory
  state       TEXT NOT NULL DEFAULT 'moving' CHECK (state IN ('moving', 'done')),
  failed      TEXT NOT NULL DEFAULT '{}', -- JSON {track_id: reason} decided when planning
  labels      TEXT NOT NULL DEFAULT '{}', -- JSON {track_id: "4 Title"}, requested tracks in order
  report      TEXT,                      -- JSON match report (what the dry run prints)
  outcome     TEXT,                      -- JSON {imported, failed, summary}, set with 'done'
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  finished_at TEXT,
  cleaned_at  TEXT                       -- leftovers handled (removed or kept by setting)
);
CREATE INDEX import_jobs_state ON import_jobs(state);

-- One row per file to place. src identity (device, inode, size) proves a rename happened
-- (the inode travels with it); tmp_ino proves which copy a finished copy+rename produced.
CREATE TABLE import_moves (
  key        TEXT NOT NULL REFERENCES import_jobs(key) ON DELETE CASCADE,
  track_id   TEXT NOT NULL,
  src        TEXT NOT NULL,
  dst        TEXT NOT NULL,
  tmp        TEXT NOT NULL,              -- hidden temporary name next to dst (copies only)
  audio_uri  TEXT NOT NULL,              -- dst relative to the media root
  src_dev    INTEGER NOT NULL,
  src_ino    INTEGER NOT NULL,
  src_size   INTEGER NOT NULL,
  tmp_ino    INTEGER,
  dst_ino    INTEGER,
  state      TEXT NOT NULL DEFAULT 'planned'
    CHECK (state IN ('planned', 'copied', 'placed', 'failed')),
  error      TEXT,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (key, track_id)
);
CREATE INDEX import_moves_dst ON import_moves(dst);
