-- Force-search (an admin's own query for a download that failed, found nothing or was
-- rejected): the new submission and the one it replaces. Written in the same transaction
-- that moves the tracks and their requests from the old submission to the new one, so
-- "replaced" is a fact the engine can ask about (a replaced submission never comes back to
-- life when Quentin Torrentino later reports its old ticket as running again).
CREATE TABLE submission_searches (
  submission_id TEXT PRIMARY KEY REFERENCES submissions(id) ON DELETE CASCADE,  -- the new one
  replaces      TEXT NOT NULL UNIQUE REFERENCES submissions(id) ON DELETE CASCADE,
  query         TEXT NOT NULL,            -- query_context.description of the new ticket
  artist        TEXT,                     -- overrides of query_context.expected, when given
  title         TEXT,
  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- The admin page's history pages through finished downloads, newest finish first.
CREATE INDEX submissions_finished ON submissions(state, finished_at);
