-- Per-user rate limit overrides set by an admin. A NULL column means "the configured
-- default" ([torrentino.rate_limits]); a row with both NULL is removed instead of kept.
CREATE TABLE user_limits (
  user_id           TEXT PRIMARY KEY,
  requests_per_day  INTEGER CHECK (requests_per_day IS NULL OR requests_per_day >= 0),
  max_pending       INTEGER CHECK (max_pending IS NULL OR max_pending >= 0),
  updated_at        TEXT NOT NULL
);
