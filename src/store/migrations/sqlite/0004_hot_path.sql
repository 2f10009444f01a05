-- The delivery hot path writes less (docs/benchmarks.md, "levers").
--
-- 1. The body is written once and never changes: it moves to its own append-only table, so the
--    rows that change on every claim and outcome are small (~170 bytes instead of ~1 KB) and an
--    update rewrites far fewer page bytes into the WAL.
CREATE TABLE confirmation_bodies (
  id   TEXT PRIMARY KEY,   -- the confirmation's id
  body TEXT NOT NULL       -- exact bytes sent on every attempt
) STRICT, WITHOUT ROWID;
INSERT INTO confirmation_bodies (id, body) SELECT id, body FROM confirmations;

-- 2. Confirmations and transactions are clustered on their id (WITHOUT ROWID): one b-tree per
--    row instead of a rowid table plus a primary-key index. Retention walks the primary key (ids
--    sort by time) instead of an index on (state, id) that every state change had to update.
CREATE TABLE confirmations_new (
  id             TEXT PRIMARY KEY,  -- also the webhook-id
  transaction_id TEXT NOT NULL,
  merchant_id    TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  type           TEXT NOT NULL,
  state          TEXT NOT NULL,
  format         TEXT NOT NULL DEFAULT 'standard',
  due_at         INTEGER,           -- pending: next attempt; inflight: lease end
  lease_token    INTEGER NOT NULL DEFAULT 0,
  tries          INTEGER NOT NULL DEFAULT 0,
  attempts       INTEGER NOT NULL DEFAULT 0,
  last_error     TEXT,
  delivered_at   INTEGER,
  created_at     INTEGER NOT NULL,
  UNIQUE (transaction_id, seq)
) STRICT, WITHOUT ROWID;
INSERT INTO confirmations_new (id, transaction_id, merchant_id, seq, type, state, format, due_at, lease_token, tries,
    attempts, last_error, delivered_at, created_at)
  SELECT id, transaction_id, merchant_id, seq, type, state, format, due_at, lease_token, tries,
    attempts, last_error, delivered_at, created_at FROM confirmations;
DROP TABLE confirmations;
ALTER TABLE confirmations_new RENAME TO confirmations;
CREATE INDEX confirmations_due ON confirmations(due_at) WHERE state IN ('pending', 'inflight');
CREATE INDEX confirmations_merchant_due ON confirmations(merchant_id, due_at) WHERE state IN ('pending', 'inflight');
CREATE INDEX confirmations_merchant_state ON confirmations(merchant_id, state, id);

-- 3. One index serves both reference lookups (all merchants, or one merchant's).
CREATE TABLE transactions_new (
  id          TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  reference   TEXT NOT NULL,
  amount      TEXT NOT NULL,
  currency    TEXT NOT NULL,
  status      TEXT NOT NULL,
  customer    TEXT,                -- JSON
  metadata    TEXT,                -- JSON
  last_seq    INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO transactions_new SELECT id, merchant_id, reference, amount, currency, status, customer, metadata, last_seq,
    created_at, updated_at FROM transactions;
DROP TABLE transactions;
ALTER TABLE transactions_new RENAME TO transactions;
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
