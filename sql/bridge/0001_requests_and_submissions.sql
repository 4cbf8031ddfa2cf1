-- The bridge's own database. download_requests is the shared contract table: other
-- writers (the catalog server, scripts) INSERT rows; the bridge owns every other column.
CREATE TABLE download_requests (
  id          TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL,
  album_id    TEXT,
  track_ids   TEXT,                      -- JSON array of track ids
  priority    INTEGER NOT NULL DEFAULT 0, -- higher = sooner
  status      TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'in_progress', 'needs_approval', 'completed',
                      'failed', 'rejected', 'cancelled')),
  error       TEXT,
  created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  planned_at  TEXT,                      -- set once the bridge has resolved the request
  started_at  TEXT,                      -- first ticket accepted by Quentin Torrentino
  updated_at  TEXT,
  finished_at TEXT
);
CREATE INDEX download_requests_intake ON download_requests(status, planned_at, priority DESC, created_at);
CREATE INDEX download_requests_user ON download_requests(user_id, created_at);

-- One row per ticket we submit (or intend to submit) to Quentin Torrentino: one per album
-- batch. The row is committed in state 'intent' BEFORE the POST, so a crash between the
-- POST and recording ticket_id is repaired by finding the ticket through its dest_path.
CREATE TABLE submissions (
  id          TEXT PRIMARY KEY,          -- our uuid; also the leaf of dest_path
  album_id    TEXT NOT NULL,
  dest_path   TEXT NOT NULL UNIQUE,      -- as Quentin Torrentino sees it
  local_dir   TEXT NOT NULL,             -- the same directory as the bridge sees it
  body        TEXT NOT NULL,             -- the exact CreateTicket JSON
  priority    INTEGER NOT NULL,
  ticket_id   TEXT UNIQUE,
  state       TEXT NOT NULL DEFAULT 'intent'
    CHECK (state IN ('intent', 'active', 'needs_approval', 'importing', 'completed',
                     'failed', 'rejected', 'cancelled')),
  qt_state    TEXT,                      -- last Quentin Torrentino state type seen
  progress    REAL,                      -- 0..100 when known
  phase       TEXT,                      -- downloading / converting / placing ...
  details     TEXT,                      -- JSON: candidates, QT error, stats
  error       TEXT,
  attempts    INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  finished_at TEXT
);
CREATE INDEX submissions_state ON submissions(state);

-- Tracks a submission fetches. active = 1 while the track waits on this submission; the
-- partial unique index makes "a track is fetching under at most one ticket" a database fact.
CREATE TABLE submission_tracks (
  submission_id TEXT NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
  track_id      TEXT NOT NULL,
  active        INTEGER NOT NULL DEFAULT 1,
  outcome       TEXT CHECK (outcome IN ('imported', 'error', 'released')),
  audio_uri     TEXT,
  error         TEXT,
  updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (submission_id, track_id)
);
CREATE UNIQUE INDEX submission_tracks_one_live ON submission_tracks(track_id) WHERE active = 1;
CREATE INDEX submission_tracks_track ON submission_tracks(track_id, updated_at);

-- Which tracks a request asked for, and the submission each one waits on (NULL when it
-- was already available at intake).
CREATE TABLE request_tracks (
  request_id    TEXT NOT NULL REFERENCES download_requests(id) ON DELETE CASCADE,
  track_id      TEXT NOT NULL,
  album_id      TEXT NOT NULL,
  submission_id TEXT REFERENCES submissions(id),
  PRIMARY KEY (request_id, track_id)
);
CREATE INDEX request_tracks_submission ON request_tracks(submission_id);
