-- A durable outbox: work that must reach another system (a signed webhook, a write to one
-- of the Pezzottify server's databases) is recorded here in the same transaction as the
-- change that causes it, then delivered by a worker with retries. `id` is the delivery's
-- identity: stable across retries and restarts (receivers deduplicate on it), and an
-- INSERT OR IGNORE of the same id is a no-op, so enqueueing is idempotent.
CREATE TABLE outbox (
  id              TEXT PRIMARY KEY,
  kind            TEXT NOT NULL,             -- which handler delivers it
  payload         TEXT NOT NULL,             -- JSON
  state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at REAL NOT NULL DEFAULT 0,   -- unix seconds; due when <= now
  last_error      TEXT,
  created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  finished_at     TEXT
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
