-- Requests come from sources. 'bridge': a row written straight into download_requests (the
-- API, the CLI, scripts). 'pezzottify': a mirror of a row of the Pezzottify server's own
-- download_queue.db, made by the bridge; the queue row is told the request's outcome.
ALTER TABLE download_requests ADD COLUMN source TEXT NOT NULL DEFAULT 'bridge';

-- One mirrored request per claim of a source row. An admin's retry in Pezzottify (the row
-- back to PENDING after it ended) is a new generation: a new request for the same row.
CREATE TABLE source_links (
  source      TEXT NOT NULL,
  source_id   TEXT NOT NULL,               -- the source row's id (download_queue.id)
  generation  INTEGER NOT NULL,
  request_id  TEXT NOT NULL UNIQUE REFERENCES download_requests(id) ON DELETE CASCADE,
  kind        TEXT NOT NULL,               -- the source's content type (ALBUM, TRACK_AUDIO)
  content_id  TEXT NOT NULL,
  claimed_at  INTEGER,                     -- unix seconds the source row was set IN_PROGRESS
  reported    TEXT,                        -- the final status written back (NULL: not yet)
  reported_at TEXT,
  PRIMARY KEY (source, source_id, generation)
);
CREATE INDEX source_links_unreported ON source_links(source, reported);

-- A track joined to a live submission of its album after the ticket was sent (QT was not
-- asked for it): it takes what the download brings, and gets a ticket of its own when the
-- download does not bring it.
ALTER TABLE submission_tracks ADD COLUMN joined INTEGER NOT NULL DEFAULT 0;
