-- Confirma schema for SQLite. Times are epoch milliseconds (INTEGER).

CREATE TABLE merchants (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  url             TEXT NOT NULL,
  format          TEXT NOT NULL DEFAULT 'standard',
  max_in_flight   INTEGER,
  timeout_ms      INTEGER,
  retry_schedule  TEXT,            -- JSON array of seconds, NULL = global default
  disabled_at     INTEGER,
  disabled_reason TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT;

-- Signing secrets: the newest (highest id) is current; older ones sign until expires_at.
CREATE TABLE merchant_secrets (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  secret      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER           -- NULL while current
) STRICT;
CREATE INDEX merchant_secrets_merchant ON merchant_secrets(merchant_id, id);

-- API keys, stored only as SHA-256 hashes. merchant_id NULL = admin key.
CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,
  merchant_id TEXT REFERENCES merchants(id),
  prefix      TEXT NOT NULL,
  hash        TEXT NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
) STRICT;

CREATE TABLE transactions (
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
) STRICT;
CREATE INDEX transactions_merchant_reference ON transactions(merchant_id, reference);

CREATE TABLE confirmations (
  id             TEXT PRIMARY KEY,  -- also the webhook-id
  transaction_id TEXT NOT NULL,
  merchant_id    TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  type           TEXT NOT NULL,
  state          TEXT NOT NULL,
  body           TEXT NOT NULL,     -- exact bytes sent on every attempt
  due_at         INTEGER,           -- pending: next attempt; inflight: lease end
  lease_token    INTEGER NOT NULL DEFAULT 0,
  tries          INTEGER NOT NULL DEFAULT 0,
  attempts       INTEGER NOT NULL DEFAULT 0,
  last_error     TEXT,
  delivered_at   INTEGER,
  created_at     INTEGER NOT NULL,
  UNIQUE (transaction_id, seq)
) STRICT;
-- The queue path: only rows that may be claimed are in this index, so it stays small.
CREATE INDEX confirmations_due ON confirmations(due_at) WHERE state IN ('pending', 'inflight');
-- The same queue, per merchant: a lane with free slots claims its own due rows directly.
CREATE INDEX confirmations_merchant_due ON confirmations(merchant_id, due_at) WHERE state IN ('pending', 'inflight');
CREATE INDEX confirmations_merchant_state ON confirmations(merchant_id, state, id);
CREATE INDEX confirmations_state_id ON confirmations(state, id);

CREATE TABLE attempts (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  confirmation_id  TEXT NOT NULL,
  number           INTEGER NOT NULL,
  started_at       INTEGER NOT NULL,
  duration_ms      INTEGER NOT NULL,
  status_code      INTEGER,
  error_kind       TEXT,
  error_message    TEXT,
  response_snippet TEXT,
  outcome          TEXT NOT NULL
) STRICT;
CREATE INDEX attempts_confirmation ON attempts(confirmation_id, number);

CREATE TABLE idempotency_keys (
  scope         TEXT NOT NULL,
  key           TEXT NOT NULL,
  request_hash  TEXT NOT NULL,
  transaction_id TEXT NOT NULL,
  http_status   INTEGER NOT NULL,
  response      TEXT NOT NULL,     -- JSON of the first answer, returned again on replay
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
) STRICT;
