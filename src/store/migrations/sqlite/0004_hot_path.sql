-- The delivery hot path writes less (docs/benchmarks.md, "levers").
--
-- 1. The body is written once and never changes: it moves to its own append-only table, so the
--    rows that change on every claim and outcome are small (~150 bytes instead of ~1 KB) and an
--    update rewrites far fewer page bytes into the WAL.
CREATE TABLE confirmation_bodies (
  id   TEXT PRIMARY KEY,   -- the confirmation's id
  body TEXT NOT NULL       -- exact bytes sent on every attempt
) STRICT, WITHOUT ROWID;
INSERT INTO confirmation_bodies (id, body) SELECT id, body FROM confirmations;
ALTER TABLE confirmations DROP COLUMN body;

-- 2. Retention walks the primary key (ids sort by time) instead of an index on (state, id) that
--    every state change had to update.
DROP INDEX confirmations_state_id;

-- 3. One index serves both reference lookups (all merchants, or one merchant's).
DROP INDEX transactions_merchant_reference;
DROP INDEX transactions_reference;
CREATE INDEX transactions_reference ON transactions(reference, merchant_id);

-- 4. Attempts are keyed by (confirmation, number): one b-tree per insert, no rowid, no
--    AUTOINCREMENT bookkeeping.
CREATE TABLE attempts_by_confirmation (
  confirmation_id  TEXT NOT NULL,
  number           INTEGER NOT NULL,
  started_at       INTEGER NOT NULL,
  duration_ms      INTEGER NOT NULL,
  status_code      INTEGER,
  error_kind       TEXT,
  error_message    TEXT,
  response_snippet TEXT,
  outcome          TEXT NOT NULL,
  PRIMARY KEY (confirmation_id, number)
) STRICT, WITHOUT ROWID;
INSERT INTO attempts_by_confirmation
  SELECT confirmation_id, number, started_at, duration_ms, status_code, error_kind, error_message, response_snippet, outcome
  FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_by_confirmation RENAME TO attempts;
